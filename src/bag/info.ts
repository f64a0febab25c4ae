import type { BagInfo, BagStorage, BagTopicInfo } from './types';

/** Raw per-topic numbers a storage reader collects. */
export interface TopicCount {
  topic: string;
  type: string;
  serializationFormat: string;
  offeredQosProfiles: string;
  messageCount: number;
}

/** Assemble a BagInfo (durations and per-topic rates) from raw counts. */
export function buildBagInfo(args: {
  path: string;
  storage: BagStorage;
  files: string[];
  profile: string;
  sqliteSchemaVersion?: number;
  rosDistro?: string;
  topics: TopicCount[];
  startNs: bigint;
  endNs: bigint;
}): BagInfo {
  const messageCount = args.topics.reduce((s, t) => s + t.messageCount, 0);
  const startNs = messageCount > 0 ? args.startNs : 0n;
  const endNs = messageCount > 0 ? args.endNs : 0n;
  const durationNs = endNs - startNs;
  const durationS = Number(durationNs) / 1e9;
  const topics: BagTopicInfo[] = args.topics.map((t) => ({
    ...t,
    rateHz: t.messageCount >= 2 && durationS > 0 ? (t.messageCount - 1) / durationS : 0,
  }));
  topics.sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : 0));
  return {
    path: args.path,
    storage: args.storage,
    files: args.files,
    profile: args.profile,
    sqliteSchemaVersion: args.sqliteSchemaVersion,
    rosDistro: args.rosDistro ?? '',
    topics,
    messageCount,
    startNs,
    endNs,
    durationNs,
    durationS,
  };
}

/** Merge the infos of the files of a split bag. */
export function mergeBagInfos(path: string, infos: BagInfo[]): BagInfo {
  if (infos.length === 1) return { ...infos[0], path };
  const byTopic = new Map<string, TopicCount>();
  let startNs: bigint | undefined;
  let endNs: bigint | undefined;
  for (const info of infos) {
    for (const t of info.topics) {
      const prev = byTopic.get(t.topic);
      if (prev) prev.messageCount += t.messageCount;
      else byTopic.set(t.topic, { ...t });
    }
    if (info.messageCount > 0) {
      startNs = startNs === undefined || info.startNs < startNs ? info.startNs : startNs;
      endNs = endNs === undefined || info.endNs > endNs ? info.endNs : endNs;
    }
  }
  const first = infos[0];
  return buildBagInfo({
    path,
    storage: first.storage,
    files: infos.flatMap((i) => i.files),
    profile: first.profile,
    sqliteSchemaVersion: first.sqliteSchemaVersion,
    rosDistro: first.rosDistro,
    topics: [...byTopic.values()],
    startNs: startNs ?? 0n,
    endNs: endNs ?? 0n,
  });
}
