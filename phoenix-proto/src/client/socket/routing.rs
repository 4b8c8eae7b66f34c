//! Incoming frames: replies routed by ref, messages by topic, and the
//! join_ref check that keeps stale frames away from the application.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::codec::{Message, PHOENIX_TOPIC, PHX_CLOSE, PHX_ERROR, Reply};

use crate::client::channel::ChannelState;
use crate::client::event::{
    ChannelCloseReason, ChannelErrorReason, Event, PushFailure, PushOutcome,
};
use crate::client::ids::{ChannelId, JoinRef, Ref};
use crate::client::timers::Timer;

use super::{RefTarget, Socket};

impl Socket {
    pub(super) fn on_reply(&mut self, now: Instant, reply: Reply<'_>) {
        let Some(msg_ref) = reply.msg_ref.as_deref().and_then(Ref::parse) else {
            return;
        };
        let Some(target) = self.refs.get(msg_ref).copied() else {
            // A late reply to something that already timed out or failed.
            return;
        };
        match target {
            RefTarget::Heartbeat => {
                if reply.topic == PHOENIX_TOPIC && self.heartbeat_pending == Some(msg_ref) {
                    self.refs.remove(msg_ref);
                    self.heartbeat_pending = None;
                    if let Some(sent) = self.heartbeat_sent_at.take() {
                        self.pong(now.saturating_duration_since(sent), false);
                    }
                    self.release_idle_memory();
                }
            }
            RefTarget::Ping(sent) => {
                if reply.topic == PHOENIX_TOPIC {
                    self.refs.remove(msg_ref);
                    self.pong(now.saturating_duration_since(sent), true);
                }
            }
            RefTarget::Ignore => {
                self.refs.remove(msg_ref);
            }
            RefTarget::Join(id) => {
                self.on_join_reply(now, id, msg_ref, reply);
                self.release_idle_memory();
            }
            RefTarget::Leave(id) => {
                let accepted = self.channels.get(&id).is_some_and(|c| {
                    *c.topic == *reply.topic && c.accepts(reply.join_ref.as_deref())
                });
                if accepted {
                    self.refs.remove(msg_ref);
                    self.close_channel(id, ChannelCloseReason::Left, PushFailure::ChannelClosed);
                } else if !self.channels.contains_key(&id) {
                    // A late answer to the leave of a channel already gone.
                    self.refs.remove(msg_ref);
                }
            }
            RefTarget::Push(id) => {
                let Some(push) = self.pushes.get(id) else {
                    return;
                };
                let current = self.channels.get(&push.channel).is_some_and(|c| {
                    *c.topic == *reply.topic
                        && match reply.join_ref.as_deref() {
                            None => true,
                            Some(jr) => push
                                .sent
                                .is_some_and(|sent| JoinRef::parse(jr) == Some(sent.join_ref)),
                        }
                });
                if current {
                    let status = self.names.get(&reply.status);
                    self.finish_push(
                        id,
                        PushOutcome::Reply {
                            status,
                            response: reply.response.into_owned(),
                        },
                    );
                }
            }
        }
    }

    /// Applies a presence message to the channel's list when it keeps one,
    /// and tells what changed (before the message itself).
    fn track_presence_message(&mut self, id: ChannelId, topic: &Arc<str>, message: &Message<'_>) {
        let Some(presence) = self.channels.get_mut(&id).and_then(|c| c.presence.as_mut()) else {
            return;
        };
        match presence.handle_message(&message.event, &message.payload) {
            // A diff held until the state changes nothing yet.
            Ok(Some(changes)) if presence.is_synced() => {
                self.events.push_back(Event::PresenceChanged {
                    channel: id,
                    topic: topic.clone(),
                    changes,
                });
            }
            Ok(_) => {}
            Err(error) => self.events.push_back(Event::MalformedFrame { error }),
        }
    }

    fn pong(&mut self, rtt: Duration, requested: bool) {
        self.last_rtt = Some(rtt);
        self.events.push_back(Event::Pong { rtt, requested });
    }

