//! [`RawJson`]: one JSON value kept as the text it arrived in.

use std::borrow::Cow;
use std::fmt;
use std::hash::{Hash, Hasher};

use compact_str::CompactString;

use serde_json::value::RawValue;

use super::error::DecodeError;
use super::json_check::value_extent;

/// One valid JSON value, as text: what a JSON [`Payload`](super::Payload)
/// holds.
///
/// Every `RawJson` has been checked (or was written by serde_json), so its
/// text is always exactly one JSON value, without surrounding whitespace.
/// Decoding borrows it from the frame; [`into_owned`](Self::into_owned)
/// copies it (short values, up to 24 bytes, into the value itself, with no
/// allocation). Turn it into your own types with `serde_json::from_str(raw.get())`
/// (or [`Payload::deserialize`](super::Payload::deserialize)), or into a
/// `serde_json::value::RawValue` with [`to_raw_value`](Self::to_raw_value).
/// Two values are equal when their texts are.
#[derive(Clone)]
pub struct RawJson<'a>(Text<'a>);

/// Where a [`RawJson`]'s text is.
#[derive(Clone)]
enum Text<'a> {
    Borrowed(&'a str),
    /// Owned text, inline up to 24 bytes: an allocation and its `free`
    /// for a small payload such as `{"body":"hello"}` were about 200
    /// instructions of each message received (BENCHMARKS.md item 33).
    Owned(CompactString),
}

impl<'a> From<Cow<'a, str>> for Text<'a> {
    fn from(text: Cow<'a, str>) -> Self {
        match text {
            Cow::Borrowed(text) => Text::Borrowed(text),
            Cow::Owned(text) => Text::Owned(CompactString::from(text)),
        }
    }
}

impl<'a> RawJson<'a> {
    /// Checks that `text` is exactly one JSON value (whitespace around it
    /// is allowed and dropped).
    ///
    /// # Errors
    /// [`DecodeError::Json`] with serde_json's description of the problem
    /// and its position.
    pub fn parse(text: &'a str) -> Result<Self, DecodeError> {
        match value_extent(text).and_then(|range| text.get(range)) {
            Some(value) => Ok(RawJson(Text::Borrowed(value))),
            None => checked_by_serde(text).map(|value| RawJson(Text::Borrowed(value))),
        }
    }

    /// [`parse`](Self::parse) for text you own; no copy unless there was
    /// whitespace around the value.
    ///
    /// # Errors
    /// As [`parse`](Self::parse).
    pub fn from_string(text: String) -> Result<RawJson<'static>, DecodeError> {
        let range = match value_extent(&text) {
            Some(range) => range,
            None => {
                let value = checked_by_serde(&text)?;
                let start = value.as_ptr() as usize - text.as_ptr() as usize;
                start..start + value.len()
            }
        };
        if range.start == 0 && range.end == text.len() {
            return Ok(RawJson(Text::Owned(CompactString::from(text))));
        }
        Ok(RawJson(Text::Owned(CompactString::new(
            text.get(range).unwrap_or_default(),
        ))))
    }

    /// Text known to be one JSON value without surrounding whitespace
    /// (serde_json's output, or a value already checked).
    pub(crate) fn trusted(text: Cow<'a, str>) -> Self {
        debug_assert!(
            value_extent(&text).is_some_and(|r| r.start == 0 && r.end == text.len()),
            "not one JSON value: {text:?}"
        );
        RawJson(Text::from(text))
    }

    /// The same value, borrowing this one's text (no copy, no check).
    pub(crate) fn borrowed(&self) -> RawJson<'_> {
        RawJson(Text::Borrowed(self.get()))
    }

    /// The JSON text.
    #[inline]
    pub fn get(&self) -> &str {
        match &self.0 {
            Text::Borrowed(text) => text,
            Text::Owned(text) => text.as_str(),
        }
    }

    /// Copies borrowed text so the value outlives its input.
    pub fn into_owned(self) -> RawJson<'static> {
        RawJson(match self.0 {
            Text::Borrowed(text) => Text::Owned(CompactString::new(text)),
            Text::Owned(text) => Text::Owned(text),
        })
    }

    /// The same value as a serde_json `RawValue` (a copy), for code written
    /// against serde_json's type.
    pub fn to_raw_value(&self) -> Box<RawValue> {
        // The text is one JSON value, so serde_json accepts it; `null` is
        // only the fallback that keeps this total.
        RawValue::from_string(self.get().to_owned()).unwrap_or_else(|_| RawValue::NULL.to_owned())
    }
}

