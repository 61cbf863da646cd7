// @meddl/report: the eval.json contract, section builders, self-contained HTML/PDF reports, run listing.
export {
  evalArtifact,
  fieldPath,
  type NewEvalArtifact,
  parseEvalArtifact,
  readEvalArtifact,
  writeEvalArtifact,
  writeFileAtomic,
} from './artifact';
export { CHROMIUM_ARGS, findChromium, launchChromium, printPdf } from './browser';
export { commands, type ReportCommand, writeReport } from './commands';
export { BrowserError, EvalArtifactError, ReportArgumentError, RunDirectoryError } from './errors';
export {
  fmtEstimate,
  num,
  renderReport,
  renderReportHtml,
  renderSection,
  reportPath,
  trainingCharts,
} from './html';
export {
  type CheckpointEntry,
  findRunDirectories,
  isRunDirectory,
  type MetricsTable,
  parseCsv,
  type RunDirectoryContents,
  type RunInfo,
  readMetricsCsv,
  readRunDirectory,
  readStepsJsonl,
  type StepSeries,
} from './rundir';
export { compareRuns, listRuns, type RunSummary, summarizeRun } from './runs';
export * from './schema';
export {
  ablationSection,
  binaryCalibrationSection,
  type CalibrationOptions,
  type ClassificationOptions,
  calibrationSection,
  classificationSection,
  confusionSection,
  type EmbeddingHealth,
  embeddingHealth,
  embeddingSection,
  estimate,
  forestSection,
  gallerySection,
  headline,
  type Matrix,
  multilabelClassificationSection,
  scatterSection,
  subgroupAurocSection,
  survivalSection,
  tableSection,
  thinCurve,
} from './sections';
export {
  barChart,
  CHART_CSS,
  color,
  esc,
  type ForestRow,
  forestPlot,
  type HeatmapSpec,
  heatmap,
  type LineChartSpec,
  type LineSeries,
  lineChart,
  niceTicks,
  PALETTE,
  type ScatterSpec,
  scatterChart,
  tickLabel,
} from './svg';
