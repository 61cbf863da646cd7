export { DicomError } from './errors';
export {
  type DicomHeader,
  DicomImage,
  type DicomMeta,
  type DisplayOptions,
  type LookupTable,
  type ReadDicomOptions,
  readDicom,
  readDicomHeader,
  type StoredFrame,
} from './reader';
export { TRANSFER_SYNTAXES, type TransferSyntax, transferSyntaxName } from './transfer-syntax';
export { applyVoi, type VoiFunction, type VoiWindow } from './voi';
export { type ReadVolumeOptions, readDicomVolume, type Volume } from './volume';
export {
  type DicomWriteSpec,
  deterministicUid,
  dicomWriteSpecSchema,
  SOP_CLASS,
  writeDicom,
  writeDicomFile,
} from './writer';
