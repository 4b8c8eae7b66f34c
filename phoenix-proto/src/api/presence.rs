//! Presence as a handle: the router keeps a channel's presence list in
//! sync (state, diffs held until the state, reset on every rejoin) and
//! tells whoever listens what changed, like phoenix.js's `Presence` with
//! its `onJoin`, `onLeave` and `onSync`.

use std::fmt;
use std::pin::Pin;
use std::sync::mpsc::TryRecvError;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context as TaskContext, Poll};

use futures_util::Stream;
use serde::de::DeserializeOwned;
use tracing::warn;

use super::queue::{QueueReceiver, QueueSender, queue};
use crate::codec::{DecodeError, Payload};
use crate::presence::{Entry, Presence, PresenceChange};

/// Something that changed in a channel's presence list.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum PresenceEvent {
    /// Metas joined `key` (a new key, or a new meta of a present one).
    Join {
        /// The key (usually a user id).
        key: String,
        /// The key's presence before, if it was present.
        current: Option<Entry>,
        /// The metas that joined.
        joined: Entry,
    },
    /// Metas left `key`.
    Leave {
        /// The key.
        key: String,
        /// The key's presence after (no metas: the key is gone).
        current: Entry,
        /// The metas that left.
        left: Entry,
    },
    /// A state or diff was applied in full: the list is current.
    Sync,
}

struct State {
    list: Presence,
    listeners: Vec<QueueSender<PresenceEvent>>,
}

/// The presence list the router keeps for one channel.
#[derive(Clone)]
pub(crate) struct PresenceShared(Arc<Mutex<State>>);

impl PresenceShared {
    pub(crate) fn new() -> Self {
        PresenceShared(Arc::new(Mutex::new(State {
            list: Presence::new(),
            listeners: Vec::new(),
        })))
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every update leaves the list whole, so a poisoned lock is usable.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Applies a channel message if it is a presence event.
    pub(crate) fn apply(&self, event: &str, payload: &Payload<'_>) {
        let mut state = self.lock();
        let changes = match state.list.handle_message(event, payload) {
            Ok(Some(changes)) => changes,
            Ok(None) => return,
            Err(error) => {
                warn!(%error, event, "a presence message could not be read; list unchanged");
                return;
            }
        };
        // A diff held until the state changes nothing yet.
        if !state.list.is_synced() {
            return;
        }
        let mut events: Vec<PresenceEvent> = changes.into_iter().map(PresenceEvent::from).collect();
        events.push(PresenceEvent::Sync);
        state.listeners.retain(|listener| {
            events
                .iter()
                .all(|event| listener.send(event.clone()).is_ok())
        });
    }

    /// The channel rejoined: diffs wait for the new state again.
    pub(crate) fn reset(&self) {
        self.lock().list.reset();
    }
}

impl From<PresenceChange> for PresenceEvent {
    fn from(change: PresenceChange) -> Self {
        match change {
            PresenceChange::Join {
                key,
                before,
                joined,
            } => PresenceEvent::Join {
                key,
                current: before,
                joined,
            },
            PresenceChange::Leave { key, after, left } => PresenceEvent::Leave {
                key,
                current: after,
                left,
            },
        }
    }
}

/// A channel's presence list, kept in sync by the socket, from
/// [`Channel::presence`](super::Channel::presence). Cheap to clone.
#[derive(Clone)]
pub struct PresenceHandle {
    shared: PresenceShared,
}

impl fmt::Debug for PresenceHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.lock();
        f.debug_struct("PresenceHandle")
            .field("keys", &state.list.keys().count())
            .field("synced", &state.list.is_synced())
            .finish()
    }
}

impl PresenceHandle {
    pub(crate) fn new(shared: PresenceShared) -> Self {
        PresenceHandle { shared }
    }

    /// Whether the server's state has arrived since the last (re)join.
    pub fn is_synced(&self) -> bool {
        self.shared.lock().list.is_synced()
    }

    /// Every present key with its presence, in key order.
    pub fn list(&self) -> Vec<(String, Entry)> {
        let state = self.shared.lock();
        state
            .list
            .list()
            .map(|(key, entry)| (key.to_owned(), entry.clone()))
            .collect()
    }

    /// Every present key with what `chooser` makes of its presence (for
    /// example the first meta), like phoenix.js's `list(chooser)`.
    pub fn list_by<T>(&self, mut chooser: impl FnMut(&str, &Entry) -> T) -> Vec<T> {
        let state = self.shared.lock();
        state
            .list
            .list()
            .map(|(key, entry)| chooser(key, entry))
            .collect()
    }

    /// Every present key with its metas deserialized into `M`.
    ///
    /// # Errors
    /// A meta does not deserialize into `M`.
    pub fn list_as<M: DeserializeOwned>(&self) -> Result<Vec<(String, Vec<M>)>, DecodeError> {
        let state = self.shared.lock();
        state
            .list
            .list()
            .map(|(key, entry)| Ok((key.to_owned(), metas_as(entry)?)))
            .collect()
    }

    /// One key's presence.
    pub fn get(&self, key: &str) -> Option<Entry> {
        self.shared.lock().list.get(key).cloned()
    }

    /// A stream of what changes from now on: joins and leaves, each batch
    /// followed by [`PresenceEvent::Sync`]. Unbounded: read it, or drop it.
    pub fn events(&self) -> PresenceEvents {
        let (tx, rx) = queue();
        self.shared.lock().listeners.push(tx);
        PresenceEvents { rx }
    }
}

/// An entry's metas deserialized into `M`.
///
/// # Errors
/// A meta does not deserialize into `M`.
pub fn metas_as<M: DeserializeOwned>(entry: &Entry) -> Result<Vec<M>, DecodeError> {
    entry
        .metas
        .iter()
        .map(|meta| {
            M::deserialize(meta).map_err(|e| DecodeError::Deserialize {
                message: e.to_string(),
            })
        })
        .collect()
}

/// Presence changes, from [`PresenceHandle::events`].
pub struct PresenceEvents {
    rx: QueueReceiver<PresenceEvent>,
}

impl fmt::Debug for PresenceEvents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PresenceEvents")
            .field("queued", &self.rx.len())
            .finish()
    }
}

impl PresenceEvents {
    /// The next change, or `None` once the channel is gone.
    pub async fn recv(&mut self) -> Option<PresenceEvent> {
        self.rx.recv().await
    }

    /// The next change if one is queued now.
    ///
    /// # Errors
    /// [`TryRecvError::Empty`] when nothing is queued yet,
    /// [`TryRecvError::Disconnected`] once the stream has ended.
    pub fn try_recv(&mut self) -> Result<PresenceEvent, TryRecvError> {
        self.rx.try_recv_std()
    }
}

impl Stream for PresenceEvents {
    type Item = PresenceEvent;

    fn poll_next(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<PresenceEvent>> {
        self.rx.poll_recv(cx)
    }
}
