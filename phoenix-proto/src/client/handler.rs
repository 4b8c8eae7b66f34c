//! The callback model of the original Elixir library
//! (phoenix_gen_socket_client), shared by every driver.
//!
//! A [`Handler`] owns the application state. Each callback gets a
//! [`Context`] through which it joins, leaves, pushes, connects and
//! disconnects, and returns an [`Action`]: carry on, connect now, connect to
//! a new URL or with new parameters, or stop. Callbacks are plain functions;
//! they run one at a time, on the driver's task or thread.
//!
//! Unlike the original library, channel crashes (`phx_error`) have their
//! own callback ([`Handler::handle_channel_errored`]) and do not look like
//! a normal close; rejoins, heartbeats and reconnects are automatic (see
//! [`Config`](super::Config)).
//!
//! A driver calls [`deliver_events`] after every input, once it has carried
//! out the socket's instructions (and carries out the ones the callbacks
//! caused right after):
//!
//! ```
//! use std::time::Instant;
//! use phoenix_proto::client::handler::{deliver_events, Action, Context, Handler};
//! use phoenix_proto::client::{Config, Instruction, Socket};
//! use phoenix_proto::codec::Payload;
//!
//! struct Greeter;
//! impl Handler for Greeter {
//!     // No messages or calls from the application.
//!     phoenix_proto::no_mailbox!();
//!
//!     // Runs on every connect; joining again just returns the channel.
//!     fn handle_connected(&mut self, ctx: &mut Context<'_>) -> Action {
//!         ctx.join("room:lobby", Payload::empty()).ok();
//!         Action::Continue
//!     }
//! }
//!
//! let now = Instant::now();
//! let mut socket = Socket::new(Config::new("ws://127.0.0.1:4000/socket"));
//! let mut handler = Greeter;
//! assert!(phoenix_proto::client::handler::init(&mut handler, &mut socket, now).is_none());
//! assert!(matches!(socket.poll_instruction(), Some(Instruction::Connect(_))));
//! socket.handle_connected(now);
//! assert!(deliver_events(&mut handler, &mut socket, now).is_none());
//! // handle_connected joined the lobby:
//! assert!(matches!(socket.poll_instruction(), Some(Instruction::Send(_))));
//! ```

use super::name::Name;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::codec::{DecodeError, Payload};
use crate::presence::{Presence, PresenceChange};

use super::channel::ChannelState;
use super::config::Secret;
use super::error::{JoinError, LeaveError, PingError, PushError};
use super::event::{ChannelCloseReason, ChannelErrorReason, DisconnectReason, Event, PushOutcome};
use super::ids::{ChannelId, PushId};
use super::socket::Socket;

/// What a callback wants next.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Action {
    /// Carry on.
    #[default]
    Continue,
    /// Connect now, unless already connected or connecting.
    Connect,
    /// Reconnect now with a new endpoint and/or new query parameters (the
    /// original's `{:connect, url, params, state}`, e.g. a refreshed token).
    ConnectTo {
        /// A new endpoint, or `None` to keep the current one.
        endpoint: Option<String>,
        /// New query parameters, or `None` to keep the current ones
        /// ([`Config::params_fn`](super::Config::params_fn), when set,
        /// replaces them at the attempt anyway).
        params: Option<Vec<(String, Secret)>>,
    },
    /// Close the connection and stop reconnecting (the handler keeps running).
    Disconnect,
    /// Stop the socket: the driver closes the connection and ends.
    Stop {
        /// Why, for logs and for whoever waits on the socket.
        reason: String,
    },
}

/// Why a driver stopped running a handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stopped {
    /// The reason the handler gave.
    pub reason: String,
}

/// The socket as a callback sees it: commands with the current time filled in.
#[derive(Debug)]
pub struct Context<'a> {
    socket: &'a mut Socket,
    now: Instant,
}

impl<'a> Context<'a> {
    /// A context over `socket` at `now`.
    pub fn new(socket: &'a mut Socket, now: Instant) -> Self {
        Context { socket, now }
    }

    /// The current time, as the driver read it.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// The socket, for anything the shortcuts below do not cover.
    pub fn socket(&mut self) -> &mut Socket {
        self.socket
    }

    /// Whether the connection is open.
    pub fn is_connected(&self) -> bool {
        self.socket.is_connected()
    }

