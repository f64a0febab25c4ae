import type { Command } from 'commander';
import { openBag } from '../../bag';
import type { BagInfo } from '../../bag';
import { nsToSec } from '../util';

/** JSON-safe view of a BagInfo (bigint -> string ns, plus seconds). */
export function bagInfoToJson(info: BagInfo): Record<string, unknown> {
  return {
    path: info.path,
    storage: info.storage,
    files: info.files,
    profile: info.profile,
    sqliteSchemaVersion: info.sqliteSchemaVersion,
    rosDistro: info.rosDistro,
    messageCount: info.messageCount,
    startNs: info.startNs.toString(),
    endNs: info.endNs.toString(),
    durationS: info.durationS,
    topics: info.topics.map((t) => ({
      topic: t.topic,
      type: t.type,
      serializationFormat: t.serializationFormat,
      messageCount: t.messageCount,
      rateHz: Number(t.rateHz.toFixed(3)),
    })),
  };
}

/** Human-readable `ros2 bag info`-style text. */
export function formatBagInfo(info: BagInfo): string {
  const lines = [
    `Files:        ${info.files.join(', ')}`,
    `Storage:      ${info.storage}${info.profile ? ` (profile ${info.profile})` : ''}${
      info.sqliteSchemaVersion ? ` (schema v${info.sqliteSchemaVersion})` : ''
    }`,
    `Duration:     ${info.durationS.toFixed(3)} s`,
    `Start:        ${nsToSec(info.startNs).toFixed(3)} s`,
    `End:          ${nsToSec(info.endNs).toFixed(3)} s`,
    `Messages:     ${info.messageCount}`,
    `Topics:`,
  ];
  const w = Math.max(...info.topics.map((t) => t.topic.length), 5);
  for (const t of info.topics) {
    lines.push(
      `  ${t.topic.padEnd(w)}  ${t.type.padEnd(40)}  ${String(t.messageCount).padStart(6)} msgs  ${t.rateHz.toFixed(2).padStart(7)} Hz`,
    );
  }
  return lines.join('\n');
}

/** Replaces large arrays in a decoded message with a short summary so `bag cat` stays readable. */
export function summariseMessage(msg: unknown, maxArray = 16): unknown {
  if (msg === null || typeof msg !== 'object') return typeof msg === 'bigint' ? msg.toString() : msg;
  if (ArrayBuffer.isView(msg)) {
    const a = msg as unknown as ArrayLike<number>;
    if (a.length <= maxArray) return Array.from(a);
    return `<${msg.constructor.name} length=${a.length}>`;
  }
  if (Array.isArray(msg)) {
    if (msg.length > maxArray && msg.every((x) => typeof x === 'number'))
      return `<number[] length=${msg.length}>`;
    return msg.map((x) => summariseMessage(x, maxArray));
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(msg as Record<string, unknown>)) out[k] = summariseMessage(v, maxArray);
  return out;
}

export function registerBagCommands(program: Command): void {
  const bag = program.command('bag').description('inspect rosbag2 bags (MCAP or sqlite3 .db3)');
  bag
    .command('info')
    .description('topics, message counts, rates and duration of a bag')
    .argument('<bag>', 'bag directory (with metadata.yaml), .mcap or .db3 file')
    .option('--json', 'print JSON')
    .option('--skip-bad', 'open damaged bags (no footer/summary) by scanning them')
    .action(async (bagPath: string, opts: { json?: boolean; skipBad?: boolean }) => {
      const reader = await openBag(bagPath, { skipBad: opts.skipBad });
      try {
        const info = reader.info();
        console.log(opts.json ? JSON.stringify(bagInfoToJson(info), null, 2) : formatBagInfo(info));
      } finally {
        await reader.close();
      }
    });
  bag
    .command('cat')
    .description('print decoded messages (large arrays summarised), one JSON object per line')
    .argument('<bag>', 'bag directory, .mcap or .db3 file')
    .option('-t, --topics <topics...>', 'only these topics')
    .option('-n, --limit <n>', 'stop after n messages', (v) => parseInt(v, 10))
    .option('--start <sec>', 'only messages at or after this log time (s)', parseFloat)
    .option('--end <sec>', 'only messages at or before this log time (s)', parseFloat)
    .option('--full', 'print full arrays instead of summaries')
    .option('--skip-bad', 'continue past corrupt records and report how many were skipped')
    .action(
      async (
        bagPath: string,
        opts: {
          topics?: string[];
          limit?: number;
          start?: number;
          end?: number;
          full?: boolean;
          skipBad?: boolean;
        },
      ) => {
        const reader = await openBag(bagPath, { skipBad: opts.skipBad });
        let n = 0;
        let undecodable = 0;
        try {
          const toNs = (s: number | undefined) => (s === undefined ? undefined : BigInt(Math.round(s * 1e9)));
          for await (const m of reader.messages({
            topics: opts.topics,
            startNs: toNs(opts.start),
            endNs: toNs(opts.end),
            skipBad: opts.skipBad,
          })) {
            if (opts.limit !== undefined && n >= opts.limit) break;
            let message: unknown;
            try {
              message = m.decode();
            } catch (e) {
              if (!opts.skipBad) throw e;
              undecodable++;
              continue;
            }
            const body = opts.full
              ? summariseMessage(message, Number.MAX_SAFE_INTEGER)
              : summariseMessage(message);
            console.log(
              JSON.stringify({
                topic: m.topic,
                type: m.type,
                logTimeNs: m.logTimeNs.toString(),
                message: body,
              }),
            );
            n++;
          }
        } finally {
          await reader.close();
        }
        if (opts.skipBad && (reader.skipped > 0 || undecodable > 0)) {
          console.error(`skipped ${reader.skipped} corrupt records and ${undecodable} undecodable messages`);
        }
      },
    );
}
