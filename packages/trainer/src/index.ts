export {
  type Callback,
  CheckpointCallback,
  type CheckpointPolicy,
  EarlyStopping,
  type EarlyStoppingOptions,
  LearningRateMonitor,
  MemoryMonitor,
  TensorLeakMonitor,
  TimeBudget,
} from './callbacks';
export {
  CheckpointPolicySchema,
  EarlyStoppingConfigSchema,
  LoggersConfigSchema,
  OptimizerConfigSchema,
  type SchedulerConfig,
  SchedulerConfigSchema,
  type TrainerConfig,
  type TrainerConfigInput,
  TrainerConfigSchema,
} from './config';
export { type Collated, collateField, defaultCollate, type Stacked } from './data/collate';
export {
  type BatchSource,
  DataLoader,
  type DataLoaderOptions,
  type Dataset,
  type LoaderBatch,
  type WorkerDatasetSpec,
} from './data/loader';
export {
  epochGenerator,
  GroupBalancedSampler,
  RandomSampler,
  type Sampler,
  SequentialSampler,
  StratifiedSampler,
  WeightedRandomSampler,
} from './data/samplers';
export { EMA, EmaCallback, type EmaOptions } from './ema';
export { CallbackError, NonFiniteLossError, OptimizerStateError, TrainerError } from './errors';
export { ConsoleLogger, CsvLogger, JsonlLogger, TensorBoardLogger } from './loggers';
export {
  type BCEOptions,
  bceWithLogits,
  type CrossEntropyOptions,
  crossEntropy,
  type FocalOptions,
  type LossTerm,
  type Reduction,
  sigmoidFocalLoss,
  weightedLoss,
} from './losses';
export {
  Adam,
  AdamW,
  createOptimizer,
  type GroupHyperparams,
  type NamedGrads,
  noDecayGroups,
  Optimizer,
  type OptimizerName,
  type OptimizerStateDict,
  type ParamGroup,
  type ParamGroupSpec,
  SGD,
} from './optim';
export { codeRevision, createRunDirectory, type RunDirectory } from './rundir';
export {
  type LRScheduler,
  OneCycleLR,
  type OneCycleOptions,
  type PlateauOptions,
  ReduceLROnPlateau,
  type SchedulerState,
  StepDecayLR,
  type StepDecayOptions,
  WarmupCosineLR,
  type WarmupCosineOptions,
  warmupToSteps,
} from './schedulers';
export {
  createSearchSampler,
  GridSampler,
  type ObservedTrial,
  RandomSearchSampler,
  type SearchSampler,
  type TPEOptions,
  TPESampler,
} from './search/samplers';
export {
  MedianPruner,
  type Objective,
  runSearch,
  type SearchOptions,
  type SearchSummary,
  type TrialContext,
  TrialPruned,
  type TrialResult,
} from './search/search';
export {
  type ParamSpec,
  ParamSpecSchema,
  type Params,
  type ParamValue,
  type SearchSpace,
  type SearchSpaceInput,
  SearchSpaceSchema,
  validateSpace,
} from './search/space';
export { crc32c, maskedCrc32c, tfRecord } from './tensorboard/crc32c';
export { confusionMatrixImage, encodePng } from './tensorboard/png';
export { EVENT_PROTO } from './tensorboard/proto';
export { TensorBoardWriter } from './tensorboard/writer';
export {
  type CheckpointInfo,
  type CheckpointPayload,
  type CheckpointSink,
  type EpochRecord,
  type FitLoaders,
  type FitStatus,
  type FitSummary,
  type StepContext,
  type StepRecord,
  Trainer,
  type TrainerOptions,
  type TrainingTask,
  type ValidationEndContext,
  type ValidationOutput,
} from './trainer';
