//! The fixture application (`FIXTURE.md`): topic routing, join handlers and
//! the `handle_in` of each channel.

use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::{Value, json};

use crate::channel::{Ack, ChannelCtx, Crashed, Flow, ack};
use crate::codec::Payload;

/// Which channel module a topic is routed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    /// `echo:*`
    Echo,
    /// `auth:*`
    Auth,
    /// `presence:*`
    Presence,
    /// `crash_join:*`
    CrashJoin,
}

/// Routes a topic like `channel "echo:*", EchoChannel` declarations do.
pub(crate) fn route(topic: &str) -> Option<Route> {
    if topic.starts_with("echo:") {
        Some(Route::Echo)
    } else if topic.starts_with("auth:") {
        Some(Route::Auth)
    } else if topic.starts_with("presence:") {
        Some(Route::Presence)
    } else if topic.starts_with("crash_join:") {
        Some(Route::CrashJoin)
    } else {
        None
    }
}

/// The result of a channel's `join/3`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum JoinOutcome {
    /// `{:ok, response, socket}`.
    Ok(Value),
    /// `{:error, response}`.
    Error(Value),
    /// join/3 raised: `{"reason":"join crashed"}`.
    Crash,
}

/// The fixture's join handlers.
pub(crate) fn join(route: Route, topic: &str, payload: &Payload) -> JoinOutcome {
    match route {
        Route::Echo => JoinOutcome::Ok(json!({ "joined": topic })),
        Route::Auth => {
            let token = payload.as_object().and_then(|m| m.get("token"));
            if token == Some(&Value::String("secret".to_owned())) {
                JoinOutcome::Ok(json!({}))
            } else {
                JoinOutcome::Error(json!({ "reason": "unauthorized" }))
            }
        }
        Route::Presence => JoinOutcome::Ok(json!({})),
        Route::CrashJoin => JoinOutcome::Crash,
    }
}

fn flow(r: Result<(), Crashed>) -> Flow {
    match r {
        Ok(()) => Flow::Continue,
        Err(Crashed) => Flow::Crash,
    }
}

/// Runs right after a successful join (`handle_info(:after_join, socket)`):
/// presence channels track the user and push `presence_state`.
pub(crate) fn after_join(ctx: &ChannelCtx) -> Flow {
    if ctx.route != Route::Presence {
        return Flow::Continue;
    }
    let key = ctx.user_id.clone().unwrap_or_else(|| "anon".to_owned());
    let state = ctx.hub.presence_track(&ctx.topic, &key, ctx.chan_id);
    flow(ctx.push("presence_state", Payload::Json(state)))
}

fn empty() -> Payload {
    Payload::Json(json!({}))
}

fn int_field(payload: &Payload, key: &str) -> Option<u64> {
    payload.as_object()?.get(key)?.as_u64()
}

/// The fixture's `handle_in/3`. Only `echo:*` channels define events; an
/// event on any other channel crashes it (no matching clause).
///
/// `acknowledge` is sent early by slow handlers (`sleep`), so that the
/// connection goes on while the channel sleeps.
pub(crate) async fn handle_in(
    ctx: &ChannelCtx,
    msg_ref: &Value,
    event: &str,
    payload: Payload,
    acknowledge: &mut Ack,
) -> Flow {
    if ctx.route != Route::Echo {
        return Flow::Crash;
    }
    let is_binary = matches!(payload, Payload::Binary(_));
    match event {
        "echo" => flow(ctx.reply(msg_ref, "ok", payload)),
        "error" => flow(ctx.reply(msg_ref, "error", payload)),
        "noreply" => Flow::Continue,
        "broadcast" => flow(
            ctx.broadcast("broadcasted", payload)
                .and_then(|()| ctx.reply(msg_ref, "ok", empty())),
        ),
        "push_me" => flow(ctx.push("pushed", payload)),
        "crash" => Flow::Crash,
        "stop" => Flow::Stop,
        "stop_reply" => match ctx.reply(msg_ref, "ok", empty()) {
            Ok(()) => Flow::Stop,
            Err(Crashed) => Flow::Crash,
        },
        "push_binary" => flow(
            ctx.push("pushed_binary", Payload::Binary(vec![4, 5, 6]))
                .and_then(|()| ctx.reply(msg_ref, "ok", empty())),
        ),
        "broadcast_binary" => flow(
            ctx.broadcast("broadcasted_binary", Payload::Binary(vec![7, 8, 9]))
                .and_then(|()| ctx.reply(msg_ref, "ok", empty())),
        ),
        "disconnect_me" => match &ctx.socket_id {
            Some(id) => {
                // Endpoint.broadcast(socket_id, "disconnect", %{}): the
                // connection closes (1001) before any reply could be sent.
                ctx.hub.disconnect_socket_id(id);
                Flow::Continue
            }
            None => flow(ctx.reply(msg_ref, "ok", Payload::Json(json!({ "socket_id": null })))),
        },
        "binary" if !is_binary => flow(ctx.reply(msg_ref, "ok", Payload::Binary(vec![1, 2, 3]))),
        "sleep" if !is_binary => match int_field(&payload, "ms") {
            Some(ms) => {
                ctx.slow.store(true, Ordering::SeqCst);
                ack(acknowledge);
                tokio::time::sleep(Duration::from_millis(ms)).await;
                ctx.slow.store(false, Ordering::SeqCst);
                flow(ctx.reply(msg_ref, "ok", empty()))
            }
            None => Flow::Crash,
        },
        "many" if !is_binary => match int_field(&payload, "n") {
            Some(n) => {
                for i in 1..=n {
                    if ctx.push("item", Payload::Json(json!({ "i": i }))).is_err() {
                        return Flow::Crash;
                    }
                }
                flow(ctx.reply(msg_ref, "ok", empty()))
            }
            None => Flow::Crash,
        },
        _ => match payload {
            Payload::Binary(bytes) => flow(ctx.reply(
                msg_ref,
                "ok",
                Payload::Json(json!({ "byte_size": bytes.len() })),
            )),
            Payload::Json(_) => Flow::Crash,
        },
    }
}
