/**
 * Checks on text queries from ~/query, the `queries` parameter and ~/locate: length, valid UTF-8 (the CDR
 * decoder turns invalid bytes into U+FFFD), no control characters, a bound on how many are active.
 */

/** Longest accepted query phrase, characters (CLIP's text context is 77 tokens; this is generous). */
export const MAX_QUERY_CHARS = 256;
/** Most standing queries at once. */
export const MAX_QUERIES = 100;

/** '' when `q` (one trimmed phrase) is usable as a query, else why not. */
export function queryProblem(q: string): string {
  if (q.length > MAX_QUERY_CHARS) {
    return `query of ${q.length} characters is longer than ${MAX_QUERY_CHARS}; use a short phrase such as "red mug"`;
  }
  if (q.includes('\uFFFD')) return `query '${q.slice(0, 40)}' is not valid UTF-8 text`;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(q)) return `query '${q.slice(0, 40)}' contains control characters`;
  return '';
}

/** Split parsed queries into usable ones (at most MAX_QUERIES) and rejected ones with the reason. */
export function checkQueries(queries: readonly string[]): {
  ok: string[];
  rejected: { query: string; reason: string }[];
} {
  const ok: string[] = [];
  const rejected: { query: string; reason: string }[] = [];
  for (const q of queries) {
    const why = queryProblem(q);
    if (why) rejected.push({ query: q, reason: why });
    else if (ok.length >= MAX_QUERIES) {
      rejected.push({ query: q, reason: `more than ${MAX_QUERIES} queries; '${q.slice(0, 40)}' ignored` });
    } else ok.push(q);
  }
  return { ok, rejected };
}
