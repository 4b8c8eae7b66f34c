//! Inputs from the driver: the connection opened, closed or failed, a
//! message arrived, a deadline passed.

use std::time::Instant;

use crate::codec::{ServerFrame, WireRef};

use crate::client::channel::ChannelState;
use crate::client::event::{BadMessage, DisconnectReason, Event, PushOutcome};
use crate::client::ids::ChannelId;
use crate::client::instruction::Instruction;
use crate::client::timers::Timer;

use super::{ConnectFailure, ConnectionState, Socket, after};

impl Socket {
    /// The driver opened the connection requested by the last
    /// [`Instruction::Connect`](crate::client::Instruction::Connect).
    pub fn handle_connected(&mut self, now: Instant) {
        if self.state != ConnectionState::Connecting {
            return;
        }
        self.state = ConnectionState::Connected;
        self.events.push_back(Event::Connected);
        // The reconnect schedule starts over only once this connection has
        // proved itself by staying up.
        let stable_at = after(now, self.config.stable_after);
        self.timers
            .set(&mut self.stable_deadline, Timer::Stable, stable_at);
        if let Some(interval) = self.config.heartbeat_interval {
            self.timers.set(
                &mut self.heartbeat_deadline,
                Timer::Heartbeat,
                after(now, interval),
            );
        }
        let waiting: Vec<ChannelId> = self
            .channels
            .iter()
            .filter(|(_, c)| matches!(c.state, ChannelState::Joining | ChannelState::Errored))
            .map(|(id, _)| *id)
            .collect();
        for id in waiting {
            if let Some(ch) = self.channels.get_mut(&id) {
                ch.rejoin_attempts = 0;
            }
            self.send_join(now, id);
        }
    }

    /// The connection failed to open: refused upgrade (with the HTTP
    /// status), DNS, TCP or TLS failure.
    pub fn handle_connect_failed(&mut self, now: Instant, failure: ConnectFailure) {
        if self.state != ConnectionState::Connecting {
            return;
        }
        let reason = match failure.status {
            Some(status) => DisconnectReason::Refused {
                status,
                retry_after: failure.retry_after,
            },
            None => DisconnectReason::TransportError {
                message: failure.message,
            },
        };
        self.connection_lost(now, reason);
    }

    /// The open connection closed: with a close frame (`code`; pass 1005
    /// for a close frame without a status code), or without one (`None`:
    /// the TCP connection ended, reported as 1006).
    pub fn handle_closed(&mut self, now: Instant, code: Option<u16>, reason: &str) {
        if self.state == ConnectionState::Connected {
            self.connection_lost(
                now,
                DisconnectReason::Closed {
                    code: Some(code.unwrap_or(1006)),
                    reason: reason.to_owned(),
                },
            );
        }
    }

    /// The server sent a message the driver's WebSocket library refused:
    /// the socket closes the connection with the matching code (1009, 1007
    /// or 1002: an [`Instruction::Close`](crate::client::Instruction::Close)
    /// follows) and reconnects on its schedule.
    pub fn handle_bad_message(&mut self, now: Instant, kind: BadMessage) {
        if self.state == ConnectionState::Connected {
            let code = kind.close_code();
            self.instructions.push_back(Instruction::Close {
                code,
                reason: kind.to_string(),
            });
            self.connection_lost(now, DisconnectReason::BadMessage { kind, code });
        }
    }

    /// The open connection failed (read or write error, protocol violation).
    pub fn handle_transport_error(&mut self, now: Instant, message: &str) {
        if self.state == ConnectionState::Connected {
            self.connection_lost(
                now,
                DisconnectReason::TransportError {
                    message: message.to_owned(),
                },
            );
        }
    }

    /// A whole WebSocket message arrived on the open connection.
    pub fn handle_message(&mut self, now: Instant, message: WireRef<'_>) {
        if self.state != ConnectionState::Connected {
            return;
        }
        let decoded = self.config.serializer.decode(message);
        match decoded {
            Ok(ServerFrame::Reply(reply)) => self.on_reply(now, reply),
            Ok(ServerFrame::Message(message)) => self.on_message(now, message),
            Err(error) => self.events.push_back(Event::MalformedFrame { error }),
        }
    }

    /// Runs every deadline at or before `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(timer) = self.timers.pop_due(now) {
            match timer {
                Timer::Heartbeat => {
                    self.heartbeat_deadline = None;
                    self.on_heartbeat_due(now);
                }
                Timer::Stable => {
                    self.stable_deadline = None;
                    if self.state == ConnectionState::Connected {
                        self.reconnect_attempts = 0;
                    }
                }
                Timer::Reconnect => {
                    self.reconnect_deadline = None;
                    if self.state == (ConnectionState::Disconnected { reconnecting: true }) {
                        self.start_connect();
                    }
                }
                Timer::Rejoin(id) => {
                    let Some(ch) = self.channels.get_mut(&id) else {
                        continue;
                    };
                    ch.rejoin_deadline = None;
                    if ch.state == ChannelState::Errored && self.state == ConnectionState::Connected
                    {
                        self.send_join(now, id);
                    }
                }
                Timer::ChannelReply(id) => self.on_channel_reply_timeout(now, id),
                Timer::Push(id) => {
                    if let Some(push) = self.pushes.get_mut(id) {
                        push.deadline = None;
                    }
                    self.finish_push(id, PushOutcome::Timeout);
                }
            }
        }
    }
}
