export * from './calibrate';
export * from './clinical';
export * from './commands';
export * from './data';
export * from './encoders';
export * from './errors';
export * from './evaluate';
export * from './image';
export * from './labels';
export * from './model';
export * from './onnx-export';
export * from './search';
export * from './synth/generator';
export * from './task';
export * from './text';
export * from './train';

import { registerMdfNetExporter } from './onnx-export';

// `meddl export mdf-net --checkpoint <run> --out mdf-net.onnx`
registerMdfNetExporter();
