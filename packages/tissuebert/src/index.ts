export { commands, runNnlsCommand, type TissueBertCommand } from './commands';
export { atlasReadPosterior, buildReadAtlas, type ReadAtlas } from './deconv/atlas';
export {
  applyTemperature,
  bootstrapMixtureCi,
  type ConfidenceInterval,
  dividePrior,
  fisherMixtureCi,
  fitTemperature,
  impliedPrior,
  type MixtureMleOptions,
  type MixtureMleResult,
  meanPosterior,
  mixtureMle,
  type ReadPosteriors,
  temperatureNll,
  tumourFractionMle,
} from './deconv/mixture';
export { type NnlsResult, nnls, nnlsDeconvolve } from './deconv/nnls';
export { DeconvolutionError, TissueBertArgumentError, TissueBertDataError } from './errors';
export {
  type Estimate,
  evaluateTissueBert,
  type TissueBertEvalOptions,
  type TissueBertEvalResult,
} from './evaluate';
export {
  alignByRowId,
  type NumericTable,
  parseNumericTable,
  readNumericTable,
  tableColumn,
} from './formats/atlas';
export {
  type CpgIndex,
  type CpgRegion,
  cpgPosition,
  parseBlocksBed,
  parseCpgIndex,
  parseUxmMarkers,
  readBlocksBed,
  readCpgIndex,
  readUxmMarkers,
  type UxmMarker,
  writeBlocksBed,
  writeCpgIndex,
} from './formats/bed';
export { type BetaData, betaValues, readBeta, writeBeta } from './formats/beta';
export { BGZF_EOF, type BgzfBlockInfo, bgzfBlocks, bgzfCompress, readMaybeGzipText } from './formats/bgzf';
export { type FaiEntry, formatFai, IndexedFasta, indexFasta, parseFai, writeFasta } from './formats/fasta';
export {
  formatPat,
  METH_METHYLATED,
  METH_NONE,
  METH_UNMETHYLATED,
  type PatRecord,
  parsePat,
  patCharState,
  patSummary,
  patToBeta,
  readPat,
  writePatGz,
} from './formats/pat';
export {
  openPreparedStore,
  STORE_FILE,
  STORE_FORMAT,
  STORE_VERSION,
  storeIsFresh,
  type WriteStoreOptions,
  writePreparedStore,
} from './h5store';
export {
  bloodDominatedMixture,
  detectionLimit,
  dirichletMixture,
  mixPat,
  pearson,
  pearsonPerTissue,
  rmse,
  spikeInMixture,
} from './mix';
export {
  createModel,
  PRESETS,
  TissueBert,
  TissueBertModelConfig,
  type TissueBertPreset,
} from './model';
export {
  exportTissueBert,
  lowerTissueBert,
  registerTissueBertExporter,
  type TissueBertLike,
  type TissueBertOnnxOptions,
} from './onnx';
export {
  formatPredictions,
  predictTissueBert,
  type SamplePrediction,
  type TissueBertPredictOptions,
  type TissueBertPredictResult,
  type TissueProportion,
} from './predict';
export { RUN_META_FILE, readRunMeta, type TissueBertRunMeta } from './run-meta';
export { type LoadedRun, loadRunModel, runImpliedPrior, runTemperature } from './run-model';
export {
  CPG_DROPOUT_RATE,
  cpgDropout,
  evenlySpaced,
  type SamplerFile,
  TissueBalancedSampler,
} from './sampling';
export {
  getExample,
  type PreparedSample,
  type PreparedStore,
  type PrepareOptions,
  prepareSample,
  type TissueBertExample,
} from './store';
export {
  allocateFiles,
  bayesExamplePosterior,
  bayesReadPosterior,
  ensureSyntheticDataset,
  generateSyntheticDataset,
  SYNTH_GENERATOR_VERSION,
  type SynthConfig,
  SynthConfigSchema,
  type SynthDataset,
  type SynthGroundTruth,
  type SynthSample,
  type SynthSite,
} from './synth/generator';
export {
  SYNTH_BLOOD_TISSUES,
  SYNTH_MAJOR_TISSUE,
  SYNTH_TISSUE_GROUPS,
  SYNTH_TISSUES,
  type TissueGroup,
} from './synth/tissues';
export {
  CLS_ID,
  cpgCallsFromXm,
  detokenize,
  type KmerOptions,
  kmers,
  kmerVocabulary,
  MASK_ID,
  methylationTokens,
  PAD_ID,
  referenceFromMd,
  SEP_ID,
  SPECIAL_TOKENS,
  tokenizeSequence,
  UNK_ID,
  vocabSize,
} from './tokenizer';
export {
  buildStore,
  loadStore,
  prepareStore,
  readTissueBertConfig,
  splitFiles,
  type TissueBertBatch,
  type TissueBertRunConfig,
  type TissueBertRunConfigInput,
  TissueBertRunConfigSchema,
  TissueBertTask,
  type TissueBertTrainResult,
  trainTissueBert,
} from './train';

import { registerTissueBertExporter } from './onnx';

// `meddl export tissuebert` works once the CLI has loaded this package.
registerTissueBertExporter();
