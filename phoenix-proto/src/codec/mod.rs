//! The wire codec: Phoenix Channels frames as typed values and back.
//!
//! The client side needs [`Serializer::encode`] for what it sends and
//! [`Serializer::decode`] for what it receives. The functions for the other
//! direction ([`decode_client_text`], [`encode_reply_text`],
//! [`encode_server_binary`], ...) serve test servers and round-trip tests.
//!
//! ```
//! use phoenix_proto::codec::{Serializer, ServerFrame, V2Serializer, WireRef};
//!
//! let text = r#"["1","6","room:lobby","phx_reply",{"response":{"x":1},"status":"ok"}]"#;
//! let ServerFrame::Reply(reply) = V2Serializer.decode(WireRef::Text(text))? else {
//!     unreachable!("a phx_reply decodes as a reply")
//! };
//! assert_eq!(reply.status, "ok");
//! #[derive(serde::Deserialize)]
//! struct Answer { x: u32 }
//! let answer: Answer = reply.response.deserialize()?;
//! assert_eq!(answer.x, 1);
//! # Ok::<(), phoenix_proto::codec::DecodeError>(())
//! ```

mod binary;
mod error;
mod frame;
mod json;
mod json_check;
mod raw_json;
mod serializer;
mod text;
mod v1;

pub use binary::{
    decode_client_binary, decode_server_binary, encode_client_binary, encode_server_binary,
};
pub use error::{DecodeError, EncodeError, Field};
pub use frame::{
    HEARTBEAT, Message, PHOENIX_TOPIC, PHX_CLOSE, PHX_ERROR, PHX_JOIN, PHX_LEAVE, PHX_REPLY,
    Payload, Reply, ServerFrame, WireMessage, WireRef, WireRefs,
};
pub(crate) use json::hex_digit;
pub use raw_json::RawJson;
pub use serializer::{Serializer, V1Serializer, V2Serializer};
pub use text::{decode_client_text, decode_server_text, encode_message_text, encode_reply_text};
pub use v1::{decode_client_v1, decode_server_v1, encode_client_v1, encode_server_v1};

/// Encodes any server frame in v2, choosing text or binary by payload shape
/// as Phoenix does (a binary payload makes a binary frame).
///
/// # Errors
/// [`EncodeError::FieldTooLong`] for binary frames with fields over 255 bytes.
pub fn encode_server_frame(frame: &ServerFrame<'_>) -> Result<WireMessage, EncodeError> {
    let binary = match frame {
        ServerFrame::Reply(r) => r.response.is_binary(),
        ServerFrame::Message(m) => m.payload.is_binary(),
    };
    if binary {
        return encode_server_binary(frame).map(WireMessage::Binary);
    }
    match frame {
        ServerFrame::Reply(r) => encode_reply_text(r),
        ServerFrame::Message(m) => encode_message_text(m),
    }
    .map(WireMessage::Text)
}
