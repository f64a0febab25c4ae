/**
 * Model package loading and validation (the directory described in ./manifest.ts): manifest fields, presence and
 * sha256 of every file, tokenizer vocabulary. Graph I/O is checked against the manifest when the ONNX sessions
 * are created (./session.ts), which also happens at load time, never at frame time.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { ModelPackageError } from './errors';
import type { ModelManifest, OnnxFileSpec } from './manifest';
import { ClipBpeTokenizer, Tokenizer, WordTokenizer } from './tokenizer';

/** A validated package on disk. */
export interface ModelPackage {
  /** Absolute directory. */
  dir: string;
  manifest: ModelManifest;
  /** Absolute paths of the ONNX files. */
  paths: { imageEncoder: string; textEncoder: string; vfm?: string };
  /** Absolute path of the tokenizer vocabulary file. */
  vocabPath: string;
}

/** Options of {@link loadModelPackage}. */
export interface LoadPackageOptions {
  /** Check the sha256 of every ONNX file against model.json (default true). */
  verifyHashes?: boolean;
}

const EXPORT_HINT =
  're-export the package with `declip export ...` (src/training/python: python -m declip_torch.export)';

/** sha256 of a file as lower-case hex (streamed in 1 MiB chunks). */
export function sha256File(file: string): string {
  const h = crypto.createHash('sha256');
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    let n: number;
    while ((n = fs.readSync(fd, buf, 0, buf.length, null)) > 0) h.update(buf.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
  return h.digest('hex');
}

type Check = (cond: boolean, field: string, msg: string) => void;

function validateFileSpec(spec: unknown, key: string, check: Check): void {
  const s = spec as Partial<OnnxFileSpec> | undefined;
  check(
    typeof s === 'object' && s !== null,
    `files.${key}`,
    'missing; the manifest must list this ONNX file',
  );
  check(typeof s!.file === 'string' && s!.file.length > 0, `files.${key}.file`, 'must be a file name');
  check(
    typeof s!.sha256 === 'string' && /^[0-9a-f]{64}$/i.test(s!.sha256),
    `files.${key}.sha256`,
    'must be 64 hex digits',
  );
  check(
    Array.isArray(s!.inputs) && s!.inputs.every((x) => typeof x === 'string'),
    `files.${key}.inputs`,
    'must be a list of names',
  );
  check(
    Array.isArray(s!.outputs) && s!.outputs.every((x) => typeof x === 'string'),
    `files.${key}.outputs`,
    'must be a list of names',
  );
  check(
    s!.dtype === 'float32' || s!.dtype === 'float16',
    `files.${key}.dtype`,
    "must be 'float32' or 'float16'",
  );
}

/**
 * Validates the fields of a parsed model.json (types, ranges, patch/size consistency). Throws ModelPackageError
 * naming the field.
 */
export function validateManifest(m: unknown, dir = '.'): ModelManifest {
  const check: Check = (cond, field, msg) => {
    if (!cond)
      throw new ModelPackageError(dir, 'model.json', `${msg}; fix the manifest or ${EXPORT_HINT}`, field);
  };
  const o = m as Partial<ModelManifest>;
  check(typeof o === 'object' && o !== null, '(root)', 'must be a JSON object');
  check(
    o.format_version === 1,
    'format_version',
    `is ${JSON.stringify(o.format_version)}, this runtime reads 1`,
  );
  check(typeof o.name === 'string', 'name', 'must be a string');
  check(
    ['declip-csa', 'declip-qq', 'clip-vanilla', 'proxyclip'].includes(o.architecture as string),
    'architecture',
    `${JSON.stringify(o.architecture)} is not one of declip-csa, declip-qq, clip-vanilla, proxyclip`,
  );
  const img = o.image;
  check(typeof img === 'object' && img !== null, 'image', 'missing');
  check(
    ['short_side', 'long_side', 'fixed'].includes(img!.resize),
    'image.resize',
    'must be short_side, long_side or fixed',
  );
  check(
    Number.isInteger(img!.patch_size) && img!.patch_size > 0,
    'image.patch_size',
    'must be a positive integer',
  );
  check(
    Array.isArray(img!.input_size) &&
      img!.input_size.length === 2 &&
      img!.input_size.every((v) => Number.isInteger(v) && v > 0),
    'image.input_size',
    'must be [H, W] positive integers',
  );
  const p = img!.patch_size;
  check(
    img!.input_size[0] % p === 0 && (img!.resize !== 'fixed' || img!.input_size[1] % p === 0),
    'image.input_size',
    `${img!.input_size.join('x')} is not a multiple of the patch size ${p}`,
  );
  for (const k of ['mean', 'std'] as const) {
    const v = img![k];
    check(
      Array.isArray(v) && v.length === 3 && v.every((x) => typeof x === 'number' && Number.isFinite(x)),
      `image.${k}`,
      'must be 3 numbers',
    );
  }
  check(
    img!.std.every((x) => x > 0),
    'image.std',
    'must be positive',
  );
  check(Number.isInteger(o.feature_dim) && o.feature_dim! > 0, 'feature_dim', 'must be a positive integer');
  check(
    typeof o.logit_scale === 'number' && o.logit_scale > 0 && Number.isFinite(o.logit_scale),
    'logit_scale',
    'must be a positive number',
  );
  const t = o.tokenizer;
  check(typeof t === 'object' && t !== null, 'tokenizer', 'missing');
  check(t!.type === 'clip-bpe' || t!.type === 'word', 'tokenizer.type', "must be 'clip-bpe' or 'word'");
  check(
    typeof t!.vocab_file === 'string' && t!.vocab_file.length > 0,
    'tokenizer.vocab_file',
    'must be a file name',
  );
  check(
    Number.isInteger(t!.context_length) && t!.context_length >= 2,
    'tokenizer.context_length',
    'must be an integer >= 2',
  );
  check(
    o.text?.input_dtype === 'int64' || o.text?.input_dtype === 'int32',
    'text.input_dtype',
    "must be 'int64' or 'int32'",
  );
  check(
    Array.isArray(o.prompt_templates) &&
      o.prompt_templates.length > 0 &&
      o.prompt_templates.every((s) => typeof s === 'string' && s.includes('{}')),
    'prompt_templates',
    'must be a non-empty list of strings containing {}',
  );
  check(
    o.background_prompts === undefined ||
      (Array.isArray(o.background_prompts) &&
        o.background_prompts.every((s) => typeof s === 'string' && s.trim().length > 0)),
    'background_prompts',
    'must be a list of non-empty strings when present',
  );
  check(
    o.background_logit_offset === undefined ||
      (typeof o.background_logit_offset === 'number' && Number.isFinite(o.background_logit_offset)),
    'background_logit_offset',
    'must be a finite number (logit units, e.g. -1.5) when present; remove it for 0',
  );
  check(typeof o.files === 'object' && o.files !== null, 'files', 'missing');
  validateFileSpec(o.files!.image_encoder, 'image_encoder', check);
  validateFileSpec(o.files!.text_encoder, 'text_encoder', check);
  if (o.architecture === 'proxyclip') validateFileSpec(o.files!.vfm, 'vfm', check);
  else if (o.files!.vfm !== undefined) validateFileSpec(o.files!.vfm, 'vfm', check);
  check(
    typeof o.provenance === 'object' && o.provenance !== null && typeof o.provenance.source === 'string',
    'provenance.source',
    'must be a string',
  );
  return o as ModelManifest;
}

function resolveInside(dir: string, file: string, field: string): string {
  const p = path.resolve(dir, file);
  if (path.relative(dir, p).startsWith('..')) {
    throw new ModelPackageError(dir, 'model.json', `${file} points outside the package directory`, field);
  }
  return p;
}

/**
 * Reads and validates a model package directory: model.json, presence and sha256 of the ONNX files, the tokenizer
 * vocabulary. Throws {@link ModelPackageError} naming the file and what to do.
 */
export function loadModelPackage(dirIn: string, opts: LoadPackageOptions = {}): ModelPackage {
  const dir = path.resolve(dirIn);
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) {
    throw new ModelPackageError(
      dir,
      '(directory)',
      `not a directory; pass the model package folder (with model.json), or ${EXPORT_HINT}`,
    );
  }
  const manifestPath = path.join(dir, 'model.json');
  if (!fs.existsSync(manifestPath)) {
    throw new ModelPackageError(dir, 'model.json', `missing; this is not a model package, or ${EXPORT_HINT}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(manifestPath, 'utf8'));
  } catch (e) {
    throw new ModelPackageError(
      dir,
      'model.json',
      `is not valid JSON (${(e as Error).message}); ${EXPORT_HINT}`,
      undefined,
      e,
    );
  }
  const manifest = validateManifest(parsed, dir);
  const specs: [keyof ModelManifest['files'], OnnxFileSpec | undefined][] = [
    ['image_encoder', manifest.files.image_encoder],
    ['text_encoder', manifest.files.text_encoder],
    ['vfm', manifest.files.vfm],
  ];
  const paths: Record<string, string> = {};
  for (const [key, spec] of specs) {
    if (!spec) continue;
    const file = resolveInside(dir, spec.file, `files.${key}.file`);
    if (!fs.existsSync(file)) {
      throw new ModelPackageError(
        dir,
        spec.file,
        `missing (listed in model.json files.${key}); copy the whole package directory, or ${EXPORT_HINT}`,
      );
    }
    if (opts.verifyHashes ?? true) {
      const got = sha256File(file);
      if (got !== spec.sha256.toLowerCase()) {
        throw new ModelPackageError(
          dir,
          spec.file,
          `the sha256 in model.json (${spec.sha256.slice(0, 12)}...) does not match ${spec.file} (${got.slice(0, 12)}...): ` +
            `the file was modified or truncated; re-download or ${EXPORT_HINT}`,
          `files.${key}.sha256`,
        );
      }
    }
    paths[key] = file;
  }
  const vocabPath = resolveInside(dir, manifest.tokenizer.vocab_file, 'tokenizer.vocab_file');
  if (!fs.existsSync(vocabPath)) {
    throw new ModelPackageError(
      dir,
      manifest.tokenizer.vocab_file,
      `tokenizer vocabulary missing (model.json tokenizer.vocab_file); copy it into the package, or ${EXPORT_HINT}`,
      'tokenizer.vocab_file',
    );
  }
  return {
    dir,
    manifest,
    paths: { imageEncoder: paths.image_encoder, textEncoder: paths.text_encoder, vfm: paths.vfm },
    vocabPath,
  };
}

/** Builds the tokenizer the manifest asks for; vocabulary problems become ModelPackageError naming the file. */
export function loadTokenizer(pkg: ModelPackage): Tokenizer {
  const t = pkg.manifest.tokenizer;
  try {
    if (t.type === 'clip-bpe') {
      const tok = ClipBpeTokenizer.fromFile(pkg.vocabPath, { contextLength: t.context_length });
      if (
        (t.sot_id !== undefined && t.sot_id !== tok.sotId) ||
        (t.eot_id !== undefined && t.eot_id !== tok.eotId)
      ) {
        throw new Error(
          `sot/eot ids ${t.sot_id}/${t.eot_id} in model.json differ from the BPE vocab's ${tok.sotId}/${tok.eotId}`,
        );
      }
      return tok;
    }
    return WordTokenizer.fromFile(pkg.vocabPath, {
      contextLength: t.context_length,
      lowercase: t.lowercase,
      sotId: t.sot_id,
      eotId: t.eot_id,
      unkId: t.unk_id,
      padId: t.pad_id,
    });
  } catch (e) {
    throw new ModelPackageError(
      pkg.dir,
      t.vocab_file,
      `${(e as Error).message}; ${EXPORT_HINT}`,
      'tokenizer',
      e,
    );
  }
}
