//! A [`Channel`] of the async API: joins and pushes are futures, server
//! messages a [`Stream`] of [`ChannelEvent`]s.

use crate::client::Name;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::mpsc::TryRecvError;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use futures_channel::oneshot;
use futures_util::Stream;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::client::Shared;
use super::error::{JoinError, LeaveError, PushError};
use super::event_text::EventText;
use super::events::{ChannelEvent, EventReceiver, event_queue};
use super::message::{ChannelLink, Command, Inbox, Request};
use super::presence::{PresenceHandle, PresenceShared};
use crate::client::{ChannelId, PushOutcome};
use crate::codec::{EncodeError, Payload};

/// A reply to a push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Any status; usually `ok` or `error`.
    pub status: Name,
    /// Any JSON value, or bytes.
    pub response: Payload<'static>,
}

struct ChannelShared {
    link: Arc<ChannelLink>,
    /// Boxed, like [`ChannelLink::tx`]: taken by the first `events()`.
    rx: Mutex<Option<Box<EventReceiver>>>,
    /// The socket, to leave the channel when the last handle goes.
    socket: Arc<Shared>,
}

impl Drop for ChannelShared {
    /// The last [`Channel`] handle (and its [`ChannelEvents`]) is gone:
    /// nobody can push, leave or read any more, so leave the channel
    /// rather than keep it joined, and free its topic.
    fn drop(&mut self) {
        if let Some(&channel) = self.link.id.get() {
            let leave = Request::Leave {
                channel,
                done: None,
            };
            let _ = self.socket.inbox.send_now(Inbox::Info(Command(leave)));
        }
    }
}

pub(crate) fn take<T>(slot: &Mutex<Option<T>>) -> Option<T> {
    slot.lock().unwrap_or_else(PoisonError::into_inner).take()
}

fn is_some<T>(slot: &Mutex<Option<T>>) -> bool {
    slot.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .is_some()
}

/// One topic on a [`Client`](super::Client). Cheap to clone; `Send + Sync`.
///
/// Make it with [`Client::channel`](super::Client::channel), optionally
/// take its [`events`](Self::events) stream, then [`join`](Self::join).
/// When the last clone and its events stream are dropped, the channel is
/// left.
#[derive(Clone)]
pub struct Channel {
    topic: Arc<str>,
    params: Result<Payload<'static>, EncodeError>,
    shared: Arc<ChannelShared>,
}

impl fmt::Debug for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Channel")
            .field("topic", &self.topic)
            .field("id", &self.shared.link.id.get())
            .finish()
    }
}

