import { maskIou, summarizeMaskIou } from './mask';

describe('mask IoU (Oryon summary)', () => {
  test('IoU of overlapping masks, identical masks and empty masks', () => {
    expect(maskIou([1, 1, 0, 0], [0, 1, 1, 0])).toBeCloseTo(1 / 3, 12);
    expect(maskIou(new Uint8Array([0, 255, 3]), new Uint8Array([0, 1, 1]))).toBe(1);
    expect(maskIou([0, 0], [0, 0])).toBe(0);
    expect(() => maskIou([1], [1, 0])).toThrow(/maskB/);
  });

  test('shares of pairs with mean IoU strictly above 0.25 / 0.5 / 0.75; missing masks count 0', () => {
    const s = summarizeMaskIou([
      { iouAnchor: 0.8, iouQuery: 0.9 }, // 0.85
      { iouAnchor: 0.5, iouQuery: 0.5 }, // 0.5 (not > 0.5)
      { iouAnchor: 0.6, iouQuery: null }, // 0.3
      { iouAnchor: null, iouQuery: null }, // 0
    ]);
    expect(s.count).toBe(4);
    expect(s.meanIouAnchor).toBeCloseTo(1.9 / 4, 12);
    expect(s.meanIouQuery).toBeCloseTo(1.4 / 4, 12);
    expect(s.meanIou).toBeCloseTo(1.65 / 4, 12);
    expect(s.shareAbove025).toBe(0.75);
    expect(s.shareAbove050).toBe(0.25);
    expect(s.shareAbove075).toBe(0.25);
  });
});
