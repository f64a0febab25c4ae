/**
 * Runs a CLI entry point: its return value becomes the exit code; a thrown error prints `error: MESSAGE` (the
 * library's errors name the field and the fix) and exits 1. Shared by the training CLIs.
 */
export function runCliMain(main: () => Promise<number>): void {
  void main().then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`error: ${(e as Error).message}\n`);
      process.exitCode = 1;
    },
  );
}
