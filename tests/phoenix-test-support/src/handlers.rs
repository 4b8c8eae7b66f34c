//! Handlers of the callback model that several drivers' tests run, on the
//! [`Handler`] trait every driver shares.

use std::sync::Arc;

use phoenix_proto::api::prelude::{Action, ChannelId, Context, Handler, Payload, ReplyTo};

/// Answers a call once the server answered the join it asked for: a
/// deferred reply. A call is a topic to join and its reply is the join's
/// response; a call for `"never"` joins nothing and is kept unanswered.
#[derive(Debug, Default)]
pub struct JoinOnCall {
    waiting: Option<ReplyTo<String>>,
}

impl Handler for JoinOnCall {
    type Info = ();
    type Call = String;
    type Reply = String;

    fn handle_call(
        &mut self,
        ctx: &mut Context<'_>,
        topic: String,
        reply: ReplyTo<String>,
    ) -> Action {
        if topic != "never" {
            let _ = ctx.join(&topic, Payload::empty());
        }
        self.waiting = Some(reply);
        Action::Continue
    }

    fn handle_joined(
        &mut self,
        _ctx: &mut Context<'_>,
        _channel: ChannelId,
        _topic: Arc<str>,
        response: Payload<'static>,
        _rejoin: bool,
    ) -> Action {
        if let Some(reply) = self.waiting.take() {
            reply.send(response.as_json().unwrap_or("").to_owned());
        }
        Action::Continue
    }
}
