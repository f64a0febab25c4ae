/** Evaluation protocols: Oryon pair sampling, per-pair evaluation, aggregation and resumable JSON lines. */
export * from './pairs';
export * from './oryon';
export * from './jsonl';
