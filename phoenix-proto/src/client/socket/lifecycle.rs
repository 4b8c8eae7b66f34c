//! Sending frames and moving connections, channels and pushes through
//! their lives: refs, joins, rejoins, push outcomes, lost connections,
//! heartbeats.

use std::time::{Duration, Instant};

use crate::codec::{
    EncodeError, HEARTBEAT, PHOENIX_TOPIC, PHX_JOIN, PHX_LEAVE, Payload, WireMessage, WireRefs,
};

use crate::client::channel::ChannelState;
use crate::client::config::{Config, Secret};
use crate::client::event::{
    ChannelCloseReason, ChannelErrorReason, DisconnectReason, Event, PushFailure, PushOutcome,
};
use crate::client::ids::{ChannelId, JoinRef, PushId, Ref};
use crate::client::instruction::Instruction;
use crate::client::timers::Timer;

use super::{ConnectionState, RefTarget, SentWith, Socket, after};

impl Socket {
    pub(super) fn take_ref(&mut self, target: RefTarget) -> Ref {
        self.last_ref = self.last_ref.next();
        self.refs.insert(self.last_ref, target);
        self.last_ref
    }

    pub(super) fn send(
        &mut self,
        join_ref: Option<JoinRef>,
        msg_ref: Ref,
        topic: &str,
        event: &str,
        payload: &Payload<'_>,
    ) -> Result<(), EncodeError> {
        let wire = encode(&self.config, join_ref, msg_ref, topic, event, payload)?;
        self.instructions.push_back(Instruction::Send(wire));
        Ok(())
    }

    /// Refreshes the credentials and asks the driver to connect.
    pub(super) fn start_connect(&mut self) {
        self.state = ConnectionState::Connecting;
        self.refresh_credentials();
        let request = self.connect_request();
        self.events.push_back(Event::Connecting {
            attempt: request.attempt,
        });
        self.instructions.push_back(Instruction::Connect(request));
    }

    /// Calls the configured providers and keeps what they return as the
    /// current params and auth token.
    fn refresh_credentials(&mut self) {
        if let Some(params_fn) = self.config.params_fn.clone() {
            self.config.params = params_fn()
                .into_iter()
                .map(|(key, value)| (key, Secret::new(value)))
                .collect();
        }
        if let Some(auth_token_fn) = self.config.auth_token_fn.clone() {
            self.config.auth_token = auth_token_fn().map(Secret::new);
        }
    }

    pub(super) fn send_join(&mut self, now: Instant, id: ChannelId) {
        let msg_ref = self.take_ref(RefTarget::Join(id));
        let Some(ch) = self.channels.get_mut(&id) else {
            return;
        };
        if let Some(old) = ch.join_ref.take() {
            self.refs.remove(old.join());
        }
        let join_ref = JoinRef::of_join(msg_ref);
        ch.join_ref = Some(join_ref);
        ch.state = ChannelState::Joining;
        self.timers
            .cancel(&mut ch.rejoin_deadline, Timer::Rejoin(id));
        self.timers.set(
            &mut ch.reply_deadline,
            Timer::ChannelReply(id),
            after(now, ch.timeout),
        );
        let topic = ch.topic.clone();
        let payload = ch.join_payload.clone();
        // join() refuses binary payloads, and JSON always encodes.
        let _ = self.send(Some(join_ref), msg_ref, &topic, PHX_JOIN, &payload);
    }

    /// Sends a held push: its event and payload leave the push (a sent push
    /// is never sent again; a lost connection fails it).
    pub(super) fn send_push(&mut self, id: PushId) -> Result<(), EncodeError> {
        let Some(push) = self.pushes.get_mut(id) else {
            return Ok(());
        };
        let event = std::mem::take(&mut push.event);
        let payload = push.payload.take().unwrap_or_else(Payload::empty);
        self.send_push_with(id, &event, &payload)
    }

    /// Sends push `id` with this event and payload, encoded from the
    /// borrowed fields: no copy of the event, the topic or the payload.
    pub(super) fn send_push_with(
        &mut self,
        id: PushId,
        event: &str,
        payload: &Payload<'_>,
    ) -> Result<(), EncodeError> {
        let msg_ref = self.last_ref.next();
        let (join_ref, wire) = {
            let Some(push) = self.pushes.get(id) else {
                return Ok(());
            };
            let Some(ch) = self.channels.get(&push.channel) else {
                return Ok(());
            };
            let Some(join_ref) = ch.join_ref else {
                return Ok(());
            };
            let wire = encode(
                &self.config,
                Some(join_ref),
                msg_ref,
                &ch.topic,
                event,
                payload,
            )?;
            (join_ref, wire)
        };
        self.last_ref = msg_ref;
        self.refs.insert(msg_ref, RefTarget::Push(id));
        if let Some(push) = self.pushes.get_mut(id) {
            push.sent = Some(SentWith { msg_ref, join_ref });
        }
        self.instructions.push_back(Instruction::Send(wire));
        Ok(())
    }

