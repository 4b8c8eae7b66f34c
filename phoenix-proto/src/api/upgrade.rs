//! The WebSocket upgrade without I/O: the HTTP/1.1 `GET` with
//! `Upgrade: websocket` the core described, and the reading of the server's
//! `101 Switching Protocols` answer, fed bytes as they arrive.
//!
//! Drivers write [`Upgrade::request`], then read into
//! [`Upgrade::read_space`] and report each read with [`Upgrade::filled`]
//! until it says [`Progress::Done`]; the bytes after the response head
//! belong to the WebSocket (`WebSocket::from_partially_read`). The read
//! buffer starts at [`FIRST_READ`] bytes and grows only as the head needs,
//! up to [`MAX_RESPONSE_HEAD`]: a longer head fails the connection instead
//! of growing without bound.
//!
//! It does what tungstenite's client handshake does, with the same failure
//! messages, but keeps a few hundred bytes per connecting socket instead of
//! tungstenite's 8 KiB of read buffers.

use std::io;
use std::time::SystemTime;

use tungstenite::error::{ProtocolError, SubProtocolError};
use tungstenite::handshake::client::generate_key;
use tungstenite::handshake::derive_accept_key;
use tungstenite::http::{HeaderName, HeaderValue, StatusCode, Uri};

use super::tls::tls_failure_in;
use crate::client::{ConnectFailure, ConnectRequest};

/// The longest response head (status line and headers, with the blank line
/// that ends them) accepted, in bytes.
pub const MAX_RESPONSE_HEAD: usize = 16 * 1024;

/// The size of the read buffer at first; it doubles when a head does not
/// fit, up to [`MAX_RESPONSE_HEAD`].
pub const FIRST_READ: usize = 512;

/// The most response headers parsed (as many as tungstenite parses).
const MAX_HEADERS: usize = 124;

/// The request headers the upgrade writes itself: a user header with one
/// of these names is left out (as tungstenite's handshake did).
const OWN_HEADERS: [&str; 5] = [
    "host",
    "connection",
    "upgrade",
    "sec-websocket-version",
    "sec-websocket-key",
];

/// One WebSocket upgrade: the request to write, then the response read so
/// far.
#[derive(Debug)]
pub struct Upgrade {
    /// The request bytes (emptied by [`Upgrade::request_sent`]).
    request: Vec<u8>,
    /// The `Sec-WebSocket-Accept` value the server must answer with.
    accept: String,
    /// The `Sec-WebSocket-Protocol` value offered, if any.
    offered: Option<String>,
    /// The response bytes read so far: `buf[..filled]`.
    buf: Vec<u8>,
    filled: usize,
}

/// How the response read so far stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// The response head is not complete: read more.
    NeedMore,
    /// The server accepted the upgrade. The bytes read after the response
    /// head (often none) are the first bytes of the WebSocket.
    Done(Vec<u8>),
}

impl Upgrade {
    /// The upgrade for `request`: its URL with path and query, its extra
    /// headers and its auth token subprotocols, with a fresh random
    /// `Sec-WebSocket-Key`.
    ///
    /// # Errors
    /// The URL, a header name or value cannot go in an HTTP request.
    pub fn new(request: &ConnectRequest) -> Result<Self, ConnectFailure> {
        Self::with_key(request, generate_key())
    }

