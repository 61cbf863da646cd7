import type { CommandSpec } from './command';
import { infoCommand } from './commands/info';
import { type QuickstartSpec, quickstartCommand } from './commands/quickstart';

/** Domain quickstarts, in the order the summary lists them. */
export function allQuickstarts(): QuickstartSpec[] {
  return [];
}

/**
 * Every command the binary offers. Domain packages contribute their own arrays here; this
 * list is the only place the CLI names them.
 */
export function allCommands(): CommandSpec[] {
  return [infoCommand, quickstartCommand(allQuickstarts())];
}
