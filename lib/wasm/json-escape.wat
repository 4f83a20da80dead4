;; JSON string escaping of UTF-8 bytes, 16 at a time (wasm SIMD): the body of a JSON string
;; literal, byte-identical to what JSON.stringify writes between the quotes for the same text.
;; Bytes >= 0x80 (UTF-8 sequences) pass through; only < 0x20, '"' and '\' are escaped.
;; `render` writes a whole line body from a program of constants and CSV fields in place.
;; Compiled by scripts/build-wasm.ts into json-escape.wasm.ts; lib/wasm/json-escape.ts and
;; lib/wasm/csv-render.ts drive it.
(module
  ;; [0, 256): for each byte, 0 when it is written as it is, else the letter after the backslash
  ;; ('u' for \u00XX); [256, 272): lowercase hex digits. Filled by the caller.
  (memory (export "memory") 1)

  ;; Writes byte $c at $dst, escaped if it must be; returns the next free position.
  (func $one (param $c i32) (param $dst i32) (result i32)
    (local $l i32)
    (local.set $l (i32.load8_u (local.get $c)))
    (if (i32.eqz (local.get $l)) (then
      (i32.store8 (local.get $dst) (local.get $c))
      (return (i32.add (local.get $dst) (i32.const 1)))))
    (i32.store8 (local.get $dst) (i32.const 92))
    (i32.store8 offset=1 (local.get $dst) (local.get $l))
    (if (i32.ne (local.get $l) (i32.const 117)) (then
      (return (i32.add (local.get $dst) (i32.const 2)))))
    (i32.store16 offset=2 (local.get $dst) (i32.const 0x3030))
    (i32.store8 offset=4 (local.get $dst) (i32.load8_u offset=256 (i32.shr_u (local.get $c) (i32.const 4))))
    (i32.store8 offset=5 (local.get $dst) (i32.load8_u offset=256 (i32.and (local.get $c) (i32.const 15))))
    (i32.add (local.get $dst) (i32.const 6)))

  ;; Escapes [$src, $end) to $dst; returns the end of what it wrote. The output may be
  ;; 6 * ($end - $src) bytes long, and up to 16 bytes past its end are scratch. With $pairs = 1
  ;; the input is a quoted CSV field's inside, where every '"' is the first of a pair `""` that
  ;; stands for one quote: the second is skipped.
  (func $esc (param $src i32) (param $end i32) (param $dst i32) (param $pairs i32) (result i32)
    (local $v v128) (local $m i32) (local $k i32) (local $c i32)
    (block $scalar
      (loop $vec
        (br_if $scalar (i32.gt_u (i32.add (local.get $src) (i32.const 16)) (local.get $end)))
        (local.set $v (v128.load align=1 (local.get $src)))
        ;; The 16 bytes go out as they are; a byte to escape among them overwrites from its place on.
        (v128.store align=1 (local.get $dst) (local.get $v))
        (local.set $m (i8x16.bitmask (v128.or
          (i8x16.lt_u (local.get $v) (v128.const i8x16 32 32 32 32 32 32 32 32 32 32 32 32 32 32 32 32))
          (v128.or
            (i8x16.eq (local.get $v) (v128.const i8x16 34 34 34 34 34 34 34 34 34 34 34 34 34 34 34 34))
            (i8x16.eq (local.get $v) (v128.const i8x16 92 92 92 92 92 92 92 92 92 92 92 92 92 92 92 92))))))
        (if (i32.eqz (local.get $m))
          (then
            (local.set $src (i32.add (local.get $src) (i32.const 16)))
            (local.set $dst (i32.add (local.get $dst) (i32.const 16))))
          (else
            ;; Keep the clean bytes before the first escape, escape it, go on right after it.
            (local.set $k (i32.ctz (local.get $m)))
            (local.set $src (i32.add (local.get $src) (local.get $k)))
            (local.set $c (i32.load8_u (local.get $src)))
            (local.set $dst (call $one (local.get $c) (i32.add (local.get $dst) (local.get $k))))
            (local.set $src (i32.add (i32.add (local.get $src) (i32.const 1))
              (i32.and (local.get $pairs) (i32.eq (local.get $c) (i32.const 34)))))))
        (br $vec)))
    (block $done
      (loop $tail
        (br_if $done (i32.ge_u (local.get $src) (local.get $end)))
        (local.set $c (i32.load8_u (local.get $src)))
        (local.set $dst (call $one (local.get $c) (local.get $dst)))
        (local.set $src (i32.add (i32.add (local.get $src) (i32.const 1))
          (i32.and (local.get $pairs) (i32.eq (local.get $c) (i32.const 34)))))
        (br $tail)))
    (local.get $dst))

  ;; Escapes [$src, $src + $len) to $dst; returns the end of what it wrote (see $esc).
  (func (export "escape") (param $src i32) (param $len i32) (param $dst i32) (result i32)
    (call $esc (local.get $src) (i32.add (local.get $src) (local.get $len)) (local.get $dst) (i32.const 0)))

  ;; Runs the program [$op, $opEnd) of 3-word ops, writing to $dst; returns the end.
  ;; (0, at, len) copies constant bytes [at, at + len); (1, field, 0) writes the field whose
  ;; [start, end) is at $fields + 8 * field, escaped, with `""` read as one quote.
  (func (export "render") (param $op i32) (param $opEnd i32) (param $fields i32) (param $dst i32) (result i32)
    (local $a i32) (local $b i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $op) (local.get $opEnd)))
        (local.set $a (i32.load offset=4 (local.get $op)))
        (if (i32.eqz (i32.load (local.get $op)))
          (then
            (local.set $b (i32.load offset=8 (local.get $op)))
            (memory.copy (local.get $dst) (local.get $a) (local.get $b))
            (local.set $dst (i32.add (local.get $dst) (local.get $b))))
          (else
            (local.set $a (i32.add (local.get $fields) (i32.shl (local.get $a) (i32.const 3))))
            (local.set $dst (call $esc (i32.load (local.get $a)) (i32.load offset=4 (local.get $a)) (local.get $dst) (i32.const 1)))))
        (local.set $op (i32.add (local.get $op) (i32.const 12)))
        (br $next)))
    (local.get $dst)))
