//! Commands from the application: connect, disconnect, join, leave, push.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::codec::{
    HEARTBEAT, PHOENIX_TOPIC, PHX_CLOSE, PHX_ERROR, PHX_JOIN, PHX_LEAVE, PHX_REPLY, Payload,
};

use crate::client::channel::{Channel, ChannelState};
use crate::client::config::Secret;
use crate::client::error::{JoinError, LeaveError, PingError, PushError};
use crate::client::event::{ChannelCloseReason, DisconnectReason, Event, PushFailure, PushOutcome};
use crate::client::ids::{ChannelId, PushId};
use crate::client::instruction::Instruction;
use crate::client::timers::Timer;

use super::{ConnectionState, Push, RefTarget, Socket, after};

impl Socket {
    /// Starts connecting, unless a connection is open or being opened.
    /// Cancels a scheduled reconnect and re-enables reconnecting after
    /// [`disconnect`](Self::disconnect).
    pub fn connect(&mut self, _now: Instant) {
        if let ConnectionState::Disconnected { .. } = self.state {
            self.timers
                .cancel(&mut self.reconnect_deadline, Timer::Reconnect);
            self.start_connect();
        }
    }

    /// Closes the connection and stops reconnecting. Channels stay and
    /// rejoin on the next [`connect`](Self::connect); pushes waiting for a
    /// join keep their timeouts.
    ///
    /// # Shutdown order
    /// When a connection is open or being opened, this queues an
    /// [`Instruction::Close`] **after** every instruction already queued:
    /// frames accepted before the disconnect (pushes, leaves, a heartbeat)
    /// still go out, in order, and then the connection closes. Pushes sent
    /// that way end with [`PushFailure::ConnectionLost`](crate::client::PushFailure::ConnectionLost),
    /// since their replies can no longer arrive. A driver that is shutting
    /// down carries out instructions up to and including that `Close`, then
    /// stops; nothing it skips after the `Close` belongs to the closed
    /// connection. With no connection open or being opened, nothing is
    /// queued.
    pub fn disconnect(&mut self, now: Instant) {
        match self.state {
            ConnectionState::Connected | ConnectionState::Connecting => {
                self.instructions.push_back(Instruction::Close {
                    code: 1000,
                    reason: "client disconnect".to_owned(),
                });
                self.connection_lost(now, DisconnectReason::Requested);
            }
            ConnectionState::Disconnected { reconnecting } => {
                self.timers
                    .cancel(&mut self.reconnect_deadline, Timer::Reconnect);
                self.state = ConnectionState::Disconnected {
                    reconnecting: false,
                };
                if reconnecting {
                    // The last event promised a reconnect; take it back.
                    self.events.push_back(Event::Disconnected {
                        reason: DisconnectReason::Requested,
                        reconnect_in: None,
                    });
                }
            }
        }
    }

    /// Changes the endpoint and/or the query parameters (a refreshed token,
    /// say) and reconnects with them now: the original library's
    /// `{:connect, url, params, state}`. When
    /// [`Config::params_fn`](crate::client::Config::params_fn) is set, its
    /// answer replaces `params` for the new attempt.
    pub fn reconnect_with(
        &mut self,
        now: Instant,
        endpoint: Option<String>,
        params: Option<Vec<(String, Secret)>>,
    ) {
        if let Some(endpoint) = endpoint {
            self.config.endpoint = endpoint;
        }
        if let Some(params) = params {
            self.config.params = params;
        }
        if !matches!(self.state, ConnectionState::Disconnected { .. }) {
            self.instructions.push_back(Instruction::Close {
                code: 1000,
                reason: "reconnecting".to_owned(),
            });
            self.connection_lost(now, DisconnectReason::Reconfigured);
        }
        self.timers
            .cancel(&mut self.reconnect_deadline, Timer::Reconnect);
        self.start_connect();
    }

    /// Replaces the query parameters used from the next connection attempt
    /// on (unless [`Config::params_fn`](crate::client::Config::params_fn)
    /// is set: it replaces them again at every attempt).
    pub fn set_params(&mut self, params: Vec<(String, Secret)>) {
        self.config.params = params;
    }

    /// Replaces the auth token used from the next connection attempt on
    /// (unless [`Config::auth_token_fn`](crate::client::Config::auth_token_fn)
    /// is set: it replaces it again at every attempt).
    pub fn set_auth_token(&mut self, token: Option<Secret>) {
        self.config.auth_token = token;
    }

