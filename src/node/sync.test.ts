import fc from 'fast-check';
import { ApproximateTimeSync, SyncOptionError } from './sync';

const MS = 1_000_000n;

function sync(slopMs: number, queueSize = 10, backwardsResetMs = 1000): ApproximateTimeSync<string> {
  return new ApproximateTimeSync<string>(3, {
    slopNs: BigInt(slopMs) * MS,
    queueSize,
    backwardsResetNs: BigInt(backwardsResetMs) * MS,
  });
}

describe('ApproximateTimeSync', () => {
  it('emits a set once every topic has a message with the same stamp', () => {
    const s = sync(10);
    expect(s.add(0, 100n * MS, 'c100')).toEqual([]);
    expect(s.add(1, 100n * MS, 'd100')).toEqual([]);
    const out = s.add(2, 100n * MS, 'i100');
    expect(out).toHaveLength(1);
    expect(out[0].messages).toEqual(['c100', 'd100', 'i100']);
    expect(out[0].stampsNs).toEqual([100n * MS, 100n * MS, 100n * MS]);
    expect(s.queued()).toEqual([0, 0, 0]);
  });

  it('respects the slop boundary: spread == slop is accepted, slop + 1 ns is not', () => {
    const a = sync(10);
    a.add(0, 0n, 'c');
    a.add(1, 10n * MS, 'd');
    expect(a.add(2, 5n * MS, 'i')).toHaveLength(1);

    const b = sync(10);
    b.add(0, 0n, 'c');
    b.add(1, 10n * MS + 1n, 'd');
    expect(b.add(2, 5n * MS, 'i')).toEqual([]);
    expect(b.queued()).toEqual([1, 1, 1]);
  });

  it('slop 0 only matches identical stamps', () => {
    const s = sync(0);
    s.add(0, 1n, 'c');
    s.add(1, 2n, 'd');
    expect(s.add(2, 1n, 'i')).toEqual([]);
    expect(s.add(1, 1n, 'd1')[0].messages).toEqual(['c', 'd1', 'i']);
  });

  it('handles out-of-order arrival inside the queues and picks the smallest spread', () => {
    const s = sync(15);
    s.add(0, 30n * MS, 'c30');
    s.add(0, 10n * MS, 'c10'); // arrives after c30 but is older
    s.add(1, 12n * MS, 'd12');
    const out = s.add(2, 31n * MS, 'i31');
    // {c10,d12,i31} spread 21 and {c30,d12,i31} spread 19 exceed the slop; no depth >= 30 yet
    expect(out).toEqual([]);
    const out2 = s.add(1, 30n * MS, 'd30');
    expect(out2).toHaveLength(1);
    expect(out2[0].messages).toEqual(['c30', 'd30', 'i31']);
    // c10 and d12 were older than the emitted set and are dropped
    expect(s.stats.unmatched).toBe(2);
  });

  it('drops messages older than the last emitted stamp as late, same stamp as duplicate', () => {
    const s = sync(5);
    s.add(0, 100n * MS, 'c');
    s.add(1, 100n * MS, 'd');
    s.add(2, 100n * MS, 'i');
    expect(s.add(0, 90n * MS, 'old')).toEqual([]);
    expect(s.stats.late).toBe(1);
    expect(s.add(0, 100n * MS, 'dup')).toEqual([]);
    expect(s.stats.duplicate).toBe(1);
    expect(s.queued()).toEqual([0, 0, 0]);
  });

  it('a duplicated stamp in a queue replaces the earlier message', () => {
    const s = sync(5);
    s.add(0, 50n * MS, 'first');
    s.add(0, 50n * MS, 'second');
    expect(s.queued()[0]).toBe(1);
    s.add(1, 50n * MS, 'd');
    expect(s.add(2, 50n * MS, 'i')[0].messages[0]).toBe('second');
    expect(s.stats.duplicate).toBe(1);
  });

  it('missing messages: a colour frame without depth never forms a set and is dropped later', () => {
    const s = sync(5);
    s.add(2, 0n, 'i0');
    s.add(0, 0n, 'c0'); // depth for t=0 never arrives
    s.add(0, 33n * MS, 'c33');
    s.add(1, 33n * MS, 'd33');
    const out = s.add(2, 33n * MS, 'i33');
    expect(out.map((o) => o.messages)).toEqual([['c33', 'd33', 'i33']]);
    expect(s.stats.unmatched).toBe(2);
  });

  it('emits several completed sets in stamp order', () => {
    const s = sync(1);
    for (const t of [1n, 2n, 3n]) {
      s.add(0, t * MS, `c${t}`);
      s.add(1, t * MS, `d${t}`);
    }
    const out = s.add(2, 1n * MS, 'i1').concat(s.add(2, 2n * MS, 'i2'), s.add(2, 3n * MS, 'i3'));
    expect(out.map((o) => o.messages[0])).toEqual(['c1', 'c2', 'c3']);
  });

  it('bounds every queue to queueSize (oldest dropped)', () => {
    const s = sync(1, 4);
    for (let t = 0; t < 10; t++) s.add(0, BigInt(t) * MS, `c${t}`);
    expect(s.queued()).toEqual([4, 0, 0]);
    expect(s.stats.overflow).toBe(6);
    s.add(1, 9n * MS, 'd9');
    expect(s.add(2, 9n * MS, 'i9')[0].messages[0]).toBe('c9');
  });

  it('stamps going back by more than backwardsResetNs reset the synchroniser with a warning', () => {
    const s = sync(5, 10, 500);
    const reasons: string[] = [];
    s.onReset = (r) => reasons.push(r);
    for (const t of [10_000n, 10_033n]) {
      s.add(0, t * MS, 'c');
      s.add(1, t * MS, 'd');
      s.add(2, t * MS, 'i');
    }
    expect(s.stats.emitted).toBe(2);
    // bag loop: back to t = 0
    s.add(0, 0n, 'c0');
    expect(s.stats.resets).toBe(1);
    expect(reasons[0]).toMatch(/back by 10\.033 s/);
    s.add(1, 0n, 'd0');
    expect(s.add(2, 0n, 'i0')[0].messages).toEqual(['c0', 'd0', 'i0']);
  });

  it('setOptions changes slop and trims queues', () => {
    const s = sync(1, 10);
    for (let t = 0; t < 6; t++) s.add(0, BigInt(t) * MS, `c${t}`);
    s.setOptions({ queueSize: 2 });
    expect(s.queued()[0]).toBe(2);
    s.add(1, 5n * MS + 3n * MS, 'd8');
    expect(s.add(2, 5n * MS, 'i5')).toEqual([]);
    s.setOptions({ slopNs: 3n * MS });
    // {c5,d8,i5} and {c5,d8,i6} both spread 3 ms: the older one wins, i6 stays queued
    expect(s.add(2, 6n * MS, 'i6')[0].messages).toEqual(['c5', 'd8', 'i5']);
    expect(s.queued()).toEqual([0, 0, 1]);
  });

  it('rejects bad options naming the field', () => {
    expect(() => new ApproximateTimeSync(3, { slopNs: -1n, queueSize: 1 })).toThrow(/slopNs/);
    expect(() => new ApproximateTimeSync(3, { slopNs: 1n, queueSize: 0 })).toThrow(SyncOptionError);
    expect(() => new ApproximateTimeSync(0, { slopNs: 1n, queueSize: 1 })).toThrow(/topicCount/);
    expect(() => sync(1).add(3, 0n, 'x')).toThrow(/topic index 3/);
  });

  it('property: emitted sets are within slop and strictly increasing per topic', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 200 })), {
          maxLength: 120,
        }),
        fc.integer({ min: 0, max: 20 }),
        (arrivals, slop) => {
          const s = new ApproximateTimeSync<number>(3, {
            slopNs: BigInt(slop),
            queueSize: 5,
            backwardsResetNs: 10_000n,
          });
          const last: bigint[] = [-1n, -1n, -1n];
          for (const [topic, stamp] of arrivals) {
            for (const set of s.add(topic, BigInt(stamp), stamp)) {
              const min = set.stampsNs.reduce((a, b) => (a < b ? a : b));
              const max = set.stampsNs.reduce((a, b) => (a > b ? a : b));
              if (max - min > BigInt(slop)) return false;
              for (let t = 0; t < 3; t++) {
                if (set.stampsNs[t] <= last[t]) return false;
                last[t] = set.stampsNs[t];
              }
            }
            if (s.queued().some((n) => n > 5)) return false;
          }
          return true;
        },
      ),
      { numRuns: 300 },
    );
  });
});
