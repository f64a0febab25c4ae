/**
 * Tokenizers for the text encoder:
 *  - {@link ClipBpeTokenizer}: byte-level BPE of OpenAI CLIP / OpenCLIP / EVA-CLIP (`simple_tokenizer.py`),
 *    reading the gzip'd merges file `bpe_simple_vocab_16e6.txt.gz`.
 *  - {@link WordTokenizer}: a word-level tokenizer (vocab list, lower-case, unk) for small self-trained models.
 * Both produce rows of `context_length` ids: [sot, ...tokens, eot, 0...]; too long a text is truncated keeping
 * the eot as the last id (open_clip's `tokenize(..., truncate=True)`).
 */
import * as fs from 'fs';
import * as zlib from 'zlib';
import { TokenizerError } from './errors';

/** Common interface of the tokenizers. */
export interface Tokenizer {
  readonly contextLength: number;
  readonly sotId: number;
  readonly eotId: number;
  /** Bare token ids (no start/end tokens, no padding, no truncation). */
  encode(text: string): number[];
  /**
   * One row of `contextLength` ids: sot, tokens, eot, zero padding. `truncated` is true when the text had to be
   * cut (the eot then replaces the last id).
   */
  tokenize(text: string): { ids: number[]; truncated: boolean };
}

/** Result of {@link tokenizeBatch}: ids [N, contextLength] row-major plus which rows were truncated. */
export interface TokenBatch {
  ids: Int32Array;
  n: number;
  contextLength: number;
  truncated: boolean[];
}

/** Tokenize several texts into one [N, contextLength] id matrix. */
export function tokenizeBatch(tokenizer: Tokenizer, texts: readonly string[]): TokenBatch {
  const L = tokenizer.contextLength;
  const ids = new Int32Array(texts.length * L);
  const truncated: boolean[] = [];
  texts.forEach((t, i) => {
    const row = tokenizer.tokenize(t);
    ids.set(row.ids, i * L);
    truncated.push(row.truncated);
  });
  return { ids, n: texts.length, contextLength: L, truncated };
}

function finishRow(
  tokens: number[],
  sot: number,
  eot: number,
  L: number,
  pad: number,
): { ids: number[]; truncated: boolean } {
  let all = [sot, ...tokens, eot];
  let truncated = false;
  if (all.length > L) {
    all = all.slice(0, L);
    all[L - 1] = eot;
    truncated = true;
  }
  while (all.length < L) all.push(pad);
  return { ids: all, truncated };
}

// ---------------------------------------------------------------------------------------------------------------
// Text cleaning (ftfy-lite + html unescape + whitespace)
// ---------------------------------------------------------------------------------------------------------------

