;; The loops that rebuild the page's fp32 weights from their blocks (site/weights.js says
;; what the blocks are). build.py compiles this file to dist/dequant.wasm with wabt.
;;
;; Why WebAssembly: the rebuild runs inside ONNX Runtime's session creation, the last step
;; of every page load, and the same loops in JavaScript took 0.49 s for SmolLM2-135M's
;; 540 MB; with 128-bit SIMD they take about 0.08 s (Node 20, this 2-core machine).
;; The floats are bit for bit the JavaScript and numpy ones: a scale times a code is exact
;; in fp32 (an fp16 scale has 11 significant bits, a code at most 8), so every weight is one
;; correctly rounded fp32 addition, whichever language adds it.
;;
;; Layout, all byte offsets into this module's memory, set up by weights.js:
;;   codes: the weight's codes, copied in (Q4_1: two a byte, low nibble first, row-major;
;;          Q8_0 and INT8: one signed byte each)
;;   d, m:  fp32 scales (and Q4_1 minimums), one row of `cols` per block of 32 rows
;;          (INT8: a single row for all rows), 16-byte aligned
;;   out:   rows * cols fp32 results, 16-byte aligned
(module
  (memory (export "memory") 1)

  ;; One Q4_1 weight, any shape: element i = r * cols + c is nibble i of the codes.
  (func $q4_1_one (param $codes i32) (param $d i32) (param $m i32) (param $out i32)
        (param $i i32) (param $at i32)
    (local $byte i32)
    (local.set $byte (i32.load8_u (i32.add (local.get $codes) (i32.shr_u (local.get $i) (i32.const 1)))))
    (f32.store (i32.add (local.get $out) (i32.shl (local.get $i) (i32.const 2)))
      (f32.add
        (f32.mul (f32.load (i32.add (local.get $d) (local.get $at)))
          (f32.convert_i32_u
            (select (i32.shr_u (local.get $byte) (i32.const 4))
                    (i32.and (local.get $byte) (i32.const 15))
                    (i32.and (local.get $i) (i32.const 1)))))
        (f32.load (i32.add (local.get $m) (local.get $at))))))

  ;; out = d * code + m. With an even `cols` each row starts on a whole byte, and 16
  ;; weights (8 bytes) at a time go through SIMD; the rest of a row, and every weight of an
  ;; odd `cols`, one at a time.
  (func (export "q4_1") (param $codes i32) (param $d i32) (param $m i32) (param $out i32)
        (param $rows i32) (param $cols i32)
    (local $r i32) (local $c i32) (local $row i32) (local $block i32) (local $wide i32)
    (local $x v128) (local $b v128) (local $w v128) (local $dp i32) (local $mp i32) (local $op i32)
    ;; how many of a row's columns go through SIMD
    (local.set $wide
      (select (i32.and (local.get $cols) (i32.const -16)) (i32.const 0)
              (i32.eqz (i32.and (local.get $cols) (i32.const 1)))))
    (block $done (loop $rows_loop
      (br_if $done (i32.ge_u (local.get $r) (local.get $rows)))
      (local.set $row (i32.mul (local.get $r) (local.get $cols)))
      (local.set $block (i32.shl (i32.mul (i32.shr_u (local.get $r) (i32.const 5)) (local.get $cols)) (i32.const 2)))
      (local.set $c (i32.const 0))
      (block $simd_done (loop $simd
        (br_if $simd_done (i32.ge_u (local.get $c) (local.get $wide)))
        (local.set $x (v128.load64_zero
          (i32.add (local.get $codes) (i32.shr_u (i32.add (local.get $row) (local.get $c)) (i32.const 1)))))
        ;; the 16 nibbles in order: low, high, low, high, ...
        (local.set $b (i8x16.shuffle 0 16 1 17 2 18 3 19 4 20 5 21 6 22 7 23
          (v128.and (local.get $x) (v128.const i8x16 15 15 15 15 15 15 15 15 15 15 15 15 15 15 15 15))
          (i8x16.shr_u (local.get $x) (i32.const 4))))
        (local.set $dp (i32.add (local.get $d) (i32.add (local.get $block) (i32.shl (local.get $c) (i32.const 2)))))
        (local.set $mp (i32.add (local.get $m) (i32.add (local.get $block) (i32.shl (local.get $c) (i32.const 2)))))
        (local.set $op (i32.add (local.get $out) (i32.shl (i32.add (local.get $row) (local.get $c)) (i32.const 2))))
        (local.set $w (i16x8.extend_low_i8x16_u (local.get $b)))
        (v128.store (local.get $op)
          (f32x4.add (f32x4.mul (v128.load (local.get $dp))
                                (f32x4.convert_i32x4_u (i32x4.extend_low_i16x8_u (local.get $w))))
                     (v128.load (local.get $mp))))
        (v128.store offset=16 (local.get $op)
          (f32x4.add (f32x4.mul (v128.load offset=16 (local.get $dp))
                                (f32x4.convert_i32x4_u (i32x4.extend_high_i16x8_u (local.get $w))))
                     (v128.load offset=16 (local.get $mp))))
        (local.set $w (i16x8.extend_high_i8x16_u (local.get $b)))
        (v128.store offset=32 (local.get $op)
          (f32x4.add (f32x4.mul (v128.load offset=32 (local.get $dp))
                                (f32x4.convert_i32x4_u (i32x4.extend_low_i16x8_u (local.get $w))))
                     (v128.load offset=32 (local.get $mp))))
        (v128.store offset=48 (local.get $op)
          (f32x4.add (f32x4.mul (v128.load offset=48 (local.get $dp))
                                (f32x4.convert_i32x4_u (i32x4.extend_high_i16x8_u (local.get $w))))
                     (v128.load offset=48 (local.get $mp))))
        (local.set $c (i32.add (local.get $c) (i32.const 16)))
        (br $simd)))
      (block $tail_done (loop $tail
        (br_if $tail_done (i32.ge_u (local.get $c) (local.get $cols)))
        (call $q4_1_one (local.get $codes) (local.get $d) (local.get $m) (local.get $out)
          (i32.add (local.get $row) (local.get $c))
          (i32.add (local.get $block) (i32.shl (local.get $c) (i32.const 2))))
        (local.set $c (i32.add (local.get $c) (i32.const 1)))
        (br $tail)))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $rows_loop))))

  ;; out = d * code, the codes signed bytes; `per_column` (INT8): one row of scales for all
  ;; rows, else (Q8_0) one per block of 32 rows. 8 weights at a time through SIMD, the rest
  ;; of a row one at a time.
  (func (export "q8") (param $codes i32) (param $d i32) (param $out i32)
        (param $rows i32) (param $cols i32) (param $per_column i32)
    (local $r i32) (local $c i32) (local $row i32) (local $block i32) (local $wide i32)
    (local $w v128) (local $dp i32) (local $op i32)
    (local.set $wide (i32.and (local.get $cols) (i32.const -8)))
    (block $done (loop $rows_loop
      (br_if $done (i32.ge_u (local.get $r) (local.get $rows)))
      (local.set $row (i32.mul (local.get $r) (local.get $cols)))
      (local.set $block
        (select (i32.const 0)
                (i32.shl (i32.mul (i32.shr_u (local.get $r) (i32.const 5)) (local.get $cols)) (i32.const 2))
                (local.get $per_column)))
      (local.set $c (i32.const 0))
      (block $simd_done (loop $simd
        (br_if $simd_done (i32.ge_u (local.get $c) (local.get $wide)))
        (local.set $w (i16x8.extend_low_i8x16_s
          (v128.load64_zero (i32.add (local.get $codes) (i32.add (local.get $row) (local.get $c))))))
        (local.set $dp (i32.add (local.get $d) (i32.add (local.get $block) (i32.shl (local.get $c) (i32.const 2)))))
        (local.set $op (i32.add (local.get $out) (i32.shl (i32.add (local.get $row) (local.get $c)) (i32.const 2))))
        (v128.store (local.get $op)
          (f32x4.mul (v128.load (local.get $dp))
                     (f32x4.convert_i32x4_s (i32x4.extend_low_i16x8_s (local.get $w)))))
        (v128.store offset=16 (local.get $op)
          (f32x4.mul (v128.load offset=16 (local.get $dp))
                     (f32x4.convert_i32x4_s (i32x4.extend_high_i16x8_s (local.get $w)))))
        (local.set $c (i32.add (local.get $c) (i32.const 8)))
        (br $simd)))
      (block $tail_done (loop $tail
        (br_if $tail_done (i32.ge_u (local.get $c) (local.get $cols)))
        (f32.store (i32.add (local.get $out) (i32.shl (i32.add (local.get $row) (local.get $c)) (i32.const 2)))
          (f32.mul (f32.load (i32.add (local.get $d) (i32.add (local.get $block) (i32.shl (local.get $c) (i32.const 2)))))
                   (f32.convert_i32_s (i32.load8_s (i32.add (local.get $codes) (i32.add (local.get $row) (local.get $c)))))))
        (local.set $c (i32.add (local.get $c) (i32.const 1)))
        (br $tail)))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $rows_loop))))
)
