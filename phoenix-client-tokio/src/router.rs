//! The router: the [`Handler`] behind the async API. It turns the core's
//! events into answers for waiting futures and into channel streams, and
//! the handles' commands into core commands. The same driver runs it as
//! runs user handlers.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use phoenix_proto::client::handler::{Action, Context, Handler};
use phoenix_proto::client::{
    ChannelCloseReason, ChannelErrorReason, ChannelId, DisconnectReason, PushId, PushOutcome,
};
use phoenix_proto::codec::Payload;
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{debug, warn};

use crate::channel::ChannelEvent;
use crate::client::Status;
use crate::driver::{MAX_BATCH, Wait};
use crate::error::{JoinError, LeaveError, PushError};

/// Requests from handles to the router.
pub(crate) enum Command {
    Join {
        topic: String,
        payload: Payload<'static>,
        timeout: Option<Duration>,
        events: mpsc::Sender<ChannelEvent>,
        subscribed: Arc<AtomicBool>,
        /// Set by the router as soon as the socket accepts the join, so the
        /// handle knows its channel even if the `join()` future is dropped.
        id: Arc<OnceLock<ChannelId>>,
        done: oneshot::Sender<Result<Payload<'static>, JoinError>>,
    },
    Push {
        channel: ChannelId,
        event: String,
        payload: Payload<'static>,
        timeout: Option<Duration>,
        done: oneshot::Sender<Result<PushOutcome, PushError>>,
    },
    Leave {
        channel: ChannelId,
        done: oneshot::Sender<Result<(), LeaveError>>,
    },
    Connect,
    Disconnect,
}

struct Route {
    events: mpsc::Sender<ChannelEvent>,
    subscribed: Arc<AtomicBool>,
    /// Events that did not fit in the queue; delivered before anything new,
    /// and while any wait here the driver reads nothing from the network.
    overflow: VecDeque<ChannelEvent>,
    join_waiter: Option<oneshot::Sender<Result<Payload<'static>, JoinError>>>,
    leave_waiter: Option<oneshot::Sender<Result<(), LeaveError>>>,
}

impl Route {
    fn listening(&self) -> bool {
        self.subscribed.load(Ordering::Acquire) && !self.events.is_closed()
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
        match self.events.try_send(event) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(event)) => self.overflow.push_back(event),
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }

    fn flush_overflow(&mut self) {
        while let Some(event) = self.overflow.pop_front() {
            match self.events.try_send(event) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(event)) => {
                    self.overflow.push_front(event);
                    return;
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    self.overflow.clear();
                    return;
                }
            }
        }
    }
}

/// The handler behind the async API.
pub(crate) struct Router {
    status: watch::Sender<Status>,
    routes: BTreeMap<ChannelId, Route>,
    pushes: HashMap<PushId, oneshot::Sender<Result<PushOutcome, PushError>>>,
    /// Routes closed while events still wait in their overflow.
    draining: Vec<Route>,
}

impl Router {
    pub(crate) fn new() -> (Self, watch::Receiver<Status>) {
        let (status, rx) = watch::channel(Status::Connecting);
        (
            Router {
                status,
                routes: BTreeMap::new(),
                pushes: HashMap::new(),
                draining: Vec::new(),
            },
            rx,
        )
    }

    /// How many network messages may be read now: no more than the free
    /// room in any listening channel's queue (one message makes at most one
    /// event per channel), and none while overflow waits.
    pub(crate) fn budget(&mut self) -> usize {
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
                budget = budget.min(route.events.capacity());
            }
        }
        budget
    }

    /// A future that resolves when a full queue has room again.
    pub(crate) fn wait_for_room(&mut self) -> Option<Wait> {
        let full = self
            .draining
            .iter()
            .chain(self.routes.values())
            .find(|r| r.listening() && (r.events.capacity() == 0 || !r.overflow.is_empty()))?;
        let tx = full.events.clone();
        Some(Box::pin(async move {
            if let Ok(permit) = tx.reserve().await {
                drop(permit);
            }
        }))
    }

    fn set_status(&self, status: Status) {
        self.status.send_replace(status);
    }

    fn close_route(&mut self, channel: ChannelId, reason: ChannelCloseReason) {
        let Some(mut route) = self.routes.remove(&channel) else {
            return;
        };
        if let Some(waiter) = route.join_waiter.take() {
            let _ = waiter.send(Err(JoinError::Closed(reason.clone())));
        }
        if let Some(waiter) = route.leave_waiter.take() {
            let _ = waiter.send(Ok(()));
        }
        route.deliver(ChannelEvent::Closed(reason));
        if !route.overflow.is_empty() {
            self.draining.push(route);
        }
    }
}