    /// Joins `topic` with the default timeout. The join is sent now if the
    /// connection is open, else as soon as it opens. Its outcome arrives as
    /// [`Event::Joined`](crate::client::Event::Joined) or [`Event::JoinRefused`](crate::client::Event::JoinRefused);
    /// when neither comes within the timeout (counted from this call, even
    /// while no connection is open), as [`Event::ChannelErrored`](crate::client::Event::ChannelErrored)
    /// with [`ChannelErrorReason::JoinTimeout`](crate::client::ChannelErrorReason::JoinTimeout),
    /// and the channel keeps trying on the rejoin schedule.
    ///
    /// A channel of the same topic that is leaving is closed at once
    /// ([`Event::ChannelClosed`](crate::client::Event::ChannelClosed) with
    /// `Left`) and the new one takes its topic.
    ///
    /// # Errors
    /// [`JoinError::AlreadyJoined`] when the topic has a live channel on this
    /// socket that is not leaving; [`JoinError::InvalidTopic`] for an empty or reserved topic;
    /// [`JoinError::BinaryPayload`] for a binary join payload.
    pub fn join(
        &mut self,
        now: Instant,
        topic: &str,
        payload: Payload<'static>,
    ) -> Result<ChannelId, JoinError> {
        let timeout = self.config.default_timeout;
        self.join_with_timeout(now, topic, payload, timeout)
    }

    /// [`join`](Self::join) with a timeout for this channel's joins and leaves.
    ///
    /// # Errors
    /// As [`join`](Self::join).
    pub fn join_with_timeout(
        &mut self,
        now: Instant,
        topic: &str,
        payload: Payload<'static>,
        timeout: Duration,
    ) -> Result<ChannelId, JoinError> {
        if topic.is_empty() || topic == PHOENIX_TOPIC {
            return Err(JoinError::InvalidTopic);
        }
        if payload.is_binary() {
            return Err(JoinError::BinaryPayload);
        }
        if let Some(&channel) = self.topics.get(topic) {
            if self.channel_state(channel) != Some(ChannelState::Leaving) {
                return Err(JoinError::AlreadyJoined { channel });
            }
            // The old channel is leaving: the new join supersedes it, as
            // phoenix.js does. Its leave is already on the wire before this
            // join, and its late replies are ignored (its refs are gone).
            self.close_channel(
                channel,
                ChannelCloseReason::Left,
                PushFailure::ChannelClosed,
            );
        }
        self.next_channel += 1;
        let id = ChannelId(self.next_channel);
        let topic: Arc<str> = Arc::from(topic);
        self.topics.insert(topic.clone(), id);
        let mut channel = Channel::new(topic, payload, timeout);
        if !self.is_connected() {
            // The join's timeout counts from this call, connected or not,
            // so whoever waits on it always hears back; the channel then
            // keeps trying in the background, as phoenix.js does.
            self.timers.set(
                &mut channel.reply_deadline,
                Timer::ChannelReply(id),
                after(now, timeout),
            );
        }
        self.channels.insert(id, Box::new(channel));
        if self.is_connected() {
            self.send_join(now, id);
        }
        Ok(id)
    }

    /// Sends a heartbeat now and reports its round trip as
    /// [`Event::Pong`](crate::client::Event::Pong) with `requested: true`
    /// when the reply comes (phoenix.js's `socket.ping`). A lost connection
    /// ends every ping in flight without a `Pong`.
    ///
    /// # Errors
    /// [`PingError::NotConnected`] when no connection is open.
    pub fn ping(&mut self, now: Instant) -> Result<(), PingError> {
        if !self.is_connected() {
            return Err(PingError::NotConnected);
        }
        let msg_ref = self.take_ref(RefTarget::Ping(now));
        // `{}` always encodes.
        let _ = self.send(None, msg_ref, PHOENIX_TOPIC, HEARTBEAT, &Payload::empty());
        Ok(())
    }