/// serde_json's verdict, for what the check by hand refused: the error
/// with its position, or (should the two ever disagree) the value serde_json
/// found, so that valid JSON is never refused.
fn checked_by_serde(text: &str) -> Result<&str, DecodeError> {
    serde_json::from_str::<&RawValue>(text)
        .map(RawValue::get)
        .map_err(|e| DecodeError::from_json(&e))
}

impl<'a> From<&'a RawValue> for RawJson<'a> {
    fn from(raw: &'a RawValue) -> Self {
        RawJson(Text::Borrowed(raw.get()))
    }
}

impl From<Box<RawValue>> for RawJson<'static> {
    fn from(raw: Box<RawValue>) -> Self {
        let text: Box<str> = raw.into();
        RawJson(Text::Owned(CompactString::from(text.into_string())))
    }
}

impl PartialEq for RawJson<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.get() == other.get()
    }
}

impl Eq for RawJson<'_> {}

impl Hash for RawJson<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.get().hash(state);
    }
}

impl fmt::Debug for RawJson<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RawJson").field(&self.get()).finish()
    }
}

impl fmt::Display for RawJson<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.get())
    }
}

impl AsRef<str> for RawJson<'_> {
    fn as_ref(&self) -> &str {
        self.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_trims_and_refuses_like_serde_json() {
        assert_eq!(RawJson::parse(" {\"a\":1} ").unwrap().get(), "{\"a\":1}");
        assert!(matches!(
            RawJson::parse("{\"a\":}"),
            Err(DecodeError::Json { .. })
        ));
        let owned = RawJson::from_string("[1]".to_owned()).unwrap();
        assert_eq!(owned.get(), "[1]");
        let trimmed = RawJson::from_string("\n[1] ".to_owned()).unwrap();
        assert_eq!(trimmed.get(), "[1]");
        assert!(RawJson::from_string("[1] x".to_owned()).is_err());
    }

    #[test]
    fn owned_copies_are_inline_when_short_and_equal_whatever_their_form() {
        use std::collections::hash_map::DefaultHasher;

        fn hash(value: &RawJson<'_>) -> u64 {
            let mut hasher = DefaultHasher::new();
            value.hash(&mut hasher);
            hasher.finish()
        }
        let short = "{\"body\":\"hello\"}";
        let at_limit = "\"1234567890123456789012\"";
        let over = "\"12345678901234567890123\"";
        assert_eq!(at_limit.len(), 24);
        for (text, inline) in [
            (short, true),
            (at_limit, true),
            (over, false),
            ("\"é\"", true),
        ] {
            let borrowed = RawJson::parse(text).unwrap();
            let owned = borrowed.clone().into_owned();
            assert_eq!(owned.get(), text);
            assert!(
                matches!(&owned.0, Text::Owned(t) if t.is_heap_allocated() != inline),
                "{text}"
            );
            assert_eq!(owned, borrowed);
            assert_eq!(hash(&owned), hash(&borrowed));
            let from_string = RawJson::from_string(text.to_owned()).unwrap();
            assert_eq!(from_string, owned);
            assert_eq!(hash(&from_string), hash(&owned));
            assert_eq!(owned.clone().into_owned(), owned);
            assert_eq!(owned.borrowed().get(), text);
        }
        assert_ne!(
            RawJson::parse("[1]").unwrap().into_owned(),
            RawJson::parse("[2]").unwrap()
        );
        // No larger than the `Cow<str>` it replaced.
        assert_eq!(
            std::mem::size_of::<RawJson<'static>>(),
            std::mem::size_of::<String>()
        );
    }

    #[test]
    fn converts_to_and_from_raw_values() {
        let raw = RawValue::from_string("{\"x\":[1,2]}".to_owned()).unwrap();
        let json = RawJson::from(&*raw);
        assert_eq!(json.get(), raw.get());
        assert_eq!(json.to_raw_value().get(), raw.get());
        assert_eq!(format!("{json}"), "{\"x\":[1,2]}");
        assert_eq!(format!("{json:?}"), "RawJson(\"{\\\"x\\\":[1,2]}\")");
        assert_eq!(RawJson::from(raw).get(), "{\"x\":[1,2]}");
    }
}
