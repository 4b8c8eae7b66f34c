//! The router: the [`Handler`] behind the async API. It turns the core's
//! events into answers for waiting futures and into channel streams, and
//! the handles' commands into core commands. Every loop (async or
//! blocking) runs it exactly as it runs a user's handler.

use crate::client::Name;
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use futures_channel::oneshot;
use futures_util::task::AtomicWaker;
use tracing::{debug, warn};

use super::error::{JoinError, LeaveError, PingError, PushError};
use super::events::{ChannelEvent, EventSender, Refused};
use super::message::{ChannelLink, Command, MAX_BATCH, Request};
use super::socket_events::{SocketEvent, SocketNews};
use super::status::{Status, StatusSender};
use crate::client::handler::{Action, Context, Handler};
use crate::client::{
    ChannelCloseReason, ChannelErrorReason, ChannelId, DisconnectReason, PushId, PushOutcome,
};
use crate::client::{CounterMap, VecMap};
use crate::codec::Payload;

struct Route {
    events: EventSender,
    link: Arc<ChannelLink>,
    /// Events that did not fit in the queue; delivered before anything new,
    /// and while any wait here the loop reads nothing from the network.
    overflow: VecDeque<ChannelEvent>,
    join_waiter: Option<oneshot::Sender<Result<Payload<'static>, JoinError>>>,
    leave_waiter: Option<oneshot::Sender<Result<(), LeaveError>>>,
}

impl Route {
    fn listening(&self) -> bool {
        self.link.subscribed.load(Ordering::Acquire) && !self.events.is_closed()
    }

    fn deliver(&mut self, event: ChannelEvent) {
        if !self.listening() {
            debug!("event for a channel nobody listens to, dropped by choice");
            return;
        }
        if !self.overflow.is_empty() {
            self.overflow.push_back(event);
            return;
        }
        if let Err(Refused::Full(event)) = self.events.try_send(event) {
            self.overflow.push_back(event);
        }
    }

    fn flush_overflow(&mut self) {
        while let Some(event) = self.overflow.pop_front() {
            match self.events.try_send(event) {
                Ok(()) => {}
                Err(Refused::Full(event)) => {
                    self.overflow.push_front(event);
                    return;
                }
                Err(Refused::Closed) => {
                    self.overflow.clear();
                    return;
                }
            }
        }
    }

    fn blocked(&self) -> bool {
        self.listening() && (self.events.room() == 0 || !self.overflow.is_empty())
    }
}

/// The handler behind the async API (and the blocking one).
pub struct Router {
    status: StatusSender,
    /// One entry per channel, no spare slots (see `VecMap`).
    routes: VecMap<ChannelId, Route>,
    /// Who waits for each push (looked up, never iterated).
    pushes: CounterMap<PushId, oneshot::Sender<Result<PushOutcome, PushError>>>,
    /// Push outcomes not handed over yet: sent together when the loop has
    /// handled what it read (see [`flush`](Self::flush)).
    replies: Vec<(oneshot::Sender<Result<PushOutcome, PushError>>, PushOutcome)>,
    /// Routes closed while events still wait in their overflow.
    draining: Vec<Route>,
    /// Woken whenever the application takes an event from any queue.
    room: Arc<AtomicWaker>,
    /// Socket events for whoever listens, and the last round trip.
    news: SocketNews,
    /// Pings in flight, answered in order.
    pings: VecDeque<oneshot::Sender<Result<Duration, PingError>>>,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router")
            .field("channels", &self.routes.len())
            .field("pushes", &self.pushes.len())
            .finish_non_exhaustive()
    }
}

impl Router {
    pub(crate) fn new(status: StatusSender, room: Arc<AtomicWaker>, news: SocketNews) -> Self {
        Router {
            status,
            routes: VecMap::default(),
            pushes: CounterMap::default(),
            replies: Vec::new(),
            draining: Vec::new(),
            room,
            news,
            pings: VecDeque::new(),
        }
    }

    /// How many network messages may be read now: no more than the free
    /// room in any listening channel's queue (one message makes at most one
    /// event per channel), and none while overflow waits.
    pub fn budget(&mut self) -> usize {
        let mut budget = MAX_BATCH;
        self.draining.retain_mut(|route| {
            route.flush_overflow();
            !route.overflow.is_empty()
        });
        if !self.draining.is_empty() {
            return 0;
        }
        for route in self.routes.values_mut() {
            route.flush_overflow();
            if !route.overflow.is_empty() {
                return 0;
            }
            if route.listening() {
                budget = budget.min(route.events.room());
            }
        }
        budget
    }

    /// Hands over what the last batch of events produced: the push
    /// outcomes, and one wake-up per channel queue that got events. Waking
    /// each waiter as its outcome or event came meant a thread switch per
    /// message when the application runs on another thread; once per batch
    /// it is one per batch.
    fn flush(&mut self) {
        for (waiter, outcome) in self.replies.drain(..) {
            let _ = waiter.send(Ok(outcome));
        }
        for route in self.routes.values_mut().chain(&mut self.draining) {
            route.events.flush();
        }
    }

