export { type AuditEntry, AuditLog } from './audit';
export { commands, type ServeCommand } from './commands';
export {
  applyEnv,
  ENV_OVERRIDES,
  loadConfig,
  type ModelEntry,
  ModelEntrySchema,
  parseConfig,
  type ServeConfig,
  type ServeConfigInput,
  ServeConfigSchema,
} from './config';
export { isMeddlError, JobCancelledError, PathNotAllowedError, ServeConfigError, ServeError } from './errors';
export {
  cachedPredict,
  type JobData,
  JobQueues,
  type JobResult,
  PRIORITIES,
  type PriorityName,
  ResultCache,
  startWorkers,
  type WorkerPool,
} from './jobs';
export {
  addKey,
  hasRole,
  type KeyRecord,
  KeyStore,
  type Principal,
  ROLES,
  type Role,
  readKeysFile,
} from './keys';
export { ServeMetrics } from './metrics';
export { resolveConfinedPath } from './paths';
export {
  type InputKind,
  type ModelCard,
  ModelRegistry,
  type PredictInput,
  type Prediction,
  type Predictor,
  type PredictorContext,
} from './predictor';
export { CrcMilPredictor, type MilBackend, type MilModelInfo } from './predictors/crc-mil';
export { MdfNetPredictor } from './predictors/mdf-net';
export { loadOnnxPredictor, ONNX_FAMILIES, OnnxPredictor, readSidecar } from './predictors/onnx';
export {
  loadTissueBertReference,
  predictTissueBert,
  TissueBertPredictor,
  type TissueBertReference,
} from './predictors/tissuebert';
export { VJepa3dPredictor } from './predictors/vjepa3d';
export { buildServer, type ServerDeps } from './server';
export {
  createService,
  createWorkerProcess,
  loadPredictor,
  loadRegistry,
  onShutdownSignals,
  type Service,
} from './service';
export { ThreadedPredictor, workerScript } from './threads';
