//! Typed errors of the wire codec.

use std::fmt;

/// The field of a frame an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Field {
    /// The join reference (element 0 of a v2 array).
    JoinRef,
    /// The message reference (element 1 of a v2 array).
    Ref,
    /// The topic (element 2 of a v2 array).
    Topic,
    /// The event (element 3 of a v2 array).
    Event,
    /// The payload (element 4 of a v2 array).
    Payload,
    /// The `status` of a reply.
    Status,
    /// The `response` of a reply.
    Response,
}

impl Field {
    /// The field's name as the protocol documentation spells it.
    pub fn name(self) -> &'static str {
        match self {
            Field::JoinRef => "join_ref",
            Field::Ref => "ref",
            Field::Topic => "topic",
            Field::Event => "event",
            Field::Payload => "payload",
            Field::Status => "status",
            Field::Response => "response",
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a message could not be decoded. Decoding never panics; every
/// malformed input ends here.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// The text is not valid JSON.
    Json {
        /// What the JSON parser said.
        message: String,
        /// 1-based line of the problem.
        line: usize,
        /// 1-based column of the problem.
        column: usize,
    },
    /// A v2 text frame must be a JSON array; this was something else.
    NotAnArray {
        /// The kind of JSON value found instead (`"object"`, `"string"`, ...).
        found: &'static str,
    },
    /// A v1 frame must be a JSON object; this was something else.
    NotAnObject {
        /// The kind of JSON value found instead.
        found: &'static str,
    },
    /// A v2 text frame has fewer than five elements.
    TooFewElements {
        /// How many elements it had.
        found: usize,
    },
    /// A field has the wrong JSON type (for example a topic that is a number).
    InvalidField {
        /// The field.
        field: Field,
        /// What the field must be.
        expected: &'static str,
    },
    /// A required field is absent (v1 objects, reply payloads).
    MissingField {
        /// The field.
        field: Field,
    },
    /// A binary frame was empty.
    EmptyBinary,
    /// A binary frame starts with a kind byte this direction does not use.
    UnknownBinaryKind {
        /// The kind byte.
        kind: u8,
    },
    /// A binary frame ends before its header or its header's fields do.
    TruncatedBinary {
        /// The kind byte.
        kind: u8,
        /// Bytes the header says are needed.
        needed: usize,
        /// Bytes actually present.
        available: usize,
    },
    /// A string field of a binary frame is not UTF-8.
    InvalidUtf8 {
        /// The field.
        field: Field,
    },
    /// The serializer does not accept binary messages (the v1 format).
    BinaryNotSupported,
    /// The payload is binary, but JSON was asked for.
    PayloadNotJson,
    /// The payload is JSON, but it did not deserialize into the requested type.
    Deserialize {
        /// What serde said.
        message: String,
    },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Json {
                message,
                line,
                column,
            } => write!(f, "invalid JSON at line {line} column {column}: {message}"),
            DecodeError::NotAnArray { found } => {
                write!(f, "a v2 frame must be a JSON array, found {found}")
            }
            DecodeError::NotAnObject { found } => {
                write!(f, "a v1 frame must be a JSON object, found {found}")
            }
            DecodeError::TooFewElements { found } => write!(
                f,
                "a v2 frame needs 5 elements [join_ref, ref, topic, event, payload], found {found}"
            ),
            DecodeError::InvalidField { field, expected } => {
                write!(f, "field `{field}` must be {expected}")
            }
            DecodeError::MissingField { field } => write!(f, "field `{field}` is missing"),
            DecodeError::EmptyBinary => f.write_str("empty binary frame"),
            DecodeError::UnknownBinaryKind { kind } => {
                write!(f, "unknown binary frame kind {kind}")
            }
            DecodeError::TruncatedBinary {
                kind,
                needed,
                available,
            } => write!(
                f,
                "binary frame of kind {kind} is truncated: needs {needed} bytes, has {available}"
            ),
            DecodeError::InvalidUtf8 { field } => {
                write!(f, "field `{field}` of a binary frame is not UTF-8")
            }
            DecodeError::BinaryNotSupported => {
                f.write_str("this serializer does not accept binary messages")
            }
            DecodeError::PayloadNotJson => f.write_str("the payload is binary, not JSON"),
            DecodeError::Deserialize { message } => {
                write!(f, "payload did not deserialize: {message}")
            }
        }
    }
}

impl std::error::Error for DecodeError {}

impl DecodeError {
    pub(crate) fn from_json(err: &serde_json::Error) -> Self {
        DecodeError::Json {
            message: err.to_string(),
            line: err.line(),
            column: err.column(),
        }
    }
}

/// Why a frame could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EncodeError {
    /// A field of a binary frame is longer than the 255 bytes its length byte allows.
    FieldTooLong {
        /// The field.
        field: Field,
        /// Its length in bytes.
        len: usize,
    },
    /// A binary payload was given to a format that only carries JSON (v1).
    BinaryNotSupported,
    /// A value could not be serialized to JSON.
    Json {
        /// What serde_json said.
        message: String,
    },
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::FieldTooLong { field, len } => write!(
                f,
                "field `{field}` is {len} bytes; binary frames allow at most 255"
            ),
            EncodeError::BinaryNotSupported => {
                f.write_str("this serializer cannot send binary payloads")
            }
            EncodeError::Json { message } => write!(f, "payload is not serializable: {message}"),
        }
    }
}

impl std::error::Error for EncodeError {}
