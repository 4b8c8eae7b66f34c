//! What every tungstenite-based loop does with one read: hand the core the
//! message, or tell it how the connection ended. Shared by the async driver
//! and the blocking loop.

use std::time::Instant;

use tracing::{info, warn};
use tungstenite::Message;

use super::handshake::{bad_message, ended};
use crate::client::Socket;
use crate::codec::WireRef;

/// What one read meant for the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fed {
    /// Handled; the connection goes on (after a bad message the core has
    /// queued the close that ends it).
    Handled,
    /// The server sent a close frame: answer it (tungstenite queued the
    /// answer; flushing sends it), then drop the connection.
    PeerClosed,
    /// The connection is gone: drop it.
    Gone,
}

/// Feeds one read (`None`: the stream ended) to the core.
pub fn feed(
    core: &mut Socket,
    now: Instant,
    read: Option<Result<Message, tungstenite::Error>>,
) -> Fed {
    match read {
        Some(Ok(Message::Text(text))) => core.handle_message(now, WireRef::Text(text.as_str())),
        Some(Ok(Message::Binary(bytes))) => core.handle_message(now, WireRef::Binary(&bytes)),
        // Pings are answered by tungstenite on the next read or flush.
        Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
        Some(Ok(Message::Close(frame))) => {
            // A close frame without a status code is 1005 (RFC 6455 7.1.5).
            let (code, reason) = match &frame {
                Some(f) => (u16::from(f.code), f.reason.as_str()),
                None => (1005, ""),
            };
            info!(code, reason, "server closed the connection");
            core.handle_closed(now, Some(code), reason);
            return Fed::PeerClosed;
        }
        None => {
            info!("connection ended without a close frame");
            core.handle_closed(now, None, "");
            return Fed::Gone;
        }
        Some(Err(e)) if ended(&e) => {
            info!("connection ended without a close frame");
            core.handle_closed(now, None, "");
            return Fed::Gone;
        }
        Some(Err(e)) => match bad_message(&e) {
            // The core closes with the matching code; the connection stays
            // until that close is carried out.
            Some(kind) => {
                warn!(error = %e, "the server sent a bad message");
                core.handle_bad_message(now, kind);
            }
            None => {
                warn!(error = %e, "connection failed");
                core.handle_transport_error(now, &e.to_string());
                return Fed::Gone;
            }
        },
    }
    Fed::Handled
}
