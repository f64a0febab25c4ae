/**
 * Typed errors of the perception runtime. Every message names the file or field that is wrong and
 * says what to do about it.
 */

/** Base class of every perception error. */
export class PerceptionError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PerceptionError';
  }
}

/** A model package that cannot be used: missing file, bad manifest, hash mismatch, wrong graph I/O. */
export class ModelPackageError extends PerceptionError {
  /** Package directory. */
  readonly dir: string;
  /** File inside the package the problem is about (e.g. 'model.json', 'image_encoder.onnx'). */
  readonly file: string;
  /** Manifest field or graph value that is wrong, when there is one (e.g. 'image.patch_size'). */
  readonly field?: string;

  constructor(dir: string, file: string, message: string, field?: string, cause?: unknown) {
    super(
      `${file}${field ? ` (${field})` : ''}: ${message} [package ${dir}]`,
      cause !== undefined ? { cause } : undefined,
    );
    this.name = 'ModelPackageError';
    this.dir = dir;
    this.file = file;
    this.field = field;
  }
}

/** Tokenizer vocabulary that cannot be read, or text that cannot be tokenised. */
export class TokenizerError extends PerceptionError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TokenizerError';
  }
}

/** Bad runtime input: image size/encoding/step, empty query, bad option. */
export class PerceptionInputError extends PerceptionError {
  /** The input field that is wrong (e.g. 'image.step', 'queries[0]'). */
  readonly field: string;

  constructor(field: string, message: string) {
    super(`${field}: ${message}`);
    this.name = 'PerceptionInputError';
    this.field = field;
  }
}

/** No usable execution provider, or an inference that failed on every provider. */
export class ExecutionProviderError extends PerceptionError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ExecutionProviderError';
  }
}
