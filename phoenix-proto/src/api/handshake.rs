//! The WebSocket connection, as every tungstenite-based driver opens it:
//! where to open the byte stream, the WebSocket limits, and what a failed
//! upgrade means. Blocking and async drivers share it; only the I/O
//! differs. The upgrade itself (the request and the reading of the answer)
//! is [`super::upgrade`].

use tungstenite::http::Uri;
use tungstenite::protocol::WebSocketConfig;

use super::elastic::WS_READ_BUFFER;
use super::options::TransportOptions;
use crate::client::{BadMessage, ConnectFailure};

/// Where a connection goes, for a custom connector.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectTarget {
    /// Host name or address from the URL (IPv6 without brackets).
    pub host: String,
    /// Port from the URL (default 80 or 443).
    pub port: u16,
    /// Whether TLS will run on top of the stream (`wss:`).
    pub tls: bool,
}

impl ConnectTarget {
    /// Where the connection for `url` goes.
    ///
    /// # Errors
    /// The URL is invalid, has no host, or its scheme is not `ws`/`wss`.
    pub fn for_url(url: &str) -> Result<Self, ConnectFailure> {
        let uri: Uri = url
            .parse()
            .map_err(|_| ConnectFailure::new("the endpoint is not a valid URL"))?;
        let tls = match uri.scheme_str() {
            Some("wss") => true,
            Some("ws") => false,
            _ => return Err(ConnectFailure::new("the URL scheme must be ws or wss")),
        };
        let host = uri
            .host()
            .ok_or_else(|| ConnectFailure::new("the URL has no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
        Ok(ConnectTarget { host, port, tls })
    }
}

/// The WebSocket limits from the transport options.
///
/// tungstenite's own buffers stay small: it reads [`WS_READ_BUFFER`] bytes
/// at a time and writes each frame through at once, into the
/// [`ElasticIo`](super::ElasticIo) under it, which holds the buffers of
/// `options.read_buffer_size` only while data flows.
pub fn websocket_config(options: &TransportOptions) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(WS_READ_BUFFER)
        .write_buffer_size(0)
        .max_message_size(options.max_message_size)
        .max_frame_size(options.max_message_size)
}

/// Whether a read error means the server sent a bad message (the socket
/// then closes with the matching code) rather than a broken connection.
pub(crate) fn bad_message(error: &tungstenite::Error) -> Option<BadMessage> {
    match error {
        tungstenite::Error::Capacity(_) => Some(BadMessage::TooLarge),
        tungstenite::Error::Utf8(_) => Some(BadMessage::InvalidUtf8),
        tungstenite::Error::Protocol(violation) => {
            Some(BadMessage::Protocol(violation.to_string()))
        }
        _ => None,
    }
}

/// Whether a read error only means the TCP connection ended without a
/// close frame (reported to the core as `handle_closed(now, None, ..)`,
/// 1006) rather than a failure.
pub(crate) fn ended(error: &tungstenite::Error) -> bool {
    matches!(
        error,
        tungstenite::Error::ConnectionClosed
            | tungstenite::Error::AlreadyClosed
            | tungstenite::Error::Protocol(
                tungstenite::error::ProtocolError::ResetWithoutClosingHandshake
            )
    )
}
