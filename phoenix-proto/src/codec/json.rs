//! Small JSON helpers shared by the text formats: borrowing string fields,
//! reading refs, escaping strings on output.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde_json::value::RawValue;

use super::error::{DecodeError, Field};

/// A JSON string that borrows from the input when it has no escapes.
/// (`Cow<str>`'s own `Deserialize` always allocates.)
pub(crate) struct CowStr<'a>(pub(crate) Cow<'a, str>);

impl<'de> de::Deserialize<'de> for CowStr<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CowStr<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(V)
    }
}

/// Names the kind of a JSON value from its first character.
pub(crate) fn json_kind(text: &str) -> &'static str {
    match text.trim_start().as_bytes().first() {
        Some(b'[') => "an array",
        Some(b'{') => "an object",
        Some(b'"') => "a string",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        Some(b'-' | b'0'..=b'9') => "a number",
        Some(_) => "not JSON",
        None => "nothing",
    }
}

/// Reads a string field.
pub(crate) fn string_field<'a>(
    raw: &'a RawValue,
    field: Field,
) -> Result<Cow<'a, str>, DecodeError> {
    let text = raw.get();
    // Fast path: `raw` is already validated JSON, so a string without
    // escapes is exactly the text between its quotes (raw control
    // characters cannot occur in valid JSON strings).
    if let Some(inner) = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .filter(|inner| !inner.contains('\\'))
    {
        return Ok(Cow::Borrowed(inner));
    }
    serde_json::from_str::<CowStr<'a>>(text)
        .map(|s| s.0)
        .map_err(|_| DecodeError::InvalidField {
            field,
            expected: "a string",
        })
}

/// Reads a ref field: `null`, a string, or an integer (real servers echo
/// integer refs back as integers; we keep their decimal text).
pub(crate) fn ref_field<'a>(
    raw: &'a RawValue,
    field: Field,
) -> Result<Option<Cow<'a, str>>, DecodeError> {
    let text = raw.get();
    match text.as_bytes().first() {
        Some(b'n') => Ok(None),
        Some(b'"') => string_field(raw, field).map(Some),
        Some(b'-' | b'0'..=b'9') if is_integer(text) => Ok(Some(Cow::Borrowed(text))),
        _ => Err(DecodeError::InvalidField {
            field,
            expected: "null, a string or an integer",
        }),
    }
}

fn is_integer(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// Whether `s` goes into a JSON string as it is (no quote, backslash or
/// control character). Branch-free, so the compiler can check several
/// bytes at once.
pub(crate) fn is_plain(s: &str) -> bool {
    s.bytes().fold(true, |plain, b| {
        plain & (b >= 0x20) & (b != b'"') & (b != b'\\')
    })
}

/// Appends `s` as a JSON string literal, escaping exactly what
/// `JSON.stringify` escapes, so frames match the official client byte for byte.
/// Inlined: topics, events and refs almost never need escaping, and the
/// plain case is one scan and one copy.
#[inline]
pub(crate) fn push_json_str(out: &mut String, s: &str) {
    if is_plain(s) {
        out.push('"');
        out.push_str(s);
        out.push('"');
    } else {
        push_escaped(out, s);
    }
}

/// [`push_json_str`] for a string that needs escapes; kept out of line so
/// the plain case stays small where it is inlined.
#[cold]
fn push_escaped(out: &mut String, s: &str) {
    out.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let escape: Option<&str> = match b {
            b'"' => Some("\\\""),
            b'\\' => Some("\\\\"),
            b'\n' => Some("\\n"),
            b'\r' => Some("\\r"),
            b'\t' => Some("\\t"),
            0x08 => Some("\\b"),
            0x0c => Some("\\f"),
            0..=0x1f => None,
            _ => continue,
        };
        out.push_str(s.get(start..i).unwrap_or_default());
        match escape {
            Some(e) => out.push_str(e),
            None => {
                out.push_str("\\u00");
                out.push(hex_digit(b >> 4));
                out.push(hex_digit(b & 0xf));
            }
        }
        start = i + 1;
    }
    out.push_str(s.get(start..).unwrap_or_default());
    out.push('"');
}

/// How many decimal digits `n` has.
pub(crate) fn decimal_len(n: u64) -> usize {
    // ilog10 of a u64 is at most 19, so the cast keeps the value.
    n.checked_ilog10().map_or(1, |log| log as usize + 1)
}

