/**
 * Worker process of `declip eval run --workers N`: receives {config, ids}, creates its own TaskEvaluator
 * (own bag readers and inference session), evaluates the tasks and sends each record to the parent, which is
 * the only writer of results.jsonl.
 */
import { openConvertedDataset } from '../dataset';
import type { EvalRunConfig } from './evaluator';
import { TaskEvaluator } from './evaluator';
import { buildTasks } from './runner';

// Ctrl-C reaches the whole process group: finish the task in progress, then stop (the parent keeps the records).
let stopping = false;
process.on('SIGINT', () => (stopping = true));
process.on('SIGTERM', () => (stopping = true));

process.once('message', (msg: { config: EvalRunConfig; ids: string[] }) => {
  void (async () => {
    const send = (m: unknown) =>
      new Promise<void>((resolve) => (process.send ? process.send(m, () => resolve()) : resolve()));
    try {
      const ds = await openConvertedDataset(msg.config.bagsDir);
      const byId = new Map(buildTasks(ds, msg.config).map((t) => [t.pairId, t]));
      const ev = await TaskEvaluator.create(msg.config, ds);
      try {
        for (const id of msg.ids) {
          if (stopping) break;
          const t = byId.get(id);
          if (!t) throw new Error(`task ${id} not found (dataset changed since the run started?)`);
          await send({ type: 'record', record: await ev.evaluate(t) });
        }
      } finally {
        await ev.close();
      }
      await send({ type: 'done' });
      process.exit(0);
    } catch (e) {
      await send({ type: 'error', message: (e as Error).message });
      process.exit(1);
    }
  })();
});