const NAMED_ENTITIES: Record<string, string> = {
  amp: '&',
  lt: '<',
  gt: '>',
  quot: '"',
  apos: "'",
  nbsp: '\u00a0',
  copy: '\u00a9',
  reg: '\u00ae',
  trade: '\u2122',
  hellip: '\u2026',
  mdash: '\u2014',
  ndash: '\u2013',
  lsquo: '\u2018',
  rsquo: '\u2019',
  ldquo: '\u201c',
  rdquo: '\u201d',
  laquo: '\u00ab',
  raquo: '\u00bb',
  deg: '\u00b0',
  plusmn: '\u00b1',
  times: '\u00d7',
  divide: '\u00f7',
  middot: '\u00b7',
  bull: '\u2022',
  euro: '\u20ac',
  pound: '\u00a3',
  yen: '\u00a5',
  cent: '\u00a2',
  sect: '\u00a7',
  para: '\u00b6',
  micro: '\u00b5',
  frac12: '\u00bd',
  frac14: '\u00bc',
  frac34: '\u00be',
  sup2: '\u00b2',
  sup3: '\u00b3',
  iexcl: '\u00a1',
  iquest: '\u00bf',
  szlig: '\u00df',
  agrave: '\u00e0',
  aacute: '\u00e1',
  acirc: '\u00e2',
  atilde: '\u00e3',
  auml: '\u00e4',
  aring: '\u00e5',
  aelig: '\u00e6',
  ccedil: '\u00e7',
  egrave: '\u00e8',
  eacute: '\u00e9',
  ecirc: '\u00ea',
  euml: '\u00eb',
  igrave: '\u00ec',
  iacute: '\u00ed',
  icirc: '\u00ee',
  iuml: '\u00ef',
  ntilde: '\u00f1',
  ograve: '\u00f2',
  oacute: '\u00f3',
  ocirc: '\u00f4',
  otilde: '\u00f5',
  ouml: '\u00f6',
  oslash: '\u00f8',
  ugrave: '\u00f9',
  uacute: '\u00fa',
  ucirc: '\u00fb',
  uuml: '\u00fc',
  yacute: '\u00fd',
  yuml: '\u00ff',
  Agrave: '\u00c0',
  Aacute: '\u00c1',
  Acirc: '\u00c2',
  Atilde: '\u00c3',
  Auml: '\u00c4',
  Aring: '\u00c5',
  AElig: '\u00c6',
  Ccedil: '\u00c7',
  Egrave: '\u00c8',
  Eacute: '\u00c9',
  Ecirc: '\u00ca',
  Euml: '\u00cb',
  Ntilde: '\u00d1',
  Ouml: '\u00d6',
  Uuml: '\u00dc',
  Oslash: '\u00d8',
};
/** Entities that Python's html.unescape also accepts without the trailing ';'. */
const NO_SEMICOLON = new Set(['amp', 'lt', 'gt', 'quot', 'nbsp', 'copy', 'reg']);
/** Python html's replacement of invalid numeric references 0x80-0x9f (windows-1252). */
const CP1252: Record<number, number> = {
  0x80: 0x20ac,
  0x82: 0x201a,
  0x83: 0x0192,
  0x84: 0x201e,
  0x85: 0x2026,
  0x86: 0x2020,
  0x87: 0x2021,
  0x88: 0x02c6,
  0x89: 0x2030,
  0x8a: 0x0160,
  0x8b: 0x2039,
  0x8c: 0x0152,
  0x8e: 0x017d,
  0x91: 0x2018,
  0x92: 0x2019,
  0x93: 0x201c,
  0x94: 0x201d,
  0x95: 0x2022,
  0x96: 0x2013,
  0x97: 0x2014,
  0x98: 0x02dc,
  0x99: 0x2122,
  0x9a: 0x0161,
  0x9b: 0x203a,
  0x9c: 0x0153,
  0x9e: 0x017e,
  0x9f: 0x0178,
};

/**
 * A subset of Python's `html.unescape`: numeric references (decimal / hex, with its replacement rules) and the
 * common named entities (the full HTML5 table is not included).
 */
export function htmlUnescape(text: string): string {
  if (!text.includes('&')) return text;
  return text.replace(/&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[A-Za-z][A-Za-z0-9]*;?)/g, (m, body: string) => {
    if (body[0] === '#') {
      const hex = body[1] === 'x' || body[1] === 'X';
      const cp = parseInt(body.slice(hex ? 2 : 1).replace(/;$/, ''), hex ? 16 : 10);
      if (cp in CP1252) return String.fromCodePoint(CP1252[cp]);
      if (cp === 0 || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) return '\ufffd';
      return String.fromCodePoint(cp);
    }
    const semi = body.endsWith(';');
    const name = semi ? body.slice(0, -1) : body;
    if (semi && name in NAMED_ENTITIES) return NAMED_ENTITIES[name];
    // Without ';' Python matches the longest known prefix among the legacy entities.
    for (let k = name.length; k > 0; k--) {
      const p = name.slice(0, k);
      if (NO_SEMICOLON.has(p)) return NAMED_ENTITIES[p] + name.slice(k) + (semi ? ';' : '');
    }
    return m;
  });
}

const LIGATURES: Record<string, string> = {
  '\u0132': 'IJ',
  '\u0133': 'ij',
  '\u01c7': 'LJ',
  '\u01c8': 'Lj',
  '\u01c9': 'lj',
  '\u01ca': 'NJ',
  '\u01cb': 'Nj',
  '\u01cc': 'nj',
  '\u01f1': 'DZ',
  '\u01f2': 'Dz',
  '\u01f3': 'dz',
  '\ufb00': 'ff',
  '\ufb01': 'fi',
  '\ufb02': 'fl',
  '\ufb03': 'ffi',
  '\ufb04': 'ffl',
  '\ufb05': '\u017ft',
  '\ufb06': 'st',
};

