/** Perception runtime: model packages, ONNX sessions, CLIP tokenizer, dense features -> open-vocabulary masks. */
export * from './errors';
export type * from './manifest';
export * from './tokenizer';
export * from './fp16';
export * from './package';
export * from './session';
export * from './preprocess';
export * from './masks';
export * from './perceiver';
export * from './sliding';
