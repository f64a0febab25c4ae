/** The ROS 2 node: runtime interface (rclnodejs or in-process), synchroniser, parameters, node, replay. */
export * from './runtime';
export * from './inproc';
export * from './sync';
export * from './params';
export * from './pipeline';
export * from './codec';
export * from './messages';
export * from './throttle';
export * from './node';
export * from './replay';
export * from './declipPipeline';
export { loadRclnodejsRuntime, RosEnvironmentError, rosEnvironmentAvailable } from './rclnodejs';