/**
 * ftfy-lite: the parts of `ftfy.fix_text` (default config) that matter for CLIP prompts: html unescape,
 * terminal escapes, Latin ligatures, full/half-width characters, curly quotes, line breaks, control characters,
 * NFC. Mojibake repair (`fix_encoding`) is not included.
 */
export function fixText(text: string): string {
  let t = text;
  if (!t.includes('<')) t = htmlUnescape(t);
  // eslint-disable-next-line no-control-regex
  t = t.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '');
  t = t.replace(/[\u0132\u0133\u01c7-\u01cc\u01f1-\u01f3\ufb00-\ufb06]/g, (c) => LIGATURES[c] ?? c);
  t = t.replace(/[\u3000\uff01-\uffef]/g, (c) => {
    const n = c.normalize('NFKC');
    return n.length === 1 ? n : c;
  });
  t = t
    .replace(/[\u2018\u2019\u201a\u201b\u2032\u2035\u02bc]/g, "'")
    .replace(/[\u201c\u201d\u201e\u201f\u2033\u2036]/g, '"');
  t = t.replace(/\r\n|[\r\u2028\u2029\u0085]/g, '\n');
  // remove_control_chars: C0 controls except \t \n \f \r, DEL..C1 (0x7f-0x9f), BOM, soft hyphen is kept.
  // eslint-disable-next-line no-control-regex
  t = t.replace(/[\x00-\x08\x0b\x0e-\x1f\x7f\ufeff\ufff9-\ufffb\u206a-\u206f\u200b-\u200f]/g, '');
  return t.normalize('NFC');
}

/** CLIP's `basic_clean` + `whitespace_clean` + lower-case. */
export function clipCleanText(text: string): string {
  let t = fixText(text);
  t = htmlUnescape(htmlUnescape(t)).trim();
  t = t.replace(/\s+/gu, ' ').trim();
  return t.toLowerCase();
}

// ---------------------------------------------------------------------------------------------------------------
// CLIP BPE
// ---------------------------------------------------------------------------------------------------------------

/**
 * CLIP's `bytes_to_unicode`: maps every byte to a printable unicode character. Returns the table indexed by byte
 * and the characters in the dict's insertion order (printable bytes first), which is the vocabulary order.
 */
export function bytesToUnicode(): { byByte: string[]; vocabOrder: string[] } {
  const bs: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) bs.push(b);
  for (let b = 0xa1; b <= 0xac; b++) bs.push(b);
  for (let b = 0xae; b <= 0xff; b++) bs.push(b);
  const cs = bs.slice();
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n);
      n++;
    }
  }
  const byByte = new Array<string>(256);
  bs.forEach((b, i) => (byByte[b] = String.fromCharCode(cs[i])));
  return { byByte, vocabOrder: cs.map((c) => String.fromCharCode(c)) };
}

const CLIP_PATTERN =
  /<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+/giu;

/** The standard CLIP special token ids. */
export const CLIP_SOT_ID = 49406;
export const CLIP_EOT_ID = 49407;

/** Options of {@link ClipBpeTokenizer}. */
export interface ClipBpeOptions {
  contextLength?: number;
  /** Max entries of the per-word BPE cache (default 50000). */
  cacheSize?: number;
}

/** Byte-level BPE tokenizer of CLIP, id-exact with `clip.simple_tokenizer.SimpleTokenizer` / open_clip. */
export class ClipBpeTokenizer implements Tokenizer {
  readonly contextLength: number;
  readonly sotId: number;
  readonly eotId: number;
  readonly vocabSize: number;
  private readonly encoder = new Map<string, number>();
  private readonly ranks = new Map<string, number>();
  private readonly byteTable = bytesToUnicode();
  private readonly byteEncoder = this.byteTable.byByte;
  private readonly cache = new Map<string, string[]>();
  private readonly cacheSize: number;

