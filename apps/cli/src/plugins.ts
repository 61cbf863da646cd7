import { commands as benchCommands } from '@meddl/bench';
import { commands as distributedCommands } from '@meddl/distributed';
import { commands as onnxCommands } from '@meddl/onnx';
import { commands as reportCommands } from '@meddl/report';
import { commands as serveCommands } from '@meddl/serve';
import type { CommandSpec } from './command';
import { domainCommands } from './commands/domains';
import { infoCommand } from './commands/info';
import { type QuickstartSpec, quickstartCommand } from './commands/quickstart';
import { allQuickstarts as domainQuickstarts } from './quickstarts';

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
