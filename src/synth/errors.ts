/** Bad options given to the synthetic world (the message names the field and how to fix it). */
export class SynthOptionError extends Error {
  readonly field: string;

  constructor(field: string, message: string) {
    super(`synth option '${field}': ${message}`);
    this.name = 'SynthOptionError';
    this.field = field;
  }
}

/** Writing an export (BOP / NOCS / captions) failed. */
export class SynthExportError extends Error {
  readonly path: string;

  constructor(path: string, message: string, cause?: unknown) {
    super(`synth export to '${path}': ${message}`, cause !== undefined ? { cause } : undefined);
    this.name = 'SynthExportError';
    this.path = path;
  }
}