impl Channel {
    pub(crate) fn new(
        socket: Arc<Shared>,
        topic: String,
        params: Result<Payload<'static>, EncodeError>,
    ) -> Self {
        let (tx, rx) = event_queue(socket.channel_capacity, socket.room.clone());
        Channel {
            topic: topic.into(),
            params,
            shared: Arc::new(ChannelShared {
                link: Arc::new(ChannelLink {
                    tx: Mutex::new(Some(Box::new(tx))),
                    ..ChannelLink::default()
                }),
                rx: Mutex::new(Some(Box::new(rx))),
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
        let rx = *take(&self.shared.rx)?;
        self.shared.link.subscribed.store(true, Ordering::Release);
        Some(ChannelEvents {
            rx,
            _channel: self.shared.clone(),
        })
    }

    /// This channel's presence list, kept in sync by the socket: the
    /// server's `presence_state` and `presence_diff` are applied as they
    /// arrive (diffs held until the state) and the list is reset on every
    /// rejoin. Ask for it before [`join`](Self::join) so the first state is
    /// not missed. The messages still reach [`events`](Self::events) too.
    pub fn presence(&self) -> PresenceHandle {
        PresenceHandle::new(
            self.shared
                .link
                .presence
                .get_or_init(PresenceShared::new)
                .clone(),
        )
    }

    /// Joins with the socket's default timeout and returns the server's
    /// response.
    ///
    /// The timeout runs from the moment the join is sent: while the socket
    /// is not connected the join waits for the connection (across
    /// reconnects), so bound the whole wait with your runtime's timeout if
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

    /// Hands the join to the socket without waiting, and returns its
    /// [`PendingJoin`]: the way to join many channels (or the channels of
    /// many sockets) at once and then wait for each. `timeout` `None` is
    /// the socket's default; as with [`join`](Self::join), it runs from the
    /// moment the join is sent.
    pub fn start_join(&self, timeout: Option<Duration>) -> PendingJoin {
        let (join, done) = match self.join_request(timeout) {
            Ok(request) => request,
            Err(error) => return PendingJoin::failed(error),
        };
        match self.shared.socket.send_now(join) {
            Ok(()) => PendingJoin { state: Ok(done) },
            Err(_) => {
                // The socket is gone: end this channel's events stream too.
                drop(take(&self.shared.link.tx));
                PendingJoin::failed(JoinError::SocketGone)
            }
        }
    }

    /// The join's request for the socket, and where its outcome arrives.
    fn join_request(&self, timeout: Option<Duration>) -> Result<(Request, JoinDone), JoinError> {
        let payload = self.params.clone().map_err(JoinError::Encode)?;
        if !is_some(&self.shared.link.tx) {
            return Err(match self.shared.link.closed.get() {
                Some(reason) => JoinError::ChannelClosed(reason.clone()),
                None => JoinError::AlreadyJoined,
            });
        }
        let (done_tx, done_rx) = oneshot::channel();
        let join = Request::Join {
            topic: self.topic.to_string(),
            payload,
            timeout,
            link: self.shared.link.clone(),
            done: done_tx,
        };
        Ok((join, done_rx))
    }

    async fn join_inner(&self, timeout: Option<Duration>) -> Result<Payload<'static>, JoinError> {
        let (join, done_rx) = self.join_request(timeout)?;
        match self
            .shared
            .socket
            .inbox
            .send(Inbox::Info(Command(join)))
            .await
        {
            Ok(()) => {}
            Err(_) => {
                // The socket is gone: end this channel's events stream too.
                drop(take(&self.shared.link.tx));
                return Err(JoinError::SocketGone);
            }
        }
        done_rx.await.map_err(|_| JoinError::SocketGone)?
    }

    fn id(&self) -> Option<ChannelId> {
        self.shared.link.id.get().copied()
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
        self.start_push(event, payload, timeout).await
    }

    /// Hands a push to the socket now and returns its [`PendingPush`], which
    /// resolves to the reply. The way to keep many pushes in flight: the
    /// push is queued before this returns, in order, without waiting for
    /// room in the socket's queue (the pending push holds its memory either
    /// way; the socket refuses pushes past
    /// [`max_pending_pushes`](crate::client::Config::max_pending_pushes)
    /// with [`PushError::Rejected`]`(TooManyPending)`). Dropping the `PendingPush` does
    /// not withdraw the push; its outcome is then discarded.
    ///
    /// `timeout` `None` is the socket's default. Errors known at once
    /// (not joined, socket gone) come out of the `PendingPush`.
    pub fn start_push(
        &self,
        event: &str,
        payload: Payload<'static>,
        timeout: Option<Duration>,
    ) -> PendingPush {
        let Some(channel) = self.id() else {
            return PendingPush::failed(PushError::NotJoined);
        };
        let (tx, rx) = oneshot::channel();
        let request = Request::Push {
            channel,
            event: EventText::new(event),
            payload,
            timeout,
            done: Some(tx),
        };
        match self.shared.socket.send_now(request) {
            Ok(()) => PendingPush { state: Ok(rx) },
            Err(_) => PendingPush::failed(PushError::SocketGone),
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
        self.shared
            .socket
            .send(Request::Push {
                channel,
                event: EventText::new(event),
                payload,
                timeout: None,
                done: None,
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
        self.shared
            .socket
            .send(Request::Leave {
                channel,
                done: Some(tx),
            })
            .await
            .map_err(|_| LeaveError::SocketGone)?;
        rx.await.map_err(|_| LeaveError::SocketGone)?
    }
}

/// A push handed to the socket by [`Channel::start_push`]: a future of its
/// reply (any status), a timeout or the reason it failed. Exactly one
/// outcome, like every push.
#[must_use = "the push is sent either way; the PendingPush is its outcome"]
pub struct PendingPush {
    state: Result<oneshot::Receiver<Result<PushOutcome, PushError>>, Option<PushError>>,
}

impl fmt::Debug for PendingPush {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingPush")
            .field("failed", &self.state.as_ref().err())
            .finish_non_exhaustive()
    }
}

impl PendingPush {
    fn failed(error: PushError) -> Self {
        PendingPush {
            state: Err(Some(error)),
        }
    }
}

impl Future for PendingPush {
    type Output = Result<Reply, PushError>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let rx = match &mut self.get_mut().state {
            Ok(rx) => rx,
            // Polled after it gave its error: the error was given already.
            Err(error) => return Poll::Ready(Err(error.take().unwrap_or(PushError::SocketGone))),
        };
        let outcome = match Pin::new(rx).poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Err(_)) => return Poll::Ready(Err(PushError::SocketGone)),
            Poll::Ready(Ok(result)) => result,
        };
        Poll::Ready(match outcome {
            Ok(PushOutcome::Reply { status, response }) => Ok(Reply { status, response }),
            Ok(PushOutcome::Timeout) => Err(PushError::Timeout),
            Ok(PushOutcome::Failed(failure)) => Err(PushError::Failed(failure)),
            Err(error) => Err(error),
        })
    }
}

/// Where a join's outcome arrives.
type JoinDone = oneshot::Receiver<Result<Payload<'static>, JoinError>>;

/// A join handed to the socket by [`Channel::start_join`]: a future of the
/// server's response or why the join failed, like [`Channel::join`]'s.
#[must_use = "the join is sent either way; the PendingJoin is its outcome"]
pub struct PendingJoin {
    state: Result<JoinDone, Option<JoinError>>,
}

impl fmt::Debug for PendingJoin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingJoin")
            .field("failed", &self.state.as_ref().err())
            .finish_non_exhaustive()
    }
}

