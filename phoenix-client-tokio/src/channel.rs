//! A [`Channel`] of the async API: joins and pushes are futures, server
//! messages a [`Stream`] of [`ChannelEvent`]s.

use std::fmt;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use futures_util::Stream;
use phoenix_proto::client::{ChannelCloseReason, ChannelErrorReason, ChannelId, PushOutcome};
use phoenix_proto::codec::{EncodeError, Payload};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::{mpsc, oneshot};

use crate::client::Client;
use crate::driver::Inbox;
use crate::error::{JoinError, LeaveError, PushError};
use crate::router::{Command, Router};

/// Something that happened on a channel, from [`Channel::events`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChannelEvent {
    /// A push or broadcast from the server.
    Message {
        /// The event name.
        event: String,
        /// The payload: JSON (deserialize it with [`Payload::deserialize`]) or bytes.
        payload: Payload<'static>,
    },
    /// The channel lost its server side and will rejoin by itself.
    Errored(ChannelErrorReason),
    /// The channel joined again after an error or a reconnect.
    Rejoined {
        /// The server's join response.
        response: Payload<'static>,
    },
    /// The server refused a rejoin.
    JoinRefused {
        /// The status.
        status: String,
        /// The response.
        response: Payload<'static>,
    },
    /// The channel is closed for good; the stream ends after this.
    Closed(ChannelCloseReason),
}

/// A reply to a push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Any status; usually `ok` or `error`.
    pub status: String,
    /// Any JSON value, or bytes.
    pub response: Payload<'static>,
}

struct ChannelShared {
    id: Arc<OnceLock<ChannelId>>,
    tx: Mutex<Option<mpsc::Sender<ChannelEvent>>>,
    rx: Mutex<Option<mpsc::Receiver<ChannelEvent>>>,
    subscribed: Arc<AtomicBool>,
    /// The socket's inbox, to leave the channel when the last handle goes.
    socket: mpsc::Sender<Inbox<Router>>,
}

impl Drop for ChannelShared {
    /// The last [`Channel`] handle (and its [`ChannelEvents`]) is gone:
    /// nobody can push, leave or read any more, so leave the channel
    /// rather than keep it joined, and free its topic.
    fn drop(&mut self) {
        let Some(&channel) = self.id.get() else {
            return;
        };
        let (done, _ignored) = oneshot::channel();
        let leave = Inbox::Info(Command::Leave { channel, done });
        match self.socket.try_send(leave) {
            Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => {}
            Err(mpsc::error::TrySendError::Full(leave)) => {
                // The queue is full: wait for room on the runtime, if any.
                if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                    let socket = self.socket.clone();
                    runtime.spawn(async move {
                        let _ = socket.send(leave).await;
                    });
                }
            }
        }
    }
}

/// One topic on a [`Client`]. Cheap to clone; `Send + Sync`.
///
/// Make it with [`Client::channel`], optionally take its
/// [`events`](Self::events) stream, then [`join`](Self::join). When the
/// last clone and its events stream are dropped, the channel is left.
#[derive(Clone)]
pub struct Channel {
    client: Client,
    topic: Arc<str>,
    params: Result<Payload<'static>, EncodeError>,
    shared: Arc<ChannelShared>,
}

impl fmt::Debug for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Channel")
            .field("topic", &self.topic)
            .field("id", &self.shared.id.get())
            .finish()
    }
}

impl Channel {
    pub(crate) fn new(
        client: Client,
        topic: String,
        params: Result<Payload<'static>, EncodeError>,
        capacity: usize,
    ) -> Self {
        let (tx, rx) = mpsc::channel(capacity);
        let socket = client.inbox().clone();
        Channel {
            client,
            topic: topic.into(),
            params,
            shared: Arc::new(ChannelShared {
                id: Arc::new(OnceLock::new()),
                tx: Mutex::new(Some(tx)),
                rx: Mutex::new(Some(rx)),
                subscribed: Arc::new(AtomicBool::new(false)),
                socket,
            }),
        }
    }

    /// The topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The stream of this channel's events. The first call takes it; later
    /// calls return `None`. Take it before [`join`](Self::join) to see every
    /// message. While nobody has taken it (or after it is dropped) the
    /// channel's events are not queued.
    pub fn events(&self) -> Option<ChannelEvents> {
        let rx = self.shared.rx.lock().ok()?.take()?;
        self.shared.subscribed.store(true, Ordering::Release);
        Some(ChannelEvents {
            rx,
            _channel: self.shared.clone(),
        })
    }

