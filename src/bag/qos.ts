/** rosbag2-style offered_qos_profiles YAML for one publisher. */
function qosYaml(durability: 1 | 2): string {
  const inf = '    sec: 9223372036\n    nsec: 854775807\n';
  return (
    '- history: 3\n  depth: 0\n  reliability: 1\n' +
    `  durability: ${durability}\n` +
    `  deadline:\n${inf}  lifespan:\n${inf}  liveliness: 1\n  liveliness_lease_duration:\n${inf}` +
    '  avoid_ros_namespace_conventions: false'
  );
}

/** Reliable, volatile (most topics). */
export const QOS_RELIABLE_VOLATILE = qosYaml(2);
/** Reliable, transient local (latched topics such as /tf_static). */
export const QOS_RELIABLE_TRANSIENT_LOCAL = qosYaml(1);

/** Default offered QoS for a topic as `ros2 bag record` would store it. */
export function defaultQosFor(topic: string): string {
  return topic === '/tf_static' || topic.endsWith('/camera_info_static')
    ? QOS_RELIABLE_TRANSIENT_LOCAL
    : QOS_RELIABLE_VOLATILE;
}
