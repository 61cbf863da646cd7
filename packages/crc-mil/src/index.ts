// @meddl/crc-mil: colorectal-cancer molecular subtype from whole-slide images.
export { featureStats, type LoadedCohort, loadCohort, type PatientBag, type SlidePart } from './bags';
export { type ClinicalRow, ClinicalRowSchema, readClinical } from './clinical';
export { type CrcMilCommand, commands, loadRunConfig } from './commands';
export {
  type AuxiliaryTask,
  AuxiliaryTaskSchema,
  type CrcMilRunConfig,
  type CrcMilRunConfigInput,
  CrcMilRunConfigSchema,
} from './config';
export { DESCRIPTOR_DIM, PatchEncoder, patchDescriptor } from './encoder';
export { CrcMilArgumentError, CrcMilDataError } from './errors';
export { assertDisjointFolds, type EvaluateResult, evaluate, parseRunConfig, prepareData } from './evaluate';
export { heatColour, percentileRanks, writeAttentionHeatmap } from './heatmap';
export {
  closing,
  connectedComponents,
  laplacianVariance,
  medianBlur,
  otsuThreshold,
  resizeArea,
  saturation,
} from './image';
export {
  digamma,
  dirichletKlToUniform,
  evidentialMseLoss,
  GatedAttentionMil,
  lgamma,
  MIL_PRESETS,
  type MilModelConfig,
  MilModelConfigSchema,
  maskedAuxLoss,
} from './model';
export {
  type ConvEncoderWeights,
  convEncoderWeights,
  type OnnxEncoderOptions,
  OnnxPatchEncoder,
  writeConvEncoderOnnx,
} from './onnx';
export {
  exportGatedAttentionMil,
  lowerGatedAttentionMil,
  milOnnxSignature,
  registerCrcMilExporter,
} from './onnx-export';
export {
  type BagPrediction,
  checkpointRunner,
  loadSavedModel,
  type MilEngine,
  type MilRunner,
  onnxRunner,
  openMilRunner,
  predict,
  predictBag,
  type SlidePrediction,
  type TrainResult,
  train,
} from './predict';
export {
  listSlides,
  type PreprocessConfig,
  type PreprocessConfigInput,
  PreprocessConfigSchema,
  type PreprocessResult,
  preprocess,
  type SlideQcRecord,
} from './preprocess';
export { isPenPixel, measurePatch, QC_DEFAULTS, QC_REASONS, type QcReason, qcReason } from './qc';
export { type ClassificationReport, classificationReport, type Estimate } from './report';
export {
  fitMacenko,
  type LabStats,
  labStats,
  labToRgb,
  MACENKO_DEFAULT_TARGET,
  MACENKO_HE_REF,
  MACENKO_MAX_C_REF,
  macenko,
  normalizeMacenko,
  normalizeReinhard,
  REINHARD_DEFAULT_TARGET,
  rgbToLab,
  StainError,
  stainConcentrations,
} from './stain';
export {
  DEFAULT_SUBTYPES,
  type SynthConfig,
  SynthConfigSchema,
  type SynthResult,
  synthesize,
} from './synth/generator';
export { detectTissue, patchGrid, segmentTissue, TISSUE_DEFAULTS, tissueFractionAt } from './tissue';
export {
  type AuxStats,
  auxStatsOf,
  auxValue,
  batchItems,
  createMilModel,
  MilTask,
  predictAux,
  trainModel,
} from './train';
export {
  fitVahadane,
  normalizeVahadane,
  positiveLasso2,
  VAHADANE_ITERATIONS,
  VAHADANE_LAMBDA,
  VAHADANE_LAMBDA_C,
  vahadane,
  vahadaneConcentrations,
} from './vahadane';

import { registerCrcMilExporter } from './onnx-export';

// `meddl export crc-mil --checkpoint <run>/final --out crc-mil.onnx`
registerCrcMilExporter();
