;; The byte work of prep, on wasm SIMD: CSV in, JSON out.
;; - `escape`: JSON string escaping of UTF-8 bytes, 16 at a time: the body of a JSON string literal,
;;   byte-identical to what JSON.stringify writes between the quotes for the same text. Bytes
;;   >= 0x80 (UTF-8 sequences) pass through; only < 0x20, '"' and '\' are escaped.
;; - `render`: a whole batch line from a program of constants and CSV fields, escaped in place.
;; - `records`: framing of whole, plain CSV records (the JS parser does everything else).
;; Compiled by scripts/build-wasm.ts into csv-json.wasm.ts; lib/wasm/json-escape.ts and
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
    (local.get $dst))

  ;; ---- CSV framing of whole, plain records (lib/sources/csv-parser.ts does everything else) ----

  ;; Line breaks (LF, CRLF and a lone CR, once each) seen by $quote.
  (global $breaks (mut i32) (i32.const 0))

  ;; The next '"' at or after $p, or $end when there is none; counts the line breaks before it
  ;; into $breaks (a CR right before $end counts as lone: the caller gives up there anyway).
  (func $quote (param $p i32) (param $end i32) (result i32)
    (local $v v128) (local $q i32) (local $l i32) (local $r i32) (local $below i32) (local $cr i32) (local $c i32)
    (block $scalar
      (loop $vec
        (br_if $scalar (i32.gt_u (i32.add (local.get $p) (i32.const 16)) (local.get $end)))
        (local.set $v (v128.load align=1 (local.get $p)))
        (local.set $q (i8x16.bitmask (i8x16.eq (local.get $v) (v128.const i8x16 34 34 34 34 34 34 34 34 34 34 34 34 34 34 34 34))))
        (local.set $l (i8x16.bitmask (i8x16.eq (local.get $v) (v128.const i8x16 10 10 10 10 10 10 10 10 10 10 10 10 10 10 10 10))))
        (local.set $r (i8x16.bitmask (i8x16.eq (local.get $v) (v128.const i8x16 13 13 13 13 13 13 13 13 13 13 13 13 13 13 13 13))))
        ;; Only the bytes before the quote, if there is one.
        (local.set $below (if (result i32) (local.get $q)
          (then (i32.sub (i32.shl (i32.const 1) (i32.ctz (local.get $q))) (i32.const 1)))
          (else (i32.const 0xffff))))
        (local.set $l (i32.and (local.get $l) (local.get $below)))
        (local.set $r (i32.and (local.get $r) (local.get $below)))
        ;; LF + CR - CRLF pairs (a CR in the last lane pairs with an LF in the next vector's first).
        (global.set $breaks (i32.sub
          (i32.add (global.get $breaks) (i32.add (i32.popcnt (local.get $l)) (i32.popcnt (local.get $r))))
          (i32.add (i32.popcnt (i32.and (local.get $r) (i32.shr_u (local.get $l) (i32.const 1))))
            (i32.and (i32.and (local.get $cr) (local.get $l)) (i32.const 1)))))
        (if (local.get $q) (then (return (i32.add (local.get $p) (i32.ctz (local.get $q))))))
        (local.set $cr (i32.shr_u (local.get $r) (i32.const 15)))
        (local.set $p (i32.add (local.get $p) (i32.const 16)))
        (br $vec)))
    (block $done
      (loop $tail
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $c (i32.load8_u (local.get $p)))
        (if (i32.eq (local.get $c) (i32.const 34)) (then (return (local.get $p))))
        (if (i32.eq (local.get $c) (i32.const 13)) (then (global.set $breaks (i32.add (global.get $breaks) (i32.const 1)))))
        (if (i32.eq (local.get $c) (i32.const 10)) (then
          (global.set $breaks (i32.add (global.get $breaks) (i32.sub (i32.const 1) (local.get $cr))))))
        (local.set $cr (i32.eq (local.get $c) (i32.const 13)))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $tail)))
    (local.get $end))

  ;; Frames the records of [$base + $from, $base + $to) that start at $from, as long as each is
  ;; whole and plain: no empty line, no lone CR outside quotes, nothing the parser would reject,
  ;; not cut by $to. Writes to the table at $t (up to $tEnd): [count, next record start] and per
  ;; record [content end, next start, line breaks inside, fields] then [start, end, kind] per
  ;; field, all relative to $base (kinds: 0 plain, 1 quoted, 2 quoted with "", 3 plain non-ASCII).
  ;; Returns the count; the caller frames the rest, the next record at least.
  (func (export "records") (param $base i32) (param $from i32) (param $to i32) (param $d i32) (param $t i32) (param $tEnd i32) (result i32)
    (local $p i32) (local $end i32) (local $n i32) (local $w i32) (local $head i32) (local $nf i32)
    (local $c i32) (local $fs i32) (local $q i32) (local $kind i32) (local $high i32) (local $recEnd i32)
    (local $v v128) (local $dv v128) (local $m i32)
    (local.set $p (i32.add (local.get $base) (local.get $from)))
    (local.set $end (i32.add (local.get $base) (local.get $to)))
    (local.set $dv (i8x16.splat (local.get $d)))
    (local.set $w (i32.add (local.get $t) (i32.const 8)))
    (i32.store offset=4 (local.get $t) (local.get $from))
    (block $out
      (loop $record
        (br_if $out (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $c (i32.load8_u (local.get $p)))
        (br_if $out (i32.or (i32.eq (local.get $c) (i32.const 10)) (i32.eq (local.get $c) (i32.const 13))))
        (local.set $head (local.get $w))
        (local.set $w (i32.add (local.get $w) (i32.const 16)))
        (local.set $nf (i32.const 0))
        (global.set $breaks (i32.const 0))
        (loop $field
          (br_if $out (i32.gt_u (i32.add (local.get $w) (i32.const 12)) (local.get $tEnd)))
          (br_if $out (i32.ge_u (local.get $p) (local.get $end)))
          (local.set $c (i32.load8_u (local.get $p)))
          (if (i32.eq (local.get $c) (i32.const 34))
            (then
              (local.set $fs (i32.add (local.get $p) (i32.const 1)))
              (local.set $q (local.get $fs))
              (local.set $kind (i32.const 1))
              (loop $inside
                (local.set $q (call $quote (local.get $q) (local.get $end)))
                (br_if $out (i32.ge_u (i32.add (local.get $q) (i32.const 1)) (local.get $end)))
                (local.set $c (i32.load8_u offset=1 (local.get $q)))
                (if (i32.eq (local.get $c) (i32.const 34)) (then
                  (local.set $kind (i32.const 2))
                  (local.set $q (i32.add (local.get $q) (i32.const 2)))
                  (br $inside))))
              (local.set $recEnd (i32.add (local.get $q) (i32.const 1)))
              (local.set $p (local.get $q)))
            (else
              (local.set $fs (local.get $p))
              (local.set $high (i32.const 0))
              (block $stop
                (block $narrow
                ;; 16 bytes at a time: the first delimiter, CR, LF or quote, and any byte >= 0x80 before it.
                (loop $wide
                  (br_if $narrow (i32.gt_u (i32.add (local.get $p) (i32.const 16)) (local.get $end)))
                  (local.set $v (v128.load align=1 (local.get $p)))
                  (local.set $m (i8x16.bitmask (v128.or
                    (v128.or (i8x16.eq (local.get $v) (local.get $dv)) (i8x16.eq (local.get $v) (v128.const i8x16 34 34 34 34 34 34 34 34 34 34 34 34 34 34 34 34)))
                    (v128.or (i8x16.eq (local.get $v) (v128.const i8x16 10 10 10 10 10 10 10 10 10 10 10 10 10 10 10 10))
                      (i8x16.eq (local.get $v) (v128.const i8x16 13 13 13 13 13 13 13 13 13 13 13 13 13 13 13 13))))))
                  (if (i32.eqz (local.get $m)) (then
                    (local.set $high (i32.or (local.get $high) (i8x16.bitmask (local.get $v))))
                    (local.set $p (i32.add (local.get $p) (i32.const 16)))
                    (br $wide)))
                  (local.set $high (i32.or (local.get $high) (i32.and (i8x16.bitmask (local.get $v))
                    (i32.sub (i32.shl (i32.const 1) (i32.ctz (local.get $m))) (i32.const 1)))))
                  (local.set $p (i32.add (local.get $p) (i32.ctz (local.get $m))))
                  (local.set $c (i32.load8_u (local.get $p)))
                  (br $stop)))
                ;; The last 15 bytes: one at a time.
                (loop $plain
                  (br_if $out (i32.ge_u (local.get $p) (local.get $end)))
                  (local.set $c (i32.load8_u (local.get $p)))
                  (br_if $stop (i32.eq (local.get $c) (local.get $d)))
                  (br_if $stop (i32.and (i32.le_u (local.get $c) (i32.const 34))
                    (i32.or (i32.eq (local.get $c) (i32.const 10)) (i32.or (i32.eq (local.get $c) (i32.const 13)) (i32.eq (local.get $c) (i32.const 34))))))
                  (local.set $high (i32.or (local.get $high) (i32.and (local.get $c) (i32.const 0x80))))
                  (local.set $p (i32.add (local.get $p) (i32.const 1)))
                  (br $plain)))
              (br_if $out (i32.eq (local.get $c) (i32.const 34)))
              (local.set $q (local.get $p))
              (local.set $kind (select (i32.const 3) (i32.const 0) (local.get $high)))
              (local.set $recEnd (local.get $p))
              ;; $p - 1 so that the byte after the field is at offset 1, as for a quoted one.
              (local.set $p (i32.sub (local.get $p) (i32.const 1)))))
          ;; The field is [$fs, $q); the byte after it is at $p + 1.
          (i32.store (local.get $w) (i32.sub (local.get $fs) (local.get $base)))
          (i32.store offset=4 (local.get $w) (i32.sub (local.get $q) (local.get $base)))
          (i32.store offset=8 (local.get $w) (local.get $kind))
          (local.set $w (i32.add (local.get $w) (i32.const 12)))
          (local.set $nf (i32.add (local.get $nf) (i32.const 1)))
          (br_if $out (i32.ge_u (i32.add (local.get $p) (i32.const 1)) (local.get $end)))
          (local.set $c (i32.load8_u offset=1 (local.get $p)))
          (if (i32.eq (local.get $c) (local.get $d)) (then
            (local.set $p (i32.add (local.get $p) (i32.const 2)))
            (br $field)))
          (if (i32.eq (local.get $c) (i32.const 13)) (then
            ;; Only CRLF: a lone CR (or one whose LF has not arrived) is left to the caller.
            (br_if $out (i32.ge_u (i32.add (local.get $p) (i32.const 2)) (local.get $end)))
            (br_if $out (i32.ne (i32.load8_u offset=2 (local.get $p)) (i32.const 10)))
            (local.set $p (i32.add (local.get $p) (i32.const 1)))
            (local.set $c (i32.const 10))))
          (br_if $out (i32.ne (local.get $c) (i32.const 10))))
        ;; A whole record: the line break ends it.
        (local.set $p (i32.add (local.get $p) (i32.const 2)))
        (i32.store (local.get $head) (i32.sub (local.get $recEnd) (local.get $base)))
        (i32.store offset=4 (local.get $head) (i32.sub (local.get $p) (local.get $base)))
        (i32.store offset=8 (local.get $head) (global.get $breaks))
        (i32.store offset=12 (local.get $head) (local.get $nf))
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (i32.store offset=4 (local.get $t) (i32.sub (local.get $p) (local.get $base)))
        (br $record)))
    (i32.store (local.get $t) (local.get $n))
    (local.get $n))
)
