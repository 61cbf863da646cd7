// Readers and writers for the file formats the domains need. Each area lives in its own folder.
export * from './dicom/index';
export * from './hdf5/index';
export * from './tables/index';
export * from './wsi/index';
