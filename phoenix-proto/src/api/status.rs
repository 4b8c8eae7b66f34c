//! The socket's status and a watch on it that works on any executor (and
//! without one: see [`StatusWatch::current`]).

use std::fmt;
use std::ops::Deref;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use event_listener::{Event, Listener};

use super::error::SocketGone;
use crate::client::DisconnectReason;

/// Where the socket is, as seen through [`Client::status`](super::Client::status).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Status {
    /// The first connection attempt is under way. (Later attempts show as
    /// `Disconnected` with `reconnect_in` until they succeed.)
    Connecting,
    /// The connection is open.
    Connected,
    /// No connection; `reconnect_in` tells when the next attempt is due.
    Disconnected {
        /// Why.
        reason: DisconnectReason,
        /// When the next attempt is due, if one is scheduled.
        reconnect_in: Option<Duration>,
    },
    /// The socket has stopped for good.
    Stopped,
}

struct Slot {
    status: Status,
    version: u64,
    closed: bool,
}

struct Cell {
    slot: Mutex<Slot>,
    changed: Event,
}

impl Cell {
    fn lock(&self) -> MutexGuard<'_, Slot> {
        // A panic while holding the lock cannot leave a half-written
        // status: every write replaces the whole value.
        self.slot.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The router's side: publishes every change; dropping it publishes
/// [`Status::Stopped`] and ends every watch.
pub(crate) struct StatusSender(Arc<Cell>);

/// A new status cell starting at [`Status::Connecting`].
pub(crate) fn status_cell() -> (StatusSender, StatusWatch) {
    let cell = Arc::new(Cell {
        slot: Mutex::new(Slot {
            status: Status::Connecting,
            version: 0,
            closed: false,
        }),
        changed: Event::new(),
    });
    (StatusSender(cell.clone()), StatusWatch { cell, seen: 0 })
}

impl StatusSender {
    pub(crate) fn set(&self, status: Status) {
        {
            let mut slot = self.0.lock();
            slot.status = status;
            slot.version += 1;
        }
        self.0.changed.notify(usize::MAX);
    }
}

impl Drop for StatusSender {
    fn drop(&mut self) {
        {
            let mut slot = self.0.lock();
            slot.status = Status::Stopped;
            slot.version += 1;
            slot.closed = true;
        }
        self.0.changed.notify(usize::MAX);
    }
}

/// A watch on the socket's [`Status`]: the latest value, and a way to wait
/// for the next change. Cheap to clone; each clone tracks what it has seen.
///
/// Fast transitions can be collapsed: a watch sees the latest status, not
/// every one in between.
#[derive(Clone)]
pub struct StatusWatch {
    cell: Arc<Cell>,
    seen: u64,
}

impl fmt::Debug for StatusWatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("StatusWatch").field(&*self.borrow()).finish()
    }
}

/// A borrowed status. Do not hold it across an `.await` or a blocking call:
/// the socket waits for it to be dropped before it can publish a new one.
pub struct StatusRef<'a>(MutexGuard<'a, Slot>);

impl Deref for StatusRef<'_> {
    type Target = Status;
    fn deref(&self) -> &Status {
        &self.0.status
    }
}

impl fmt::Debug for StatusRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.status.fmt(f)
    }
}

impl StatusWatch {
    /// The latest status, without marking it seen.
    pub fn borrow(&self) -> StatusRef<'_> {
        StatusRef(self.cell.lock())
    }

    /// The latest status, marked seen (so [`changed`](Self::changed) waits
    /// for a newer one).
    pub fn borrow_and_update(&mut self) -> StatusRef<'_> {
        let slot = self.cell.lock();
        self.seen = slot.version;
        StatusRef(slot)
    }

    /// A copy of the latest status.
    pub fn current(&self) -> Status {
        self.cell.lock().status.clone()
    }

    /// Whether a status newer than the last one seen was published.
    pub fn has_changed(&self) -> bool {
        self.cell.lock().version != self.seen
    }

    /// Waits until a status newer than the last one seen is published.
    ///
    /// # Errors
    /// [`SocketGone`] once the socket has stopped and its last status
    /// ([`Status::Stopped`]) was seen.
    pub async fn changed(&mut self) -> Result<(), SocketGone> {
        loop {
            let listener = self.changed_or_listen()?;
            match listener {
                None => return Ok(()),
                Some(listener) => listener.await,
            }
        }
    }

    /// Like [`changed`](Self::changed) for threads: waits at most `limit`.
    /// `Ok(false)` when nothing changed in time.
    ///
    /// # Errors
    /// As [`changed`](Self::changed).
    pub fn changed_blocking(&mut self, limit: Duration) -> Result<bool, SocketGone> {
        let deadline = std::time::Instant::now() + limit;
        loop {
            match self.changed_or_listen()? {
                None => return Ok(true),
                Some(listener) => {
                    if listener.wait_deadline(deadline).is_none() {
                        return Ok(self.has_changed());
                    }
                }
            }
        }
    }

    /// `None` when something new is there (marked seen), or a listener
    /// registered before the check, so no change can slip between them.
    fn changed_or_listen(&mut self) -> Result<Option<event_listener::EventListener>, SocketGone> {
        let listener = self.cell.changed.listen();
        let slot = self.cell.lock();
        if slot.version != self.seen {
            self.seen = slot.version;
            return Ok(None);
        }
        if slot.closed {
            return Err(SocketGone);
        }
        Ok(Some(listener))
    }

    /// Waits until the status satisfies `pick` (checking the current one
    /// first) and returns it.
    ///
    /// # Errors
    /// [`SocketGone`] when the socket stops without `pick` accepting a status.
    pub async fn wait_for(
        &mut self,
        mut pick: impl FnMut(&Status) -> bool,
    ) -> Result<Status, SocketGone> {
        loop {
            {
                let status = self.borrow_and_update();
                if pick(&status) {
                    return Ok(status.clone());
                }
            }
            self.changed().await?;
        }
    }
}