    /// [`Upgrade::new`] with the `Sec-WebSocket-Key` given (base64 of 16
    /// bytes; a fixed key is for tests).
    ///
    /// # Errors
    /// As [`Upgrade::new`].
    pub fn with_key(request: &ConnectRequest, key: String) -> Result<Self, ConnectFailure> {
        let invalid_url = || ConnectFailure::new("the endpoint is not a valid WebSocket URL");
        let uri: Uri = request.url.parse().map_err(|_| invalid_url())?;
        let default_port = match uri.scheme_str() {
            Some("ws") => 80,
            Some("wss") => 443,
            _ => return Err(ConnectFailure::new("the URL scheme must be ws or wss")),
        };
        // `host()` keeps the brackets of an IPv6 address.
        let host = uri
            .host()
            .filter(|h| !h.is_empty())
            .ok_or_else(invalid_url)?;
        let target = uri.path_and_query().map_or("/", |pq| pq.as_str());
        // `ws://host?query` has an empty path: the request line needs `/`.
        let slash = if target.starts_with('/') { "" } else { "/" };

        let mut out = Vec::with_capacity(256);
        extend(
            &mut out,
            &["GET ", slash, target, " HTTP/1.1\r\nHost: ", host],
        );
        if let Some(port) = uri.port_u16().filter(|&p| p != default_port) {
            out.extend_from_slice(format!(":{port}").as_bytes());
        }
        extend(
            &mut out,
            &[
                "\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n",
                "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ",
                &key,
                "\r\n",
            ],
        );

        let mut offered = None;
        for (name, value) in &request.headers {
            let checked = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| ConnectFailure::new(format!("invalid header name {name:?}")))?;
            HeaderValue::from_str(value.expose())
                .map_err(|_| ConnectFailure::new(format!("invalid value for header {checked}")))?;
            if OWN_HEADERS.contains(&checked.as_str()) {
                continue;
            }
            if checked == "sec-websocket-protocol" {
                // The auth token subprotocols replace a header of that name.
                if !request.subprotocols.is_empty() {
                    continue;
                }
                offered.get_or_insert_with(|| value.expose().to_owned());
            }
            extend(&mut out, &[name, ": ", value.expose(), "\r\n"]);
        }
        if !request.subprotocols.is_empty() {
            let joined: Vec<&str> = request.subprotocols.iter().map(|p| p.expose()).collect();
            let joined = joined.join(", ");
            HeaderValue::from_str(&joined)
                .map_err(|_| ConnectFailure::new("the auth token cannot go in a header"))?;
            extend(&mut out, &["Sec-WebSocket-Protocol: ", &joined, "\r\n"]);
            offered = Some(joined);
        }
        out.extend_from_slice(b"\r\n");