    /// A channel's state, `None` once closed.
    pub fn channel_state(&self, channel: ChannelId) -> Option<ChannelState> {
        self.socket.channel_state(channel)
    }

    /// Joins `topic`, or returns the channel already joined (or joining,
    /// or rejoining) on it. So the natural code is right: joining in
    /// [`Handler::handle_connected`] runs on every connect, and channels
    /// joined before rejoin by themselves, so later calls just return them.
    /// [`Socket::join`] is the strict form.
    ///
    /// # Errors
    /// [`JoinError::InvalidTopic`] or [`JoinError::BinaryPayload`].
    pub fn join(&mut self, topic: &str, payload: Payload<'static>) -> Result<ChannelId, JoinError> {
        match self.socket.join(self.now, topic, payload) {
            Err(JoinError::AlreadyJoined { channel }) => Ok(channel),
            other => other,
        }
    }

    /// Asks the socket to keep `channel`'s presence list in sync (see
    /// [`Socket::track_presence`]); [`Handler::handle_presence`] hears
    /// each change.
    pub fn track_presence(&mut self, channel: ChannelId) -> bool {
        self.socket.track_presence(channel)
    }

    /// The presence list kept for `channel`.
    pub fn presence(&self, channel: ChannelId) -> Option<&Presence> {
        self.socket.presence(channel)
    }

    /// See [`Socket::ping`].
    ///
    /// # Errors
    /// As [`Socket::ping`].
    pub fn ping(&mut self) -> Result<(), PingError> {
        self.socket.ping(self.now)
    }

    /// See [`Socket::leave`].
    ///
    /// # Errors
    /// As [`Socket::leave`].
    pub fn leave(&mut self, channel: ChannelId) -> Result<(), LeaveError> {
        self.socket.leave(self.now, channel)
    }

    /// See [`Socket::push`].
    ///
    /// # Errors
    /// As [`Socket::push`].
    pub fn push(
        &mut self,
        channel: ChannelId,
        event: &str,
        payload: Payload<'static>,
    ) -> Result<PushId, PushError> {
        self.socket.push(self.now, channel, event, payload)
    }

    /// See [`Socket::push_with_timeout`].
    ///
    /// # Errors
    /// As [`Socket::push`].
    pub fn push_with_timeout(
        &mut self,
        channel: ChannelId,
        event: &str,
        payload: Payload<'static>,
        timeout: Duration,
    ) -> Result<PushId, PushError> {
        self.socket
            .push_with_timeout(self.now, channel, event, payload, timeout)
    }

    /// See [`Socket::connect`].
    pub fn connect(&mut self) {
        self.socket.connect(self.now);
    }

    /// See [`Socket::disconnect`].
    pub fn disconnect(&mut self) {
        self.socket.disconnect(self.now);
    }
}

/// The application's side of a socket, one callback per kind of event.
/// Every callback but [`handle_call`](Self::handle_call) has a default that
/// does nothing and returns [`Action::Continue`].
pub trait Handler {
    /// Messages the application sends to the socket (the original's `handle_info`).
    type Info;
    /// Requests that expect an answer (the original's `handle_call`).
    type Call;
    /// The answer to a [`Call`](Self::Call); it travels to the caller's
    /// thread.
    type Reply: Send + 'static;

    /// Runs once when the driver starts. The default connects at once;
    /// return [`Action::Continue`] to connect later.
    fn init(&mut self, ctx: &mut Context<'_>) -> Action {
        let _ = ctx;
        Action::Connect
    }

    /// A connection attempt started; `attempt` counts them since the last
    /// stable connection (1 for the first).
    fn handle_connecting(&mut self, ctx: &mut Context<'_>, attempt: u32) -> Action {
        let _ = (ctx, attempt);
        Action::Continue
    }

    /// The connection opened. Channels joined earlier rejoin by themselves.
    fn handle_connected(&mut self, ctx: &mut Context<'_>) -> Action {
        let _ = ctx;
        Action::Continue
    }

    /// The connection is gone or could not be opened; `reconnect_in` says
    /// when the next attempt is scheduled, if any.
    fn handle_disconnected(
        &mut self,
        ctx: &mut Context<'_>,
        reason: DisconnectReason,
        reconnect_in: Option<Duration>,
    ) -> Action {
        let _ = (ctx, reason, reconnect_in);
        Action::Continue
    }

