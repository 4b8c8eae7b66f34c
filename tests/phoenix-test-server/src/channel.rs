//! The channel runtime: one task per joined topic (the Phoenix channel
//! process). A channel handles its messages one at a time, so a slow handler
//! (`sleep`) delays later messages of that channel only; the connection keeps
//! answering heartbeats and serving other topics.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

use crate::codec::{Payload, Serializer, ServerFrame, encode};
use crate::fixture;
use crate::hub::{Hub, Outbox};

/// A message for a channel task.
#[derive(Debug)]
pub(crate) enum ChannelMsg {
    /// Sent right after a successful join (Phoenix apps do `send(self(), :after_join)`).
    AfterJoin,
    /// `phx_leave` with the leave's ref.
    Leave(Value),
    /// Any other event.
    Event {
        msg_ref: Value,
        event: String,
        payload: Payload,
    },
}

/// Tells the connection that a channel has done the synchronous part of a
/// message (its replies and pushes are queued), so that the connection can
/// keep Phoenix's usual ordering without being blocked by slow handlers.
pub(crate) type Ack = Option<oneshot::Sender<()>>;

/// Sends the acknowledgement, if it was not sent yet.
pub(crate) fn ack(ack: &mut Ack) {
    if let Some(a) = ack.take() {
        let _ = a.send(());
    }
}

/// Notifications from channels to their connection.
#[derive(Debug)]
pub(crate) enum ConnEvent {
    /// A channel task ended (stop, crash, leave or kill).
    ChannelExited { topic: String, chan_id: u64 },
}

/// The result of handling one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flow {
    /// Keep running.
    Continue,
    /// Stop normally: `phx_close`.
    Stop,
    /// Crash: `phx_error`.
    Crash,
}

/// The channel crashed (an encoding error or a fixture-level raise).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Crashed;

/// What a channel knows about itself and its connection.
#[derive(Debug)]
pub(crate) struct ChannelCtx {
    pub(crate) hub: Arc<Hub>,
    pub(crate) chan_id: u64,
    pub(crate) topic: String,
    /// The join_ref exactly as the join carried it (for `phx_close`/`phx_error`).
    pub(crate) join_ref_raw: Value,
    /// `join_ref || ref` of the join: stamped on pushes and replies.
    pub(crate) join_ref: Value,
    pub(crate) serializer: Serializer,
    pub(crate) outbox: Outbox,
    pub(crate) socket_id: Option<String>,
    pub(crate) user_id: Option<String>,
    pub(crate) route: fixture::Route,
    /// Set while the channel is inside a slow handler (`sleep`): the
    /// connection then does not wait for its acknowledgements.
    pub(crate) slow: Arc<AtomicBool>,
}

impl ChannelCtx {
    fn send(&self, frame: &ServerFrame) -> Result<(), Crashed> {
        let f = encode(self.serializer, frame).map_err(|_| Crashed)?;
        self.outbox.frame(f);
        Ok(())
    }

    /// `push(socket, event, payload)`; text pushes need a JSON object.
    pub(crate) fn push(&self, event: &str, payload: Payload) -> Result<(), Crashed> {
        if let Payload::Json(v) = &payload {
            if !v.is_object() {
                return Err(Crashed);
            }
        }
        self.send(&ServerFrame::Push {
            join_ref: self.join_ref.clone(),
            topic: self.topic.clone(),
            event: event.to_owned(),
            payload,
        })
    }

    /// `{:reply, {status, response}, socket}`.
    pub(crate) fn reply(
        &self,
        msg_ref: &Value,
        status: &str,
        response: Payload,
    ) -> Result<(), Crashed> {
        self.send(&ServerFrame::Reply {
            join_ref: self.join_ref.clone(),
            msg_ref: msg_ref.clone(),
            topic: self.topic.clone(),
            status: status.to_owned(),
            response,
        })
    }

    /// `broadcast!(socket, event, payload)` to every subscriber, this client included.
    pub(crate) fn broadcast(&self, event: &str, payload: Payload) -> Result<(), Crashed> {
        if let Payload::Json(v) = &payload {
            if !v.is_object() {
                return Err(Crashed);
            }
        }
        self.hub.broadcast(&self.topic, event, payload);
        Ok(())
    }

    fn control(&self, event: &str, payload: Value) {
        // phx_close / phx_error are always encodable text.
        let _ = self.send(&ServerFrame::Message {
            join_ref: self.join_ref_raw.clone(),
            msg_ref: self.join_ref_raw.clone(),
            topic: self.topic.clone(),
            event: event.to_owned(),
            payload,
        });
    }
}

/// Cleans up when a channel task ends in any way (including being aborted):
/// unsubscribes, untracks presences (broadcasting leaves to the others) and
/// tells the connection.
struct ExitGuard {
    hub: Arc<Hub>,
    topic: String,
    chan_id: u64,
    events: mpsc::UnboundedSender<ConnEvent>,
}

impl Drop for ExitGuard {
    fn drop(&mut self) {
        self.hub.unsubscribe(&self.topic, self.chan_id);
        self.hub.presence_untrack(self.chan_id);
        let _ = self.events.send(ConnEvent::ChannelExited {
            topic: self.topic.clone(),
            chan_id: self.chan_id,
        });
    }
}

/// Runs a channel until it stops, crashes, is left, or is aborted.
pub(crate) async fn run(
    ctx: ChannelCtx,
    mut inbox: mpsc::UnboundedReceiver<(ChannelMsg, Ack)>,
    events: mpsc::UnboundedSender<ConnEvent>,
) {
    let _guard = ExitGuard {
        hub: ctx.hub.clone(),
        topic: ctx.topic.clone(),
        chan_id: ctx.chan_id,
        events,
    };
    loop {
        let Some((msg, mut acknowledge)) = inbox.recv().await else {
            // The connection dropped its handle: it is shutting us down.
            return;
        };
        let flow = match msg {
            ChannelMsg::AfterJoin => fixture::after_join(&ctx),
            ChannelMsg::Leave(msg_ref) => match ctx.reply(&msg_ref, "ok", Payload::Json(json!({})))
            {
                Ok(()) => Flow::Stop,
                Err(Crashed) => Flow::Crash,
            },
            ChannelMsg::Event {
                msg_ref,
                event,
                payload,
            } => fixture::handle_in(&ctx, &msg_ref, &event, payload, &mut acknowledge).await,
        };
        if flow != Flow::Continue {
            inbox.close();
            match flow {
                Flow::Stop => ctx.control("phx_close", json!({})),
                _ => ctx.control("phx_error", json!({ "reason": "channel_crash" })),
            }
            ack(&mut acknowledge);
            return;
        }
        ack(&mut acknowledge);
    }
}
