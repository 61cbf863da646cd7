export { Hdf5Error } from './errors';
export type { FeatureBag, ReadFeatureBagOptions, WriteFeatureBagOptions } from './featureBag';
export { readFeatureBag, writeFeatureBag } from './featureBag';
export type {
  Hdf5Array,
  Hdf5AttributeValue,
  Hdf5DatasetInfo,
  Hdf5Dtype,
  Hdf5Selection,
  WriteDatasetOptions,
} from './file';
export { Hdf5File } from './file';