    /// Leaves a channel. When the connection is open and the server knows
    /// the channel, a `phx_leave` is sent and [`Event::ChannelClosed`](crate::client::Event::ChannelClosed)
    /// follows its reply (or the channel's timeout); otherwise the channel
    /// closes at once. Pushes still waiting for the join fail.
    ///
    /// # Errors
    /// [`LeaveError::ChannelClosed`] for an unknown channel,
    /// [`LeaveError::AlreadyLeaving`] when a leave is under way.
    pub fn leave(&mut self, now: Instant, channel: ChannelId) -> Result<(), LeaveError> {
        let connected = self.is_connected();
        let Some(ch) = self.channels.get(&channel) else {
            return Err(LeaveError::ChannelClosed);
        };
        if ch.state == ChannelState::Leaving {
            return Err(LeaveError::AlreadyLeaving);
        }
        let server_knows = connected
            && ch.join_sent()
            && matches!(ch.state, ChannelState::Joining | ChannelState::Joined);
        if !server_knows {
            self.close_channel(
                channel,
                ChannelCloseReason::Left,
                PushFailure::ChannelClosed,
            );
            return Ok(());
        }
        let Some(ch) = self.channels.get_mut(&channel) else {
            return Err(LeaveError::ChannelClosed);
        };
        ch.state = ChannelState::Leaving;
        let held = std::mem::take(&mut ch.held);
        let join_ref = ch.join_ref;
        let topic = ch.topic.clone();
        let timeout = ch.timeout;
        self.timers
            .cancel(&mut ch.rejoin_deadline, Timer::Rejoin(channel));
        self.timers.set(
            &mut ch.reply_deadline,
            Timer::ChannelReply(channel),
            after(now, timeout),
        );
        for push in held {
            self.finish_push(push, PushOutcome::Failed(PushFailure::ChannelClosed));
        }
        let msg_ref = self.take_ref(RefTarget::Leave(channel));
        if let Some(ch) = self.channels.get_mut(&channel) {
            ch.leave_ref = Some(msg_ref);
        }
        // A leave's payload is always `{}`, which every format encodes.
        let _ = self.send(join_ref, msg_ref, &topic, PHX_LEAVE, &Payload::empty());
        Ok(())
    }

    /// Pushes `event` with `payload` on a channel, with the default timeout.
    /// Sent now if the channel is joined and the connection open; otherwise
    /// held until the join succeeds. The outcome arrives exactly once as
    /// [`Event::PushDone`](crate::client::Event::PushDone).
    ///
    /// # Errors
    /// [`PushError`] when the push is refused at once (closed or leaving
    /// channel, reserved event, encoding failure); no event follows then.
    pub fn push(
        &mut self,
        now: Instant,
        channel: ChannelId,
        event: &str,
        payload: Payload<'static>,
    ) -> Result<PushId, PushError> {
        let timeout = self.config.default_timeout;
        self.push_with_timeout(now, channel, event, payload, timeout)
    }

    /// [`push`](Self::push) with its own timeout, which bounds the whole
    /// wait: time held for a join plus time waiting for the reply.
    ///
    /// # Errors
    /// As [`push`](Self::push).
    pub fn push_with_timeout(
        &mut self,
        now: Instant,
        channel: ChannelId,
        event: &str,
        payload: Payload<'static>,
        timeout: Duration,
    ) -> Result<PushId, PushError> {
        if [PHX_JOIN, PHX_LEAVE, PHX_REPLY, PHX_CLOSE, PHX_ERROR].contains(&event) {
            return Err(PushError::ReservedEvent);
        }
        let connected = self.is_connected();
        let Some(ch) = self.channels.get_mut(&channel) else {
            return Err(PushError::ChannelClosed);
        };
        if ch.state == ChannelState::Leaving {
            return Err(PushError::ChannelLeaving);
        }
        if self.pushes.len() >= self.config.max_pending_pushes {
            return Err(PushError::TooManyPending {
                limit: self.config.max_pending_pushes,
            });
        }
        self.next_push += 1;
        let id = PushId(self.next_push);
        let send_now = connected && ch.state == ChannelState::Joined;
        if !send_now {
            ch.held.push(id);
        }
        // A push sent at once is encoded from the arguments; only a held
        // one keeps its event and payload until it goes out.
        let (held_event, held_payload, payload) = if send_now {
            (String::new(), None, Some(payload))
        } else {
            (event.to_owned(), Some(payload), None)
        };
        let mut push = Push {
            channel,
            event: held_event,
            payload: held_payload,
            deadline: None,
            sent: None,
        };
        self.timers
            .set(&mut push.deadline, Timer::Push(id), after(now, timeout));
        self.pushes.insert(id, push);
        if let Some(payload) = payload {
            if let Err(e) = self.send_push_with(id, event, &payload) {
                if let Some(mut push) = self.pushes.remove(id) {
                    self.timers.cancel(&mut push.deadline, Timer::Push(id));
                }
                return Err(PushError::Encode(e));
            }
        }
        Ok(id)
    }
}
