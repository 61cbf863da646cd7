export type { CommandArgument, CommandOption, CommandSpec } from './command';
export { allCommands } from './plugins';
export { buildProgram, isUserFacingError } from './program';