        Ok(Upgrade {
            request: out,
            accept: derive_accept_key(key.as_bytes()),
            offered,
            buf: Vec::new(),
            filled: 0,
        })
    }

    /// The request bytes to write (empty after [`Upgrade::request_sent`]).
    pub fn request(&self) -> &[u8] {
        &self.request
    }

    /// Says the request is written, which frees its bytes.
    pub fn request_sent(&mut self) {
        self.request = Vec::new();
    }

    /// Room to read the next response bytes into, never empty while the
    /// response is incomplete; report what was read with
    /// [`Upgrade::filled`]. The buffer grows when it is full, doubling from
    /// [`FIRST_READ`] up to [`MAX_RESPONSE_HEAD`] bytes.
    pub fn read_space(&mut self) -> &mut [u8] {
        if self.filled >= self.buf.len() {
            let grown = (self.buf.len() * 2).clamp(FIRST_READ, MAX_RESPONSE_HEAD);
            self.buf.resize(grown, 0);
        }
        self.buf.get_mut(self.filled..).unwrap_or_default()
    }

    /// Reports that `n` bytes were read into [`Upgrade::read_space`]; `0`
    /// means the connection ended. `now` is the wall clock, for a
    /// `Retry-After` date without a `Date`.
    ///
    /// # Errors
    /// The connection ended before the response head did, the head is
    /// longer than [`MAX_RESPONSE_HEAD`] or is not HTTP, or the server
    /// refused the upgrade (an HTTP answer gives the core its status and
    /// its `Retry-After` and `Date` headers, as tungstenite's handshake
    /// failure did).
    pub fn filled(&mut self, n: usize, now: SystemTime) -> Result<Progress, ConnectFailure> {
        if n == 0 {
            return Err(failed(tungstenite::Error::Protocol(
                ProtocolError::HandshakeIncomplete,
            )));
        }
        self.filled = (self.filled + n).min(self.buf.len());
        let data = self.buf.get(..self.filled).unwrap_or_default();
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut response = httparse::Response::new(&mut headers);
        let head = match response.parse(data) {
            Ok(httparse::Status::Complete(head)) => head,
            Ok(httparse::Status::Partial) if self.filled >= MAX_RESPONSE_HEAD => {
                return Err(ConnectFailure::new(format!(
                    "WebSocket upgrade failed: the response head is longer than \
                     {MAX_RESPONSE_HEAD} bytes"
                )));
            }
            Ok(httparse::Status::Partial) => return Ok(Progress::NeedMore),
            Err(e) => return Err(failed(e.into())),
        };
        self.verify(&response, now)?;
        let leftover = data.get(head..).unwrap_or_default().to_vec();
        self.buf = Vec::new();
        self.filled = 0;
        Ok(Progress::Done(leftover))
    }

    /// Feeds response bytes that were read elsewhere (a copy of
    /// [`Upgrade::read_space`] and [`Upgrade::filled`]). An empty `bytes`
    /// changes nothing; bytes after the response head come back in
    /// [`Progress::Done`].
    ///
    /// # Errors
    /// As [`Upgrade::filled`] (but not the end of the connection).
    pub fn feed(&mut self, mut bytes: &[u8], now: SystemTime) -> Result<Progress, ConnectFailure> {
        while !bytes.is_empty() {
            let space = self.read_space();
            let n = space.len().min(bytes.len());
            let (now_in, rest) = bytes.split_at(n);
            space
                .get_mut(..n)
                .unwrap_or_default()
                .copy_from_slice(now_in);
            bytes = rest;
            if let Progress::Done(mut leftover) = self.filled(n, now)? {
                leftover.extend_from_slice(bytes);
                return Ok(Progress::Done(leftover));
            }
        }
        Ok(Progress::NeedMore)
    }

    /// Checks a complete response head as RFC 6455 section 4.1 says (and as
    /// tungstenite did).
    fn verify(
        &self,
        response: &httparse::Response<'_, '_>,
        now: SystemTime,
    ) -> Result<(), ConnectFailure> {
        if response.version.unwrap_or(0) < 1 {
            return Err(failed(tungstenite::Error::Protocol(
                ProtocolError::WrongHttpVersion,
            )));
        }
        let status = StatusCode::from_u16(response.code.unwrap_or(0))
            .map_err(|e| failed(tungstenite::Error::HttpFormat(e.into())))?;
        let first = |name: &str| {
            response
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case(name))
                .map(|h| h.value)
        };
        let text = |name: &str| first(name).and_then(visible_ascii);
        if status != StatusCode::SWITCHING_PROTOCOLS {
            return Err(ConnectFailure::http(
                status.as_u16(),
                text("retry-after"),
                text("date"),
                now,
            ));
        }
        let protocol = |violation| failed(tungstenite::Error::Protocol(violation));
        if !text("upgrade").is_some_and(|v| v.eq_ignore_ascii_case("websocket")) {
            return Err(protocol(ProtocolError::MissingUpgradeWebSocketHeader));
        }
        let connection_upgrade = response
            .headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case("connection"))
            .filter_map(|h| visible_ascii(h.value))
            .flat_map(|v| v.split(','))
            .any(|token| token.trim().eq_ignore_ascii_case("upgrade"));
        if !connection_upgrade {
            return Err(protocol(ProtocolError::MissingConnectionUpgradeHeader));
        }
        if first("sec-websocket-accept") != Some(self.accept.as_bytes()) {
            return Err(protocol(ProtocolError::SecWebSocketAcceptKeyMismatch));
        }
        let subprotocol = |error| protocol(ProtocolError::SecWebSocketSubProtocolError(error));
        match (first("sec-websocket-protocol"), &self.offered) {
            (None, None) => {}
            (None, Some(_)) => return Err(subprotocol(SubProtocolError::NoSubProtocol)),
            (Some(_), None) => {
                return Err(subprotocol(
                    SubProtocolError::ServerSentSubProtocolNoneRequested,
                ));
            }
            (Some(chosen), Some(offered)) => {
                let chosen = visible_ascii(chosen);
                if !offered.split(',').any(|p| Some(p.trim()) == chosen) {
                    return Err(subprotocol(SubProtocolError::InvalidSubProtocol));
                }
            }
        }
        Ok(())
    }
}

