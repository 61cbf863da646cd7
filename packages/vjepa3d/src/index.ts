export { commands, loadPretrainConfig, type VJepaCommand } from './commands';
export { type DeviceInfo, detectDevice, type OctVendor } from './data/device';
export {
  MANIFEST_COLUMNS,
  type Manifest,
  type ManifestRow,
  manifestToCsv,
  type RejectedFile,
  type ScanOptions,
  scanManifest,
  splitManifest,
} from './data/manifest';
export {
  czmFrameFilter,
  OCT_SOP_CLASS,
  type ReadOctOptions,
  readOctVolume,
  type Volume3d,
} from './data/read';
export {
  CZM_MIN_FRAME_BYTES,
  isPlainJpeg2000,
  JP2_SIGNATURE,
  scrambleCzmFrame,
  unscrambleCzmFrame,
  wrapCodestreamAsJp2,
} from './data/zeiss';
export { VJepaArgumentError, VJepaDataError } from './errors';
export { type RepresentationHealth, representationHealth, symmetricEigenvalues } from './health';
export {
  type BatchMasks,
  type BlockSize,
  type MaskConfig,
  type MaskConfigInput,
  MaskConfigSchema,
  type SampleMask,
  sampleBatchMasks,
  sampleBlockSize,
  sampleMultiBlockMask,
  type TokenGrid,
  VJEPA_MASKS,
} from './masking';
export {
  createModel,
  gatherTokens,
  type JepaLoss,
  layerNormFeatures,
  type MaskSet,
  type ModelConfig,
  type ModelConfigInput,
  ModelConfigSchema,
  type Pooling,
  PRESETS,
  Predictor3d,
  patchify,
  resolveModelConfig,
  TubeletEmbed3d,
  tokenGrid,
  VisionTransformer3d,
  type Vit3dPreset,
  VJepa3d,
} from './model';
export {
  embedVolumesOnnx,
  openOnnxEncoder,
  readOnnxSidecar,
  type VJepaOnnxSidecar,
} from './onnx-embed';
export {
  exportVJepaEncoder,
  lowerTubeletConv,
  lowerTubeletEmbed,
  lowerVisionTransformer3d,
  lowerVolumeEncoder,
  registerVJepaExporter,
  vjepaOnnxSignature,
} from './onnx-export';
export {
  featureGramBound,
  fitLogisticRegression,
  fitLogisticRegressionDetailed,
  knnPredict,
  L2_GRID,
  type LogisticRegressionOptions,
  type ProbeOptions,
  type ProbeResult,
  type ProbeScores,
  probeFeatures,
  selectL2ByCv,
} from './probe';
export {
  type OctVolumeSpec,
  PATHOLOGY_LABELS,
  type PathologyLabel,
  SYNTH_DEVICES,
  type SynthConfig,
  SynthConfigSchema,
  type SynthDevice,
  type SynthRecord,
  type SynthVolume,
  synthesize,
  synthOctVolume,
} from './synth/oct';
export {
  compareProbes,
  correctedPairedGain,
  embedVolumes,
  evaluate,
  loadOctDataset,
  loadPretrained,
  type OctDataset,
  type PretrainConfig,
  type PretrainConfigInput,
  PretrainConfigSchema,
  type PretrainResult,
  type ProbeComparison,
  pairedGain,
  predict,
  pretrain,
  type RepeatedProbe,
  splitDataset,
  TargetEmaCallback,
  VJepaTask,
  WeightDecayScheduleCallback,
} from './train';
export {
  centerCrop,
  compose,
  crop,
  flip,
  intensityJitter,
  normalizeIntensity,
  randomCrop,
  randomFlip,
  randomResizedCrop,
  resample,
  type Shape3,
  type Transform3d,
} from './transforms';

import { registerVJepaExporter } from './onnx-export';

// `meddl export vjepa3d --checkpoint <run> --out vjepa3d.onnx [--encoder context|target]`
registerVJepaExporter();
