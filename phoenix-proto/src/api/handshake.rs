//! The WebSocket connection, as every tungstenite-based driver opens it:
//! where to open the byte stream, the WebSocket limits, and what a failed
//! upgrade means. Blocking and async drivers share it; only the I/O
//! differs. The upgrade itself (the request and the reading of the answer)
//! is [`super::upgrade`]; [`upgrade_request`] and [`upgrade_failure`] stay
//! for drivers that run tungstenite's own client handshake instead.

use std::time::SystemTime;

use tungstenite::client::IntoClientRequest;
use tungstenite::handshake::client::Request;
use tungstenite::http::{HeaderName, HeaderValue, Uri};
use tungstenite::protocol::WebSocketConfig;

use super::elastic::WS_READ_BUFFER;
use super::options::TransportOptions;
use super::upgrade::failed;
use crate::client::{BadMessage, ConnectFailure, ConnectRequest};

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

/// The HTTP upgrade request for `request`: its URL, headers and the auth
/// token subprotocols, as an `http` request for tungstenite's client
/// handshake. The drivers here write [`Upgrade`](super::upgrade::Upgrade)'s
/// request instead, which keeps far less memory per connecting socket.
///
/// # Errors
/// The URL, a header name or value cannot go in an HTTP request.
pub fn upgrade_request(request: &ConnectRequest) -> Result<Request, ConnectFailure> {
    let mut upgrade = request
        .url
        .as_str()
        .into_client_request()
        .map_err(|_| ConnectFailure::new("the endpoint is not a valid WebSocket URL"))?;
    let headers = upgrade.headers_mut();
    for (name, value) in &request.headers {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| ConnectFailure::new(format!("invalid header name {name:?}")))?;
        let value = HeaderValue::from_str(value.expose())
            .map_err(|_| ConnectFailure::new(format!("invalid value for header {name}")))?;
        headers.append(name, value);
    }
    if !request.subprotocols.is_empty() {
        let joined: Vec<&str> = request.subprotocols.iter().map(|p| p.expose()).collect();
        let value = HeaderValue::from_str(&joined.join(", "))
            .map_err(|_| ConnectFailure::new("the auth token cannot go in a header"))?;
        headers.insert("sec-websocket-protocol", value);
    }
    Ok(upgrade)
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

/// What a failed tungstenite handshake means to the core. An HTTP answer
/// hands the core its status and raw `Retry-After` and `Date` headers,
/// which it parses (`now` is the wall clock, for a `Retry-After` date
/// without a `Date`). [`Upgrade::filled`](super::upgrade::Upgrade::filled)
/// tells a refusal the same way.
pub fn upgrade_failure(error: tungstenite::Error, now: SystemTime) -> ConnectFailure {
    match error {
        tungstenite::Error::Http(response) => {
            let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok());
            ConnectFailure::http(
                response.status().as_u16(),
                header("retry-after"),
                header("date"),
                now,
            )
        }
        other => failed(other),
    }
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