/// What an I/O error during the upgrade means to the core: a TLS failure
/// (an alert after a TLS 1.3 handshake, see [`tls_failure_in`]) or a
/// failed upgrade, told as tungstenite's handshake told it.
pub fn io_failure(error: io::Error) -> ConnectFailure {
    let error = tungstenite::Error::Io(error);
    tls_failure_in(&error).unwrap_or_else(|| failed(error))
}

/// A failed upgrade, told as before: `WebSocket upgrade failed: ` and the
/// tungstenite error.
pub(crate) fn failed(error: tungstenite::Error) -> ConnectFailure {
    ConnectFailure::new(format!("WebSocket upgrade failed: {error}"))
}

/// A header value as text when it is visible ASCII (what
/// `HeaderValue::to_str` accepts).
fn visible_ascii(value: &[u8]) -> Option<&str> {
    value
        .iter()
        .all(|&b| b == b'\t' || (32..127).contains(&b))
        .then(|| std::str::from_utf8(value).ok())
        .flatten()
}

fn extend(out: &mut Vec<u8>, parts: &[&str]) {
    for part in parts {
        out.extend_from_slice(part.as_bytes());
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;
    use crate::client::Secret;

    /// What a refusal reported by tungstenite's client handshake (the
    /// drivers' upgrade before this module) meant to the core.
    fn tungstenite_refusal(error: tungstenite::Error, now: SystemTime) -> ConnectFailure {
        match error {
            tungstenite::Error::Http(response) => {
                let header =
                    |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok());
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

    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
    const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

    fn connect(url: &str) -> ConnectRequest {
        ConnectRequest {
            url: url.to_owned(),
            headers: Vec::new(),
            subprotocols: Vec::new(),
            attempt: 1,
        }
    }

    fn request_text(request: &ConnectRequest) -> String {
        let upgrade = Upgrade::with_key(request, KEY.to_owned()).unwrap();
        String::from_utf8(upgrade.request().to_vec()).unwrap()
    }

    fn expected(target: &str, host: &str, extra: &str) -> String {
        format!(
            "GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: Upgrade\r\n\
             Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Key: {KEY}\r\n{extra}\r\n"
        )
    }

    fn accepted(extra: &str) -> String {
        format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Accept: {ACCEPT}\r\n{extra}\r\n"
        )
    }

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_700_000_000)
    }

    /// Feeds `response` in one piece to an upgrade of `request`.
    fn answer(request: &ConnectRequest, response: &[u8]) -> Result<Progress, ConnectFailure> {
        let mut upgrade = Upgrade::with_key(request, KEY.to_owned()).unwrap();
        upgrade.feed(response, now())
    }

    fn failure(response: &str) -> String {
        answer(&connect("ws://h/s"), response.as_bytes())
            .unwrap_err()
            .message
    }

    #[test]
    fn the_request_for_ws_and_wss_on_default_ports() {
        for url in ["ws://example.com/socket", "ws://example.com:80/socket"] {
            let text = request_text(&connect(url));
            assert_eq!(text, expected("/socket", "example.com", ""), "{url}");
        }
        for url in ["wss://example.com/socket", "wss://example.com:443/socket"] {
            let text = request_text(&connect(url));
            assert_eq!(text, expected("/socket", "example.com", ""), "{url}");
        }
    }

    #[test]
    fn the_request_names_other_ports() {
        let text = request_text(&connect("ws://example.com:4000/socket"));
        assert_eq!(text, expected("/socket", "example.com:4000", ""));
        let text = request_text(&connect("wss://example.com:80/socket"));
        assert_eq!(text, expected("/socket", "example.com:80", ""));
        let text = request_text(&connect("ws://example.com:443/socket"));
        assert_eq!(text, expected("/socket", "example.com:443", ""));
    }

    #[test]
    fn ipv6_hosts_go_in_brackets() {
        let text = request_text(&connect("ws://[::1]:4000/socket/websocket"));
        assert_eq!(text, expected("/socket/websocket", "[::1]:4000", ""));
        let text = request_text(&connect("wss://[2001:db8::7]/s"));
        assert_eq!(text, expected("/s", "[2001:db8::7]", ""));
    }

    #[test]
    fn the_path_keeps_its_query_and_defaults_to_slash() {
        let url = "ws://h:4000/socket/websocket?token=a%20b&vsn=2.0.0";
        let text = request_text(&connect(url));
        assert_eq!(
            text,
            expected("/socket/websocket?token=a%20b&vsn=2.0.0", "h:4000", "")
        );
        assert_eq!(request_text(&connect("ws://h")), expected("/", "h", ""));
        assert_eq!(
            request_text(&connect("ws://h?vsn=2.0.0")),
            expected("/?vsn=2.0.0", "h", "")
        );
        // User information never reaches the Host header.
        assert_eq!(
            request_text(&connect("ws://user:pw@h:81/s")),
            expected("/s", "h:81", "")
        );
    }

    #[test]
    fn bad_urls_fail_as_before() {
        let message = |url: &str| Upgrade::new(&connect(url)).unwrap_err().message;
        assert_eq!(
            message("not a url"),
            "the endpoint is not a valid WebSocket URL"
        );
        assert_eq!(
            message("ws:///s"),
            "the endpoint is not a valid WebSocket URL"
        );
        assert_eq!(message("/relative"), "the URL scheme must be ws or wss");
        assert_eq!(message("http://h/s"), "the URL scheme must be ws or wss");
    }

    #[test]
    fn user_headers_follow_in_order_and_keep_their_spelling() {
        let mut request = connect("ws://h/s");
        request.headers = vec![
            ("X-Api-Key".to_owned(), Secret::new("k1")),
            ("cookie".to_owned(), Secret::new("a=b; c=d")),
            ("X-Api-Key".to_owned(), Secret::new("k2")),
            // The upgrade's own headers cannot be replaced.
            ("Host".to_owned(), Secret::new("evil")),
            ("sec-websocket-key".to_owned(), Secret::new("evil")),
        ];
        assert_eq!(
            request_text(&request),
            expected(
                "/s",
                "h",
                "X-Api-Key: k1\r\ncookie: a=b; c=d\r\nX-Api-Key: k2\r\n"
            )
        );
    }

    #[test]
    fn headers_that_cannot_go_in_http_are_refused() {
        let refused = |name: &str, value: &str| {
            let mut request = connect("ws://h/s");
            request.headers = vec![(name.to_owned(), Secret::new(value))];
            Upgrade::new(&request).unwrap_err().message
        };
        assert_eq!(refused("X Bad", "v"), "invalid header name \"X Bad\"");
        assert_eq!(refused("X:Bad", "v"), "invalid header name \"X:Bad\"");
        assert_eq!(refused("", "v"), "invalid header name \"\"");
        assert_eq!(
            refused("X-Inject", "v\r\nHost: evil"),
            "invalid value for header x-inject"
        );
        assert_eq!(refused("X-Nl", "v\nw"), "invalid value for header x-nl");
        assert_eq!(refused("X-Nul", "v\0"), "invalid value for header x-nul");
        let mut request = connect("ws://h/s");
        request.subprotocols = vec![Secret::new("phoenix"), Secret::new("tok\r\nen")];
        assert_eq!(
            Upgrade::new(&request).unwrap_err().message,
            "the auth token cannot go in a header"
        );
    }

    #[test]
    fn subprotocols_are_offered_joined_and_replace_a_header() {
        let mut request = connect("ws://h/s");
        request.headers = vec![
            ("Sec-WebSocket-Protocol".to_owned(), Secret::new("mine")),
            ("X-A".to_owned(), Secret::new("1")),
        ];
        request.subprotocols = vec![
            Secret::new("phoenix"),
            Secret::new("base64url.bearer.phx.dG9r"),
        ];
        assert_eq!(
            request_text(&request),
            expected(
                "/s",
                "h",
                "X-A: 1\r\nSec-WebSocket-Protocol: phoenix, base64url.bearer.phx.dG9r\r\n"
            )
        );
    }

    #[test]
    fn keys_are_fresh_and_the_request_is_freed_once_sent() {
        let request = connect("ws://h/s");
        let a = Upgrade::new(&request).unwrap();
        let mut b = Upgrade::new(&request).unwrap();
        assert_ne!(a.request(), b.request());
        assert_ne!(a.accept, b.accept);
        b.request_sent();
        assert!(b.request().is_empty());
    }

    #[test]
    fn an_accepting_response_is_read_at_every_split() {
        let frame = [0x81u8, 0x02, b'h', b'i'];
        let mut response = accepted("").into_bytes();
        response.extend_from_slice(&frame);
        for split in 0..=response.len() {
            let mut upgrade = Upgrade::with_key(&connect("ws://h/s"), KEY.to_owned()).unwrap();
            let (a, b) = response.split_at(split);
            let first = upgrade.feed(a, now()).unwrap();
            let done = match first {
                Progress::Done(leftover) => {
                    assert!(b.is_empty() || split >= response.len() - frame.len());
                    let mut all = leftover;
                    all.extend_from_slice(b);
                    all
                }
                Progress::NeedMore => match upgrade.feed(b, now()).unwrap() {
                    Progress::Done(leftover) => leftover,
                    Progress::NeedMore => panic!("incomplete at split {split}"),
                },
            };
            assert_eq!(done, frame, "split {split}");
        }
    }

    #[test]
    fn byte_by_byte_through_read_space() {
        let mut response = accepted("").into_bytes();
        response.extend_from_slice(b"rest");
        let mut upgrade = Upgrade::with_key(&connect("ws://h/s"), KEY.to_owned()).unwrap();
        let mut result = None;
        for (i, &byte) in response.iter().enumerate() {
            let space = upgrade.read_space();
            assert!(!space.is_empty());
            space[0] = byte;
            match upgrade.filled(1, now()).unwrap() {
                Progress::NeedMore => {}
                Progress::Done(leftover) => {
                    assert_eq!(i, response.len() - 5, "done at the end of the head");
                    result = Some((leftover, i));
                    break;
                }
            }
        }
        let (leftover, at) = result.expect("done");
        assert!(leftover.is_empty());
        assert_eq!(&response[at + 1..], b"rest");
    }

    #[test]
    fn the_buffer_starts_small_and_grows_by_doubling() {
        let mut upgrade = Upgrade::with_key(&connect("ws://h/s"), KEY.to_owned()).unwrap();
        assert_eq!(upgrade.read_space().len(), FIRST_READ);
        let head = format!("HTTP/1.1 101 OK\r\nX-Pad: {}", "a".repeat(FIRST_READ));
        assert_eq!(upgrade.feed(head.as_bytes(), now()), Ok(Progress::NeedMore));
        assert_eq!(upgrade.buf.len(), FIRST_READ * 2);
    }

    #[test]
    fn nothing_more_before_the_head_ends_is_a_failure() {
        let mut upgrade = Upgrade::with_key(&connect("ws://h/s"), KEY.to_owned()).unwrap();
        assert_eq!(
            upgrade.feed(b"HTTP/1.1 101 Swi", now()),
            Ok(Progress::NeedMore)
        );
        assert_eq!(
            upgrade.filled(0, now()).unwrap_err().message,
            "WebSocket upgrade failed: WebSocket protocol error: Handshake not finished"
        );
    }

    #[test]
    fn the_accept_key_must_match() {
        let missing = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                       Connection: Upgrade\r\n\r\n";
        let mismatch = "WebSocket upgrade failed: WebSocket protocol error: \
                        Key mismatch in \"Sec-WebSocket-Accept\" header";
        assert_eq!(failure(missing), mismatch);
        let wrong = accepted("").replace(ACCEPT, "AAAAAAAAAAAAAAAAAAAAAAAAAAA=");
        assert_eq!(failure(&wrong), mismatch);
        // The key is compared exactly (base64 is case-sensitive).
        let case = accepted("").replace(ACCEPT, &ACCEPT.to_lowercase());
        assert_eq!(failure(&case), mismatch);
    }

    #[test]
    fn upgrade_and_connection_headers_are_required() {
        let no_upgrade = accepted("").replace("Upgrade: websocket\r\n", "");
        assert_eq!(
            failure(&no_upgrade),
            "WebSocket upgrade failed: WebSocket protocol error: \
             No \"Upgrade: websocket\" header"
        );
        let other = accepted("").replace("Upgrade: websocket", "Upgrade: h2c");
        assert!(failure(&other).contains("Upgrade: websocket"));
        let no_connection = accepted("").replace("Connection: Upgrade\r\n", "");
        assert_eq!(
            failure(&no_connection),
            "WebSocket upgrade failed: WebSocket protocol error: \
             No \"Connection: upgrade\" header"
        );
        let close = accepted("").replace("Connection: Upgrade", "Connection: close");
        assert!(failure(&close).contains("Connection: upgrade"));
    }

    #[test]
    fn header_names_and_values_are_case_insensitive() {
        let response = format!(
            "HTTP/1.1 101 Switching Protocols\r\nuPGRADE: WebSocket\r\n\
             CONNECTION: keep-alive, UPGRADE\r\nsec-websocket-accept: {ACCEPT}\r\n\r\n"
        );
        assert_eq!(
            answer(&connect("ws://h/s"), response.as_bytes()),
            Ok(Progress::Done(Vec::new()))
        );
    }

    #[test]
    fn a_refusal_is_told_as_before() {
        let response = "HTTP/1.1 403 Forbidden\r\nretry-after: 30\r\n\
                        Date: Tue, 14 Nov 2023 22:13:20 GMT\r\ncontent-length: 0\r\n\r\n";
        let failure = answer(&connect("ws://h/s"), response.as_bytes()).unwrap_err();
        assert_eq!(
            failure,
            ConnectFailure::http(
                403,
                Some("30"),
                Some("Tue, 14 Nov 2023 22:13:20 GMT"),
                now()
            )
        );
        assert_eq!(failure.retry_after, Some(Duration::from_secs(30)));

        // The same as upgrade_failure for tungstenite's Error::Http.
        let mut http = tungstenite::http::Response::new(None);
        *http.status_mut() = StatusCode::TOO_MANY_REQUESTS;
        let when = "Tue, 14 Nov 2023 22:14:20 GMT";
        http.headers_mut()
            .insert("retry-after", HeaderValue::from_static(when));
        let before = tungstenite_refusal(tungstenite::Error::Http(Box::new(http)), now());
        let response = format!("HTTP/1.1 429 Too Many Requests\r\nRetry-After: {when}\r\n\r\n");
        let after = answer(&connect("ws://h/s"), response.as_bytes()).unwrap_err();
        assert_eq!(after, before);
        assert_eq!(after.status, Some(429));

        let unavailable = answer(&connect("ws://h/s"), b"HTTP/1.1 503 Unavailable\r\n\r\n");
        assert_eq!(
            unavailable,
            Err(ConnectFailure::http(503, None, None, now()))
        );
        // A refusal is told before any check of the upgrade's headers.
        let body = "HTTP/1.1 500 Oops\r\ncontent-length: 5\r\n\r\nerror";
        assert_eq!(
            answer(&connect("ws://h/s"), body.as_bytes()),
            Err(ConnectFailure::http(500, None, None, now()))
        );
    }

    #[test]
    fn a_head_at_the_cap_is_read_and_one_byte_over_is_refused() {
        let padded = |len: usize| {
            let base = accepted("X-Pad: \r\n");
            let pad = "a".repeat(len - base.len());
            accepted(&format!("X-Pad: {pad}\r\n"))
        };
        let at_cap = padded(MAX_RESPONSE_HEAD);
        assert_eq!(at_cap.len(), MAX_RESPONSE_HEAD);
        let mut with_frame = at_cap.clone().into_bytes();
        with_frame.extend_from_slice(b"ws");
        assert_eq!(
            answer(&connect("ws://h/s"), &with_frame),
            Ok(Progress::Done(b"ws".to_vec()))
        );
        let over = padded(MAX_RESPONSE_HEAD + 1);
        let refused = answer(&connect("ws://h/s"), over.as_bytes()).unwrap_err();
        assert_eq!(refused.status, None);
        assert!(
            refused.message.contains("longer than 16384 bytes"),
            "{}",
            refused.message
        );
        // An endless head stops at the cap too.
        let mut upgrade = Upgrade::with_key(&connect("ws://h/s"), KEY.to_owned()).unwrap();
        let mut fed = upgrade.feed(b"HTTP/1.1 101 OK\r\nX: ", now());
        while fed == Ok(Progress::NeedMore) {
            fed = upgrade.feed(&[b'a'; 1000], now());
        }
        assert!(fed.unwrap_err().message.contains("longer than"));
        assert!(upgrade.buf.len() <= MAX_RESPONSE_HEAD);
    }

    #[test]
    fn garbage_is_refused() {
        let junks: [&[u8]; 5] = [
            b"SSH-2.0-OpenSSH_9.6\r\n\r\n",
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
            b"HTTP/1.1 abc Bad\r\n\r\n",
            b"HTTP/2 101\r\n\r\n",
            b"HTTP/1.1 101 OK\r\nBad Header: x\r\n\r\n",
        ];
        for junk in junks {
            let result = answer(&connect("ws://h/s"), junk);
            let message = result.unwrap_err().message;
            assert!(
                message.starts_with("WebSocket upgrade failed: "),
                "{message}"
            );
        }
        assert_eq!(
            failure("HTTP/1.0 101 Switching Protocols\r\n\r\n"),
            "WebSocket upgrade failed: WebSocket protocol error: \
             HTTP version must be 1.1 or higher"
        );
        assert_eq!(
            failure("HTTP/1.1 099 Early\r\n\r\n"),
            "WebSocket upgrade failed: HTTP format error: invalid status code"
        );
    }

    #[test]
    fn the_chosen_subprotocol_must_be_one_offered() {
        let mut offering = connect("ws://h/s");
        offering.subprotocols = vec![
            Secret::new("phoenix"),
            Secret::new("base64url.bearer.phx.x"),
        ];
        let chose = |extra: &str| answer(&offering, accepted(extra).as_bytes());
        assert_eq!(
            chose("Sec-WebSocket-Protocol: phoenix\r\n"),
            Ok(Progress::Done(Vec::new()))
        );
        let prefix = "WebSocket upgrade failed: WebSocket protocol error: SubProtocol error: ";
        assert_eq!(
            chose("Sec-WebSocket-Protocol: other\r\n")
                .unwrap_err()
                .message,
            format!("{prefix}Server sent an invalid subprotocol")
        );
        assert_eq!(
            chose("").unwrap_err().message,
            format!("{prefix}Server sent no subprotocol")
        );
        let unasked = answer(
            &connect("ws://h/s"),
            accepted("Sec-WebSocket-Protocol: phoenix\r\n").as_bytes(),
        );
        assert_eq!(
            unasked.unwrap_err().message,
            format!("{prefix}Server sent a subprotocol but none was requested")
        );
        // A protocol header of the user's own is an offer too.
        let mut own = connect("ws://h/s");
        own.headers = vec![("sec-websocket-protocol".to_owned(), Secret::new("a, b"))];
        let response = accepted("sec-websocket-protocol: b\r\n");
        assert_eq!(
            answer(&own, response.as_bytes()),
            Ok(Progress::Done(Vec::new()))
        );
    }

    #[test]
    fn io_errors_say_upgrade_or_tls() {
        let reset = io_failure(io::ErrorKind::ConnectionReset.into());
        assert!(
            reset
                .message
                .starts_with("WebSocket upgrade failed: IO error: "),
            "{}",
            reset.message
        );
        let alert = rustls::Error::AlertReceived(rustls::AlertDescription::CertificateRequired);
        let tls = io_failure(io::Error::new(io::ErrorKind::InvalidData, alert));
        assert!(
            tls.message.starts_with("TLS session failed: "),
            "{}",
            tls.message
        );
    }
}
