//! A check that text is exactly one JSON value (RFC 8259), done by hand
//! for the frames the socket decodes most: the payloads of replies and
//! server pushes.
//!
//! serde_json checks a payload kept as raw text through its general
//! deserializer (`ignore_value`); that was about 480 instructions for the
//! small reply `{"body":"hello"}` (callgrind, BENCHMARKS.md item 22). This
//! is the same grammar as a loop over bytes, with no recursion (nesting is
//! a bit per level) and strings scanned eight bytes at a time.
//!
//! It accepts exactly what serde_json accepts as a `RawValue`: the same
//! number syntax (no leading zeros, a digit after `.` and after an
//! exponent), the same escapes (`\u` needs four hex digits; unpaired
//! surrogates pass, as serde_json passes them when it only checks), no
//! control characters in strings, any depth. Callers that get `None` still
//! ask serde_json (for the error's position, and so that a mistake here can
//! only cost time, never refuse valid JSON); the fuzz target `decode_text`
//! and the tests below compare the two on arbitrary input.

use std::ops::Range;

/// The byte range of the one JSON value in `text`, without the whitespace
/// around it; `None` when `text` is not exactly one JSON value.
pub(crate) fn value_extent(text: &str) -> Option<Range<usize>> {
    let bytes = text.as_bytes();
    let start = skip_ws(bytes, 0);
    let end = skip_value(bytes, start)?;
    (skip_ws(bytes, end) == bytes.len()).then_some(start..end)
}

/// The first byte at or after `at` that is not JSON whitespace.
#[inline]
pub(crate) fn skip_ws(bytes: &[u8], mut at: usize) -> usize {
    while let Some(b' ' | b'\n' | b'\r' | b'\t') = bytes.get(at) {
        at += 1;
    }
    at
}

/// Open arrays and objects, a bit per level (1 for an object); levels past
/// 64 spill into a vector, which stays unallocated for ordinary payloads.
struct Nesting {
    bits: u64,
    depth: usize,
    spill: Vec<u64>,
}

impl Nesting {
    fn push(&mut self, object: bool) {
        if self.depth > 0 && self.depth % 64 == 0 {
            self.spill.push(self.bits);
            self.bits = 0;
        }
        self.bits = (self.bits << 1) | u64::from(object);
        self.depth += 1;
    }

    fn pop(&mut self) {
        self.bits >>= 1;
        self.depth -= 1;
        if self.depth > 0 && self.depth % 64 == 0 {
            self.bits = self.spill.pop().unwrap_or(0);
        }
    }

    /// The innermost open level: `Some(true)` for an object.
    fn top(&self) -> Option<bool> {
        (self.depth > 0).then_some(self.bits & 1 == 1)
    }
}

/// Skips the value that starts at `at` (after any whitespace) and returns
/// where it ends.
fn skip_value(bytes: &[u8], mut at: usize) -> Option<usize> {
    let mut nesting = Nesting {
        bits: 0,
        depth: 0,
        spill: Vec::new(),
    };
    loop {
        // A value is expected at `at`.
        at = skip_ws(bytes, at);
        match *bytes.get(at)? {
            open @ (b'{' | b'[') => {
                let close = if open == b'{' { b'}' } else { b']' };
                at = skip_ws(bytes, at + 1);
                if bytes.get(at) == Some(&close) {
                    at += 1;
                } else {
                    nesting.push(open == b'{');
                    if open == b'{' {
                        at = skip_key(bytes, at)?;
                    }
                    continue;
                }
            }
            b'"' => at = skip_string(bytes, at + 1)?,
            b't' => at = skip_literal(bytes, at, b"true")?,
            b'f' => at = skip_literal(bytes, at, b"false")?,
            b'n' => at = skip_literal(bytes, at, b"null")?,
            b'-' | b'0'..=b'9' => at = skip_number(bytes, at)?,
            _ => return None,
        }
        // After a value: close what it ends, or expect the next element.
        loop {
            let Some(object) = nesting.top() else {
                return Some(at);
            };
            at = skip_ws(bytes, at);
            match (*bytes.get(at)?, object) {
                (b',', true) => {
                    at = skip_key(bytes, skip_ws(bytes, at + 1))?;
                    break;
                }
                (b',', false) => {
                    at += 1;
                    break;
                }
                (b'}', true) | (b']', false) => {
                    at += 1;
                    nesting.pop();
                }
                _ => return None,
            }
        }
    }
}

/// An object's key and its colon, starting at the key's quote.
fn skip_key(bytes: &[u8], at: usize) -> Option<usize> {
    if bytes.get(at) != Some(&b'"') {
        return None;
    }
    let at = skip_ws(bytes, skip_string(bytes, at + 1)?);
    (bytes.get(at) == Some(&b':')).then_some(at + 1)
}