    /// Ends a push with `outcome`, once: removes it from every index.
    pub(super) fn finish_push(&mut self, id: PushId, outcome: PushOutcome) {
        let Some(mut push) = self.pushes.remove(id) else {
            return;
        };
        self.timers.cancel(&mut push.deadline, Timer::Push(id));
        if let Some(sent) = push.sent {
            self.refs.remove(sent.msg_ref);
        } else if let Some(ch) = self.channels.get_mut(&push.channel) {
            ch.held.retain(|held| *held != id);
        }
        self.events.push_back(Event::PushDone {
            push: id,
            channel: push.channel,
            outcome,
        });
    }

    /// Fails every push of `channel` that was sent and not answered.
    pub(super) fn fail_sent_pushes(&mut self, channel: Option<ChannelId>, failure: &PushFailure) {
        // Outcomes go out in the order of the pushes (the map's order).
        let sent: Vec<PushId> = self
            .pushes
            .entries()
            .into_iter()
            .filter(|(_, p)| p.sent.is_some() && channel.is_none_or(|c| p.channel == c))
            .map(|(id, _)| id)
            .collect();
        for id in sent {
            self.finish_push(id, PushOutcome::Failed(failure.clone()));
        }
    }

    pub(super) fn close_channel(
        &mut self,
        id: ChannelId,
        reason: ChannelCloseReason,
        failure: PushFailure,
    ) {
        let Some(mut ch) = self.channels.remove(&id) else {
            return;
        };
        self.topics.remove(&ch.topic);
        self.timers
            .cancel(&mut ch.rejoin_deadline, Timer::Rejoin(id));
        self.timers
            .cancel(&mut ch.reply_deadline, Timer::ChannelReply(id));
        for msg_ref in [ch.join_ref.map(JoinRef::join), ch.leave_ref]
            .into_iter()
            .flatten()
        {
            self.refs.remove(msg_ref);
        }
        let held = std::mem::take(&mut ch.held);
        // The channel is gone from the map, so finish_push will not look for it.
        for push in held {
            self.finish_push(push, PushOutcome::Failed(failure.clone()));
        }
        self.fail_sent_pushes(Some(id), &failure);
        self.events.push_back(Event::ChannelClosed {
            channel: id,
            topic: ch.topic,
            reason,
        });
    }

    /// Puts a channel in `Errored` and schedules its rejoin when connected.
    pub(super) fn error_channel(
        &mut self,
        now: Instant,
        id: ChannelId,
        reason: ChannelErrorReason,
    ) {
        let Some(ch) = self.channels.get_mut(&id) else {
            return;
        };
        ch.state = ChannelState::Errored;
        if let Some(join_ref) = ch.join_ref.take() {
            self.refs.remove(join_ref.join());
        }
        self.timers
            .cancel(&mut ch.reply_deadline, Timer::ChannelReply(id));
        let topic = ch.topic.clone();
        self.events.push_back(Event::ChannelErrored {
            channel: id,
            topic,
            reason,
        });
        if self.is_connected() {
            self.schedule_rejoin(now, id);
        }
    }

    pub(super) fn schedule_rejoin(&mut self, now: Instant, id: ChannelId) {
        let random = self.rng.next_f64();
        let Some(ch) = self.channels.get_mut(&id) else {
            return;
        };
        ch.rejoin_attempts = ch.rejoin_attempts.saturating_add(1);
        match self.config.rejoin.delay(ch.rejoin_attempts, random) {
            Some(delay) => {
                self.timers.set(
                    &mut ch.rejoin_deadline,
                    Timer::Rejoin(id),
                    after(now, delay),
                );
            }
            None => {
                self.close_channel(id, ChannelCloseReason::GaveUp, PushFailure::ChannelClosed);
            }
        }
    }

    pub(super) fn connection_lost(&mut self, now: Instant, reason: DisconnectReason) {
        let requested = reason == DisconnectReason::Requested;
        self.timers
            .cancel(&mut self.heartbeat_deadline, Timer::Heartbeat);
        self.timers.cancel(&mut self.stable_deadline, Timer::Stable);
        self.heartbeat_pending = None;
        self.heartbeat_sent_at = None;
        self.refs.clear();
        // reconnect_with connects again at once: not a failed attempt, no timer.
        let reconfigured = reason == DisconnectReason::Reconfigured;
        let mut reconnect_in = reconfigured.then_some(Duration::ZERO);
        if !requested && !reconfigured {
            self.reconnect_attempts = self.reconnect_attempts.saturating_add(1);
            let random = self.rng.next_f64();
            let floor = self.reconnect_floor(&reason);
            reconnect_in = self
                .config
                .reconnect
                .delay(self.reconnect_attempts, random)
                .map(|delay| floor.map_or(delay, |floor| delay.max(floor)));
        }
        self.state = ConnectionState::Disconnected {
            reconnecting: reconnect_in.is_some(),
        };
        if let Some(delay) = reconnect_in.filter(|_| !reconfigured) {
            self.timers.set(
                &mut self.reconnect_deadline,
                Timer::Reconnect,
                after(now, delay),
            );
        }
        self.events.push_back(Event::Disconnected {
            reason,
            reconnect_in,
        });
        self.fail_sent_pushes(None, &PushFailure::ConnectionLost);
        let ids: Vec<ChannelId> = self.channels.keys().copied().collect();
        for id in ids {
            let Some(ch) = self.channels.get_mut(&id) else {
                continue;
            };
            match ch.state {
                ChannelState::Leaving => {
                    // The server channel dies with the connection.
                    self.close_channel(id, ChannelCloseReason::Left, PushFailure::ChannelClosed);
                }
                ChannelState::Joined => {
                    self.error_channel(now, id, ChannelErrorReason::ConnectionLost);
                }
                ChannelState::Joining if ch.join_sent() => {
                    self.error_channel(now, id, ChannelErrorReason::ConnectionLost);
                }
                ChannelState::Joining | ChannelState::Errored => {
                    self.timers
                        .cancel(&mut ch.rejoin_deadline, Timer::Rejoin(id));
                }
            }
        }
    }