    /// Ready when a full queue may have room again; otherwise registers
    /// `cx` to be woken when the application takes an event.
    pub fn poll_room(&mut self, cx: &mut TaskContext<'_>) -> Poll<()> {
        self.room.register(cx.waker());
        let blocked = self
            .draining
            .iter()
            .chain(self.routes.values())
            .any(Route::blocked);
        if blocked {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    }

    fn set_status(&self, status: Status) {
        self.status.set(status);
    }

    fn close_route(&mut self, channel: ChannelId, reason: ChannelCloseReason) {
        let Some(mut route) = self.routes.remove(&channel) else {
            return;
        };
        let _ = route.link.closed.set(reason.clone());
        if let Some(waiter) = route.join_waiter.take() {
            let _ = waiter.send(Err(JoinError::Closed(reason.clone())));
        }
        if let Some(waiter) = route.leave_waiter.take() {
            let _ = waiter.send(Ok(()));
        }
        route.deliver(ChannelEvent::Closed(reason));
        if route.overflow.is_empty() {
            route.events.close();
        } else {
            self.draining.push(route);
        }
    }

    fn join(&mut self, ctx: &mut Context<'_>, request: Request) {
        let Request::Join {
            topic,
            payload,
            timeout,
            link,
            done,
        } = request
        else {
            return;
        };
        let Some(events) = super::channel::take(&link.tx) else {
            let _ = done.send(Err(JoinError::AlreadyJoined));
            return;
        };
        let now = ctx.now();
        // The strict join: a second handle on a live topic is refused
        // (Context::join would hand back the live channel).
        let socket = ctx.socket();
        let joined = match timeout {
            Some(t) => socket.join_with_timeout(now, &topic, payload, t),
            None => socket.join(now, &topic, payload),
        };
        match joined {
            Ok(channel) => {
                debug!(topic = %topic, %channel, "join");
                let _ = link.id.set(channel);
                self.routes.insert(
                    channel,
                    Route {
                        events: *events,
                        link,
                        overflow: VecDeque::new(),
                        join_waiter: Some(done),
                        leave_waiter: None,
                    },
                );
            }
            Err(e) => {
                // Dropping the sender closes the stream.
                drop(events);
                let _ = done.send(Err(JoinError::Rejected(e)));
            }
        }
    }
}

impl Drop for Router {
    /// The socket stopped: every open channel's stream ends with
    /// `Closed(SocketStopped)` (events the application had not made room
    /// for are dropped first), and the socket events with `Stopped`.
    fn drop(&mut self) {
        self.flush();
        let reason = ChannelCloseReason::SocketStopped;
        for route in self.routes.values_mut() {
            let _ = route.link.closed.set(reason.clone());
            if let Some(waiter) = route.join_waiter.take() {
                let _ = waiter.send(Err(JoinError::Closed(reason.clone())));
            }
            route.flush_overflow();
            route.overflow.clear();
            if route.listening() {
                route.events.send_last(ChannelEvent::Closed(reason.clone()));
            }
        }
        self.news.stop();
    }
}

impl Handler for Router {
    type Info = Command;
    type Call = ();
    type Reply = ();

    fn init(&mut self, _ctx: &mut Context<'_>) -> Action {
        Action::Connect
    }

    fn handle_connecting(&mut self, _ctx: &mut Context<'_>, attempt: u32) -> Action {
        self.news.publish(SocketEvent::Connecting { attempt });
        Action::Continue
    }

    fn handle_connected(&mut self, _ctx: &mut Context<'_>) -> Action {
        self.set_status(Status::Connected);
        self.news.publish(SocketEvent::Connected);
        Action::Continue
    }

    fn handle_pong(&mut self, _ctx: &mut Context<'_>, rtt: Duration, requested: bool) -> Action {
        self.news.publish(SocketEvent::Heartbeat { rtt });
        if requested {
            if let Some(waiter) = self.pings.pop_front() {
                let _ = waiter.send(Ok(rtt));
            }
        }
        Action::Continue
    }

    fn handle_disconnected(
        &mut self,
        _ctx: &mut Context<'_>,
        reason: DisconnectReason,
        reconnect_in: Option<Duration>,
    ) -> Action {
        for waiter in self.pings.drain(..) {
            let _ = waiter.send(Err(PingError::ConnectionLost));
        }
        self.news.publish(SocketEvent::Disconnected {
            reason: reason.clone(),
            reconnect_in,
        });
        self.set_status(Status::Disconnected {
            reason,
            reconnect_in,
        });
        Action::Continue
    }

    fn handle_joined(
        &mut self,
        _ctx: &mut Context<'_>,
        channel: ChannelId,
        _topic: Arc<str>,
        response: Payload<'static>,
        _rejoin: bool,
    ) -> Action {
        if let Some(route) = self.routes.get_mut(&channel) {
            // A (re)joined channel gets a new presence state: diffs wait for it.
            if let Some(presence) = route.link.presence.get() {
                presence.reset();
            }
            match route.join_waiter.take() {
                Some(waiter) => {
                    let _ = waiter.send(Ok(response));
                }
                // Nobody waits: a rejoin, or a retry that succeeded after
                // `join()` already returned `Timeout` (or `Refused`, with
                // rejoin_after_refusal). The stream saw the error, so it
                // must see the channel come back too.
                None => route.deliver(ChannelEvent::Rejoined { response }),
            }
        }
        Action::Continue
    }