fn skip_literal(bytes: &[u8], at: usize, literal: &[u8]) -> Option<usize> {
    let end = at + literal.len();
    (bytes.get(at..end)? == literal).then_some(end)
}

fn skip_digits(bytes: &[u8], mut at: usize) -> usize {
    while let Some(b'0'..=b'9') = bytes.get(at) {
        at += 1;
    }
    at
}

/// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`
fn skip_number(bytes: &[u8], mut at: usize) -> Option<usize> {
    if bytes.get(at) == Some(&b'-') {
        at += 1;
    }
    match bytes.get(at)? {
        b'0' => at += 1,
        b'1'..=b'9' => at = skip_digits(bytes, at + 1),
        _ => return None,
    }
    if bytes.get(at) == Some(&b'.') {
        let digits = skip_digits(bytes, at + 1);
        if digits == at + 1 {
            return None;
        }
        at = digits;
    }
    if let Some(b'e' | b'E') = bytes.get(at) {
        at += 1;
        if let Some(b'+' | b'-') = bytes.get(at) {
            at += 1;
        }
        let digits = skip_digits(bytes, at);
        if digits == at {
            return None;
        }
        at = digits;
    }
    Some(at)
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The bytes of `word` that are a quote, a backslash or a control
/// character, as their high bits (the classic "has a zero byte" and "has a
/// byte less than n" tests). A borrow can only mark bytes above a marked
/// one, so the lowest mark is always exact.
#[inline]
fn specials(word: u64) -> u64 {
    let quote = word ^ (ONES * u64::from(b'"'));
    let backslash = word ^ (ONES * u64::from(b'\\'));
    let zero_quote = quote.wrapping_sub(ONES) & !quote;
    let zero_backslash = backslash.wrapping_sub(ONES) & !backslash;
    let control = word.wrapping_sub(ONES * 0x20) & !word;
    (zero_quote | zero_backslash | control) & HIGHS
}

/// The first quote, backslash or control character at or after `at`,
/// eight bytes at a time (little-endian words: the lowest mark is the
/// first byte).
#[inline]
pub(crate) fn next_special(bytes: &[u8], mut at: usize) -> Option<usize> {
    while let Some(chunk) = bytes.get(at..at + 8) {
        let word = u64::from_le_bytes(<[u8; 8]>::try_from(chunk).ok()?);
        let marks = specials(word);
        if marks != 0 {
            return Some(at + (marks.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    let rest = bytes.get(at..)?;
    let found = rest
        .iter()
        .position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
    Some(at + found)
}

/// The rest of a string whose opening quote is just before `at`.
fn skip_string(bytes: &[u8], mut at: usize) -> Option<usize> {
    loop {
        at = next_special(bytes, at)?;
        match *bytes.get(at)? {
            b'"' => return Some(at + 1),
            b'\\' => match *bytes.get(at + 1)? {
                b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => at += 2,
                b'u' => {
                    let hex = bytes.get(at + 2..at + 6)?;
                    if !hex.iter().all(u8::is_ascii_hexdigit) {
                        return None;
                    }
                    at += 6;
                }
                _ => return None,
            },
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::value::RawValue;

    /// What serde_json says: the raw value's text, or a refusal.
    fn serde(text: &str) -> Option<&str> {
        serde_json::from_str::<&RawValue>(text)
            .ok()
            .map(RawValue::get)
    }

    fn ours(text: &str) -> Option<&str> {
        value_extent(text).and_then(|range| text.get(range))
    }

    #[test]
    fn agrees_with_serde_json_on_valid_json() {
        for text in [
            "{}",
            "[]",
            " { } ",
            "\t[ ]\n",
            r#"{"body":"hello"}"#,
            r#"{"a":[1,2,{"b":null}],"c":true,"d":false,"e":-0.5e+10}"#,
            r#""plain""#,
            r#""esc \" \\ \/ \b \f \n \r \t \u00e9 \uD800""#,
            r#""long string that spans several eight-byte words, with an escape \n at the end""#,
            "0",
            "-0",
            "12",
            "1.5",
            "1e5",
            "1E-5",
            "-12.25e+3",
            "1e400",
            "true",
            "false",
            "null",
            "[[[[[[[[[[]]]]]]]]]]",
            r#"{"k" : [ 1 , { "x" : "y" } ] , "z" : { } }"#,
            "\"caf\u{e9} \u{1F600}\"",
            "[\"\u{7f}\"]",
        ] {
            assert_eq!(ours(text), serde(text), "{text:?}");
            assert!(ours(text).is_some(), "{text:?}");
        }
    }

    #[test]
    fn agrees_with_serde_json_on_invalid_json() {
        for text in [
            "",
            " ",
            "{",
            "}",
            "[",
            "[1,]",
            "[,1]",
            "{,}",
            r#"{"a":1,}"#,
            r#"{"a"}"#,
            r#"{"a" 1}"#,
            r#"{a:1}"#,
            r#"{1:1}"#,
            "[1 2]",
            "01",
            "-",
            "-a",
            "1.",
            "1.e5",
            ".5",
            "1e",
            "1e+",
            "+1",
            "tru",
            "truee",
            "nul",
            "NaN",
            "Infinity",
            r#""unterminated"#,
            r#""bad \x escape""#,
            r#""bad \u12 escape""#,
            r#""bad \u12G4 escape""#,
            "\"raw \u{1} control\"",
            "\"tab\tinside\"",
            "{} {}",
            "1 2",
            "[1]]",
            "[}",
            "{]",
            r#"{"a":[}"#,
            "'single'",
        ] {
            assert_eq!(ours(text), None, "{text:?}");
            assert_eq!(serde(text), None, "serde_json accepted {text:?}");
        }
    }

    #[test]
    fn any_depth_like_serde_json() {
        for depth in [1, 63, 64, 65, 127, 128, 129, 300] {
            let text = format!("{}1{}", "[{\"k\":".repeat(depth), "}]".repeat(depth));
            assert_eq!(ours(&text), serde(&text), "depth {depth}");
            assert!(ours(&text).is_some(), "depth {depth}");
            let broken = format!("{}1{}", "[{\"k\":".repeat(depth), "]}".repeat(depth));
            assert_eq!(ours(&broken), None, "depth {depth}");
        }
    }

    #[test]
    fn specials_are_found_at_every_offset_of_a_word() {
        for offset in 0..20 {
            for special in ["\"", "\\n", "\u{1f}"] {
                let text = format!("\"{}{special}tail\"", "x".repeat(offset));
                assert_eq!(ours(&text), serde(&text), "{text:?}");
            }
        }
    }

    #[test]
    fn bytes_of_every_value_in_strings() {
        for b in 0u8..=127 {
            let text = format!("[\"a{}b\"]", char::from(b));
            assert_eq!(ours(&text), serde(&text), "byte {b}");
        }
    }

    proptest::proptest! {
        /// Text made of JSON's own characters, in any order: mostly
        /// invalid, often nearly valid, sometimes valid.
        #[test]
        fn agrees_with_serde_json_on_json_shaped_noise(
            text in "[ \\[\\]{}:,\"\\\\/0-9.eE+\\-tfnrulasbu\\x00\\x1fé]{0,40}"
        ) {
            proptest::prop_assert_eq!(ours(&text), serde(&text));
        }

        /// Valid values, then one byte changed, removed or added.
        #[test]
        fn agrees_with_serde_json_on_mutated_values(
            seed in proptest::collection::vec(0u8..12, 1..24),
            at in 0usize..64,
            byte in proptest::sample::select(b" [](){}:,\"\\0159.eE+-tfnx\x01".to_vec()),
            how in 0u8..3,
        ) {
            let valid = value_from(&seed);
            proptest::prop_assert!(ours(&valid).is_some(), "{}", valid);
            proptest::prop_assert_eq!(ours(&valid), serde(&valid));
            let mut bytes = valid.clone().into_bytes();
            let at = at % (bytes.len() + 1);
            match how {
                0 if at < bytes.len() => bytes[at] = byte,
                1 if at < bytes.len() => { bytes.remove(at); }
                _ => bytes.insert(at, byte),
            }
            if let Ok(text) = String::from_utf8(bytes) {
                proptest::prop_assert_eq!(ours(&text), serde(&text));
            }
        }
    }

    /// A JSON value built from `seed`, nested and with every kind of token.
    fn value_from(seed: &[u8]) -> String {
        let mut out = String::new();
        let mut open = Vec::new();
        let mut need_value = true;
        for &op in seed {
            if need_value {
                match op {
                    0 => {
                        out.push('[');
                        open.push(']');
                        continue;
                    }
                    1 => {
                        out.push_str("{\"k\\n\":");
                        open.push('}');
                        continue;
                    }
                    2 => out.push_str("\"s\\u00e9\""),
                    3 => out.push_str("-1.5e3"),
                    4 => out.push('0'),
                    5 => out.push_str("true"),
                    6 => out.push_str("null"),
                    _ => out.push_str("\"a longer string of words\""),
                }
                need_value = false;
            } else if op % 3 == 0 && !open.is_empty() {
                out.push(',');
                if open.last() == Some(&'}') {
                    out.push_str("\"x\":");
                }
                need_value = true;
            } else if let Some(close) = open.pop() {
                out.push(close);
            }
        }
        if need_value {
            out.push_str("false");
        }
        while let Some(close) = open.pop() {
            out.push(close);
        }
        out
    }
}
