import { SingleBar, Presets } from 'cli-progress';

/** Exit codes of the `declip` command (documented in `declip --help` and the README). */
export const EXIT = {
  OK: 0,
  /** Unexpected failure (a bug, or an I/O error outside our control). */
  FAILURE: 1,
  /** Bad command line: unknown option, missing argument. */
  USAGE: 2,
  /** Bad input data: malformed bag, invalid model package, bad dataset layout. The message says what to fix. */
  BAD_INPUT: 3,
  /** Interrupted by SIGINT/SIGTERM; outputs written so far were finalised. */
  INTERRUPTED: 130,
} as const;

/** Error carrying an exit code and a user-facing message that says how to fix the problem. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.BAD_INPUT,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

let requestedExit: number | undefined;

/** A command that finished but must exit non-zero (e.g. interrupted after finalising its outputs). */
export function requestExitCode(code: number): void {
  requestedExit = code;
}

/** The code asked for by the last command (and resets it). */
export function takeRequestedExitCode(): number | undefined {
  const c = requestedExit;
  requestedExit = undefined;
  return c;
}

export interface Progress {
  tick(n?: number, payload?: Record<string, unknown>): void;
  stop(): void;
}

/**
 * A progress bar on stderr for long jobs; silent when stderr is not a TTY, with --json, or under CI,
 * so scripted output stays clean.
 */
export function progressBar(total: number, label: string, opts: { quiet?: boolean } = {}): Progress {
  const enabled = !opts.quiet && process.stderr.isTTY === true && !process.env.CI;
  if (!enabled) return { tick: () => undefined, stop: () => undefined };
  const bar = new SingleBar(
    {
      format: `${label} [{bar}] {value}/{total} {percentage}% | eta {eta_formatted}`,
      stream: process.stderr,
    },
    Presets.shades_classic,
  );
  bar.start(total, 0);
  return {
    tick: (n = 1, payload) => bar.increment(n, payload),
    stop: () => bar.stop(),
  };
}

/** Formats nanoseconds as seconds with millisecond precision. */
export function nsToSec(ns: bigint): number {
  return Number(ns / 1000n) / 1e6;
}
