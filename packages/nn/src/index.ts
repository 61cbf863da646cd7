export { ShapeError, StateDictError } from './errors';
export * as init from './init';
export {
  type ActivationName,
  activationFn,
  GELU,
  type GeluApproximate,
  gelu,
  ReLU,
} from './layers/activation';
export {
  type AttentionCallOptions,
  type AttentionResult,
  MultiheadAttention,
  type MultiheadAttentionOptions,
} from './layers/attention';
export { Dropout, dropout } from './layers/dropout';
export { Embedding, type EmbeddingOptions } from './layers/embedding';
export { LayerNorm, type LayerNormOptions } from './layers/layernorm';
export { Linear, type LinearOptions } from './layers/linear';
export { MLP, type MLPOptions } from './layers/mlp';
export {
  type SinCos3dOptions,
  sinusoidalPositionEmbedding1d,
  sinusoidalPositionEmbedding3d,
} from './layers/posembed';
export { Sequential, type UnaryModule } from './layers/sequential';
export {
  type EncoderCallOptions,
  TransformerEncoder,
  TransformerEncoderLayer,
  type TransformerEncoderLayerConfig,
  type TransformerEncoderLayerOptions,
  type TransformerEncoderOptions,
} from './layers/transformer';
export { type LoadResult, Module, ModuleList, type StateDict, type StateValue } from './module';