    pub(super) fn on_join_reply(
        &mut self,
        now: Instant,
        id: ChannelId,
        msg_ref: Ref,
        reply: Reply<'_>,
    ) {
        let Some(ch) = self.channels.get_mut(&id) else {
            return;
        };
        if ch.state != ChannelState::Joining
            || ch.join_ref.map(JoinRef::join) != Some(msg_ref)
            || *ch.topic != *reply.topic
            || !ch.accepts(reply.join_ref.as_deref())
        {
            return;
        }
        self.refs.remove(msg_ref);
        self.timers
            .cancel(&mut ch.reply_deadline, Timer::ChannelReply(id));
        let topic = ch.topic.clone();
        if reply.is_ok() {
            ch.state = ChannelState::Joined;
            ch.rejoin_attempts = 0;
            // A (re)joined channel gets a new presence state.
            if let Some(presence) = ch.presence.as_mut() {
                presence.reset();
            }
            let rejoin = ch.joined_once;
            ch.joined_once = true;
            let held = std::mem::take(&mut ch.held);
            self.events.push_back(Event::Joined {
                channel: id,
                topic,
                response: reply.response.into_owned(),
                rejoin,
            });
            for push in held {
                if let Err(e) = self.send_push(push) {
                    self.finish_push(push, PushOutcome::Failed(PushFailure::Encode(e)));
                }
            }
            return;
        }
        let will_retry = self.config.rejoin_after_refusal;
        self.events.push_back(Event::JoinRefused {
            channel: id,
            topic: topic.clone(),
            status: self.names.get(&reply.status),
            response: reply.response.into_owned(),
            will_retry,
        });
        if will_retry {
            ch.state = ChannelState::Errored;
            ch.join_ref = None;
            self.schedule_rejoin(now, id);
        } else {
            self.close_channel(
                id,
                ChannelCloseReason::JoinRefused,
                PushFailure::ChannelClosed,
            );
        }
    }

    pub(super) fn on_message(&mut self, now: Instant, message: Message<'_>) {
        let Some(&id) = self.topics.get(&*message.topic) else {
            return;
        };
        let Some(ch) = self.channels.get(&id) else {
            return;
        };
        // `phx_close` and `phx_error` carry the join's ref as their `ref`
        // (phoenix-proto/PROTOCOL.md 3.2, 3.3). v1 frames have no join_ref, so that ref is
        // the only way to tell a stale close (of a join already left) from
        // the current one's.
        let join_ref = match (&message.join_ref, &*message.event) {
            (None, PHX_CLOSE | PHX_ERROR) => message.msg_ref.as_deref(),
            (join_ref, _) => join_ref.as_deref(),
        };
        if !ch.join_sent() || !ch.accepts(join_ref) {
            // Stale: a frame of an earlier join of this topic.
            return;
        }
        let state = ch.state;
        match &*message.event {
            PHX_CLOSE => {
                let reason = if state == ChannelState::Leaving {
                    ChannelCloseReason::Left
                } else {
                    ChannelCloseReason::ServerClosed
                };
                self.close_channel(id, reason, PushFailure::ChannelClosed);
            }
            PHX_ERROR => match state {
                ChannelState::Leaving => {
                    self.close_channel(id, ChannelCloseReason::Left, PushFailure::ChannelCrashed);
                }
                ChannelState::Joined | ChannelState::Joining => {
                    self.fail_sent_pushes(Some(id), &PushFailure::ChannelCrashed);
                    self.error_channel(
                        now,
                        id,
                        ChannelErrorReason::Crashed {
                            payload: message.payload.into_owned(),
                        },
                    );
                }
                ChannelState::Errored => {}
            },
            _ => {
                if state != ChannelState::Errored {
                    let topic = ch.topic.clone();
                    self.track_presence_message(id, &topic, &message);
                    self.events.push_back(Event::Message {
                        channel: id,
                        topic,
                        event: self.names.get(&message.event),
                        payload: message.payload.into_owned(),
                    });
                }
            }
        }
    }
}