    /// A join (or rejoin) succeeded with `response`.
    fn handle_joined(
        &mut self,
        ctx: &mut Context<'_>,
        channel: ChannelId,
        topic: Arc<str>,
        response: Payload<'static>,
        rejoin: bool,
    ) -> Action {
        let _ = (ctx, channel, topic, response, rejoin);
        Action::Continue
    }

    /// The server refused a join with `status` (usually `error`) and
    /// `response` (e.g. `{"reason":"unauthorized"}`). `will_retry` says
    /// whether the channel tries again on the rejoin schedule
    /// ([`Config::rejoin_after_refusal`](super::Config::rejoin_after_refusal));
    /// when false, [`handle_channel_closed`](Self::handle_channel_closed)
    /// follows.
    fn handle_join_error(
        &mut self,
        ctx: &mut Context<'_>,
        channel: ChannelId,
        topic: Arc<str>,
        status: Name,
        response: Payload<'static>,
        will_retry: bool,
    ) -> Action {
        let _ = (ctx, channel, topic, status, response, will_retry);
        Action::Continue
    }

    /// A channel closed for good (left, stopped by the server, refused).
    fn handle_channel_closed(
        &mut self,
        ctx: &mut Context<'_>,
        channel: ChannelId,
        topic: Arc<str>,
        reason: ChannelCloseReason,
    ) -> Action {
        let _ = (ctx, channel, topic, reason);
        Action::Continue
    }

    /// A channel errored (crash, lost connection, join timeout); it rejoins
    /// by itself.
    fn handle_channel_errored(
        &mut self,
        ctx: &mut Context<'_>,
        channel: ChannelId,
        topic: Arc<str>,
        reason: ChannelErrorReason,
    ) -> Action {
        let _ = (ctx, channel, topic, reason);
        Action::Continue
    }

    /// A push or broadcast from the server.
    fn handle_message(
        &mut self,
        ctx: &mut Context<'_>,
        channel: ChannelId,
        topic: Arc<str>,
        event: Name,
        payload: Payload<'static>,
    ) -> Action {
        let _ = (ctx, channel, topic, event, payload);
        Action::Continue
    }

    /// The outcome of a push: a reply, a timeout, or a failure.
    fn handle_reply(
        &mut self,
        ctx: &mut Context<'_>,
        channel: ChannelId,
        push: PushId,
        outcome: PushOutcome,
    ) -> Action {
        let _ = (ctx, channel, push, outcome);
        Action::Continue
    }

    /// The server sent a frame that could not be decoded (it was dropped).
    fn handle_malformed_frame(&mut self, ctx: &mut Context<'_>, error: DecodeError) -> Action {
        let _ = (ctx, error);
        Action::Continue
    }

    /// The presence list kept for `channel` (see [`Context::track_presence`])
    /// changed; read it whole with [`Context::presence`].
    fn handle_presence(
        &mut self,
        ctx: &mut Context<'_>,
        channel: ChannelId,
        topic: Arc<str>,
        changes: Vec<PresenceChange>,
    ) -> Action {
        let _ = (ctx, channel, topic, changes);
        Action::Continue
    }

    /// Every event the socket had was handed to the callbacks (called once
    /// after each batch of them, before the loop waits for more): the place
    /// to hand over what was gathered per event in one go, for instance to
    /// wake another thread once per batch instead of once per message.
    fn handle_batch_end(&mut self, ctx: &mut Context<'_>) -> Action {
        let _ = ctx;
        Action::Continue
    }

    /// A heartbeat or a [`Context::ping`] was answered after `rtt`.
    fn handle_pong(&mut self, ctx: &mut Context<'_>, rtt: Duration, requested: bool) -> Action {
        let _ = (ctx, rtt, requested);
        Action::Continue
    }

    /// A message from the application.
    fn handle_info(&mut self, ctx: &mut Context<'_>, info: Self::Info) -> Action {
        let _ = (ctx, info);
        Action::Continue
    }

    /// A request from the application that expects an answer: answer it
    /// with `reply.send(..)`, now or from any later callback (keep the
    /// token in the handler's state: the seed's `{:noreply, state}` and
    /// `reply(from, ..)`), for example once the server replied to a push.
    /// A token dropped unanswered, and every one still held when the
    /// socket stops, gives the caller an error: it never hangs. The default
    /// drops it.
    fn handle_call(
        &mut self,
        ctx: &mut Context<'_>,
        call: Self::Call,
        reply: ReplyTo<Self::Reply>,
    ) -> Action {
        let _ = (ctx, call, reply);
        Action::Continue
    }
}