    /// The least wait the server asked for: its `Retry-After`, or what its
    /// close code means (1012 service restart, 1013 try again later), drawn
    /// from the configured range so that a deploy's clients spread out.
    fn reconnect_floor(&mut self, reason: &DisconnectReason) -> Option<Duration> {
        let (low, high) = match reason {
            DisconnectReason::Refused { retry_after, .. } => return *retry_after,
            DisconnectReason::Closed {
                code: Some(1012), ..
            } => self.config.service_restart_delay,
            DisconnectReason::Closed {
                code: Some(1013), ..
            } => self.config.try_again_later_delay,
            _ => return None,
        };
        let spread = high.saturating_sub(low);
        Some(low + spread.mul_f64(self.rng.next_f64().clamp(0.0, 1.0)))
    }

    pub(super) fn on_heartbeat_due(&mut self, now: Instant) {
        if self.state != ConnectionState::Connected {
            return;
        }
        if self.heartbeat_pending.is_some() {
            self.instructions.push_back(Instruction::Close {
                code: 1000,
                reason: "heartbeat timeout".to_owned(),
            });
            self.connection_lost(now, DisconnectReason::HeartbeatTimeout);
            return;
        }
        let msg_ref = self.take_ref(RefTarget::Heartbeat);
        self.heartbeat_pending = Some(msg_ref);
        self.heartbeat_sent_at = Some(now);
        // `{}` always encodes.
        let _ = self.send(None, msg_ref, PHOENIX_TOPIC, HEARTBEAT, &Payload::empty());
        if let Some(interval) = self.config.heartbeat_interval {
            self.timers.set(
                &mut self.heartbeat_deadline,
                Timer::Heartbeat,
                after(now, interval),
            );
        }
    }

    /// Frees the buffers a quiet socket does not need: the output queues
    /// (once drained), the ref and push tables (when empty, or to fit when
    /// mostly empty) and the push deadline queue. Called at the replies that
    /// usually precede a quiet spell, a join's and a heartbeat's: they are
    /// rare, so reallocating after them costs nothing that shows, and an
    /// idle socket holds no buffer it is not using.
    pub(super) fn release_idle_memory(&mut self) {
        self.instructions.release_when_empty();
        self.events.release_when_empty();
        self.refs.release_idle();
        self.pushes.release_idle();
        self.timers.release_idle();
    }

    pub(super) fn on_channel_reply_timeout(&mut self, now: Instant, id: ChannelId) {
        let Some(ch) = self.channels.get_mut(&id) else {
            return;
        };
        ch.reply_deadline = None;
        match ch.state {
            ChannelState::Leaving => {
                self.close_channel(id, ChannelCloseReason::Left, PushFailure::ChannelClosed);
            }
            ChannelState::Joining => {
                // Tell the server to drop the join if it ever completes, as
                // the official client does, then retry on the rejoin schedule.
                let join_ref = ch.join_ref;
                let topic = ch.topic.clone();
                self.error_channel(now, id, ChannelErrorReason::JoinTimeout);
                // A join never sent (no connection yet) needs no leave.
                if self.is_connected() && join_ref.is_some() {
                    let msg_ref = self.take_ref(RefTarget::Ignore);
                    let _ = self.send(join_ref, msg_ref, &topic, PHX_LEAVE, &Payload::empty());
                }
            }
            ChannelState::Joined | ChannelState::Errored => {}
        }
    }
}

/// Encodes one outgoing frame with the configured serializer; the refs go
/// to it as numbers.
fn encode(
    config: &Config,
    join_ref: Option<JoinRef>,
    msg_ref: Ref,
    topic: &str,
    event: &str,
    payload: &Payload<'_>,
) -> Result<WireMessage, EncodeError> {
    let refs = WireRefs {
        join_ref: join_ref.map(JoinRef::number),
        msg_ref: msg_ref.number(),
    };
    config
        .serializer
        .encode_counted(refs, topic, event, payload)
}
