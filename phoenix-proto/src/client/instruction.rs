//! What the state machine asks its driver to do.

use std::fmt;

use crate::codec::WireMessage;

use super::config::Secret;

/// An instruction for the driver, taken from [`Socket::poll_instruction`](super::Socket::poll_instruction).
///
/// Deliberately exhaustive: these three are the whole contract between the
/// core and a driver, so a new instruction must fail to compile in every
/// driver rather than be skipped by a catch-all.
#[derive(Debug, Clone, PartialEq)]
pub enum Instruction {
    /// Drop any current connection without reporting its closure, and open
    /// a new one as described. Report the result with
    /// [`Socket::handle_connected`](super::Socket::handle_connected) or
    /// [`Socket::handle_connect_failed`](super::Socket::handle_connect_failed).
    Connect(ConnectRequest),
    /// Send this whole message on the current connection.
    Send(WireMessage),
    /// Close the current connection with this code and reason. The state
    /// machine already considers it gone: do not report its closure.
    Close {
        /// WebSocket close code.
        code: u16,
        /// Close reason.
        reason: String,
    },
}

/// How to open a connection.
#[derive(Clone, PartialEq)]
pub struct ConnectRequest {
    /// The full URL, with query parameters and `vsn`.
    pub url: String,
    /// Extra upgrade request headers.
    pub headers: Vec<(String, Secret)>,
    /// `Sec-WebSocket-Protocol` values to offer (the auth token, when set).
    pub subprotocols: Vec<Secret>,
    /// Counts connection attempts since the last healthy connection (1 = first).
    pub attempt: u32,
}

impl ConnectRequest {
    /// The URL with every query value replaced by `***`, for logs.
    pub fn redacted_url(&self) -> String {
        redact_query(&self.url)
    }
}

/// Replaces every query value of `url` with `***` (keeps `vsn`).
pub fn redact_query(url: &str) -> String {
    let Some((base, query)) = url.split_once('?') else {
        return url.to_owned();
    };
    let pairs: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some(("vsn", v)) => format!("vsn={v}"),
            Some((k, _)) => format!("{k}=***"),
            None => pair.to_owned(),
        })
        .collect();
    format!("{base}?{}", pairs.join("&"))
}

impl fmt::Debug for ConnectRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<&str> = self.headers.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("ConnectRequest")
            .field("url", &self.redacted_url())
            .field("header_names", &headers)
            .field("subprotocols", &self.subprotocols.len())
            .field("attempt", &self.attempt)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_hides_values_but_not_vsn() {
        assert_eq!(
            redact_query("ws://h/s/websocket?token=abc&vsn=2.0.0&x"),
            "ws://h/s/websocket?token=***&vsn=2.0.0&x"
        );
        assert_eq!(redact_query("ws://h/s"), "ws://h/s");
    }
}
