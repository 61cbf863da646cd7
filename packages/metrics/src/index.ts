// @meddl/metrics: clinical-grade evaluation metrics on plain numbers and typed arrays (float64, no tensors).
export {
  type BootstrapOptions,
  type BootstrapResult,
  bootstrapCI,
  SeededRandom,
  takeIndices,
} from './bootstrap.js';
export {
  applyPlatt,
  type CalibrationBinsState,
  type CalibrationOptions,
  expectedCalibrationError,
  fitPlatt,
  fitTemperature,
  maximumCalibrationError,
  type PlattFit,
  type ReliabilityDiagram,
  reliabilityDiagram,
  softmax,
  type TemperatureFit,
} from './calibration.js';
export {
  type AveragedScores,
  accuracy,
  argmaxRows,
  balancedAccuracy,
  brierScore,
  type ConfusionMatrix,
  cohenKappa,
  cohenKappaFromConfusion,
  confusionMatrix,
  type KappaWeights,
  logLoss,
  macroOverPresent,
  type PrecisionRecallF1,
  precisionRecallF1,
  precisionRecallF1FromConfusion,
  topKAccuracy,
} from './classification.js';
export { MetricsError } from './errors.js';
export { chiSquaredSf, ExactSum, erfc, exactSum, normalCdf, normalQuantile, normalSf } from './numeric.js';
export {
  type AveragedRankingResult,
  auroc,
  averagePrecision,
  type DelongAurocResult,
  type DelongTestResult,
  delongAuroc,
  delongTest,
  multilabelAuroc,
  multilabelAveragePrecision,
  ovrAuroc,
  type PrecisionRecallCurve,
  precisionRecallCurve,
  type RocCurve,
  rocCurve,
} from './ranking.js';
export {
  concordanceCorrelation,
  mae,
  pearson,
  type RegressionColumns,
  r2,
  regressionPerColumn,
  rmse,
  spearman,
} from './regression.js';
export {
  BinaryRankingAccumulator,
  CalibrationAccumulator,
  ConcordanceAccumulator,
  ConfusionMatrixAccumulator,
  type ConfusionSummary,
  MeanAccumulator,
  type MeanState,
  type MetricAccumulator,
  MulticlassAccumulator,
  type MulticlassSummary,
  MultilabelRankingAccumulator,
  type MultilabelRankingSummary,
  ProbabilisticLossAccumulator,
  RegressionAccumulator,
} from './streaming.js';
export {
  type ConcordanceResult,
  concordanceIndex,
  type KaplanMeier,
  kaplanMeier,
  type LogRankResult,
  logRankTest,
  medianSurvivalTime,
  survivalAt,
} from './survival.js';
export {
  metricsAtThreshold,
  type OptimalThreshold,
  optimalThreshold,
  optimalThresholds,
  type ThresholdCriterion,
  type ThresholdMetrics,
} from './thresholds.js';
export type { FlatMatrix, MatrixInput, MetricResult, Vector } from './types.js';
export {
  type DirichletUncertainty,
  dirichletUncertainty,
  mutualInformation,
  predictiveEntropy,
  type SampledUncertainty,
} from './uncertainty.js';