    /// Joins with the socket's default timeout and returns the server's
    /// response.
    ///
    /// The timeout runs from the moment the join is sent: while the socket
    /// is not connected the join waits for the connection (across
    /// reconnects), so bound the whole wait with `tokio::time::timeout` if
    /// the server may be unreachable. Dropping this future does not cancel
    /// the join: the handle keeps its channel and can still push or leave.
    ///
    /// # Errors
    /// [`JoinError`]: refused (with the server's response), timed out,
    /// closed, or rejected by the socket.
    pub async fn join(&self) -> Result<Payload<'static>, JoinError> {
        self.join_inner(None).await
    }

    /// [`join`](Self::join) with its own timeout (also used for this
    /// channel's rejoins and leave).
    ///
    /// # Errors
    /// As [`join`](Self::join).
    pub async fn join_with_timeout(
        &self,
        timeout: Duration,
    ) -> Result<Payload<'static>, JoinError> {
        self.join_inner(Some(timeout)).await
    }

    async fn join_inner(&self, timeout: Option<Duration>) -> Result<Payload<'static>, JoinError> {
        let payload = self.params.clone().map_err(JoinError::Encode)?;
        // Room in the queue first: if this future is dropped while waiting
        // for it, the handle has given nothing away and can still join.
        let Ok(permit) = self.client.inbox().reserve().await else {
            // The socket is gone: end this channel's events stream as well.
            drop(self.shared.tx.lock().ok().and_then(|mut tx| tx.take()));
            return Err(JoinError::SocketGone);
        };
        let events = self
            .shared
            .tx
            .lock()
            .ok()
            .and_then(|mut tx| tx.take())
            .ok_or(JoinError::AlreadyJoined)?;
        let (done_tx, done_rx) = oneshot::channel();
        permit.send(Inbox::Info(Command::Join {
            topic: self.topic.to_string(),
            payload,
            timeout,
            events,
            subscribed: self.shared.subscribed.clone(),
            id: self.shared.id.clone(),
            done: done_tx,
        }));
        done_rx.await.map_err(|_| JoinError::SocketGone)?
    }

    fn id(&self) -> Option<ChannelId> {
        self.shared.id.get().copied()
    }

    /// Pushes `event` with a JSON payload and returns the `ok` response
    /// deserialized into `R` (use `serde_json::Value` for anything).
    ///
    /// # Errors
    /// [`PushError::Status`] for any other status; timeouts, failures,
    /// encoding and decoding errors.
    pub async fn push<T, R>(&self, event: &str, payload: &T) -> Result<R, PushError>
    where
        T: Serialize + ?Sized,
        R: DeserializeOwned,
    {
        let payload = Payload::json(payload).map_err(PushError::Encode)?;
        let reply = self.push_raw(event, payload).await?;
        if reply.status != "ok" {
            return Err(PushError::Status {
                status: reply.status,
                response: reply.response,
            });
        }
        reply.response.deserialize().map_err(PushError::Decode)
    }

    /// Pushes a raw payload (JSON or bytes) and returns the reply, whatever
    /// its status.
    ///
    /// # Errors
    /// Timeouts, failures and rejections as [`PushError`].
    pub async fn push_raw(
        &self,
        event: &str,
        payload: Payload<'static>,
    ) -> Result<Reply, PushError> {
        self.push_with_timeout(event, payload, None).await
    }

    /// Pushes bytes (a binary frame) and returns the reply.
    ///
    /// # Errors
    /// As [`push_raw`](Self::push_raw).
    pub async fn push_binary(
        &self,
        event: &str,
        bytes: impl Into<Vec<u8>>,
    ) -> Result<Reply, PushError> {
        self.push_raw(event, Payload::binary(bytes)).await
    }

    /// [`push_raw`](Self::push_raw) with its own timeout (`None`: the socket's default).
    ///
    /// # Errors
    /// As [`push_raw`](Self::push_raw).
    pub async fn push_with_timeout(
        &self,
        event: &str,
        payload: Payload<'static>,
        timeout: Option<Duration>,
    ) -> Result<Reply, PushError> {
        let channel = self.id().ok_or(PushError::NotJoined)?;
        let (tx, rx) = oneshot::channel();
        self.client
            .send(Command::Push {
                channel,
                event: event.to_owned(),
                payload,
                timeout,
                done: tx,
            })
            .await
            .map_err(|_| PushError::SocketGone)?;
        match rx.await.map_err(|_| PushError::SocketGone)?? {
            PushOutcome::Reply { status, response } => Ok(Reply { status, response }),
            PushOutcome::Timeout => Err(PushError::Timeout),
            PushOutcome::Failed(failure) => Err(PushError::Failed(failure)),
            // PushOutcome is non_exhaustive; an outcome this version does not
            // know is still an outcome without a reply.
            other => Err(PushError::Unknown(format!("{other:?}"))),
        }
    }

    /// Sends a push without waiting for its outcome, for events the server
    /// does not answer. The push still times out inside the socket; its
    /// outcome is discarded.
    ///
    /// # Errors
    /// [`PushError::NotJoined`] or [`PushError::SocketGone`].
    pub async fn cast(&self, event: &str, payload: Payload<'static>) -> Result<(), PushError> {
        let channel = self.id().ok_or(PushError::NotJoined)?;
        let (tx, _discarded) = oneshot::channel();
        self.client
            .send(Command::Push {
                channel,
                event: event.to_owned(),
                payload,
                timeout: None,
                done: tx,
            })
            .await
            .map_err(|_| PushError::SocketGone)
    }

    /// Leaves the channel and waits until it is closed.
    ///
    /// # Errors
    /// [`LeaveError`] when the channel never joined, is already closed, or
    /// the socket has stopped.
    pub async fn leave(&self) -> Result<(), LeaveError> {
        let channel = self.id().ok_or(LeaveError::NotJoined)?;
        let (tx, rx) = oneshot::channel();
        self.client
            .send(Command::Leave { channel, done: tx })
            .await
            .map_err(|_| LeaveError::SocketGone)?;
        rx.await.map_err(|_| LeaveError::SocketGone)?
    }
}

/// A channel's events, in order. Ends after [`ChannelEvent::Closed`].
///
/// It keeps the channel alive like a [`Channel`] handle does: the channel
/// is left when the last handle and its stream are dropped.
pub struct ChannelEvents {
    rx: mpsc::Receiver<ChannelEvent>,
    _channel: Arc<ChannelShared>,
}

impl fmt::Debug for ChannelEvents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChannelEvents")
            .field("queued", &self.rx.len())
            .finish_non_exhaustive()
    }
}

impl ChannelEvents {
    /// The next event, or `None` once the channel is closed.
    pub async fn recv(&mut self) -> Option<ChannelEvent> {
        self.rx.recv().await
    }
}

impl Stream for ChannelEvents {
    type Item = ChannelEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}