  /** Builds the tokenizer from the (decompressed) merges text. */
  constructor(mergesText: string, opts: ClipBpeOptions = {}) {
    this.contextLength = opts.contextLength ?? 77;
    this.cacheSize = opts.cacheSize ?? 50000;
    const lines = mergesText.split('\n');
    // Same slice as simple_tokenizer.py: skip the header line, keep 49152-256-2 merges.
    const merges = lines.slice(1, 49152 - 256 - 2 + 1).map((l) => l.split(/\s+/).filter((s) => s.length > 0));
    if (merges.length < 1000 || merges.some((m) => m.length !== 2)) {
      throw new TokenizerError(
        `CLIP BPE merges: expected ~48894 lines of two symbols each, got ${merges.length} lines; ` +
          'pass the bpe_simple_vocab_16e6.txt.gz file from openai/CLIP',
      );
    }
    const vocab: string[] = [...this.byteTable.vocabOrder];
    for (const v of this.byteTable.vocabOrder) vocab.push(v + '</w>');
    merges.forEach(([a, b], i) => {
      vocab.push(a + b);
      this.ranks.set(a + ' ' + b, i);
    });
    vocab.push('<|startoftext|>', '<|endoftext|>');
    vocab.forEach((v, i) => this.encoder.set(v, i));
    this.sotId = this.encoder.get('<|startoftext|>')!;
    this.eotId = this.encoder.get('<|endoftext|>')!;
    this.vocabSize = vocab.length;
  }

  /** Reads a gzip'd (or plain) merges file. */
  static fromFile(path: string, opts: ClipBpeOptions = {}): ClipBpeTokenizer {
    let buf: Buffer;
    try {
      buf = fs.readFileSync(path);
    } catch (e) {
      throw new TokenizerError(`CLIP BPE vocab: cannot read ${path}: ${(e as Error).message}`, { cause: e });
    }
    let text: string;
    try {
      text = (buf[0] === 0x1f && buf[1] === 0x8b ? zlib.gunzipSync(buf) : buf).toString('utf8');
    } catch (e) {
      throw new TokenizerError(
        `CLIP BPE vocab: ${path} is not a valid gzip file (truncated?); re-download it`,
        {
          cause: e,
        },
      );
    }
    return new ClipBpeTokenizer(text, opts);
  }

  private bpe(token: string): string[] {
    const cached = this.cache.get(token);
    if (cached) return cached;
    let word: string[] = [...token.slice(0, -1)];
    word.push(token[token.length - 1] + '</w>');
    if (word.length === 1) return this.remember(token, word);
    while (true) {
      let best = -1;
      let bestRank = Infinity;
      for (let i = 0; i < word.length - 1; i++) {
        const r = this.ranks.get(word[i] + ' ' + word[i + 1]);
        if (r !== undefined && r < bestRank) {
          bestRank = r;
          best = i;
        }
      }
      if (best < 0) break;
      const first = word[best];
      const second = word[best + 1];
      const next: string[] = [];
      for (let i = 0; i < word.length;) {
        if (i < word.length - 1 && word[i] === first && word[i + 1] === second) {
          next.push(first + second);
          i += 2;
        } else {
          next.push(word[i]);
          i += 1;
        }
      }
      word = next;
      if (word.length === 1) break;
    }
    return this.remember(token, word);
  }

  private remember(token: string, parts: string[]): string[] {
    if (this.cache.size >= this.cacheSize) this.cache.clear();
    this.cache.set(token, parts);
    return parts;
  }

  /** Bare BPE ids of `text` (cleaned and lower-cased as CLIP does). */
  encode(text: string): number[] {
    const out: number[] = [];
    const clean = clipCleanText(text);
    for (const m of clean.matchAll(CLIP_PATTERN)) {
      const piece = m[0];
      let token: string;
      if (piece === '<|startoftext|>' || piece === '<|endoftext|>') {
        out.push(this.encoder.get(piece)!);
        continue;
      }
      token = '';
      for (const b of Buffer.from(piece, 'utf8')) token += this.byteEncoder[b];
      for (const p of this.bpe(token)) out.push(this.encoder.get(p)!);
    }
    return out;
  }

  /** One context-length row: sot, tokens, eot, zero padding; truncated keeping eot last. */
  tokenize(text: string): { ids: number[]; truncated: boolean } {
    return finishRow(this.encode(text), this.sotId, this.eotId, this.contextLength, 0);
  }

