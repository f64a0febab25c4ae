;; The separable resize (triangle filter, antialiased) + normalise of preprocess.ts (preprocessImage), in
;; WebAssembly with 128-bit SIMD: a pixel's three channels are one f32x4. `npm run build:wasm` assembles it
;; into preprocess.wasm.ts; a test checks that the committed bytes are this file's assembly and that the output
;; equals the TypeScript path's. preprocessWasm.ts lays out the memory; pointers are byte offsets into it.
(module
  (import "env" "mem" (memory 1))

  ;; Horizontal pass: for each of srcH source rows (at src + y * step) and each of cw output columns x, the sum of
  ;; the T taps w[T x + t] * pixel(src row + off[T x + t]), as (r, g, b, 0) f32x4 at rows + 16 (y cw + x). A pixel's
  ;; four bytes are loaded and put in r, g, b order by the swizzle mask at swz (so every encoding, mono8 too, reads
  ;; the same way; the fourth byte is never used, and the caller pads the source by 4 bytes).
  (func (export "horizontal")
    (param $src i32) (param $step i32) (param $srcH i32) (param $cw i32) (param $T i32) (param $off i32)
    (param $w i32) (param $rows i32) (param $swz i32)
    (local $y i32) (local $x i32) (local $rowSrc i32) (local $dst i32) (local $t i32) (local $te i32)
    (local $sw v128) (local $acc v128)
    (local.set $sw (v128.load (local.get $swz)))
    (local.set $dst (local.get $rows))
    (block $yDone
      (loop $yLoop
        (br_if $yDone (i32.ge_s (local.get $y) (local.get $srcH)))
        (local.set $rowSrc (i32.add (local.get $src) (i32.mul (local.get $y) (local.get $step))))
        (local.set $x (i32.const 0))
        (local.set $t (i32.const 0))
        (block $xDone
          (loop $xLoop
            (br_if $xDone (i32.ge_s (local.get $x) (local.get $cw)))
            ;; t .. te: byte offsets of column x's taps (i32 offsets, f32 weights)
            (local.set $te (i32.add (local.get $t) (i32.shl (local.get $T) (i32.const 2))))
            (local.set $acc (f32x4.splat (f32.const 0)))
            (loop $tap
              (local.set $acc
                (f32x4.add (local.get $acc)
                  (f32x4.mul
                    (f32x4.convert_i32x4_u (i32x4.extend_low_i16x8_u (i16x8.extend_low_i8x16_u
                      (i8x16.swizzle
                        (v128.load32_zero (i32.add (local.get $rowSrc) (i32.load (i32.add (local.get $off) (local.get $t)))))
                        (local.get $sw)))))
                    (f32x4.splat (f32.load (i32.add (local.get $w) (local.get $t)))))))
              (local.set $t (i32.add (local.get $t) (i32.const 4)))
              (br_if $tap (i32.lt_s (local.get $t) (local.get $te))))
            (v128.store (local.get $dst) (local.get $acc))
            (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
            (local.set $x (i32.add (local.get $x) (i32.const 1)))
            (br $xLoop)))
        (local.set $y (i32.add (local.get $y) (i32.const 1)))
        (br $yLoop))))

  ;; Vertical pass + normalisation: output row y (of ch) is the sum over its T taps of w_t * (pixel row r_t), at
  ;; vtab + 8 T y: T pairs of (byte offset of r_t into rows: i32, w_t: f32); times scale minus offset (f32x4 at
  ;; norm, norm + 16), written to the three planes of out (plane bytes apart) at pixel (y + contentY) W +
  ;; contentX + x. Four pixels at a time, transposed to (r r r r), (g g g g), (b b b b); the rest one by one.
  (func (export "vertical")
    (param $rows i32) (param $cw i32) (param $ch i32) (param $W i32) (param $contentX i32) (param $contentY i32)
    (param $plane i32) (param $T i32) (param $vtab i32) (param $out i32) (param $norm i32)
    (local $y i32) (local $x i32) (local $sc v128) (local $of v128) (local $o i32) (local $q i32) (local $cw4 i32)
    (local $p0 v128) (local $p1 v128) (local $p2 v128) (local $p3 v128) (local $t0 v128) (local $t1 v128)
    (local $t2 v128) (local $t3 v128) (local $vt i32) (local $ve i32) (local $k i32) (local $wk v128) (local $r i32)
    (local.set $sc (v128.load (local.get $norm)))
    (local.set $of (v128.load offset=16 (local.get $norm)))
    (local.set $cw4 (i32.and (local.get $cw) (i32.const -4)))
    (block $yDone
      (loop $yLoop
        (br_if $yDone (i32.ge_s (local.get $y) (local.get $ch)))
        (local.set $vt (i32.add (local.get $vtab) (i32.mul (local.get $y) (i32.shl (local.get $T) (i32.const 3)))))
        (local.set $ve (i32.add (local.get $vt) (i32.shl (local.get $T) (i32.const 3))))
        ;; o: byte offset of the row's first output pixel in the R plane
        (local.set $o (i32.add (local.get $out) (i32.shl
          (i32.add (i32.mul (i32.add (local.get $y) (local.get $contentY)) (local.get $W)) (local.get $contentX))
          (i32.const 2))))
        (local.set $x (i32.const 0))
        (block $x4Done
          (loop $x4Loop
            (br_if $x4Done (i32.ge_s (local.get $x) (local.get $cw4)))
            (local.set $q (i32.shl (local.get $x) (i32.const 4)))
            (local.set $p0 (f32x4.splat (f32.const 0)))
            (local.set $p1 (f32x4.splat (f32.const 0)))
            (local.set $p2 (f32x4.splat (f32.const 0)))
            (local.set $p3 (f32x4.splat (f32.const 0)))
            (local.set $k (local.get $vt))
            (loop $tap4
              (local.set $r (i32.add (i32.add (local.get $rows) (i32.load (local.get $k))) (local.get $q)))
              (local.set $wk (f32x4.splat (f32.load offset=4 (local.get $k))))
              (local.set $p0 (f32x4.add (local.get $p0) (f32x4.mul (local.get $wk) (v128.load (local.get $r)))))
              (local.set $p1 (f32x4.add (local.get $p1) (f32x4.mul (local.get $wk) (v128.load offset=16 (local.get $r)))))
              (local.set $p2 (f32x4.add (local.get $p2) (f32x4.mul (local.get $wk) (v128.load offset=32 (local.get $r)))))
              (local.set $p3 (f32x4.add (local.get $p3) (f32x4.mul (local.get $wk) (v128.load offset=48 (local.get $r)))))
              (local.set $k (i32.add (local.get $k) (i32.const 8)))
              (br_if $tap4 (i32.lt_s (local.get $k) (local.get $ve))))
            (local.set $p0 (f32x4.sub (f32x4.mul (local.get $p0) (local.get $sc)) (local.get $of)))
            (local.set $p1 (f32x4.sub (f32x4.mul (local.get $p1) (local.get $sc)) (local.get $of)))
            (local.set $p2 (f32x4.sub (f32x4.mul (local.get $p2) (local.get $sc)) (local.get $of)))
            (local.set $p3 (f32x4.sub (f32x4.mul (local.get $p3) (local.get $sc)) (local.get $of)))
            ;; transpose: t0 = (r0 r1 g0 g1), t1 = (r2 r3 g2 g3), t2 = (b0 b1 . .), t3 = (b2 b3 . .)
            (local.set $t0 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $p0) (local.get $p1)))
            (local.set $t1 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $p2) (local.get $p3)))
            (local.set $t2 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $p0) (local.get $p1)))
            (local.set $t3 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $p2) (local.get $p3)))
            (local.set $q (i32.add (local.get $o) (i32.shl (local.get $x) (i32.const 2))))
            (v128.store (local.get $q)
              (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t0) (local.get $t1)))
            (v128.store (i32.add (local.get $q) (local.get $plane))
              (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t0) (local.get $t1)))
            (v128.store (i32.add (local.get $q) (i32.shl (local.get $plane) (i32.const 1)))
              (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t2) (local.get $t3)))
            (local.set $x (i32.add (local.get $x) (i32.const 4)))
            (br $x4Loop)))
        (block $xDone
          (loop $xLoop
            (br_if $xDone (i32.ge_s (local.get $x) (local.get $cw)))
            (local.set $q (i32.shl (local.get $x) (i32.const 4)))
            (local.set $p0 (f32x4.splat (f32.const 0)))
            (local.set $k (local.get $vt))
            (loop $tap
              (local.set $p0 (f32x4.add (local.get $p0)
                (f32x4.mul (f32x4.splat (f32.load offset=4 (local.get $k)))
                  (v128.load (i32.add (i32.add (local.get $rows) (i32.load (local.get $k))) (local.get $q))))))
              (local.set $k (i32.add (local.get $k) (i32.const 8)))
              (br_if $tap (i32.lt_s (local.get $k) (local.get $ve))))
            (local.set $p0 (f32x4.sub (f32x4.mul (local.get $p0) (local.get $sc)) (local.get $of)))
            (local.set $q (i32.add (local.get $o) (i32.shl (local.get $x) (i32.const 2))))
            (f32.store (local.get $q) (f32x4.extract_lane 0 (local.get $p0)))
            (f32.store (i32.add (local.get $q) (local.get $plane)) (f32x4.extract_lane 1 (local.get $p0)))
            (f32.store (i32.add (local.get $q) (i32.shl (local.get $plane) (i32.const 1))) (f32x4.extract_lane 2 (local.get $p0)))
            (local.set $x (i32.add (local.get $x) (i32.const 1)))
            (br $xLoop)))
        (local.set $y (i32.add (local.get $y) (i32.const 1)))
        (br $yLoop))))

  ;; `horizontal` unrolled for T = 3 (the common case: downscale < 2x or any upscale; fewer taps are padded with
  ;; zero weights); about 10% faster than the tap loop.
  (func (export "horizontal3")
    (param $src i32) (param $step i32) (param $srcH i32) (param $cw i32) (param $off i32) (param $w i32)
    (param $rows i32) (param $swz i32)
    (local $y i32) (local $x i32) (local $rowSrc i32) (local $dst i32) (local $t i32) (local $sw v128)
    (local $acc v128)
    (local.set $sw (v128.load (local.get $swz)))
    (local.set $dst (local.get $rows))
    (block $yDone
      (loop $yLoop
        (br_if $yDone (i32.ge_s (local.get $y) (local.get $srcH)))
        (local.set $rowSrc (i32.add (local.get $src) (i32.mul (local.get $y) (local.get $step))))
        (local.set $x (i32.const 0))
        (local.set $t (i32.const 0))
        (block $xDone
          (loop $xLoop
            (br_if $xDone (i32.ge_s (local.get $x) (local.get $cw)))
            ;; t = 12 x: the byte offset of column x's three taps (i32 offsets, f32 weights)
            (local.set $acc
              (f32x4.mul
                (f32x4.convert_i32x4_u (i32x4.extend_low_i16x8_u (i16x8.extend_low_i8x16_u
                  (i8x16.swizzle
                    (v128.load32_zero (i32.add (local.get $rowSrc) (i32.load (i32.add (local.get $off) (local.get $t)))))
                    (local.get $sw)))))
                (f32x4.splat (f32.load (i32.add (local.get $w) (local.get $t))))))
            (local.set $acc
              (f32x4.add (local.get $acc)
                (f32x4.mul
                  (f32x4.convert_i32x4_u (i32x4.extend_low_i16x8_u (i16x8.extend_low_i8x16_u
                    (i8x16.swizzle
                      (v128.load32_zero (i32.add (local.get $rowSrc) (i32.load offset=4 (i32.add (local.get $off) (local.get $t)))))
                      (local.get $sw)))))
                  (f32x4.splat (f32.load offset=4 (i32.add (local.get $w) (local.get $t)))))))
            (local.set $acc
              (f32x4.add (local.get $acc)
                (f32x4.mul
                  (f32x4.convert_i32x4_u (i32x4.extend_low_i16x8_u (i16x8.extend_low_i8x16_u
                    (i8x16.swizzle
                      (v128.load32_zero (i32.add (local.get $rowSrc) (i32.load offset=8 (i32.add (local.get $off) (local.get $t)))))
                      (local.get $sw)))))
                  (f32x4.splat (f32.load offset=8 (i32.add (local.get $w) (local.get $t)))))))
            (v128.store (local.get $dst) (local.get $acc))
            (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
            (local.set $t (i32.add (local.get $t) (i32.const 12)))
            (local.set $x (i32.add (local.get $x) (i32.const 1)))
            (br $xLoop)))
        (local.set $y (i32.add (local.get $y) (i32.const 1)))
        (br $yLoop))))

  ;; `vertical` unrolled for T = 3: output row y is w0 A + w1 B + w2 C over the pixel rows A, B, C (the same
  ;; vtab layout: at vtab + 24 y, three (byte offset, weight) pairs).
  (func (export "vertical3")
    (param $rows i32) (param $cw i32) (param $ch i32) (param $W i32) (param $contentX i32) (param $contentY i32)
    (param $plane i32) (param $vtab i32) (param $out i32) (param $norm i32)
    (local $y i32) (local $x i32) (local $a i32) (local $b i32) (local $c i32) (local $w0 v128) (local $w1 v128)
    (local $w2 v128) (local $sc v128) (local $of v128) (local $o i32) (local $q i32) (local $cw4 i32)
    (local $p0 v128) (local $p1 v128) (local $p2 v128) (local $p3 v128) (local $t0 v128) (local $t1 v128)
    (local $t2 v128) (local $t3 v128) (local $vt i32)
    (local.set $sc (v128.load (local.get $norm)))
    (local.set $of (v128.load offset=16 (local.get $norm)))
    (local.set $cw4 (i32.and (local.get $cw) (i32.const -4)))
    (block $yDone
      (loop $yLoop
        (br_if $yDone (i32.ge_s (local.get $y) (local.get $ch)))
        (local.set $vt (i32.add (local.get $vtab) (i32.mul (local.get $y) (i32.const 24))))
        (local.set $a (i32.add (local.get $rows) (i32.load (local.get $vt))))
        (local.set $b (i32.add (local.get $rows) (i32.load offset=8 (local.get $vt))))
        (local.set $c (i32.add (local.get $rows) (i32.load offset=16 (local.get $vt))))
        (local.set $w0 (f32x4.splat (f32.load offset=4 (local.get $vt))))
        (local.set $w1 (f32x4.splat (f32.load offset=12 (local.get $vt))))
        (local.set $w2 (f32x4.splat (f32.load offset=20 (local.get $vt))))
        ;; o: byte offset of the row's first output pixel in the R plane
        (local.set $o (i32.add (local.get $out) (i32.shl
          (i32.add (i32.mul (i32.add (local.get $y) (local.get $contentY)) (local.get $W)) (local.get $contentX))
          (i32.const 2))))
        (local.set $x (i32.const 0))
        (block $x4Done
          (loop $x4Loop
            (br_if $x4Done (i32.ge_s (local.get $x) (local.get $cw4)))
            (local.set $q (i32.shl (local.get $x) (i32.const 4)))
            (local.set $p0 (f32x4.sub (f32x4.mul (f32x4.add (f32x4.add
              (f32x4.mul (local.get $w0) (v128.load (i32.add (local.get $a) (local.get $q))))
              (f32x4.mul (local.get $w1) (v128.load (i32.add (local.get $b) (local.get $q)))))
              (f32x4.mul (local.get $w2) (v128.load (i32.add (local.get $c) (local.get $q))))) (local.get $sc)) (local.get $of)))
            (local.set $p1 (f32x4.sub (f32x4.mul (f32x4.add (f32x4.add
              (f32x4.mul (local.get $w0) (v128.load offset=16 (i32.add (local.get $a) (local.get $q))))
              (f32x4.mul (local.get $w1) (v128.load offset=16 (i32.add (local.get $b) (local.get $q)))))
              (f32x4.mul (local.get $w2) (v128.load offset=16 (i32.add (local.get $c) (local.get $q))))) (local.get $sc)) (local.get $of)))
            (local.set $p2 (f32x4.sub (f32x4.mul (f32x4.add (f32x4.add
              (f32x4.mul (local.get $w0) (v128.load offset=32 (i32.add (local.get $a) (local.get $q))))
              (f32x4.mul (local.get $w1) (v128.load offset=32 (i32.add (local.get $b) (local.get $q)))))
              (f32x4.mul (local.get $w2) (v128.load offset=32 (i32.add (local.get $c) (local.get $q))))) (local.get $sc)) (local.get $of)))
            (local.set $p3 (f32x4.sub (f32x4.mul (f32x4.add (f32x4.add
              (f32x4.mul (local.get $w0) (v128.load offset=48 (i32.add (local.get $a) (local.get $q))))
              (f32x4.mul (local.get $w1) (v128.load offset=48 (i32.add (local.get $b) (local.get $q)))))
              (f32x4.mul (local.get $w2) (v128.load offset=48 (i32.add (local.get $c) (local.get $q))))) (local.get $sc)) (local.get $of)))
            ;; transpose: t0 = (r0 r1 g0 g1), t1 = (r2 r3 g2 g3), t2 = (b0 b1 . .), t3 = (b2 b3 . .)
            (local.set $t0 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $p0) (local.get $p1)))
            (local.set $t1 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $p2) (local.get $p3)))
            (local.set $t2 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $p0) (local.get $p1)))
            (local.set $t3 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $p2) (local.get $p3)))
            (local.set $q (i32.add (local.get $o) (i32.shl (local.get $x) (i32.const 2))))
            (v128.store (local.get $q)
              (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t0) (local.get $t1)))
            (v128.store (i32.add (local.get $q) (local.get $plane))
              (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t0) (local.get $t1)))
            (v128.store (i32.add (local.get $q) (i32.shl (local.get $plane) (i32.const 1)))
              (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t2) (local.get $t3)))
            (local.set $x (i32.add (local.get $x) (i32.const 4)))
            (br $x4Loop)))
        (block $xDone
          (loop $xLoop
            (br_if $xDone (i32.ge_s (local.get $x) (local.get $cw)))
            (local.set $q (i32.shl (local.get $x) (i32.const 4)))
            (local.set $p0 (f32x4.sub (f32x4.mul (f32x4.add (f32x4.add
              (f32x4.mul (local.get $w0) (v128.load (i32.add (local.get $a) (local.get $q))))
              (f32x4.mul (local.get $w1) (v128.load (i32.add (local.get $b) (local.get $q)))))
              (f32x4.mul (local.get $w2) (v128.load (i32.add (local.get $c) (local.get $q))))) (local.get $sc)) (local.get $of)))
            (local.set $q (i32.add (local.get $o) (i32.shl (local.get $x) (i32.const 2))))
            (f32.store (local.get $q) (f32x4.extract_lane 0 (local.get $p0)))
            (f32.store (i32.add (local.get $q) (local.get $plane)) (f32x4.extract_lane 1 (local.get $p0)))
            (f32.store (i32.add (local.get $q) (i32.shl (local.get $plane) (i32.const 1))) (f32x4.extract_lane 2 (local.get $p0)))
            (local.set $x (i32.add (local.get $x) (i32.const 1)))
            (br $xLoop)))
        (local.set $y (i32.add (local.get $y) (i32.const 1)))
        (br $yLoop)))))