/// Appends a frame's two refs, each in decimal between quotes and the
/// join ref `null` when there is none: `"1","12"`. Refs go into every
/// frame: `itoa` writes them with no `fmt` call and no text to check
/// (writing the digits one `char` at a time, or checking them as UTF-8
/// once, cost about 300 instructions a frame; callgrind, BENCHMARKS.md
/// item 28).
pub(crate) fn push_quoted_refs(out: &mut String, join_ref: Option<u64>, msg_ref: u64) {
    let mut digits = itoa::Buffer::new();
    match join_ref {
        Some(n) => {
            out.push('"');
            out.push_str(digits.format(n));
            out.push_str("\",\"");
        }
        None => out.push_str("null,\""),
    }
    out.push_str(digits.format(msg_ref));
    out.push('"');
}

/// A lowercase hex digit for a nibble.
pub(crate) fn hex_digit(nibble: u8) -> char {
    char::from_digit(u32::from(nibble & 0xf), 16).unwrap_or('0')
}

/// Appends an optional string as a JSON string or `null`.
pub(crate) fn push_json_opt(out: &mut String, s: Option<&str>) {
    match s {
        Some(s) => push_json_str(out, s),
        None => out.push_str("null"),
    }
}

/// Reads the named members of a JSON object as raw values, keeping `null`
/// apart from "absent" (serde's `Option` cannot). Unknown members are skipped.
pub(crate) fn object_members<'a, const N: usize>(
    text: &'a str,
    names: [&'static str; N],
) -> Result<[Option<&'a RawValue>; N], serde_json::Error> {
    struct Seed<const N: usize>([&'static str; N]);
    impl<'de, const N: usize> de::DeserializeSeed<'de> for Seed<N> {
        type Value = [Option<&'de RawValue>; N];
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_map(self)
        }
    }
    impl<'de, const N: usize> Visitor<'de> for Seed<N> {
        type Value = [Option<&'de RawValue>; N];
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = [None; N];
            while let Some(key) = map.next_key::<CowStr<'de>>()? {
                match self.0.iter().position(|n| *n == key.0) {
                    Some(i) => {
                        let raw = map.next_value::<&'de RawValue>()?;
                        if let Some(slot) = out.get_mut(i) {
                            *slot = Some(raw);
                        }
                    }
                    None => {
                        map.next_value::<de::IgnoredAny>()?;
                    }
                }
            }
            Ok(out)
        }
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let out = de::DeserializeSeed::deserialize(Seed(names), &mut de)?;
    de.end()?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escaped(s: &str) -> String {
        let mut out = String::new();
        push_json_str(&mut out, s);
        out
    }

    #[test]
    fn numbers_are_written_in_decimal() {
        for n in [0, 1, 9, 10, 99, 100, 12_345, u64::MAX - 1, u64::MAX] {
            let mut out = String::from("x");
            push_quoted_refs(&mut out, Some(n), u64::MAX - n);
            assert_eq!(out, format!("x\"{n}\",\"{}\"", u64::MAX - n));
            out.clear();
            push_quoted_refs(&mut out, None, n);
            assert_eq!(out, format!("null,\"{n}\""));
            assert_eq!(decimal_len(n), n.to_string().len());
        }
    }

    #[test]
    fn escapes_like_serde_json() {
        for s in [
            "plain",
            "quo\"te",
            "back\\slash",
            "nl\ncr\rtab\t",
            "\u{1}\u{1f}\u{8}\u{c}",
            "üñí©ødé ✓",
            "/slash",
            "",
        ] {
            assert_eq!(escaped(s), serde_json::to_string(s).unwrap(), "{s:?}");
        }
    }

    #[test]
    fn refs_accept_null_strings_and_integers() {
        let raw = |t: &str| RawValue::from_string(t.to_owned()).unwrap();
        assert_eq!(ref_field(&raw("null"), Field::Ref).unwrap(), None);
        assert_eq!(
            ref_field(&raw("\"7\""), Field::Ref).unwrap().as_deref(),
            Some("7")
        );
        assert_eq!(
            ref_field(&raw("12"), Field::Ref).unwrap().as_deref(),
            Some("12")
        );
        assert!(ref_field(&raw("1.5"), Field::Ref).is_err());
        assert!(ref_field(&raw("{}"), Field::Ref).is_err());
        assert!(ref_field(&raw("true"), Field::Ref).is_err());
    }
}
