/** rosbag2 `metadata.yaml` (rosbag2_bagfile_information) writing and parsing. */
import * as yaml from 'js-yaml';
import { BagError, errorMessage } from './errors';
import type { BagStorage } from './types';
import type { TopicCount } from './info';

/** Parsed metadata.yaml (the fields this project uses). */
export interface BagMetadata {
  version: number;
  storageIdentifier: string;
  relativeFilePaths: string[];
  startingTimeNs: bigint;
  durationNs: bigint;
  messageCount: number;
  topics: TopicCount[];
  compressionFormat: string;
  compressionMode: string;
  rosDistro: string;
}

/** One storage file of a bag, for metadata.yaml. */
export interface MetadataFile {
  path: string;
  startNs: bigint;
  endNs: bigint;
  messageCount: number;
  topics: TopicCount[];
}

function scalar(s: string): string {
  return /^[A-Za-z0-9_/.~-]+$/.test(s) ? s : JSON.stringify(s);
}

/**
 * metadata.yaml text (version 5, as written by rosbag2 on Humble; later distros read it too).
 * Deterministic: depends only on its input.
 */
export function metadataYaml(storage: BagStorage, files: MetadataFile[]): string {
  const byTopic = new Map<string, TopicCount>();
  for (const f of files) {
    for (const t of f.topics) {
      const prev = byTopic.get(t.topic);
      if (prev) prev.messageCount += t.messageCount;
      else byTopic.set(t.topic, { ...t });
    }
  }
  const nonEmpty = files.filter((f) => f.messageCount > 0);
  const start = nonEmpty.length
    ? nonEmpty.reduce((m, f) => (f.startNs < m ? f.startNs : m), nonEmpty[0].startNs)
    : 0n;
  const end = nonEmpty.length
    ? nonEmpty.reduce((m, f) => (f.endNs > m ? f.endNs : m), nonEmpty[0].endNs)
    : 0n;
  const count = files.reduce((s, f) => s + f.messageCount, 0);
  const lines: string[] = [
    'rosbag2_bagfile_information:',
    '  version: 5',
    `  storage_identifier: ${storage}`,
    '  duration:',
    `    nanoseconds: ${end - start}`,
    '  starting_time:',
    `    nanoseconds_since_epoch: ${start}`,
    `  message_count: ${count}`,
    '  topics_with_message_count:',
  ];
  for (const t of byTopic.values()) {
    lines.push(
      '    - topic_metadata:',
      `        name: ${scalar(t.topic)}`,
      `        type: ${scalar(t.type)}`,
      `        serialization_format: ${scalar(t.serializationFormat)}`,
      `        offered_qos_profiles: ${JSON.stringify(t.offeredQosProfiles)}`,
      `      message_count: ${t.messageCount}`,
    );
  }
  lines.push('  compression_format: ""', '  compression_mode: ""', '  relative_file_paths:');
  for (const f of files) lines.push(`    - ${scalar(f.path)}`);
  lines.push('  files:');
  for (const f of files) {
    const fs = f.messageCount > 0 ? f.startNs : 0n;
    const fd = f.messageCount > 0 ? f.endNs - f.startNs : 0n;
    lines.push(
      `    - path: ${scalar(f.path)}`,
      '      starting_time:',
      `        nanoseconds_since_epoch: ${fs}`,
      '      duration:',
      `        nanoseconds: ${fd}`,
      `      message_count: ${f.messageCount}`,
    );
  }
  return lines.join('\n') + '\n';
}

function big(v: unknown): bigint {
  if (typeof v === 'string' && /^-?\d+$/.test(v)) return BigInt(v);
  if (typeof v === 'number' && Number.isFinite(v)) return BigInt(Math.round(v));
  return 0n;
}

/** Parse metadata.yaml text. Throws BagError naming the missing field. */
export function parseMetadataYaml(text: string, filePath = 'metadata.yaml'): BagMetadata {
  // Keep nanosecond values exact: quote them before YAML turns them into doubles.
  const quoted = text.replace(/(nanoseconds(?:_since_epoch)?:[ \t]*)(-?\d+)/g, '$1"$2"');
  let doc: any;
  try {
    doc = yaml.load(quoted);
  } catch (e) {
    throw new BagError(`metadata.yaml is not valid YAML: ${errorMessage(e)}`, { path: filePath, cause: e });
  }
  const info = doc?.rosbag2_bagfile_information;
  if (!info || typeof info !== 'object') {
    throw new BagError('metadata.yaml has no rosbag2_bagfile_information mapping; is this a rosbag2 bag?', {
      path: filePath,
      field: 'rosbag2_bagfile_information',
    });
  }
  if (typeof info.storage_identifier !== 'string') {
    throw new BagError('metadata.yaml lacks storage_identifier (mcap or sqlite3)', {
      path: filePath,
      field: 'storage_identifier',
    });
  }
  const topics: TopicCount[] = (
    Array.isArray(info.topics_with_message_count) ? info.topics_with_message_count : []
  ).map((t: any, i: number) => {
    const md = t?.topic_metadata;
    if (!md || typeof md.name !== 'string' || typeof md.type !== 'string') {
      throw new BagError(`topics_with_message_count[${i}] lacks topic_metadata.name/type`, {
        path: filePath,
        field: `topics_with_message_count[${i}]`,
      });
    }
    const qos = md.offered_qos_profiles;
    return {
      topic: md.name,
      type: md.type,
      serializationFormat: typeof md.serialization_format === 'string' ? md.serialization_format : 'cdr',
      offeredQosProfiles: typeof qos === 'string' ? qos : qos === undefined ? '' : yaml.dump(qos).trimEnd(),
      messageCount: Number(t.message_count ?? 0),
    };
  });
  return {
    version: Number(info.version ?? 0),
    storageIdentifier: info.storage_identifier,
    relativeFilePaths: Array.isArray(info.relative_file_paths) ? info.relative_file_paths.map(String) : [],
    startingTimeNs: big(info.starting_time?.nanoseconds_since_epoch),
    durationNs: big(info.duration?.nanoseconds),
    messageCount: Number(info.message_count ?? 0),
    topics,
    compressionFormat: typeof info.compression_format === 'string' ? info.compression_format : '',
    compressionMode: typeof info.compression_mode === 'string' ? info.compression_mode : '',
    rosDistro: typeof info.ros_distro === 'string' ? info.ros_distro : '',
  };
}
