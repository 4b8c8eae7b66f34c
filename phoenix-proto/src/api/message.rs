//! What the handles and the socket's loop exchange: the inbox of
//! application messages, the async API's commands, and the flow control
//! between a loop and its handler. Of the API layer it imports only leaves
//! (the errors, the queue under the inbox, the event name, a channel's
//! event queue and presence state), so the handles, the router and the
//! loops all depend on it and never on each other.

use std::fmt;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};

use futures_channel::oneshot;

use super::error::{JoinError, LeaveError, PingError, PushError};
use super::event_text::EventText;
use super::events::EventSender;
use super::presence::PresenceShared;
use super::queue::{QueueReceiver, QueueSender, Taken, queue};
use crate::client::Socket;
use crate::client::handler::{self, Handler, ReplyTo, Stopped};
use crate::client::{ChannelCloseReason, ChannelId, PushOutcome};
use crate::codec::Payload;

/// The most incoming messages or application commands a loop handles in one
/// wake-up before it looks at its other inputs.
pub const MAX_BATCH: usize = 1024;

/// One message from the application's handles to the socket's loop.
pub enum Inbox<H: Handler> {
    /// For [`Handler::handle_info`].
    Info(H::Info),
    /// For [`Handler::handle_call`], with where the answer goes.
    Call(H::Call, oneshot::Sender<H::Reply>),
    /// Stop the socket; the sender is dropped once it has stopped.
    Stop(oneshot::Sender<()>),
}

impl<H: Handler> fmt::Debug for Inbox<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Inbox::Info(_) => "Inbox::Info(..)",
            Inbox::Call(..) => "Inbox::Call(..)",
            Inbox::Stop(_) => "Inbox::Stop(..)",
        })
    }
}

/// The capacity of an inbox and the signal that it has room again.
struct Gate {
    capacity: usize,
    room: event_listener::Event,
}

/// The sending side of a socket's inbox, held by every handle.
///
/// One queue, in order, with a capacity: a sender waits while it is full
/// (back-pressure), except `Drop` implementations, which cannot wait (at
/// most one leave per channel handle). The queue grows with use and gives
/// the memory back, so an idle socket pays for no slots.
pub struct InboxSender<H: Handler> {
    tx: QueueSender<Inbox<H>>,
    gate: Arc<Gate>,
}

impl<H: Handler> Clone for InboxSender<H> {
    fn clone(&self) -> Self {
        InboxSender {
            tx: self.tx.clone(),
            gate: self.gate.clone(),
        }
    }
}

impl<H: Handler> fmt::Debug for InboxSender<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InboxSender")
            .field("queued", &self.tx.len())
            .field("closed", &self.tx.is_closed())
            .finish()
    }
}

/// The receiving side of a socket's inbox, owned by the loop.
pub struct InboxReceiver<H: Handler> {
    rx: QueueReceiver<Inbox<H>>,
    gate: Arc<Gate>,
}

impl<H: Handler> fmt::Debug for InboxReceiver<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InboxReceiver")
            .field("queued", &self.rx.len())
            .finish()
    }
}

/// A new inbox that holds `capacity` messages before senders wait.
pub fn inbox<H: Handler>(capacity: usize) -> (InboxSender<H>, InboxReceiver<H>) {
    let (tx, rx) = queue();
    let gate = Arc::new(Gate {
        capacity: capacity.max(1),
        room: event_listener::Event::new(),
    });
    (
        InboxSender {
            tx,
            gate: gate.clone(),
        },
        InboxReceiver { rx, gate },
    )
}

impl<H: Handler> InboxSender<H> {
    /// Queues a message, waiting while the queue is full. (Senders that
    /// find room at the same instant may together pass the capacity by
    /// their number: it bounds the queue, it is not exact.)
    ///
    /// # Errors
    /// Gives the message back when the socket has stopped.
    pub async fn send(&self, message: Inbox<H>) -> Result<(), Inbox<H>> {
        loop {
            if self.tx.is_closed() || self.tx.len() < self.gate.capacity {
                return self.tx.send(message);
            }
            // Listen first, then look again, so no wake-up slips between.
            let listener = self.gate.room.listen();
            if self.tx.is_closed() || self.tx.len() < self.gate.capacity {
                continue;
            }
            listener.await;
        }
    }

    /// Queues a message without waiting (it may pass the capacity): for
    /// `Drop` implementations, which cannot wait, and for pushes whose
    /// caller waits for the reply (the caller holds the push's memory either
    /// way, queued here or in a future waiting for room; the core's
    /// `max_pending_pushes` bounds how many are accepted).
    ///
    /// # Errors
    /// Gives the message back when the socket has stopped.
    pub(crate) fn send_now(&self, message: Inbox<H>) -> Result<(), Inbox<H>> {
        self.tx.send(message)
    }

    /// Whether the socket has stopped.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

/// What [`InboxReceiver::poll_recv`] found.
#[derive(Debug)]
pub enum Received<H: Handler> {
    /// A message.
    Message(Inbox<H>),
    /// Every handle is gone: nobody can talk to the socket any more.
    AllHandlesGone,
}

impl<H: Handler> InboxReceiver<H> {
    fn took(&self, message: Inbox<H>) -> Received<H> {
        // One message out, room for one waiting sender.
        self.gate.room.notify(1);
        Received::Message(message)
    }