/// The answer to one [`Handler::handle_call`], to send now or later, once.
pub struct ReplyTo<R> {
    send: Box<dyn FnOnce(R) + Send>,
}

impl<R> ReplyTo<R> {
    /// A token that hands the answer to `send` (drivers make these).
    pub fn new(send: impl FnOnce(R) + Send + 'static) -> Self {
        ReplyTo {
            send: Box::new(send),
        }
    }

    /// Answers the call.
    pub fn send(self, reply: R) {
        (self.send)(reply);
    }
}

impl<R> fmt::Debug for ReplyTo<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReplyTo(..)")
    }
}

/// The associated types of a [`Handler`] that takes no messages and no
/// calls from the application: `impl Handler for Mine { no_mailbox!(); .. }`.
#[macro_export]
macro_rules! no_mailbox {
    () => {
        type Info = ();
        type Call = ();
        type Reply = ();
    };
}

/// Hands one event to the matching callback, with every field it carries.
pub fn dispatch<H: Handler + ?Sized>(
    handler: &mut H,
    ctx: &mut Context<'_>,
    event: Event,
) -> Action {
    // Every pattern names all its fields (no `..`), so a field added to an
    // event does not compile until it reaches its callback.
    match event {
        Event::Connecting { attempt } => handler.handle_connecting(ctx, attempt),
        Event::Connected => handler.handle_connected(ctx),
        Event::Disconnected {
            reason,
            reconnect_in,
        } => handler.handle_disconnected(ctx, reason, reconnect_in),
        Event::Joined {
            channel,
            topic,
            response,
            rejoin,
        } => handler.handle_joined(ctx, channel, topic, response, rejoin),
        Event::JoinRefused {
            channel,
            topic,
            status,
            response,
            will_retry,
        } => handler.handle_join_error(ctx, channel, topic, status, response, will_retry),
        Event::ChannelErrored {
            channel,
            topic,
            reason,
        } => handler.handle_channel_errored(ctx, channel, topic, reason),
        Event::ChannelClosed {
            channel,
            topic,
            reason,
        } => handler.handle_channel_closed(ctx, channel, topic, reason),
        Event::Message {
            channel,
            topic,
            event,
            payload,
        } => handler.handle_message(ctx, channel, topic, event, payload),
        Event::PushDone {
            push,
            channel,
            outcome,
        } => handler.handle_reply(ctx, channel, push, outcome),
        Event::MalformedFrame { error } => handler.handle_malformed_frame(ctx, error),
        Event::Pong { rtt, requested } => handler.handle_pong(ctx, rtt, requested),
        Event::PresenceChanged {
            channel,
            topic,
            changes,
        } => handler.handle_presence(ctx, channel, topic, changes),
    }
}

/// Carries out an action on the socket. Returns `Some` when the handler asked to stop.
// Inlined: every event's callback ends here, nearly always with
// `Continue`; as a call it cost about 45 instructions per event, moving the
// action in and dropping it (callgrind, BENCHMARKS.md item 28).
#[inline]
pub fn apply(socket: &mut Socket, now: Instant, action: Action) -> Option<Stopped> {
    match action {
        Action::Continue => None,
        Action::Connect => {
            socket.connect(now);
            None
        }
        Action::ConnectTo { endpoint, params } => {
            socket.reconnect_with(now, endpoint, params);
            None
        }
        Action::Disconnect => {
            socket.disconnect(now);
            None
        }
        Action::Stop { reason } => {
            socket.disconnect(now);
            Some(Stopped { reason })
        }
    }
}

/// Runs [`Handler::init`] and applies its action.
pub fn init<H: Handler + ?Sized>(
    handler: &mut H,
    socket: &mut Socket,
    now: Instant,
) -> Option<Stopped> {
    let action = handler.init(&mut Context::new(socket, now));
    apply(socket, now, action)
}

/// Drains every pending event through the handler, applying each action,
/// then calls [`Handler::handle_batch_end`] if there was any. Stops at the
/// first [`Action::Stop`] and returns it; later events stay queued.
pub fn deliver_events<H: Handler + ?Sized>(
    handler: &mut H,
    socket: &mut Socket,
    now: Instant,
) -> Option<Stopped> {
    match deliver_pending(handler, socket, now) {
        Err(stopped) => Some(stopped),
        Ok(true) => end_batch(handler, socket, now),
        Ok(false) => None,
    }
}

