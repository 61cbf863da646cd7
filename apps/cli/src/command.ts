/**
 * What a package contributes to the `meddl` binary. Domain packages export arrays of these
 * (structurally: they need not import this type), and the CLI mounts them without knowing
 * anything about the models behind them.
 */
export interface CommandOption {
  /** commander flags, e.g. '--config <file>' or '--resume'. */
  flags: string;
  description: string;
  default?: string | number | boolean;
}

export interface CommandArgument {
  /** e.g. 'slide' or 'files...' */
  name: string;
  description: string;
  required?: boolean;
}

export interface CommandSpec {
  /** Words of the command, e.g. ['train', 'tissuebert'] or ['tissuebert', 'prepare']. */
  path: string[];
  description: string;
  arguments?: CommandArgument[];
  options?: CommandOption[];
  run(args: string[], options: Record<string, unknown>): Promise<void> | void;
}
