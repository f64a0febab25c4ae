/** Throttled logging: one message per key per period, with a count of the ones suppressed in between. */
import type { RosLogger } from './runtime';

export class ThrottledLogger {
  private readonly last = new Map<string, { atMs: number; suppressed: number }>();

  /**
   * @param logger where messages go
   * @param periodMs returns the current throttle period, ms (0 = no throttling)
   * @param nowMs monotonic clock, ms
   */
  constructor(
    private readonly logger: RosLogger,
    private readonly periodMs: () => number,
    private readonly nowMs: () => number,
  ) {}

  /** Log `msg` at `level` unless a message with the same key was logged less than one period ago. */
  log(level: 'info' | 'warn' | 'error', key: string, msg: string): boolean {
    const now = this.nowMs();
    const prev = this.last.get(key);
    const period = this.periodMs();
    if (prev && period > 0 && now - prev.atMs < period) {
      prev.suppressed++;
      return false;
    }
    const extra = prev && prev.suppressed > 0 ? ` (${prev.suppressed} similar suppressed)` : '';
    this.last.set(key, { atMs: now, suppressed: 0 });
    this.logger[level](msg + extra);
    return true;
  }

  warn(key: string, msg: string): boolean {
    return this.log('warn', key, msg);
  }

  error(key: string, msg: string): boolean {
    return this.log('error', key, msg);
  }
}
