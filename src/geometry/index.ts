/** Geometry library: depth lifting, point clouds, kd-tree, filters, normals, clustering, boxes, registration. */
export * from './errors';
export * from './rng';
export * from './linalg';
export * from './pointcloud';
export * from './depth';
export * from './kdtree';
export * from './filters';
export * from './normals';
export * from './cluster';
export * from './obb';
export * from './registration';
export * from './fpfh';
export * from './plane';
