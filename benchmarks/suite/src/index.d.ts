// Types of the package's public surface (the sources are plain ESM; the CLI typechecks against this).

/** Structural copy of the CLI's CommandSpec (apps/cli/src/command.ts). */
export interface BenchCommand {
  path: string[];
  description: string;
  arguments?: Array<{ name: string; description: string; required?: boolean }>;
  options?: Array<{ flags: string; description: string; default?: string | number | boolean }>;
  run(args: string[], options: Record<string, unknown>): Promise<void> | void;
}

/** `meddl bench` with the flags of `pnpm bench`. */
export declare const commands: BenchCommand[];

export interface SuiteOptions {
  quick: boolean;
  preset: 'tiny' | 'small' | 'base';
  models: string[];
  scenarios: string[];
  peers: 'pytorch' | 'none';
  out: string;
  compare: string | null;
  threshold: number;
  rounds: number;
  steps: number;
}

export declare const SCENARIOS: readonly string[];
export declare const SCHEMA_VERSION: number;

export declare class BenchArgumentError extends Error {
  readonly meddl: true;
  readonly option: string;
}
export declare class BenchResultsError extends Error {
  readonly meddl: true;
  readonly file: string;
}

/** Validated options from loose values (CLI flags or commander's options); paths resolve against cwd. */
export declare function suiteOptions(raw?: Record<string, unknown>, cwd?: string): SuiteOptions;
/** `--flag value` argv → suiteOptions' raw input. */
export declare function parseArgv(argv: string[]): Record<string, unknown>;
/** Runs the suite; writes results.json, results.md, chart.svg into opts.out. */
export declare function runSuite(
  opts: SuiteOptions,
  io?: { log?: (line: string) => void; command?: string | null },
): Promise<{ file: unknown; table: string; exitCode: number }>;

export declare function readResults(file: string): unknown;
export declare function parseResults(raw: unknown, file?: string): unknown;
export declare function compareResults(baseline: unknown, current: unknown, threshold?: number): unknown;
export declare function markdownTable(file: unknown): string;
export declare function svgChart(file: unknown): string;
