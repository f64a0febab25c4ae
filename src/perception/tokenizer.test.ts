import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { TokenizerError } from './errors';
import { ClipBpeTokenizer, WordTokenizer, clipCleanText, htmlUnescape, tokenizeBatch } from './tokenizer';

const SHARED = path.resolve(__dirname, '../../../shared/data');
const BPE = path.join(SHARED, 'clip/bpe_simple_vocab_16e6.txt.gz');
const VECTORS = path.join(SHARED, 'clip/clip_tokenizer_vectors.json');

interface Vectors {
  sot: number;
  eot: number;
  vocab_size: number;
  context_length: number;
  cases: { text: string; bpe_ids: number[]; with_sot_eot: number[] }[];
}

describe('ClipBpeTokenizer (shared CLIP vectors)', () => {
  const tok = ClipBpeTokenizer.fromFile(BPE);
  const vec = JSON.parse(fs.readFileSync(VECTORS, 'utf8')) as Vectors;

  it('has the reference vocabulary size and special ids (shared CLIP vectors)', () => {
    expect(tok.vocabSize).toBe(vec.vocab_size);
    expect(tok.sotId).toBe(vec.sot);
    expect(tok.eotId).toBe(vec.eot);
    expect(tok.contextLength).toBe(vec.context_length);
    expect(vec.cases.length).toBe(31);
  });

  const table: [string, Vectors['cases'][0]][] = (
    JSON.parse(fs.readFileSync(VECTORS, 'utf8')) as Vectors
  ).cases.map((c) => [JSON.stringify(c.text), c]);
  it.each(table)('encodes %s exactly (shared CLIP vectors)', (_name, cc) => {
    expect(tok.encode(cc.text)).toEqual(cc.bpe_ids);
    const row = tok.tokenize(cc.text);
    expect(row.truncated).toBe(false);
    expect(row.ids).toHaveLength(77);
    expect(row.ids.slice(0, cc.with_sot_eot.length)).toEqual(cc.with_sot_eot);
    expect(row.ids.slice(cc.with_sot_eot.length).every((v) => v === 0)).toBe(true);
  });

  it('truncates a too-long text to 77 ids keeping eot last, as open_clip does (shared CLIP vectors)', () => {
    const text = Array.from({ length: 100 }, () => 'mug').join(' ');
    expect(tok.encode(text)).toHaveLength(100);
    const row = tok.tokenize(text);
    expect(row.truncated).toBe(true);
    expect(row.ids).toHaveLength(77);
    expect(row.ids[0]).toBe(49406);
    expect(row.ids[76]).toBe(49407);
    expect(row.ids[75]).toBe(9722);
  });

  it('round-trips text through decode and batches rows (shared CLIP vectors)', () => {
    expect(tok.decode(tok.encode('a photo of a red mug.'))).toBe('a photo of a red mug .');
    const b = tokenizeBatch(tok, ['the mug', 'laptop']);
    expect(b.ids).toHaveLength(2 * 77);
    expect(Array.from(b.ids.slice(77, 80))).toEqual([49406, tok.encode('laptop')[0], 49407]);
  });

  it('rejects a merges file that is not CLIP BPE', () => {
    expect(() => new ClipBpeTokenizer('#version\na b\n')).toThrow(TokenizerError);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bpe-'));
    const bad = path.join(dir, 'bad.txt.gz');
    fs.writeFileSync(bad, fs.readFileSync(BPE).subarray(0, 1000));
    expect(() => ClipBpeTokenizer.fromFile(bad)).toThrow(/not a valid gzip file/);
  });
});

describe('text cleaning', () => {
  it('unescapes html like Python html.unescape for numeric and common named entities', () => {
    expect(htmlUnescape('a&amp;b &lt;x&gt; &#233; &#x263a; &#150; &ampx &bogus;')).toBe(
      'a&b <x> é ☺ – &x &bogus;',
    );
  });
  it('cleans whitespace, fixes width/ligatures/quotes and lower-cases', () => {
    expect(clipCleanText('  ＡＢＣ\u00a0\ufb01ne  \u2019quoted\u2019\n\n')).toBe("abc fine 'quoted'");
  });
});

describe('WordTokenizer', () => {
  const vocab = ['<pad>', '<unk>', 'red', 'mug', 'box', '<|startoftext|>', '<|endoftext|>'];

  it('maps words to ids, lower-cases, splits on punctuation and uses unk', () => {
    const t = new WordTokenizer(vocab, { contextLength: 8 });
    expect(t.sotId).toBe(5);
    expect(t.eotId).toBe(6);
    expect(t.encode('Red MUG, blue-box!')).toEqual([2, 3, 1, 4]);
    expect(t.tokenize('red mug')).toEqual({ ids: [5, 2, 3, 6, 0, 0, 0, 0], truncated: false });
  });

  it('truncates keeping eot last and reads .txt / .json vocab files', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wv-'));
    fs.writeFileSync(path.join(dir, 'v.txt'), vocab.join('\n') + '\n');
    fs.writeFileSync(path.join(dir, 'v.json'), JSON.stringify(vocab));
    const a = WordTokenizer.fromFile(path.join(dir, 'v.txt'), { contextLength: 4 });
    const b = WordTokenizer.fromFile(path.join(dir, 'v.json'), { contextLength: 4 });
    expect(a.tokenize('red mug box red')).toEqual({ ids: [5, 2, 3, 6], truncated: true });
    expect(b.tokenize('red mug box red').ids).toEqual([5, 2, 3, 6]);
  });

  it('rejects ids outside the vocabulary', () => {
    expect(() => new WordTokenizer(vocab, { unkId: 99 })).toThrow(/unk_id 99 is outside/);
    expect(() => WordTokenizer.fromFile('/nonexistent/v.txt')).toThrow(TokenizerError);
  });
});