/// [`deliver_events`] without the batch's end: for a loop that hands over
/// each message's events as soon as it has fed the message (while its
/// memory is still in the cache, and before the next message's
/// allocations pile up on it), then ends the batch once with [`end_batch`].
/// `Ok(true)` when any event was delivered; `Err` at the first
/// [`Action::Stop`] (later events stay queued).
///
/// # Errors
/// The handler stopped the socket.
pub fn deliver_pending<H: Handler + ?Sized>(
    handler: &mut H,
    socket: &mut Socket,
    now: Instant,
) -> Result<bool, Stopped> {
    let mut delivered = false;
    while let Some(event) = socket.poll_event() {
        delivered = true;
        let action = dispatch(handler, &mut Context::new(socket, now), event);
        if let Some(stopped) = apply(socket, now, action) {
            return Err(stopped);
        }
    }
    Ok(delivered)
}

/// Calls [`Handler::handle_batch_end`] and applies its action: after a
/// batch whose events went through [`deliver_pending`].
pub fn end_batch<H: Handler + ?Sized>(
    handler: &mut H,
    socket: &mut Socket,
    now: Instant,
) -> Option<Stopped> {
    let action = handler.handle_batch_end(&mut Context::new(socket, now));
    apply(socket, now, action)
}

/// Hands an application message to [`Handler::handle_info`] and applies the action.
pub fn deliver_info<H: Handler + ?Sized>(
    handler: &mut H,
    socket: &mut Socket,
    now: Instant,
    info: H::Info,
) -> Option<Stopped> {
    let action = handler.handle_info(&mut Context::new(socket, now), info);
    apply(socket, now, action)
}