impl PendingJoin {
    fn failed(error: JoinError) -> Self {
        PendingJoin {
            state: Err(Some(error)),
        }
    }
}

impl Future for PendingJoin {
    type Output = Result<Payload<'static>, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        match &mut self.get_mut().state {
            Ok(done) => Pin::new(done)
                .poll(cx)
                .map(|outcome| outcome.unwrap_or(Err(JoinError::SocketGone))),
            // Polled after it gave its error: the error was given already.
            Err(error) => Poll::Ready(Err(error.take().unwrap_or(JoinError::SocketGone))),
        }
    }
}

/// A channel's events, in order. Ends after [`ChannelEvent::Closed`].
///
/// It keeps the channel alive like a [`Channel`] handle does: the channel
/// is left when the last handle and its stream are dropped.
pub struct ChannelEvents {
    rx: EventReceiver,
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
        std::future::poll_fn(|cx| self.rx.poll_recv(cx)).await
    }

    /// The next event if one is queued now.
    ///
    /// # Errors
    /// [`TryRecvError::Empty`] when nothing is queued yet,
    /// [`TryRecvError::Disconnected`] once the stream has ended.
    pub fn try_recv(&mut self) -> Result<ChannelEvent, TryRecvError> {
        self.rx.try_recv()
    }
}

impl Stream for ChannelEvents {
    type Item = ChannelEvent;

    fn poll_next(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().rx.poll_recv(cx)
    }
}
