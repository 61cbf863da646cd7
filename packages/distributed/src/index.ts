export {
  commands,
  type DistributedCommand,
  formatSummary,
  launchOptionsFromArgs,
  loadHandlers,
} from './commands';
export {
  type DDPOptions,
  type DDPStats,
  DistributedDataParallel,
  rankZeroSink,
} from './ddp';
export { DEFAULT_MASTER_PORT, type DistributedEnv, firstHostOfNodelist, resolveDistributedEnv } from './env';
export {
  CollectiveError,
  DistributedError,
  LaunchError,
  QueueError,
  RendezvousTimeoutError,
  StoreError,
} from './errors';
export { decodeHalf, encodeHalf, fromHalfBits, quantizeHalf, toHalfBits } from './half';
export { HeartbeatCallback, heartbeat } from './heartbeat';
export { type LaunchOptions, type LaunchResult, launch } from './launcher';
export { allGatherMetric, type MergeableAccumulator } from './metrics';
export {
  type AllReduceOptions,
  ProcessGroup,
  type ProcessGroupOptions,
  type ReduceOp,
} from './process-group';
export {
  type BatchItem,
  BatchQueue,
  type EnqueueOptions,
  type JobContext,
  type JobHandler,
  type QueueSummary,
  redisConnection,
  runWorker,
  type WorkerOptions,
  writeOutputOnce,
} from './queue';
export { DistributedSampler, type DistributedSamplerOptions } from './sampler';
export { type StoreClientOptions, TCPStoreClient, TCPStoreServer } from './store';
