import { Command } from 'commander';
import type { CommandSpec } from './command';

/** Builds the commander program from command specs, nesting multi-word paths. */
export function buildProgram(specs: CommandSpec[], version: string): Command {
  const program = new Command('meddl')
    .description('meddl: medical deep-learning models — train, evaluate, serve')
    .version(version)
    .showHelpAfterError()
    .enablePositionalOptions();
  for (const spec of specs) {
    let parent = program;
    for (const word of spec.path.slice(0, -1)) {
      parent =
        parent.commands.find((c) => c.name() === word) ??
        parent.command(word).description(`${word} commands`);
    }
    const leaf = parent.command(spec.path[spec.path.length - 1]).description(spec.description);
    for (const a of spec.arguments ?? [])
      leaf.argument(a.required === false ? `[${a.name}]` : `<${a.name}>`, a.description);
    for (const o of spec.options ?? [])
      leaf.option(o.flags, o.description, o.default as string | boolean | undefined);
    leaf.action(async (...received: unknown[]) => {
      const cmd = received[received.length - 1] as Command;
      const options = cmd.opts();
      const args = received.slice(0, -2).flat().map(String);
      await spec.run(args, options);
    });
  }
  return program;
}

/** Typed meddl errors carry `meddl: true`: their message is for the user, without a stack. */
export function isUserFacingError(err: unknown): err is Error {
  return err instanceof Error && (err as Error & { meddl?: boolean }).meddl === true;
}