impl Drop for Router {
    fn drop(&mut self) {
        self.status.send_replace(Status::Stopped);
    }
}

impl Handler for Router {
    type Info = Command;
    type Call = ();
    type Reply = ();

    fn init(&mut self, _ctx: &mut Context<'_>) -> Action {
        Action::Connect
    }

    fn handle_connected(&mut self, _ctx: &mut Context<'_>) -> Action {
        self.set_status(Status::Connected);
        Action::Continue
    }

    fn handle_disconnected(
        &mut self,
        _ctx: &mut Context<'_>,
        reason: DisconnectReason,
        reconnect_in: Option<Duration>,
    ) -> Action {
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
        status: String,
        response: Payload<'static>,
    ) -> Action {
        if let Some(route) = self.routes.get_mut(&channel) {
            match route.join_waiter.take() {
                Some(waiter) => {
                    let _ = waiter.send(Err(JoinError::Refused { status, response }));
                }
                None => route.deliver(ChannelEvent::JoinRefused { status, response }),
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
        event: String,
        payload: Payload<'static>,
    ) -> Action {
        if let Some(route) = self.routes.get_mut(&channel) {
            route.deliver(ChannelEvent::Message { event, payload });
        }
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
        if let Some(waiter) = self.pushes.remove(&push) {
            let _ = waiter.send(Ok(outcome));
        }
        Action::Continue
    }

    fn handle_malformed_frame(
        &mut self,
        _ctx: &mut Context<'_>,
        error: phoenix_proto::codec::DecodeError,
    ) -> Action {
        warn!(%error, "dropped a frame the server sent that could not be decoded");
        Action::Continue
    }

    fn handle_info(&mut self, ctx: &mut Context<'_>, command: Command) -> Action {
        match command {
            Command::Join {
                topic,
                payload,
                timeout,
                events,
                subscribed,
                id,
                done,
            } => {
                let joined = match timeout {
                    Some(t) => {
                        let now = ctx.now();
                        ctx.socket().join_with_timeout(now, &topic, payload, t)
                    }
                    None => ctx.join(&topic, payload),
                };
                match joined {
                    Ok(channel) => {
                        debug!(topic = %topic, %channel, "join");
                        let _ = id.set(channel);
                        self.routes.insert(
                            channel,
                            Route {
                                events,
                                subscribed,
                                overflow: VecDeque::new(),
                                join_waiter: Some(done),
                                leave_waiter: None,
                            },
                        );
                    }
                    Err(e) => {
                        let _ = done.send(Err(JoinError::Rejected(e)));
                    }
                }
            }
            Command::Push {
                channel,
                event,
                payload,
                timeout,
                done,
            } => {
                let pushed = match timeout {
                    Some(t) => ctx.push_with_timeout(channel, &event, payload, t),
                    None => ctx.push(channel, &event, payload),
                };
                match pushed {
                    Ok(push) => {
                        debug!(%channel, event = %event, %push, "push");
                        self.pushes.insert(push, done);
                    }
                    Err(e) => {
                        let _ = done.send(Err(PushError::Rejected(e)));
                    }
                }
            }
            Command::Leave { channel, done } => match ctx.leave(channel) {
                Ok(()) => {
                    if let Some(route) = self.routes.get_mut(&channel) {
                        route.leave_waiter = Some(done);
                    } else {
                        let _ = done.send(Ok(()));
                    }
                }
                Err(e) => {
                    let _ = done.send(Err(LeaveError::Rejected(e)));
                }
            },
            Command::Connect => return Action::Connect,
            Command::Disconnect => return Action::Disconnect,
        }
        Action::Continue
    }

    fn handle_call(&mut self, _ctx: &mut Context<'_>, _call: ()) -> ((), Action) {
        ((), Action::Continue)
    }
}
