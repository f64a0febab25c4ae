/**
 * Evaluation metrics: one pure function per metric, each citing its reference definition
 * (bop_toolkit pose_error.py / BOP 2019-2020, NOCS CVPR 2019, Oryon CVPR 2024).
 */
export * from './errors';
export * from './linalg';
export * from './nn';
export * from './symmetry';
export * from './poseError';
export * from './vsd';
export * from './recall';
export * from './nocs';
export * from './mask';
export * from './poseMatching';
export * from './synthRender';