/// Hands a request to [`Handler::handle_call`] with the token its answer
/// goes through, and applies the action.
pub fn deliver_call<H: Handler + ?Sized>(
    handler: &mut H,
    socket: &mut Socket,
    now: Instant,
    call: H::Call,
    reply: ReplyTo<H::Reply>,
) -> Option<Stopped> {
    let action = handler.handle_call(&mut Context::new(socket, now), call, reply);
    apply(socket, now, action)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::{Config, PushFailure};
    use crate::codec::DecodeError;

    /// Records each callback with everything it was given.
    #[derive(Default)]
    struct Recorder {
        calls: Vec<String>,
    }

    impl Handler for Recorder {
        type Info = ();
        type Call = ();
        type Reply = ();
        fn handle_connected(&mut self, _: &mut Context<'_>) -> Action {
            self.calls.push("connected".into());
            Action::Continue
        }
        fn handle_disconnected(
            &mut self,
            _: &mut Context<'_>,
            reason: DisconnectReason,
            reconnect_in: Option<Duration>,
        ) -> Action {
            self.calls
                .push(format!("disconnected {reason:?} {reconnect_in:?}"));
            Action::Continue
        }
        fn handle_joined(
            &mut self,
            _: &mut Context<'_>,
            channel: ChannelId,
            topic: Arc<str>,
            response: Payload<'static>,
            rejoin: bool,
        ) -> Action {
            self.calls
                .push(format!("joined {channel} {topic} {response:?} {rejoin}"));
            Action::Continue
        }
        fn handle_join_error(
            &mut self,
            _: &mut Context<'_>,
            channel: ChannelId,
            topic: Arc<str>,
            status: Name,
            response: Payload<'static>,
            will_retry: bool,
        ) -> Action {
            self.calls.push(format!(
                "join_error {channel} {topic} {status} {response:?} {will_retry}"
            ));
            Action::Continue
        }
        fn handle_channel_closed(
            &mut self,
            _: &mut Context<'_>,
            channel: ChannelId,
            topic: Arc<str>,
            reason: ChannelCloseReason,
        ) -> Action {
            self.calls
                .push(format!("closed {channel} {topic} {reason:?}"));
            Action::Continue
        }
        fn handle_channel_errored(
            &mut self,
            _: &mut Context<'_>,
            channel: ChannelId,
            topic: Arc<str>,
            reason: ChannelErrorReason,
        ) -> Action {
            self.calls
                .push(format!("errored {channel} {topic} {reason:?}"));
            Action::Continue
        }
        fn handle_message(
            &mut self,
            _: &mut Context<'_>,
            channel: ChannelId,
            topic: Arc<str>,
            event: Name,
            payload: Payload<'static>,
        ) -> Action {
            self.calls
                .push(format!("message {channel} {topic} {event} {payload:?}"));
            Action::Continue
        }
        fn handle_reply(
            &mut self,
            _: &mut Context<'_>,
            channel: ChannelId,
            push: PushId,
            outcome: PushOutcome,
        ) -> Action {
            self.calls
                .push(format!("reply {channel} {push} {outcome:?}"));
            Action::Continue
        }
        fn handle_malformed_frame(&mut self, _: &mut Context<'_>, error: DecodeError) -> Action {
            self.calls.push(format!("malformed {error:?}"));
            Action::Continue
        }
        fn handle_batch_end(&mut self, _: &mut Context<'_>) -> Action {
            self.calls.push("batch end".into());
            Action::Continue
        }
    }

    #[test]
    fn batch_end_follows_each_batch_of_events_and_nothing_else() {
        let now = Instant::now();
        let mut socket = Socket::new(Config::new("ws://h/socket"));
        let mut handler = Recorder::default();
        // No events: no call.
        assert_eq!(deliver_events(&mut handler, &mut socket, now), None);
        assert!(handler.calls.is_empty());
        socket.connect(now);
        socket.handle_connected(now);
        assert_eq!(deliver_events(&mut handler, &mut socket, now), None);
        // Connecting and Connected, then one batch end after both.
        assert_eq!(handler.calls, ["connected", "batch end"]);
        assert_eq!(deliver_events(&mut handler, &mut socket, now), None);
        assert_eq!(handler.calls.len(), 2);
    }

    #[test]
    fn every_field_of_every_event_reaches_its_callback() {
        let now = Instant::now();
        let mut socket = Socket::new(Config::new("ws://h/socket"));
        let mut handler = Recorder::default();
        let (channel, push) = (ChannelId(3), PushId(4));
        let topic: Arc<str> = Arc::from("t:1");
        let json = |text: &str| Payload::raw_json(text).unwrap_or_else(|_| Payload::empty());
        let malformed = crate::codec::decode_server_text("[").expect_err("not a frame");
        let events = vec![
            Event::Connected,
            Event::Disconnected {
                reason: DisconnectReason::HeartbeatTimeout,
                reconnect_in: Some(Duration::from_millis(10)),
            },
            Event::Joined {
                channel,
                topic: topic.clone(),
                response: json(r#"{"j":1}"#),
                rejoin: true,
            },
            Event::JoinRefused {
                channel,
                topic: topic.clone(),
                status: "error".into(),
                response: json(r#"{"reason":"no"}"#),
                will_retry: true,
            },
            Event::JoinRefused {
                channel,
                topic: topic.clone(),
                status: "nope".into(),
                response: json("{}"),
                will_retry: false,
            },
            Event::ChannelErrored {
                channel,
                topic: topic.clone(),
                reason: ChannelErrorReason::JoinTimeout,
            },
            Event::ChannelClosed {
                channel,
                topic: topic.clone(),
                reason: ChannelCloseReason::ServerClosed,
            },
            Event::Message {
                channel,
                topic: topic.clone(),
                event: "news".into(),
                payload: json(r#"{"m":2}"#),
            },
            Event::PushDone {
                push,
                channel,
                outcome: PushOutcome::Failed(PushFailure::ChannelCrashed),
            },
            Event::MalformedFrame {
                error: malformed.clone(),
            },
        ];
        for event in events {
            let action = dispatch(&mut handler, &mut Context::new(&mut socket, now), event);
            assert_eq!(action, Action::Continue);
        }
        let expected = vec![
            "connected".to_owned(),
            "disconnected HeartbeatTimeout Some(10ms)".to_owned(),
            format!("joined channel#3 t:1 {:?} true", json(r#"{"j":1}"#)),
            format!(
                "join_error channel#3 t:1 error {:?} true",
                json(r#"{"reason":"no"}"#)
            ),
            format!("join_error channel#3 t:1 nope {:?} false", json("{}")),
            "errored channel#3 t:1 JoinTimeout".to_owned(),
            "closed channel#3 t:1 ServerClosed".to_owned(),
            format!("message channel#3 t:1 news {:?}", json(r#"{"m":2}"#)),
            "reply channel#3 push#4 Failed(ChannelCrashed)".to_owned(),
            format!("malformed {malformed:?}"),
        ];
        assert_eq!(handler.calls, expected);
    }
}
