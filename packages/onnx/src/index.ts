export {
  type AttrValue,
  type Dim,
  FloatAttr,
  floatAttr,
  GraphBuilder,
  type GraphBuilderOptions,
  MAX_OPSET,
  MIN_OPSET,
  type ModelOptions,
  type OnnxValue,
  type TensorSignature,
} from './builder';
export { ONNX_CHECKER_SCRIPT, type OnnxCheckResult, officialOnnxCheck, onnxCheckerPython } from './checker';
export {
  commands,
  ExportRegistry,
  exportCommands,
  exportRegistry,
  type ModelExporter,
  type ModelExportRequest,
  type ModelExportResult,
  type OnnxCommand,
  runExport,
} from './commands';
export { OnnxArgumentError, OnnxExportError, OnnxModelError, OnnxSignatureError } from './errors';
export {
  type ExportedModel,
  type ExportSpec,
  exportModule,
  type OnnxSidecar,
  writeOnnx,
} from './export';
export {
  type AttentionOutputs,
  isOnnxLowerable,
  type Lowering,
  type LowerOptions,
  lowerActivation,
  lowerEmbedding,
  lowerGelu,
  lowerLayerNorm,
  lowerLinear,
  lowerMLP,
  lowerModule,
  lowerMultiheadAttention,
  lowerSequential,
  lowerTransformerEncoder,
  lowerTransformerEncoderLayer,
  lowerUnary,
  maskedMeanPool,
  type OnnxLowerable,
  registerLowering,
  temperatureSoftmax,
} from './lower';
export { onnxParity, type ParityCase, type ParityReport } from './parity';
export { decodeModelProto, ONNX_DTYPE, ONNX_PROTO, type OnnxDType } from './proto';
export {
  cudaProviderInstalled,
  defaultExecutionProviders,
  type GraphOptimizationLevel,
  OnnxSession,
  type OnnxSessionOptions,
  type OutputTensor,
  type TensorData,
  type TensorDType,
  type TypedData,
  type ValueSpec,
} from './runtime';
