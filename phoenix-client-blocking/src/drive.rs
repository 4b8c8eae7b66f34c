//! A socket as a loop drives it, whatever its handler: [`Drive`], and
//! what each of its turns ends in, [`Turn`]. The shared reactor
//! ([`crate::reactor`]) and the loop on the caller's thread
//! ([`crate::driven::run_here`]) both drive sockets through it.

use std::task::Waker;
use std::time::Instant;

use phoenix_proto::api::Stop;
use phoenix_proto::client::ConnectFailure;
use phoenix_proto::client::handler::Stopped;

use crate::connect::Ws;

/// What a turn left the socket doing.
#[derive(Debug)]
pub(crate) enum Turn {
    /// It handled an input and may have more: give it another turn soon.
    Again,
    /// Nothing to do until its connection is ready, its waker fires or
    /// this deadline passes.
    Idle(Option<Instant>),
    /// It stopped: end it with [`Drive::end`].
    Stopped(Stop),
}

/// A socket as the shared reactor sees it, whatever its handler.
pub(crate) trait Drive {
    /// Gives the socket the key its connection is registered under and the
    /// waker its inbox and handler wake it with. Called once, before the
    /// first turn.
    fn attach(&mut self, key: usize, waker: Waker);
    /// Runs one turn.
    fn turn(&mut self) -> Turn;
    /// The poller reported readiness of the socket's connection.
    fn ready(&mut self, readable: bool, writable: bool);
    /// A connection attempt handed to the I/O pool finished.
    fn connected(&mut self, attempt: u64, opened: Result<Ws, ConnectFailure>);
    /// Ends a socket whose turn returned [`Turn::Stopped`]: the handler
    /// goes, then the handles' waiters learn why it stopped.
    fn end(self: Box<Self>, stop: Stop) -> Stopped;
}
