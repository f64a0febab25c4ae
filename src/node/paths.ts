/**
 * Path checks for names and directories that arrive from parameters and services (anchors_dir, models_dir,
 * model_path, ~/set_anchor names): the node only ever writes inside its configured directories.
 */
import * as path from 'path';

/** A path or name from a parameter or service request that is not acceptable. */
export class PathError extends Error {
  constructor(
    message: string,
    /** Parameter or request field that is wrong (e.g. 'anchors_dir', 'SetAnchor.name'). */
    readonly field: string,
  ) {
    super(`${field}: ${message}`);
    this.name = 'PathError';
  }
}

/** Longest accepted anchor name, characters. */
export const MAX_NAME_CHARS = 64;

/**
 * '' when `name` (a ~/set_anchor name; the pipeline turns it into a file stem) is acceptable, else why not:
 * 1..64 characters, no path separators, no '.' / '..', no NUL or other control characters, valid UTF-8.
 */
export function fileNameProblem(name: string): string {
  if (name.length === 0) return 'is empty';
  if (name.length > MAX_NAME_CHARS) return `is longer than ${MAX_NAME_CHARS} characters`;
  if (/[/\\]/.test(name) || name === '.' || name === '..') {
    return `'${name.slice(0, 40)}' looks like a path; give a plain name such as "red_mug" (stored inside anchors_dir)`;
  }
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f\uFFFD]/.test(name)) {
    return `'${name.slice(0, 40)}' contains control characters or invalid UTF-8`;
  }
  return '';
}

/** '' when a directory parameter is acceptable ('' = unset, else no NUL byte), else why not. */
export function dirParamProblem(dir: string): string {
  if (dir.includes('\0')) return 'contains a NUL byte';
  return '';
}

/**
 * `dir/<name><ext>` after checking `name` with fileNameProblem and that the result stays inside `dir`.
 * Throws PathError naming `field`.
 */
export function resolveInsideDir(dir: string, name: string, ext: string, field: string): string {
  if (!dir) throw new PathError('no directory is configured; set the directory parameter first', field);
  const why = fileNameProblem(name) || (/^[A-Za-z0-9_.-]+$/.test(name) ? '' : `'${name}' is not a file stem`);
  if (why) throw new PathError(why, field);
  const root = path.resolve(dir);
  const full = path.resolve(root, name + ext);
  const rel = path.relative(root, full);
  if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) {
    throw new PathError(`'${name}' resolves outside ${root}`, field);
  }
  return full;
}