    fn handle_join_error(
        &mut self,
        _ctx: &mut Context<'_>,
        channel: ChannelId,
        _topic: Arc<str>,
        status: Name,
        response: Payload<'static>,
        will_retry: bool,
    ) -> Action {
        if let Some(route) = self.routes.get_mut(&channel) {
            match route.join_waiter.take() {
                Some(waiter) => {
                    let _ = waiter.send(Err(JoinError::Refused { status, response }));
                }
                None => route.deliver(ChannelEvent::JoinRefused {
                    status,
                    response,
                    will_retry,
                }),
            }
        }
        Action::Continue
    }

    fn handle_channel_closed(
        &mut self,
        _ctx: &mut Context<'_>,
        channel: ChannelId,
        _topic: Arc<str>,
        reason: ChannelCloseReason,
    ) -> Action {
        self.close_route(channel, reason);
        Action::Continue
    }

    fn handle_channel_errored(
        &mut self,
        _ctx: &mut Context<'_>,
        channel: ChannelId,
        _topic: Arc<str>,
        reason: ChannelErrorReason,
    ) -> Action {
        if let Some(route) = self.routes.get_mut(&channel) {
            if reason == ChannelErrorReason::JoinTimeout {
                if let Some(waiter) = route.join_waiter.take() {
                    let _ = waiter.send(Err(JoinError::Timeout));
                }
            }
            route.deliver(ChannelEvent::Errored(reason));
        }
        Action::Continue
    }

    fn handle_message(
        &mut self,
        _ctx: &mut Context<'_>,
        channel: ChannelId,
        _topic: Arc<str>,
        event: Name,
        payload: Payload<'static>,
    ) -> Action {
        if let Some(route) = self.routes.get_mut(&channel) {
            if let Some(presence) = route.link.presence.get() {
                presence.apply(&event, &payload);
            }
            route.deliver(ChannelEvent::Message { event, payload });
        }
        Action::Continue
    }

    fn handle_batch_end(&mut self, _ctx: &mut Context<'_>) -> Action {
        self.flush();
        Action::Continue
    }

    fn handle_reply(
        &mut self,
        _ctx: &mut Context<'_>,
        _channel: ChannelId,
        push: PushId,
        outcome: PushOutcome,
    ) -> Action {
        match &outcome {
            PushOutcome::Reply { status, .. } => debug!(%push, status = %status, "reply"),
            other => debug!(%push, outcome = ?other, "push ended without a reply"),
        }
        if let Some(waiter) = self.pushes.remove(push) {
            self.replies.push((waiter, outcome));
        }
        Action::Continue
    }

    fn handle_malformed_frame(
        &mut self,
        _ctx: &mut Context<'_>,
        error: crate::codec::DecodeError,
    ) -> Action {
        warn!(%error, "dropped a frame the server sent that could not be decoded");
        self.news.publish(SocketEvent::MalformedFrame { error });
        Action::Continue
    }

    fn handle_info(&mut self, ctx: &mut Context<'_>, command: Command) -> Action {
        match command.0 {
            join @ Request::Join { .. } => self.join(ctx, join),
            Request::Push {
                channel,
                event,
                payload,
                timeout,
                done,
            } => {
                let pushed = match timeout {
                    Some(t) => ctx.push_with_timeout(channel, event.as_str(), payload, t),
                    None => ctx.push(channel, event.as_str(), payload),
                };
                match (pushed, done) {
                    (Ok(push), Some(done)) => {
                        debug!(%channel, event = %event, %push, "push");
                        self.pushes.insert(push, done);
                    }
                    (Ok(push), None) => debug!(%channel, event = %event, %push, "cast"),
                    (Err(e), Some(done)) => {
                        let _ = done.send(Err(PushError::Rejected(e)));
                    }
                    (Err(e), None) => debug!(%channel, error = %e, "cast rejected"),
                }
            }
            Request::Leave { channel, done } => match ctx.leave(channel) {
                Ok(()) => match (self.routes.get_mut(&channel), done) {
                    (Some(route), done) => route.leave_waiter = done,
                    (None, Some(done)) => {
                        let _ = done.send(Ok(()));
                    }
                    (None, None) => {}
                },
                Err(e) => {
                    if let Some(done) = done {
                        let _ = done.send(Err(LeaveError::Rejected(e)));
                    }
                }
            },
            Request::Ping { done } => match ctx.ping() {
                Ok(()) => self.pings.push_back(done),
                Err(_) => {
                    let _ = done.send(Err(PingError::NotConnected));
                }
            },
            Request::Connect => return Action::Connect,
            Request::Disconnect => return Action::Disconnect,
        }
        Action::Continue
    }
}
