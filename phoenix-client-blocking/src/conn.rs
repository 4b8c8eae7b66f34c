//! An open connection as its socket sees it: a non-blocking WebSocket
//! registered with a poller under the socket's key, with what is known of
//! its readiness and the time limit of a write the socket has not taken
//! yet.

use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use phoenix_proto::api::WriteProgress;
use phoenix_proto::api::tungstenite::protocol::CloseFrame;
use phoenix_proto::api::tungstenite::protocol::frame::coding::CloseCode;
use phoenix_proto::api::tungstenite::{self, Message};
use phoenix_proto::codec::WireMessage;
use polling::{Event, Poller};

use crate::connect::{Ws, limit_io, time_left};

/// How long a stopping socket waits for the server to answer its close
/// frame before it drops the connection anyway.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// A connection registered with a poller. It leaves the poller when
/// dropped, before its socket is closed.
pub(crate) struct Conn {
    ws: Ws,
    poller: Arc<Poller>,
    /// The key the poller reports the socket's readiness under.
    key: usize,
    /// Bytes may be waiting (in the kernel, in rustls or in tungstenite):
    /// read before sleeping. Cleared when a read would block.
    pub(crate) readable: bool,
    /// The socket reported room for more bytes since the last blocked write.
    pub(crate) writable: bool,
    /// The write limit: while a flush waits for the socket, the deadline
    /// by which the peer must take more bytes, or the connection fails.
    pub(crate) writes: WriteProgress,
}

impl fmt::Debug for Conn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Conn")
            .field("readable", &self.readable)
            .field("write_deadline", &self.writes.deadline())
            .finish_non_exhaustive()
    }
}

impl Conn {
    /// Registers a freshly opened (non-blocking) WebSocket with `poller`,
    /// under `key`; its writes may wait up to `write_limit` without
    /// progress.
    pub(crate) fn register(
        ws: Ws,
        poller: Arc<Poller>,
        key: usize,
        write_limit: Duration,
    ) -> io::Result<Conn> {
        // SAFETY: polling requires the socket to be deleted from the poller
        // before it is closed. The socket lives inside `ws`, which only this
        // `Conn` owns and never hands out, and `Conn`'s `Drop` deletes the
        // socket before the fields (and so the socket) are dropped.
        #[allow(unsafe_code)]
        unsafe {
            poller.add(ws.get_ref().get_ref().tcp(), Event::none(key))?;
        }
        Ok(Conn {
            ws,
            poller,
            key,
            // The upgrade may have read the first frames already.
            readable: true,
            writable: false,
            writes: WriteProgress::new(write_limit),
        })
    }

    /// Re-arms the socket's (one-shot) interest before the loop sleeps.
    pub(crate) fn arm(&self, read: bool) -> io::Result<()> {
        let write = self.writes.deadline().is_some();
        let interest = Event::new(self.key, read, write);
        self.poller
            .modify(self.ws.get_ref().get_ref().tcp(), interest)
    }

    /// The next message if one can be read without blocking; `None` when
    /// the socket has nothing more for now.
    pub(crate) fn read(&mut self) -> Option<Result<Message, tungstenite::Error>> {
        loop {
            match self.ws.read() {
                Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.readable = false;
                    return None;
                }
                Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                other => return Some(other),
            }
        }
    }

    /// Queues a message and writes what the socket takes now.
    ///
    /// # Errors
    /// The connection failed.
    pub(crate) fn send(&mut self, message: WireMessage) -> Result<(), String> {
        // A write that would block has queued the frame: the flush finishes it.
        let written = self.ws.write(to_ws(message));
        self.check_write(written)
    }

    /// Writes out everything queued, as far as the socket takes it now.
    ///
    /// # Errors
    /// The connection failed.
    pub(crate) fn flush(&mut self) -> Result<(), String> {
        let flushed = self.ws.flush();
        if flushed.is_ok() {
            self.writes.written();
        }
        self.check_write(flushed)
    }

    /// Errors other than "would block" fail the connection; a blocked write
    /// waits for the socket, within the write limit, which starts again
    /// whenever the peer took more bytes since the last blocked write.
    fn check_write(&mut self, result: Result<(), tungstenite::Error>) -> Result<(), String> {
        match result {
            Ok(()) => Ok(()),
            Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                self.writable = false;
                let flushed = self.ws.get_ref().flushed_bytes();
                self.writes.waiting(Instant::now(), flushed);
                Ok(())
            }
            Err(e) => Err(e.to_string()),
        }
    }

    /// Sends a close frame if the socket takes it at once, and drops the
    /// connection: the core has already given it up, and the loop does not
    /// wait for it.
    pub(crate) fn close_now(mut self, code: u16, reason: String) {
        let _ = self.ws.close(Some(close_frame(code, reason)));
    }

    /// Switches the socket back to blocking mode for a stopping socket,
    /// with `limit` on each read and write. The poller reports nothing more
    /// of it (it stays registered until dropped), so the blocking close may
    /// run on another thread.
    pub(crate) fn into_blocking(self, limit: Duration) -> Option<Conn> {
        let tcp = self.ws.get_ref().get_ref().tcp();
        let ok = self.poller.modify(tcp, Event::none(self.key)).is_ok()
            && tcp.set_nonblocking(false).is_ok()
            && limit_io(tcp, limit).is_ok();
        ok.then_some(self)
    }

    /// The end of a stopping socket's connection, on a blocking connection
    /// (see [`into_blocking`](Self::into_blocking)): writes `frames`, then
    /// sends the close frame (flushing what is queued before it) and waits
    /// a little for the server's answer, so that the server ends the TCP
    /// connection, as RFC 6455 prefers. Without a close, the connection is
    /// only dropped after the frames.
    ///
    /// The writes together take at most `limit` (a peer that stops reading
    /// cannot hold the thread for a limit per frame), the wait for the
    /// answer at most two seconds more.
    pub(crate) fn say_goodbye(
        mut self,
        frames: Vec<WireMessage>,
        close: Option<(u16, String)>,
        limit: Duration,
    ) {
        let writes_end = Instant::now() + limit;
        for message in frames {
            if !self.limit_writes(writes_end) || self.ws.write(to_ws(message)).is_err() {
                return;
            }
        }
        let Some((code, reason)) = close else {
            return;
        };
        if !self.limit_writes(writes_end) || self.ws.close(Some(close_frame(code, reason))).is_err()
        {
            return;
        }
        let deadline = Instant::now() + CLOSE_WAIT;
        while let Some(left) = time_left(deadline) {
            if self
                .ws
                .get_ref()
                .get_ref()
                .tcp()
                .set_read_timeout(Some(left))
                .is_err()
            {
                return;
            }
            // The server's remaining frames, then its close, then the end.
            if self.ws.read().is_err() {
                return;
            }
        }
    }
}

impl Conn {
    /// Limits the next blocking write to the time left until `end`;
    /// `false` once it has passed.
    fn limit_writes(&self, end: Instant) -> bool {
        time_left(end).is_some_and(|left| {
            let tcp = self.ws.get_ref().get_ref().tcp();
            tcp.set_write_timeout(Some(left)).is_ok()
        })
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        // Before the socket closes: see `register`.
        let _ = self.poller.delete(self.ws.get_ref().get_ref().tcp());
    }
}

fn to_ws(message: WireMessage) -> Message {
    match message {
        WireMessage::Text(text) => Message::text(text),
        WireMessage::Binary(bytes) => Message::binary(bytes),
    }
}

fn close_frame(code: u16, reason: String) -> CloseFrame {
    CloseFrame {
        code: CloseCode::from(code),
        reason: reason.into(),
    }
}