    /// The next message if one is queued now.
    pub fn try_recv(&self) -> Option<Received<H>> {
        match self.rx.try_recv() {
            Taken::Item(message) => Some(self.took(message)),
            Taken::Empty => None,
            Taken::Ended => Some(Received::AllHandlesGone),
        }
    }

    /// Waits for the next message (registers `cx` to be woken).
    pub fn poll_recv(&mut self, cx: &mut TaskContext<'_>) -> Poll<Received<H>> {
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some(message)) => Poll::Ready(self.took(message)),
            Poll::Ready(None) => Poll::Ready(Received::AllHandlesGone),
            Poll::Pending => Poll::Pending,
        }
    }

    /// Stops taking messages: every later send fails with "socket gone",
    /// and every sender waiting for room learns it.
    pub fn close(&self) {
        self.rx.close();
        self.gate.room.notify(usize::MAX);
    }
}

/// Why a loop stopped, and (when a handle asked) who to tell once it is done.
pub type Stop = (Stopped, Option<oneshot::Sender<()>>);

/// Hands one message from the handles to the handler, as every loop does;
/// `Some` when the socket must stop.
pub fn deliver_received<H: Handler>(
    handler: &mut H,
    core: &mut Socket,
    now: Instant,
    message: Received<H>,
) -> Option<Stop> {
    match message {
        Received::Message(Inbox::Info(info)) => {
            handler::deliver_info(handler, core, now, info).map(|s| (s, None))
        }
        Received::Message(Inbox::Call(call, reply_to)) => {
            let reply = ReplyTo::new(move |reply| {
                let _ = reply_to.send(reply);
            });
            handler::deliver_call(handler, core, now, call, reply).map(|s| (s, None))
        }
        Received::Message(Inbox::Stop(done)) => Some((
            Stopped {
                reason: "stopped by the application".into(),
            },
            Some(done),
        )),
        Received::AllHandlesGone => Some((
            Stopped {
                reason: "every handle was dropped".into(),
            },
            None,
        )),
    }
}

/// A command from the async API's handles to its [`Router`](super::Router):
/// opaque, it only passes through a loop's inbox.
pub struct Command(pub(crate) Request);

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.0 {
            Request::Join { .. } => "Command::Join",
            Request::Push { .. } => "Command::Push",
            Request::Leave { .. } => "Command::Leave",
            Request::Ping { .. } => "Command::Ping",
            Request::Connect => "Command::Connect",
            Request::Disconnect => "Command::Disconnect",
        })
    }
}

/// What a channel's handles and the router share, in one allocation (it
/// was five, about 200 bytes per channel with the allocator's overhead).
#[derive(Default)]
pub(crate) struct ChannelLink {
    /// The channel's event queue, taken by the router when it accepts the
    /// join; left in place if the join is dropped unsent, so the handle can
    /// still join.
    /// Boxed: a joined channel's link keeps the empty slot for its whole
    /// life, and eight bytes of it are all an idle socket should pay.
    pub(crate) tx: Mutex<Option<Box<EventSender>>>,
    /// Someone took the channel's event stream.
    pub(crate) subscribed: AtomicBool,
    /// Set by the router as soon as the socket accepts the join, so the
    /// handle knows its channel even if the `join()` future is dropped.
    pub(crate) id: OnceLock<ChannelId>,
    /// The channel's presence list, once someone asked for it.
    pub(crate) presence: OnceLock<PresenceShared>,
    /// Set by the router when the channel closes, so the handle can say
    /// why a second join is refused.
    pub(crate) closed: OnceLock<ChannelCloseReason>,
}

/// What a [`Command`] asks.
pub(crate) enum Request {
    Join {
        topic: String,
        payload: Payload<'static>,
        timeout: Option<Duration>,
        /// What the handle and the router share about the channel.
        link: Arc<ChannelLink>,
        done: oneshot::Sender<Result<Payload<'static>, JoinError>>,
    },
    Push {
        channel: ChannelId,
        event: EventText,
        payload: Payload<'static>,
        timeout: Option<Duration>,
        /// `None` for a cast: nobody waits for the outcome.
        done: Option<oneshot::Sender<Result<PushOutcome, PushError>>>,
    },
    Leave {
        channel: ChannelId,
        done: Option<oneshot::Sender<Result<(), LeaveError>>>,
    },
    Ping {
        done: oneshot::Sender<Result<Duration, PingError>>,
    },
    Connect,
    Disconnect,
}

/// Flow control between a loop and its handler: how many incoming messages
/// the handler can take now, and a way to learn when it can take more.
pub struct Flow<H> {
    /// How many WebSocket messages may be read now (0: stop reading).
    pub budget: fn(&mut H) -> usize,
    /// Ready once the budget may have grown again; registers `cx` otherwise.
    pub poll_room: fn(&mut H, &mut TaskContext<'_>) -> Poll<()>,
}

impl<H> fmt::Debug for Flow<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Flow(..)")
    }
}

impl<H> Flow<H> {
    /// For handlers that take every message at once (plain callbacks).
    pub fn unbounded() -> Self {
        Flow {
            budget: |_| MAX_BATCH,
            poll_room: |_, _| Poll::Ready(()),
        }
    }
}
