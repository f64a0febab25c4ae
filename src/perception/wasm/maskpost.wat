;; The frame-size half of masks.ts (masksFromDenseFeatures) in WebAssembly with 128-bit SIMD: the vertical
;; bilinear pass of every query's score map, the per-pixel winner (query vs query vs background vs threshold) and
;; the runs of each mask for the connected components. `npm run build:wasm` assembles it into maskpost.wasm.ts; a
;; test checks that the committed bytes are this file's assembly and that the output equals the TypeScript path's
;; bit for bit. maskpostWasm.ts lays out the memory; pointers are byte offsets into it.
(module
  (import "env" "mem" (memory 1))

;; Four pixels of one map in frame row y, at x: a + d * fy per pixel, a and d being the f64 rows of the row's grid
;; row pair (a = the first grid row, d = the second minus the first, as the TypeScript lerp computes them), two
;; pixels per f64x2, rounded to f32: the TypeScript lerp's arithmetic exactly.
;;   (local.set $v (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
;;     (f32x4.demote_f64x2_zero (f64x2.add (v128.load (pa)) (f64x2.mul (v128.load offset=8W (pa)) fy)))
;;     (f32x4.demote_f64x2_zero (f64x2.add (v128.load offset=16 (pa)) (f64x2.mul (v128.load 8W+16 (pa)) fy)))))
;; is written out twice below (for the background and for the queries), with pd = pa + 8W.

  ;; For every frame row y and every 4 pixels x..x+3 (the last group of a row is moved back to end at W, so W >= 4):
  ;; - map m of the nM maps has a block of grid row pairs at pairs + m pairBytes; row y's pair is at byte offset
  ;;   pairOff of each block and its weight is fy (16 bytes per row at ytab: pairOff i32, 4 unused, fy f64); a
  ;;   pair is W f64 of a then W f64 of d;
  ;; - with hasBg = 1, map 0 is the best background prompt and maps 1..nM-1 are the queries, else all are queries;
  ;;   query k's value is stored at scores + 4 (k W H + y W + x);
  ;; - the winner: best starts at the background (or 0) and win at -1; query k takes over when v >= best while
  ;;   win < 0, or v > best after (ties go to the query; between queries the first wins); a pixel is on in
  ;;   query win's mask (bytes at masks + k W H) when win >= 0 and best >= thr; every mask byte is written, 0 or 1.
  (func (export "frame")
    (param $pairs i32) (param $pairBytes i32) (param $nM i32) (param $hasBg i32) (param $W i32) (param $H i32)
    (param $ytab i32) (param $thr f32) (param $scores i32) (param $masks i32)
    (local $y i32) (local $x i32) (local $k i32) (local $nQ i32) (local $i i32) (local $pa i32) (local $pd i32)
    (local $row i32) (local $fy v128) (local $v v128) (local $best v128) (local $win v128) (local $cond v128)
    (local $on v128) (local $sel v128) (local $plane i32) (local $thr4 v128) (local $one v128) (local $ps i32)
    (local.set $plane (i32.mul (local.get $W) (local.get $H)))
    (local.set $thr4 (f32x4.splat (local.get $thr)))
    (local.set $one (i32x4.splat (i32.const 1)))
    (local.set $nQ (i32.sub (local.get $nM) (local.get $hasBg)))
    (block $yDone
      (loop $yLoop
        (br_if $yDone (i32.ge_s (local.get $y) (local.get $H)))
        (local.set $row (i32.add (local.get $pairs) (i32.load (local.get $ytab))))
        (local.set $fy (f64x2.splat (f64.load offset=8 (local.get $ytab))))
        (local.set $x (i32.const 0))
        (block $xDone
          (loop $xLoop
            (br_if $xDone (i32.ge_s (local.get $x) (local.get $W)))
            (if (i32.gt_s (local.get $x) (i32.sub (local.get $W) (i32.const 4)))
              (then (local.set $x (i32.sub (local.get $W) (i32.const 4)))))
            (local.set $i (i32.add (i32.mul (local.get $y) (local.get $W)) (local.get $x)))
            (local.set $pa (i32.add (local.get $row) (i32.shl (local.get $x) (i32.const 3))))
            (local.set $best (f32x4.splat (f32.const 0)))
            (local.set $win (i32x4.splat (i32.const -1)))
            (if (local.get $hasBg)
              (then
                (local.set $pd (i32.add (local.get $pa) (i32.shl (local.get $W) (i32.const 3))))
                (local.set $best
                  (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
                    (f32x4.demote_f64x2_zero
                      (f64x2.add (v128.load (local.get $pa)) (f64x2.mul (v128.load (local.get $pd)) (local.get $fy))))
                    (f32x4.demote_f64x2_zero
                      (f64x2.add (v128.load offset=16 (local.get $pa))
                        (f64x2.mul (v128.load offset=16 (local.get $pd)) (local.get $fy))))))
                (local.set $pa (i32.add (local.get $pa) (local.get $pairBytes)))))
            (local.set $k (i32.const 0))
            (local.set $ps (i32.add (local.get $scores) (i32.shl (local.get $i) (i32.const 2))))
            (loop $qLoop
              (local.set $pd (i32.add (local.get $pa) (i32.shl (local.get $W) (i32.const 3))))
              (local.set $v
                (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
                  (f32x4.demote_f64x2_zero
                    (f64x2.add (v128.load (local.get $pa)) (f64x2.mul (v128.load (local.get $pd)) (local.get $fy))))
                  (f32x4.demote_f64x2_zero
                    (f64x2.add (v128.load offset=16 (local.get $pa))
                      (f64x2.mul (v128.load offset=16 (local.get $pd)) (local.get $fy))))))
              (v128.store (local.get $ps) (local.get $v))
              ;; take over where (win < 0 ? v >= best : v > best)
              (local.set $cond
                (v128.bitselect
                  (f32x4.ge (local.get $v) (local.get $best))
                  (f32x4.gt (local.get $v) (local.get $best))
                  (i32x4.lt_s (local.get $win) (i32x4.splat (i32.const 0)))))
              (local.set $best (v128.bitselect (local.get $v) (local.get $best) (local.get $cond)))
              (local.set $win (v128.bitselect (i32x4.splat (local.get $k)) (local.get $win) (local.get $cond)))
              (local.set $pa (i32.add (local.get $pa) (local.get $pairBytes)))
              (local.set $ps (i32.add (local.get $ps) (i32.shl (local.get $plane) (i32.const 2))))
              (local.set $k (i32.add (local.get $k) (i32.const 1)))
              (br_if $qLoop (i32.lt_s (local.get $k) (local.get $nQ))))
            ;; on: a query won and clears the threshold
            (local.set $on
              (v128.and (i32x4.ge_s (local.get $win) (i32x4.splat (i32.const 0)))
                (f32x4.ge (local.get $best) (local.get $thr4))))
            (local.set $k (i32.const 0))
            (local.set $pa (i32.add (local.get $masks) (local.get $i)))
            (loop $kLoop
              (local.set $sel
                (v128.and (v128.and (i32x4.eq (local.get $win) (i32x4.splat (local.get $k))) (local.get $on))
                  (local.get $one)))
              (local.set $sel (i16x8.narrow_i32x4_u (local.get $sel) (local.get $sel)))
              (v128.store32_lane 0 (local.get $pa) (i8x16.narrow_i16x8_u (local.get $sel) (local.get $sel)))
              (local.set $pa (i32.add (local.get $pa) (local.get $plane)))
              (local.set $k (i32.add (local.get $k) (i32.const 1)))
              (br_if $kLoop (i32.lt_s (local.get $k) (local.get $nQ))))
            (local.set $x (i32.add (local.get $x) (i32.const 4)))
            (br $xLoop)))
        (local.set $ytab (i32.add (local.get $ytab) (i32.const 16)))
        (local.set $y (i32.add (local.get $y) (i32.const 1)))
        (br $yLoop))))

  ;; The index of the first byte at or after x in row [off, off + W) that differs from state (0 or 1), or W.
  ;; 16 bytes per step; the 16-byte load may read up to 15 bytes past the row (the caller pads the mask).
  (func $nextChange (param $off i32) (param $x i32) (param $W i32) (param $state i32) (result i32)
    (local $bits i32) (local $s v128)
    (local.set $s (i8x16.splat (local.get $state)))
    (block $done
      (loop $scan
        (br_if $done (i32.ge_s (local.get $x) (local.get $W)))
        (local.set $bits
          (i8x16.bitmask (i8x16.ne (v128.load (i32.add (local.get $off) (local.get $x))) (local.get $s))))
        (if (local.get $bits)
          (then
            (local.set $x (i32.add (local.get $x) (i32.ctz (local.get $bits))))
            (br $done)))
        (local.set $x (i32.add (local.get $x) (i32.const 16)))
        (br $scan)))
    (select (local.get $x) (local.get $W) (i32.lt_s (local.get $x) (local.get $W))))

  ;; The horizontal runs of 1 bytes of the 0/1 mask [H rows of W bytes] at mask, in raster order, as (start,
  ;; exclusive end, row) i32 triples at out. Returns the number of runs.
  (func (export "runs") (param $mask i32) (param $W i32) (param $H i32) (param $out i32) (result i32)
    (local $y i32) (local $x i32) (local $off i32) (local $s i32) (local $n i32)
    (local.set $off (local.get $mask))
    (block $yDone
      (loop $yLoop
        (br_if $yDone (i32.ge_s (local.get $y) (local.get $H)))
        (local.set $x (i32.const 0))
        (block $rowDone
          (loop $run
            (local.set $s (call $nextChange (local.get $off) (local.get $x) (local.get $W) (i32.const 0)))
            (br_if $rowDone (i32.ge_s (local.get $s) (local.get $W)))
            (local.set $x (call $nextChange (local.get $off) (local.get $s) (local.get $W) (i32.const 1)))
            (i32.store (local.get $out) (local.get $s))
            (i32.store offset=4 (local.get $out) (local.get $x))
            (i32.store offset=8 (local.get $out) (local.get $y))
            (local.set $out (i32.add (local.get $out) (i32.const 12)))
            (local.set $n (i32.add (local.get $n) (i32.const 1)))
            (br_if $run (i32.lt_s (local.get $x) (local.get $W)))))
        (local.set $off (i32.add (local.get $off) (local.get $W)))
        (local.set $y (i32.add (local.get $y) (i32.const 1)))
        (br $yLoop)))
    (local.get $n))

  ;; logits[c P + p] = f32(scale * sum_k f[p, k] t[c, k]) for the P x D f32 features at f and C classes: the dot
  ;; products accumulate in f64 in k order, like the TypeScript rowDotProducts, so the result is the same bit for
  ;; bit. The classes come in blocks of 8 at t: per block, D rows of 8 f64 (class c of the block at lane c; padded
  ;; classes are zero and not written). Two pixels at a time (an odd last pixel is paired with itself).
  (func (export "dots")
    (param $f i32) (param $P i32) (param $D i32) (param $t i32) (param $C i32) (param $scale f64) (param $out i32)
    (local $p i32) (local $p1 i32) (local $k i32) (local $b i32) (local $pf0 i32) (local $pf1 i32) (local $pt i32)
    (local $f0 v128) (local $f1 v128) (local $t0 v128) (local $t1 v128) (local $t2 v128) (local $t3 v128)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local $c0 v128) (local $c1 v128) (local $c2 v128) (local $c3 v128) (local $c i32) (local $n i32)
    (block $pDone
      (loop $pLoop
        (br_if $pDone (i32.ge_s (local.get $p) (local.get $P)))
        (local.set $p1 (select (i32.add (local.get $p) (i32.const 1)) (local.get $p)
          (i32.lt_s (i32.add (local.get $p) (i32.const 1)) (local.get $P))))
        (local.set $b (i32.const 0))
        (local.set $pt (local.get $t))
        (block $bDone
          (loop $bLoop
            (br_if $bDone (i32.ge_s (local.get $b) (local.get $C)))
            (local.set $a0 (f64x2.splat (f64.const 0)))
            (local.set $a1 (f64x2.splat (f64.const 0)))
            (local.set $a2 (f64x2.splat (f64.const 0)))
            (local.set $a3 (f64x2.splat (f64.const 0)))
            (local.set $c0 (f64x2.splat (f64.const 0)))
            (local.set $c1 (f64x2.splat (f64.const 0)))
            (local.set $c2 (f64x2.splat (f64.const 0)))
            (local.set $c3 (f64x2.splat (f64.const 0)))
            (local.set $pf0 (i32.add (local.get $f) (i32.shl (i32.mul (local.get $p) (local.get $D)) (i32.const 2))))
            (local.set $pf1 (i32.add (local.get $f) (i32.shl (i32.mul (local.get $p1) (local.get $D)) (i32.const 2))))
            (local.set $k (i32.const 0))
            (loop $kLoop
              (local.set $f0 (f64x2.splat (f64.promote_f32 (f32.load (local.get $pf0)))))
              (local.set $f1 (f64x2.splat (f64.promote_f32 (f32.load (local.get $pf1)))))
              (local.set $t0 (v128.load (local.get $pt)))
              (local.set $t1 (v128.load offset=16 (local.get $pt)))
              (local.set $t2 (v128.load offset=32 (local.get $pt)))
              (local.set $t3 (v128.load offset=48 (local.get $pt)))
              (local.set $a0 (f64x2.add (local.get $a0) (f64x2.mul (local.get $f0) (local.get $t0))))
              (local.set $a1 (f64x2.add (local.get $a1) (f64x2.mul (local.get $f0) (local.get $t1))))
              (local.set $a2 (f64x2.add (local.get $a2) (f64x2.mul (local.get $f0) (local.get $t2))))
              (local.set $a3 (f64x2.add (local.get $a3) (f64x2.mul (local.get $f0) (local.get $t3))))
              (local.set $c0 (f64x2.add (local.get $c0) (f64x2.mul (local.get $f1) (local.get $t0))))
              (local.set $c1 (f64x2.add (local.get $c1) (f64x2.mul (local.get $f1) (local.get $t1))))
              (local.set $c2 (f64x2.add (local.get $c2) (f64x2.mul (local.get $f1) (local.get $t2))))
              (local.set $c3 (f64x2.add (local.get $c3) (f64x2.mul (local.get $f1) (local.get $t3))))
              (local.set $pf0 (i32.add (local.get $pf0) (i32.const 4)))
              (local.set $pf1 (i32.add (local.get $pf1) (i32.const 4)))
              (local.set $pt (i32.add (local.get $pt) (i32.const 64)))
              (local.set $k (i32.add (local.get $k) (i32.const 1)))
              (br_if $kLoop (i32.lt_s (local.get $k) (local.get $D))))
            ;; write the block's classes (at most C - b of them) for both pixels, scaled and rounded to f32
            (local.set $n (i32.sub (local.get $C) (local.get $b)))
            (local.set $c (i32.const 0))
            (block $wDone
              (loop $wLoop
                (br_if $wDone (i32.ge_s (local.get $c) (select (local.get $n) (i32.const 8) (i32.lt_s (local.get $n) (i32.const 8)))))
                (call $put (local.get $out) (local.get $P) (i32.add (local.get $b) (local.get $c)) (local.get $p)
                  (local.get $scale) (local.get $c) (local.get $a0) (local.get $a1) (local.get $a2) (local.get $a3))
                (call $put (local.get $out) (local.get $P) (i32.add (local.get $b) (local.get $c)) (local.get $p1)
                  (local.get $scale) (local.get $c) (local.get $c0) (local.get $c1) (local.get $c2) (local.get $c3))
                (local.set $c (i32.add (local.get $c) (i32.const 1)))
                (br $wLoop)))
            (local.set $b (i32.add (local.get $b) (i32.const 8)))
            (br $bLoop)))
        (local.set $p (i32.add (local.get $p) (i32.const 2)))
        (br $pLoop))))

  ;; out[cls P + p] = f32(scale * lane c of the 8 accumulators a0..a3 (2 lanes each))
  (func $put (param $out i32) (param $P i32) (param $cls i32) (param $p i32) (param $scale f64) (param $c i32)
    (param $a0 v128) (param $a1 v128) (param $a2 v128) (param $a3 v128)
    (local $v v128) (local $x f64)
    (local.set $v
      (select (local.get $a0)
        (select (local.get $a1) (select (local.get $a2) (local.get $a3) (i32.lt_s (local.get $c) (i32.const 6)))
          (i32.lt_s (local.get $c) (i32.const 4)))
        (i32.lt_s (local.get $c) (i32.const 2))))
    (local.set $x
      (select (f64x2.extract_lane 0 (local.get $v)) (f64x2.extract_lane 1 (local.get $v))
        (i32.eqz (i32.and (local.get $c) (i32.const 1)))))
    (f32.store
      (i32.add (local.get $out) (i32.shl (i32.add (i32.mul (local.get $cls) (local.get $P)) (local.get $p)) (i32.const 2)))
      (f32.demote_f64 (f64.mul (local.get $x) (local.get $scale)))))
)
