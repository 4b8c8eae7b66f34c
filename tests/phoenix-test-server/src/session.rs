//! The transport-independent connection core: the dispatch rules of
//! phoenix-proto/PROTOCOL.md §5 (`Phoenix.Socket.__in__/2`), shared by the WebSocket and
//! long-poll transports.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::channel::{self, Ack, ChannelCtx, ChannelMsg, ConnEvent};
use crate::codec::{ClientMessage, Payload, Serializer, ServerFrame, encode};
use crate::control::ConnectionId;
use crate::fixture::{self, JoinOutcome};
use crate::hub::{Hub, Outbox, Subscriber};

/// What `connect/3` established for a connection.
#[derive(Debug, Clone)]
pub(crate) struct SocketAssigns {
    pub(crate) conn_id: ConnectionId,
    pub(crate) serializer: Serializer,
    /// `user_socket:<user_id>` when a `user_id` param was given.
    pub(crate) socket_id: Option<String>,
    pub(crate) user_id: Option<String>,
}

#[derive(Debug)]
struct ChannelHandle {
    chan_id: u64,
    join_ref_raw: Value,
    tx: mpsc::UnboundedSender<(ChannelMsg, Ack)>,
    task: JoinHandle<()>,
    slow: Arc<AtomicBool>,
}

/// How long the connection waits for a channel to finish the synchronous part
/// of a message before going on (bounds the wait behind a backlog).
const ACK_WAIT: Duration = Duration::from_millis(200);

impl ChannelHandle {
    /// Delivers a message. Unless the channel is busy in a slow handler, waits
    /// (bounded) until the channel has queued its answers, which gives the
    /// frame order a Phoenix server shows when its channels are idle.
    /// `Err` when the channel has stopped.
    async fn deliver(&self, msg: ChannelMsg) -> Result<(), ()> {
        let wait = !self.slow.load(Ordering::SeqCst);
        let (ack_tx, ack_rx) = oneshot::channel();
        self.tx.send((msg, Some(ack_tx))).map_err(|_| ())?;
        if wait {
            let _ = tokio::time::timeout(ACK_WAIT, ack_rx).await;
        }
        Ok(())
    }
}

/// The state of one connection (Phoenix's transport process).
#[derive(Debug)]
pub(crate) struct Session {
    hub: Arc<Hub>,
    assigns: SocketAssigns,
    outbox: Outbox,
    events_tx: mpsc::UnboundedSender<ConnEvent>,
    channels: HashMap<String, ChannelHandle>,
}

impl Session {
    pub(crate) fn new(
        hub: Arc<Hub>,
        assigns: SocketAssigns,
        outbox: Outbox,
        events_tx: mpsc::UnboundedSender<ConnEvent>,
    ) -> Session {
        Session {
            hub,
            assigns,
            outbox,
            events_tx,
            channels: HashMap::new(),
        }
    }

    pub(crate) fn serializer(&self) -> Serializer {
        self.assigns.serializer
    }

    fn send(&self, frame: &ServerFrame) {
        if let Ok(f) = encode(self.assigns.serializer, frame) {
            self.outbox.frame(f);
        }
    }

    fn reply(&self, join_ref: Value, msg: &ClientMessage, status: &str, response: Value) {
        self.send(&ServerFrame::Reply {
            join_ref,
            msg_ref: msg.msg_ref.clone(),
            topic: msg.topic.clone(),
            status: status.to_owned(),
            response: Payload::Json(response),
        });
    }

    fn unmatched(&self, msg: &ClientMessage) {
        self.reply(
            Value::Null,
            msg,
            "error",
            json!({ "reason": "unmatched topic" }),
        );
    }

    /// The live channel of a topic, forgetting it if its task has stopped.
    fn live_channel(&mut self, topic: &str) -> Option<&ChannelHandle> {
        let dead = self.channels.get(topic).is_some_and(|h| h.tx.is_closed());
        if dead {
            self.channels.remove(topic);
        }
        self.channels.get(topic)
    }

    /// Handles one decoded client message.
    pub(crate) async fn handle(&mut self, msg: ClientMessage) {
        // 5.1 heartbeat, whatever its join_ref and payload.
        if msg.topic == "phoenix" && msg.event == "heartbeat" {
            self.reply(Value::Null, &msg, "ok", json!({}));
            return;
        }
        if msg.event == "phx_join" {
            self.join(msg).await;
            return;
        }
        let Some(handle) = self.live_channel(&msg.topic) else {
            // 5.7 leave of an unjoined topic / 5.9 anything else.
            if msg.event == "phx_leave" {
                self.reply(msg.join_ref.clone(), &msg, "ok", json!({}));
            } else {
                self.unmatched(&msg);
            }
            return;
        };
        // 5.3 stale join_ref (Phoenix >= 1.8.3; null always passes since 1.8.12).
        if !msg.join_ref.is_null()
            && !handle.join_ref_raw.is_null()
            && msg.join_ref != handle.join_ref_raw
        {
            return;
        }
        let topic = msg.topic.clone();
        let channel_msg = if msg.event == "phx_leave" {
            ChannelMsg::Leave(msg.msg_ref.clone())
        } else {
            ChannelMsg::Event {
                msg_ref: msg.msg_ref.clone(),
                event: msg.event.clone(),
                payload: msg.payload.clone(),
            }
        };
        if handle.deliver(channel_msg).await.is_err() {
            // The channel died in between: the topic is free.
            self.channels.remove(&topic);
            if msg.event == "phx_leave" {
                self.reply(msg.join_ref.clone(), &msg, "ok", json!({}));
            } else {
                self.unmatched(&msg);
            }
        }
    }

