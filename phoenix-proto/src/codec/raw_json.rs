//! [`RawJson`]: one JSON value kept as the text it arrived in.

use std::borrow::Cow;
use std::fmt;

use serde_json::value::RawValue;

use super::error::DecodeError;
use super::json_check::value_extent;

/// One valid JSON value, as text: what a JSON [`Payload`](super::Payload)
/// holds.
///
/// Every `RawJson` has been checked (or was written by serde_json), so its
/// text is always exactly one JSON value, without surrounding whitespace.
/// Decoding borrows it from the frame; [`into_owned`](Self::into_owned)
/// copies it. Turn it into your own types with `serde_json::from_str(raw.get())`
/// (or [`Payload::deserialize`](super::Payload::deserialize)), or into a
/// `serde_json::value::RawValue` with [`to_raw_value`](Self::to_raw_value).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RawJson<'a>(Cow<'a, str>);

impl<'a> RawJson<'a> {
    /// Checks that `text` is exactly one JSON value (whitespace around it
    /// is allowed and dropped).
    ///
    /// # Errors
    /// [`DecodeError::Json`] with serde_json's description of the problem
    /// and its position.
    pub fn parse(text: &'a str) -> Result<Self, DecodeError> {
        match value_extent(text).and_then(|range| text.get(range)) {
            Some(value) => Ok(RawJson(Cow::Borrowed(value))),
            None => checked_by_serde(text).map(|value| RawJson(Cow::Borrowed(value))),
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
            return Ok(RawJson(Cow::Owned(text)));
        }
        Ok(RawJson(Cow::Owned(
            text.get(range).unwrap_or_default().to_owned(),
        )))
    }

    /// Text known to be one JSON value without surrounding whitespace
    /// (serde_json's output, or a value already checked).
    pub(crate) fn trusted(text: Cow<'a, str>) -> Self {
        debug_assert!(
            value_extent(&text).is_some_and(|r| r.start == 0 && r.end == text.len()),
            "not one JSON value: {text:?}"
        );
        RawJson(text)
    }

    /// The same value, borrowing this one's text (no copy, no check).
    pub(crate) fn borrowed(&self) -> RawJson<'_> {
        RawJson(Cow::Borrowed(&self.0))
    }

    /// The JSON text.
    pub fn get(&self) -> &str {
        &self.0
    }

    /// Copies borrowed text so the value outlives its input.
    pub fn into_owned(self) -> RawJson<'static> {
        RawJson(Cow::Owned(self.0.into_owned()))
    }

    /// The same value as a serde_json `RawValue` (a copy), for code written
    /// against serde_json's type.
    pub fn to_raw_value(&self) -> Box<RawValue> {
        // The text is one JSON value, so serde_json accepts it; `null` is
        // only the fallback that keeps this total.
        RawValue::from_string(self.0.clone().into_owned())
            .unwrap_or_else(|_| RawValue::NULL.to_owned())
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
        RawJson(Cow::Borrowed(raw.get()))
    }
}

impl From<Box<RawValue>> for RawJson<'static> {
    fn from(raw: Box<RawValue>) -> Self {
        let text: Box<str> = raw.into();
        RawJson(Cow::Owned(text.into_string()))
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
