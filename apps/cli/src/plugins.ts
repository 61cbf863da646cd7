import { commands as distributedCommands } from '@meddl/distributed';
import { commands as onnxCommands } from '@meddl/onnx';
import { commands as reportCommands } from '@meddl/report';
import { commands as serveCommands } from '@meddl/serve';
import type { CommandSpec } from './command';
import { domainCommands } from './commands/domains';
import { infoCommand } from './commands/info';
import { type QuickstartSpec, quickstartCommand } from './commands/quickstart';
import { allQuickstarts as domainQuickstarts } from './quickstarts';

/** A meddl error whose message is for the user (see `isUserFacingError`). */
class BenchUnavailableError extends Error {
  readonly meddl = true;
}

/**
 * `meddl bench` comes from @meddl/bench, the repository's benchmark suite (benchmarks/suite with
 * its PyTorch peers), an optional peer of the CLI: present in the workspace, absent from an
 * installed @meddl/cli, where `meddl bench` then says how to get it.
 */
const benchCommands: CommandSpec[] = await import('@meddl/bench')
  .then((m) => m.commands as CommandSpec[])
  .catch((err: unknown) => [
    {
      path: ['bench'],
      description: 'Cross-model benchmark suite (not installed: needs @meddl/bench)',
      run() {
        throw new BenchUnavailableError(
          `meddl bench needs @meddl/bench, which could not be loaded (${(err as Error).message.split('\n')[0]}); run it from a meddl repository checkout: pnpm bench`,
        );
      },
    },
  ]);

/** Domain quickstarts, in the order the summary lists them. */
export function allQuickstarts(): QuickstartSpec[] {
  return domainQuickstarts();
}

/**
 * Every command the binary offers. Packages contribute their own arrays here; this list is the
 * only place the CLI names them.
 */
export function allCommands(): CommandSpec[] {
  return [
    infoCommand,
    quickstartCommand(allQuickstarts()),
    ...domainCommands(),
    ...benchCommands,
    ...distributedCommands,
    ...onnxCommands,
    ...reportCommands,
    ...serveCommands,
  ];
}
