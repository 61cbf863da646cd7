// @meddl/bench: the benchmark suite as a library (`meddl bench` mounts `commands`).
export { commands } from './commands.mjs';
export {
  BenchResultsError,
  compareResults,
  markdownTable,
  parseResults,
  readResults,
  SCENARIOS,
  SCHEMA_VERSION,
  svgChart,
} from './lib.mjs';
export { BenchArgumentError, parseArgv, runSuite, suiteOptions } from './suite.mjs';