    /// 5.2 / 5.8: join, including the duplicate-join order (new reply, then
    /// `phx_close` of the old join_ref).
    async fn join(&mut self, msg: ClientMessage) {
        let Some(route) = fixture::route(&msg.topic) else {
            self.unmatched(&msg);
            return;
        };
        let existing = if self.live_channel(&msg.topic).is_some() {
            self.channels.remove(&msg.topic)
        } else {
            None
        };
        if existing.is_none() {
            self.channels.retain(|_, h| !h.tx.is_closed());
            if self.channels.len() >= self.hub.config.max_channels {
                self.reply(
                    msg.join_ref.clone(),
                    &msg,
                    "error",
                    json!({ "reason": "too many channels joined" }),
                );
                return;
            }
        }
        let old_join_ref = match existing {
            Some(old) => {
                // {:shutdown, :duplicate_join}: wait until it is gone.
                old.task.abort();
                let _ = old.task.await;
                Some(old.join_ref_raw)
            }
            None => None,
        };
        match fixture::join(route, &msg.topic, &msg.payload) {
            JoinOutcome::Ok(response) => self.start_channel(route, &msg, response).await,
            JoinOutcome::Error(response) => {
                self.reply(msg.join_ref.clone(), &msg, "error", response)
            }
            JoinOutcome::Crash => {
                self.reply(
                    msg.join_ref.clone(),
                    &msg,
                    "error",
                    json!({ "reason": "join crashed" }),
                );
            }
        }
        if let Some(jr) = old_join_ref {
            self.send(&ServerFrame::Message {
                join_ref: jr.clone(),
                msg_ref: jr,
                topic: msg.topic.clone(),
                event: "phx_close".to_owned(),
                payload: json!({}),
            });
        }
    }

    async fn start_channel(&mut self, route: fixture::Route, msg: &ClientMessage, response: Value) {
        let chan_id = self.hub.next_id();
        let slow = Arc::new(AtomicBool::new(false));
        let join_ref = if msg.join_ref.is_null() {
            msg.msg_ref.clone()
        } else {
            msg.join_ref.clone()
        };
        let reply = ServerFrame::Reply {
            join_ref: msg.join_ref.clone(),
            msg_ref: msg.msg_ref.clone(),
            topic: msg.topic.clone(),
            status: "ok".to_owned(),
            response: Payload::Json(response),
        };
        let Ok(reply) = encode(self.assigns.serializer, &reply) else {
            return;
        };
        self.hub.subscribe_with_reply(
            &msg.topic,
            Subscriber {
                chan_id,
                serializer: self.assigns.serializer,
                outbox: self.outbox.clone(),
            },
            reply,
        );
        let ctx = ChannelCtx {
            hub: self.hub.clone(),
            chan_id,
            topic: msg.topic.clone(),
            join_ref_raw: msg.join_ref.clone(),
            join_ref,
            serializer: self.assigns.serializer,
            outbox: self.outbox.clone(),
            socket_id: self.assigns.socket_id.clone(),
            user_id: self.assigns.user_id.clone(),
            route,
            slow: slow.clone(),
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(channel::run(ctx, rx, self.events_tx.clone()));
        let handle = ChannelHandle {
            chan_id,
            join_ref_raw: msg.join_ref.clone(),
            tx,
            task,
            slow,
        };
        let _ = handle.deliver(ChannelMsg::AfterJoin).await;
        self.channels.insert(msg.topic.clone(), handle);
    }

    /// Handles a notification from one of the channels.
    pub(crate) fn on_event(&mut self, event: ConnEvent) {
        match event {
            ConnEvent::ChannelExited { topic, chan_id } => {
                if self
                    .channels
                    .get(&topic)
                    .is_some_and(|h| h.chan_id == chan_id)
                {
                    self.channels.remove(&topic);
                }
            }
        }
    }

    /// The connection is going away: stop every channel (`{:shutdown, :closed}`)
    /// and wait until they are gone, so presence leaves are broadcast.
    pub(crate) async fn terminate(&mut self) {
        let handles: Vec<ChannelHandle> = self.channels.drain().map(|(_, h)| h).collect();
        for h in &handles {
            h.task.abort();
        }
        for h in handles {
            let _ = h.task.await;
        }
    }
}
