//! What every tungstenite-based loop does with one read: hand the core the
//! message, or tell it how the connection ended. Shared by the async driver
//! and the blocking loop.

use std::time::Instant;

use tracing::{info, warn};
use tungstenite::Message;

use super::handshake::{bad_message, ended};
use crate::client::Socket;
use crate::client::handler::{self, Handler, Stopped};
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

/// Hands events to the handler as messages are read, and ends each batch
/// once. A loop calls [`deliver`](Self::deliver) after feeding each read
/// and [`end`](Self::end) when its turn is done: each message's events are
/// handled while the message is still in the cache, and the allocations of
/// a thousand messages' events no longer pile up before the first is freed
/// (with them piled up, glibc's allocator left its per-thread cache for its
/// slow path: 7% of the samples of the receive benchmark, BENCHMARKS.md
/// item 24), while [`Handler::handle_batch_end`] (which wakes readers on
/// other tasks) still runs once per batch.
#[derive(Debug, Default)]
pub struct Batch {
    /// Events were delivered since the batch last ended.
    open: bool,
}

impl Batch {
    /// Hands the events the last read produced to the handler.
    ///
    /// # Errors
    /// The handler stopped the socket (later events stay queued).
    pub fn deliver<H: Handler>(
        &mut self,
        handler: &mut H,
        core: &mut Socket,
        now: Instant,
    ) -> Result<(), Stopped> {
        self.open |= handler::deliver_pending(handler, core, now)?;
        Ok(())
    }

    /// Hands over the remaining events, then ends the batch if any event
    /// was delivered since it last ended; `Some` when the handler stopped.
    pub fn end<H: Handler>(
        &mut self,
        handler: &mut H,
        core: &mut Socket,
        now: Instant,
    ) -> Option<Stopped> {
        match handler::deliver_pending(handler, core, now) {
            Err(stopped) => Some(stopped),
            Ok(delivered) => {
                let open = std::mem::take(&mut self.open);
                if delivered || open {
                    handler::end_batch(handler, core, now)
                } else {
                    None
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::Config;
    use crate::client::handler::{Action, Context};

    /// Counts events and batch ends; stops at the first event when told to.
    #[derive(Default)]
    struct Counter {
        events: usize,
        batch_ends: usize,
        stop: bool,
    }

    impl Handler for Counter {
        crate::no_mailbox!();
        fn handle_connecting(&mut self, _: &mut Context<'_>, _: u32) -> Action {
            self.events += 1;
            if self.stop {
                Action::Stop {
                    reason: "told to".into(),
                }
            } else {
                Action::Continue
            }
        }
        fn handle_connected(&mut self, _: &mut Context<'_>) -> Action {
            self.events += 1;
            Action::Continue
        }
        fn handle_batch_end(&mut self, _: &mut Context<'_>) -> Action {
            self.batch_ends += 1;
            Action::Continue
        }
    }

    #[test]
    fn a_batch_delivers_as_it_goes_and_ends_once() {
        let now = Instant::now();
        let mut core = Socket::new(Config::new("ws://h/socket"));
        let mut handler = Counter::default();
        let mut batch = Batch::default();
        // Nothing delivered: no batch end.
        assert_eq!(batch.end(&mut handler, &mut core, now), None);
        assert_eq!(handler.batch_ends, 0);
        // Two reads' events handed over as they come, then one end.
        core.connect(now);
        batch.deliver(&mut handler, &mut core, now).unwrap();
        assert_eq!((handler.events, handler.batch_ends), (1, 0));
        core.handle_connected(now);
        batch.deliver(&mut handler, &mut core, now).unwrap();
        assert_eq!((handler.events, handler.batch_ends), (2, 0));
        assert_eq!(batch.end(&mut handler, &mut core, now), None);
        assert_eq!(handler.batch_ends, 1);
        // The batch is closed: a quiet turn ends nothing.
        assert_eq!(batch.end(&mut handler, &mut core, now), None);
        assert_eq!(handler.batch_ends, 1);
    }

    #[test]
    fn a_stop_while_reading_is_returned() {
        let now = Instant::now();
        let mut core = Socket::new(Config::new("ws://h/socket"));
        let mut handler = Counter {
            stop: true,
            ..Counter::default()
        };
        let mut batch = Batch::default();
        core.connect(now);
        let stopped = batch.deliver(&mut handler, &mut core, now).unwrap_err();
        assert_eq!(stopped.reason, "told to");
        assert_eq!(handler.batch_ends, 0);
    }
}