  /** Decodes ids back to text (for logs / debugging). */
  decode(ids: readonly number[]): string {
    const dec = new Map<number, string>();
    for (const [k, v] of this.encoder) dec.set(v, k);
    const byteDec = new Map<string, number>();
    this.byteEncoder.forEach((c, b) => byteDec.set(c, b));
    const text = ids.map((i) => dec.get(i) ?? '').join('');
    const bytes: number[] = [];
    for (const c of text.replace(/<\|startoftext\|>|<\|endoftext\|>/g, ''))
      bytes.push(byteDec.get(c) ?? 0x3f);
    return Buffer.from(bytes).toString('utf8').replace(/<\/w>/g, ' ').trim();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Word tokenizer
// ---------------------------------------------------------------------------------------------------------------

/** Options of {@link WordTokenizer}; defaults follow the exporter's vocab.txt layout. */
export interface WordTokenizerOptions {
  contextLength?: number;
  lowercase?: boolean;
  sotId?: number;
  eotId?: number;
  unkId?: number;
  padId?: number;
}

/**
 * Word-level tokenizer: lower-case (optional), split on anything that is not a letter or digit, look up each word
 * in the vocabulary, unknown words -> unk id. Default ids follow the exporter's vocab layout
 * [<pad>, <unk>, words..., <|startoftext|>, <|endoftext|>].
 */
export class WordTokenizer implements Tokenizer {
  readonly contextLength: number;
  readonly sotId: number;
  readonly eotId: number;
  readonly unkId: number;
  readonly padId: number;
  readonly lowercase: boolean;
  private readonly index = new Map<string, number>();

  constructor(vocab: readonly string[], opts: WordTokenizerOptions = {}) {
    if (vocab.length < 3)
      throw new TokenizerError(`word vocab: only ${vocab.length} entries; it needs specials and words`);
    vocab.forEach((w, i) => {
      if (!this.index.has(w)) this.index.set(w, i);
    });
    this.contextLength = opts.contextLength ?? 77;
    this.lowercase = opts.lowercase ?? true;
    this.sotId = opts.sotId ?? this.index.get('<|startoftext|>') ?? vocab.length - 2;
    this.eotId = opts.eotId ?? this.index.get('<|endoftext|>') ?? vocab.length - 1;
    this.unkId = opts.unkId ?? this.index.get('<unk>') ?? 1;
    this.padId = opts.padId ?? this.index.get('<pad>') ?? 0;
    for (const [name, id] of [
      ['sot_id', this.sotId],
      ['eot_id', this.eotId],
      ['unk_id', this.unkId],
      ['pad_id', this.padId],
    ] as const) {
      if (!Number.isInteger(id) || id < 0 || id >= vocab.length) {
        throw new TokenizerError(
          `word vocab: ${name} ${id} is outside the vocabulary of ${vocab.length} entries`,
        );
      }
    }
  }

  /** Reads a vocab file: one word per line (.txt) or a JSON array of words (.json). */
  static fromFile(path: string, opts: WordTokenizerOptions = {}): WordTokenizer {
    let text: string;
    try {
      text = fs.readFileSync(path, 'utf8');
    } catch (e) {
      throw new TokenizerError(`word vocab: cannot read ${path}: ${(e as Error).message}`, { cause: e });
    }
    let vocab: string[];
    if (path.endsWith('.json')) {
      const parsed: unknown = JSON.parse(text);
      if (!Array.isArray(parsed) || parsed.some((w) => typeof w !== 'string')) {
        throw new TokenizerError(`word vocab: ${path} must be a JSON array of strings`);
      }
      vocab = parsed as string[];
    } else {
      vocab = text.split(/\r?\n/).filter((l) => l.length > 0);
    }
    return new WordTokenizer(vocab, opts);
  }

  /** Word ids of `text` (no sot/eot). */
  encode(text: string): number[] {
    const t = this.lowercase ? text.toLowerCase() : text;
    return t
      .split(/[^\p{L}\p{N}]+/u)
      .filter((w) => w.length > 0)
      .map((w) => this.index.get(w) ?? this.unkId);
  }

  tokenize(text: string): { ids: number[]; truncated: boolean } {
    return finishRow(this.encode(text), this.sotId, this.eotId, this.contextLength, this.padId);
  }
}
