/** 3D instances from masks + depth, 6D pose estimators (model, anchor, box), grasp targets and tracking. */
export * from './types';
export * from './metrics';
export * from './instances';
export * from './model';
export * from './box';
export * from './anchor';
export * from './tracking';
export * from './models';
export * from './anchorFile';
export * from './pipeline';
