/** rosbag2 I/O: message codecs, MCAP and sqlite3 storage, metadata.yaml, image helpers. */
export * from './errors';
export * from './types';
export * from './msgdefs';
export * from './codecs';
export * from './qos';
export * from './info';
export * from './metadata';
export * from './mcap';
export * from './sqlite';
export * from './bag';
export * from './image';
