;; The query loop of KdTree's batch kNN through a uniform grid (kdtree.ts, knnGrid), in WebAssembly: V8 runs it
;; about 1.5x faster than the same loops over typed arrays. `npm run build:wasm` assembles it into
;; knngrid.wasm.ts; a test checks that the committed bytes are this file's assembly. knngrid.ts lays out the
;; memory and documents the arrays; all pointers are byte offsets into the imported memory.
(module
  (import "env" "mem" (memory 1))

  ;; k nearest of the points in nseg contiguous segments [rows[2s], rows[2s+1]) of gx/gy/gz (f64) to (x, y, z),
  ;; with squared distance below lim; returns how many (at most k). A branch-free first pass moves the points
  ;; below lim (a few of the block) to the short list tmpD (distance) / tmpP (point position). The second keeps
  ;; the k smallest keys of that list, ascending, in bk (i64): a key is the distance's bit pattern (which orders
  ;; like the distance, as distances are >= 0) with its low idBits bits replaced by the list index, and each key
  ;; goes through a branch-free min / max insertion network. Keys order like distances except among distances
  ;; that agree to 2^(idBits - 52) relative, which the list index orders (scan order for exact ties).
  (func $scan
    (param $gx i32) (param $gy i32) (param $gz i32) (param $rows i32) (param $nseg i32)
    (param $x f64) (param $y f64) (param $z f64) (param $k i32) (param $lim f64) (param $bk i32)
    (param $tmpD i32) (param $tmpP i32) (param $idMask i64)
    (result i32)
    (local $s i32) (local $p i32) (local $e i32) (local $d f64) (local $t f64) (local $o8 i32) (local $n i32)
    (local $i i32) (local $v i64) (local $cur i64) (local $below i64) (local $m i64) (local $a i32)
    (block $segsDone
      (loop $seg
        (br_if $segsDone (i32.ge_s (local.get $s) (local.get $nseg)))
        (local.set $p (i32.load (i32.add (local.get $rows) (i32.shl (local.get $s) (i32.const 3)))))
        (local.set $e (i32.load (i32.add (local.get $rows) (i32.add (i32.shl (local.get $s) (i32.const 3)) (i32.const 4)))))
        (local.set $s (i32.add (local.get $s) (i32.const 1)))
        (br_if $seg (i32.ge_s (local.get $p) (local.get $e)))
        (loop $pt
          ;; d = |point p - query|^2, appended; the list grows only when d < lim
          (local.set $o8 (i32.shl (local.get $p) (i32.const 3)))
          (local.set $t (f64.sub (f64.load (i32.add (local.get $gx) (local.get $o8))) (local.get $x)))
          (local.set $d (f64.mul (local.get $t) (local.get $t)))
          (local.set $t (f64.sub (f64.load (i32.add (local.get $gy) (local.get $o8))) (local.get $y)))
          (local.set $d (f64.add (local.get $d) (f64.mul (local.get $t) (local.get $t))))
          (local.set $t (f64.sub (f64.load (i32.add (local.get $gz) (local.get $o8))) (local.get $z)))
          (local.set $d (f64.add (local.get $d) (f64.mul (local.get $t) (local.get $t))))
          (f64.store (i32.add (local.get $tmpD) (i32.shl (local.get $n) (i32.const 3))) (local.get $d))
          (i32.store (i32.add (local.get $tmpP) (i32.shl (local.get $n) (i32.const 2))) (local.get $p))
          (local.set $n (i32.add (local.get $n) (f64.lt (local.get $d) (local.get $lim))))
          (local.set $p (i32.add (local.get $p) (i32.const 1)))
          (br_if $pt (i32.lt_s (local.get $p) (local.get $e))))
        (br $seg)))
    ;; the k-best keys, all "infinite" at first (the bits of +inf exceed those of every finite distance)
    (local.set $a (i32.const 0))
    (loop $init
      (i64.store (i32.add (local.get $bk) (i32.shl (local.get $a) (i32.const 3))) (i64.const 0x7ff0000000000000))
      (local.set $a (i32.add (local.get $a) (i32.const 1)))
      (br_if $init (i32.lt_s (local.get $a) (local.get $k))))
    (block $listDone
      (loop $list
        (br_if $listDone (i32.ge_s (local.get $i) (local.get $n)))
        (local.set $v (i64.or
          (i64.and (i64.reinterpret_f64 (f64.load (i32.add (local.get $tmpD) (i32.shl (local.get $i) (i32.const 3)))))
            (i64.xor (local.get $idMask) (i64.const -1)))
          (i64.extend_i32_u (local.get $i))))
        ;; from the top: bk[a] = max(bk[a - 1], min(bk[a], v)); bk[0] = min(bk[0], v)
        (local.set $a (i32.sub (local.get $k) (i32.const 1)))
        (local.set $cur (i64.load (i32.add (local.get $bk) (i32.shl (local.get $a) (i32.const 3)))))
        (block $netDone
          (loop $net
            (br_if $netDone (i32.eqz (local.get $a)))
            (local.set $below (i64.load (i32.add (local.get $bk) (i32.shl (i32.sub (local.get $a) (i32.const 1)) (i32.const 3)))))
            (local.set $m (select (local.get $cur) (local.get $v) (i64.lt_u (local.get $cur) (local.get $v))))
            (i64.store (i32.add (local.get $bk) (i32.shl (local.get $a) (i32.const 3)))
              (select (local.get $below) (local.get $m) (i64.gt_u (local.get $below) (local.get $m))))
            (local.set $cur (local.get $below))
            (local.set $a (i32.sub (local.get $a) (i32.const 1)))
            (br $net)))
        (i64.store (local.get $bk) (select (local.get $cur) (local.get $v) (i64.lt_u (local.get $cur) (local.get $v))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $list)))
    (select (local.get $n) (local.get $k) (i32.lt_s (local.get $n) (local.get $k))))

  ;; For each cell holding queries (queries sorted by cell: order[qStart[c] .. qStart[c+1]) are cell c's query
  ;; ids), the rows of its 3x3x3 block (clipped to the grid; start[] indexes the cell-sorted points) are the scan
  ;; segments; blocks of more than maxScan points are skipped. Each query (f32 xyz at queries + 12 q) keeps its
  ;; k nearest within lim1 (the squared cell side c, less a rounding margin); when fewer than k are found, within
  ;; its exactness radius c + its distance to its cell's nearest face (faces on the grid's edge left out),
  ;; squared. A query with k found gets its row of outIdx (gi of the points, i32) and outD2 (f32) and
  ;; done[q] = 1; the other rows are not written.
  (func (export "grid")
    (param $gx i32) (param $gy i32) (param $gz i32) (param $gi i32) (param $start i32)
    (param $nx i32) (param $ny i32) (param $nz i32) (param $lx f64) (param $ly f64) (param $lz f64) (param $c f64)
    (param $queries i32) (param $order i32) (param $qStart i32) (param $k i32) (param $lim1 f64) (param $maxScan i32)
    (param $outIdx i32) (param $outD2 i32) (param $done i32) (param $bk i32) (param $idBits i32) (param $rows i32)
    (param $tmpD i32) (param $tmpP i32)
    (local $nCells i32) (local $cell i32) (local $r i32) (local $q1 i32) (local $q i32)
    (local $fx i32) (local $fy i32) (local $fz i32) (local $xa i32) (local $xb i32) (local $ya i32) (local $yb i32)
    (local $za i32) (local $zb i32) (local $cy i32) (local $cz i32) (local $row i32) (local $b i32) (local $e i32)
    (local $nseg i32) (local $tot i32) (local $found i32) (local $j i32) (local $o i32)
    (local $x f64) (local $y f64) (local $z f64) (local $x0 f64) (local $y0 f64) (local $z0 f64) (local $face f64)
    (local $rad f64) (local $inf f64) (local $idMask i64) (local $li i32)
    (local.set $inf (f64.const inf))
    (local.set $idMask (i64.sub (i64.shl (i64.const 1) (i64.extend_i32_u (local.get $idBits))) (i64.const 1)))
    (local.set $nCells (i32.mul (i32.mul (local.get $nx) (local.get $ny)) (local.get $nz)))
    (block $cellsDone
      (loop $cellLoop
        (br_if $cellsDone (i32.ge_s (local.get $cell) (local.get $nCells)))
        (local.set $r (i32.load (i32.add (local.get $qStart) (i32.shl (local.get $cell) (i32.const 2)))))
        (local.set $q1 (i32.load (i32.add (local.get $qStart) (i32.shl (i32.add (local.get $cell) (i32.const 1)) (i32.const 2)))))
        (if (i32.lt_s (local.get $r) (local.get $q1))
          (then
            (local.set $fx (i32.rem_u (local.get $cell) (local.get $nx)))
            (local.set $fy (i32.rem_u (i32.div_u (local.get $cell) (local.get $nx)) (local.get $ny)))
            (local.set $fz (i32.div_u (local.get $cell) (i32.mul (local.get $nx) (local.get $ny))))
            ;; the block's cell ranges, clipped to the grid
            (local.set $xa (select (i32.sub (local.get $fx) (i32.const 1)) (i32.const 0) (i32.gt_s (local.get $fx) (i32.const 0))))
            (local.set $xb (select (i32.add (local.get $fx) (i32.const 2)) (local.get $nx)
              (i32.lt_s (i32.add (local.get $fx) (i32.const 2)) (local.get $nx))))
            (local.set $ya (select (i32.sub (local.get $fy) (i32.const 1)) (i32.const 0) (i32.gt_s (local.get $fy) (i32.const 0))))
            (local.set $yb (select (i32.add (local.get $fy) (i32.const 2)) (local.get $ny)
              (i32.lt_s (i32.add (local.get $fy) (i32.const 2)) (local.get $ny))))
            (local.set $za (select (i32.sub (local.get $fz) (i32.const 1)) (i32.const 0) (i32.gt_s (local.get $fz) (i32.const 0))))
            (local.set $zb (select (i32.add (local.get $fz) (i32.const 2)) (local.get $nz)
              (i32.lt_s (i32.add (local.get $fz) (i32.const 2)) (local.get $nz))))
            ;; its rows: one contiguous segment of the sorted points each
            (local.set $nseg (i32.const 0))
            (local.set $tot (i32.const 0))
            (local.set $cz (local.get $za))
            (loop $zLoop
              (local.set $cy (local.get $ya))
              (loop $yLoop
                (local.set $row (i32.mul (local.get $nx) (i32.add (local.get $cy) (i32.mul (local.get $ny) (local.get $cz)))))
                (local.set $b (i32.load (i32.add (local.get $start) (i32.shl (i32.add (local.get $row) (local.get $xa)) (i32.const 2)))))
                (local.set $e (i32.load (i32.add (local.get $start) (i32.shl (i32.add (local.get $row) (local.get $xb)) (i32.const 2)))))
                (i32.store (i32.add (local.get $rows) (i32.shl (local.get $nseg) (i32.const 3))) (local.get $b))
                (i32.store (i32.add (local.get $rows) (i32.add (i32.shl (local.get $nseg) (i32.const 3)) (i32.const 4))) (local.get $e))
                (local.set $nseg (i32.add (local.get $nseg) (i32.const 1)))
                (local.set $tot (i32.add (local.get $tot) (i32.sub (local.get $e) (local.get $b))))
                (local.set $cy (i32.add (local.get $cy) (i32.const 1)))
                (br_if $yLoop (i32.lt_s (local.get $cy) (local.get $yb))))
              (local.set $cz (i32.add (local.get $cz) (i32.const 1)))
              (br_if $zLoop (i32.lt_s (local.get $cz) (local.get $zb))))
            (if (i32.le_s (local.get $tot) (local.get $maxScan))
              (then
                ;; the cell's faces; a query's exactness radius is c + its distance to the nearest one
                (local.set $x0 (f64.add (local.get $lx) (f64.mul (f64.convert_i32_s (local.get $fx)) (local.get $c))))
                (local.set $y0 (f64.add (local.get $ly) (f64.mul (f64.convert_i32_s (local.get $fy)) (local.get $c))))
                (local.set $z0 (f64.add (local.get $lz) (f64.mul (f64.convert_i32_s (local.get $fz)) (local.get $c))))
                (loop $qLoop
                  (local.set $q (i32.load (i32.add (local.get $order) (i32.shl (local.get $r) (i32.const 2)))))
                  (local.set $o (i32.add (local.get $queries) (i32.mul (local.get $q) (i32.const 12))))
                  (local.set $x (f64.promote_f32 (f32.load (local.get $o))))
                  (local.set $y (f64.promote_f32 (f32.load offset=4 (local.get $o))))
                  (local.set $z (f64.promote_f32 (f32.load offset=8 (local.get $o))))
                  (local.set $found (call $scan (local.get $gx) (local.get $gy) (local.get $gz) (local.get $rows)
                    (local.get $nseg) (local.get $x) (local.get $y) (local.get $z) (local.get $k) (local.get $lim1)
                    (local.get $bk) (local.get $tmpD) (local.get $tmpP) (local.get $idMask)))
                  (if (i32.lt_s (local.get $found) (local.get $k))
                    (then
                      ;; faces on the grid's edge do not count: no point lies beyond them
                      (local.set $face (f64.min (f64.min (f64.min
                        (select (f64.sub (local.get $x) (local.get $x0)) (local.get $inf)
                          (i32.gt_s (local.get $fx) (i32.const 0)))
                        (select (f64.sub (f64.add (local.get $x0) (local.get $c)) (local.get $x)) (local.get $inf)
                          (i32.lt_s (local.get $fx) (i32.sub (local.get $nx) (i32.const 1)))))
                        (f64.min
                          (select (f64.sub (local.get $y) (local.get $y0)) (local.get $inf)
                            (i32.gt_s (local.get $fy) (i32.const 0)))
                          (select (f64.sub (f64.add (local.get $y0) (local.get $c)) (local.get $y)) (local.get $inf)
                            (i32.lt_s (local.get $fy) (i32.sub (local.get $ny) (i32.const 1))))))
                        (f64.min
                          (select (f64.sub (local.get $z) (local.get $z0)) (local.get $inf)
                            (i32.gt_s (local.get $fz) (i32.const 0)))
                          (select (f64.sub (f64.add (local.get $z0) (local.get $c)) (local.get $z)) (local.get $inf)
                            (i32.lt_s (local.get $fz) (i32.sub (local.get $nz) (i32.const 1)))))))
                      (local.set $rad (f64.add (local.get $c) (f64.max (local.get $face) (f64.const 0))))
                      (local.set $found (call $scan (local.get $gx) (local.get $gy) (local.get $gz) (local.get $rows)
                        (local.get $nseg) (local.get $x) (local.get $y) (local.get $z) (local.get $k)
                        (f64.mul (f64.mul (local.get $rad) (local.get $rad)) (f64.const 0.999999999))
                        (local.get $bk) (local.get $tmpD) (local.get $tmpP) (local.get $idMask)))))
                  ;; row q of the outputs: original indices and squared distances (f32)
                  (local.set $o (i32.shl (i32.mul (local.get $q) (local.get $k)) (i32.const 2)))
                  (local.set $j (i32.const 0))
                  (if (i32.eq (local.get $found) (local.get $k))
                    (then
                      (loop $out
                        ;; the list entry of the j-th key: its point and exact distance
                        (local.set $li (i32.wrap_i64 (i64.and (local.get $idMask)
                          (i64.load (i32.add (local.get $bk) (i32.shl (local.get $j) (i32.const 3)))))))
                        (i32.store (i32.add (local.get $outIdx) (i32.add (local.get $o) (i32.shl (local.get $j) (i32.const 2))))
                          (i32.load (i32.add (local.get $gi)
                            (i32.shl (i32.load (i32.add (local.get $tmpP) (i32.shl (local.get $li) (i32.const 2)))) (i32.const 2)))))
                        (f32.store (i32.add (local.get $outD2) (i32.add (local.get $o) (i32.shl (local.get $j) (i32.const 2))))
                          (f32.demote_f64 (f64.load (i32.add (local.get $tmpD) (i32.shl (local.get $li) (i32.const 3))))))
                        (local.set $j (i32.add (local.get $j) (i32.const 1)))
                        (br_if $out (i32.lt_s (local.get $j) (local.get $k))))
                      (i32.store8 (i32.add (local.get $done) (local.get $q)) (i32.const 1))))
                  (local.set $r (i32.add (local.get $r) (i32.const 1)))
                  (br_if $qLoop (i32.lt_s (local.get $r) (local.get $q1))))))))
        (local.set $cell (i32.add (local.get $cell) (i32.const 1)))
        (br $cellLoop)))))
