export type { JpegDecoderName } from './codecs';
export { SlideError } from './errors';
export type {
  ReadRegionOptions,
  SlideImage,
  SlideLevel,
  SlideOpenOptions,
  SlideTile,
  SlideVendor,
  TileOptions,
} from './slide';
export { SlideReader, thumbnailSize } from './slide';
export type { PyramidalTiffOptions, RgbImage } from './writer';
export { syntheticPattern, writePyramidalTiff } from './writer';
