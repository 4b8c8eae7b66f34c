//! The scenarios. Each is an `async fn NAME<D: Driver>(scope: &Scope<D>) ->
//! Scenario`, generic over the [`Driver`]; it returns `Ok(Outcome::Passed)`,
//! `Ok(Outcome::LeftOut(why))` (only when it cannot run against
//! `PHOENIX_URL`), or `Err(what failed)`.
//!
//! Rules for a scenario body:
//!
//! - Servers and clients come from the [`Scope`] (`scope.default_server()`,
//!   `scope.embedded(..)`, `scope.connect(..)`), which shuts every client
//!   down and stops every server when the scenario ends, however it ends:
//!   an early `?` is fine, and there is no cleanup to write at the end.
//! - No runtime APIs: time comes from [`crate::time`] and
//!   [`std::time::Instant`], concurrency from `futures_util`
//!   ([`join`](futures_util::future::join), `select`). The client under
//!   test may be tokio, async-std, smol or blocking.
//! - A scenario that needs the embedded server's fault controls or a special
//!   configuration leaves itself out with `Err(outcome) => return
//!   Ok(outcome)` (from [`Env::server`] or [`Scope::embedded`]) *and* is
//!   marked in the list with `=> "needs the embedded test server's ..."`.
//!
//! Add a scenario here *and* to the list in
//! [`all_scenarios!`](crate::all_scenarios) (every driver's test file runs
//! the whole list). The unit test `the_list_names_every_scenario` fails when
//! the two disagree, or when a scenario's left-out path and its mark do.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::future;
use phoenix_proto::client::{Backoff, ChannelCloseReason, ChannelErrorReason, DisconnectReason};
use phoenix_proto::codec::Payload;
use phoenix_test_server::{ServerConfig, TestServer};
use serde_json::{Value, json};

use crate::driver::{Driver, Ev, JoinFailure, PushFailure, TestChannel, TestClient};
use crate::env::{Env, Outcome};
use crate::harness::Scope;
use crate::time;

/// How long a scenario waits for anything that should happen promptly.
pub const PROMPT: Duration = Duration::from_secs(5);

/// The result of a scenario.
pub type Scenario = Result<Outcome, String>;

/// Fails with `message` unless `condition` holds.
pub fn check(condition: bool, message: impl Into<String>) -> Result<(), String> {
    if condition {
        Ok(())
    } else {
        Err(message.into())
    }
}

/// JSON payload from a `json!` value.
pub fn payload(value: Value) -> Payload<'static> {
    Payload::json(&value).expect("JSON values serialize")
}

/// Pushes and expects an `ok` reply; returns its response as JSON.
pub async fn push_ok<C: TestChannel>(
    channel: &C,
    event: &str,
    body: Value,
) -> Result<Value, String> {
    match channel.push(event, payload(body), None).await {
        Ok((status, response)) if status == "ok" => response
            .deserialize()
            .map_err(|e| format!("{event}: reply is not JSON: {e}")),
        Ok((status, response)) => Err(format!(
            "{event}: expected ok, got {status} {:?}",
            response.as_json()
        )),
        Err(e) => Err(format!("{event}: {e:?}")),
    }
}

/// Waits for the next JSON message named `event`, skipping others.
pub async fn expect_message<C: TestChannel>(
    channel: &mut C,
    event: &str,
) -> Result<Payload<'static>, String> {
    let deadline = Instant::now() + PROMPT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match channel.next_event(left).await {
            Some(Ev::Message {
                event: got,
                payload,
            }) if got == event => return Ok(payload),
            Some(_) => {}
            None => return Err(format!("no `{event}` message within {PROMPT:?}")),
        }
    }
}

/// Waits for an event that `pick` accepts, skipping others.
pub async fn expect_event<C: TestChannel>(
    channel: &mut C,
    what: &str,
    pick: impl Fn(&Ev) -> bool,
) -> Result<Ev, String> {
    let deadline = Instant::now() + PROMPT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match channel.next_event(left).await {
            Some(ev) if pick(&ev) => return Ok(ev),
            Some(_) => {}
            None => return Err(format!("no {what} within {PROMPT:?}")),
        }
    }
}

/// Connects a client and joins `topic`, returning both.
pub async fn joined<D: Driver>(
    scope: &Scope<D>,
    env: &Env,
    topic: &str,
) -> Result<(D::Client, <D::Client as TestClient>::Channel), String> {
    let client = scope.connect(env.options());
    client.wait_connected(PROMPT).await?;
    let channel = client.channel(topic, json!({}));
    channel
        .join()
        .await
        .map_err(|e| format!("join {topic}: {e:?}"))?;
    Ok((client, channel))
}

/// `echo:*` joins with `{"joined": topic}` and echoes pushes back.
pub async fn join_and_echo<D: Driver>(scope: &Scope<D>) -> Scenario {
    let env = scope.default_server().await;
    let client = scope.connect(env.options());
    client.wait_connected(PROMPT).await?;
    let channel = client.channel("echo:1", json!({}));
    let response = channel.join().await.map_err(|e| format!("{e:?}"))?;
    check(
        response == json!({"joined": "echo:1"}),
        format!("join response {response}"),
    )?;
    let body = json!({"a": 1, "nested": {"b": [1, 2, "x"]}, "s": "héllo ✓"});
    let echoed = push_ok(&channel, "echo", body.clone()).await?;
    check(echoed == body, format!("echo returned {echoed}"))?;
    Ok(Outcome::Passed)
}

/// `error` replies with status `error` and the payload.
pub async fn error_reply<D: Driver>(scope: &Scope<D>) -> Scenario {
    let env = scope.default_server().await;
    let (_client, channel) = joined(scope, &env, "echo:err").await?;
    let (status, response) = channel
        .push("error", payload(json!({"why": "test"})), None)
        .await
        .map_err(|e| format!("{e:?}"))?;
    check(status == "error", format!("status {status}"))?;
    let response: Value = response.deserialize().map_err(|e| e.to_string())?;
    check(
        response == json!({"why": "test"}),
        format!("response {response}"),
    )?;
    Ok(Outcome::Passed)
}

/// `noreply` is never answered: the push times out, once.
pub async fn push_timeout<D: Driver>(scope: &Scope<D>) -> Scenario {
    let env = scope.default_server().await;
    let (_client, channel) = joined(scope, &env, "echo:quiet").await?;
    let result = channel
        .push(
            "noreply",
            payload(json!({})),
            Some(Duration::from_millis(200)),
        )
        .await;
    check(result == Err(PushFailure::Timeout), format!("{result:?}"))?;
    // The channel is still fine.
    push_ok(&channel, "echo", json!({"still": "here"})).await?;
    Ok(Outcome::Passed)
}

/// A refused connect (`reject=true`) reports HTTP 403.
pub async fn refused_connect<D: Driver>(scope: &Scope<D>) -> Scenario {
    let env = scope.default_server().await;
    let client = scope.connect(env.options().param("reject", "true"));
    let reason = client.wait_disconnected(PROMPT).await?;
    check(
        matches!(reason, DisconnectReason::Refused { status: 403, .. }),
        format!("{reason:?}"),
    )?;
    Ok(Outcome::Passed)
}

/// The server drops the TCP connection: the client reconnects and rejoins.
pub async fn reconnect_and_rejoin_after_drop<D: Driver>(scope: &Scope<D>) -> Scenario {
    let env = scope.default_server().await;
    let server = match env.server("drop_all") {
        Ok(s) => s,
        Err(outcome) => return Ok(outcome),
    };
    let (_client, mut channel) = joined(scope, &env, "echo:drop").await?;
    server.drop_all();
    expect_event(&mut channel, "Errored(ConnectionLost)", |e| {
        *e == Ev::Errored(ChannelErrorReason::ConnectionLost)
    })
    .await?;
    expect_event(&mut channel, "Rejoined", |e| *e == Ev::Rejoined).await?;
    push_ok(&channel, "echo", json!({"after": "drop"})).await?;
    check(
        server.stats().connections_opened >= 2,
        "a second connection",
    )?;
    Ok(Outcome::Passed)
}

/// Leaving: the channel closes with `Left` and pushes are refused.
pub async fn leave<D: Driver>(scope: &Scope<D>) -> Scenario {
    let env = scope.default_server().await;
    let (_client, mut channel) = joined(scope, &env, "echo:leave").await?;
    channel.leave().await?;
    expect_event(&mut channel, "Closed(Left)", |e| {
        *e == Ev::Closed(ChannelCloseReason::Left)
    })
    .await?;
    let after = channel.push("echo", payload(json!({})), None).await;
    check(
        matches!(after, Err(PushFailure::Rejected(_))),
        format!("{after:?}"),
    )?;
    Ok(Outcome::Passed)
}

/// Joining a topic that has a live channel on the same socket is refused
/// by the client, not sent.
pub async fn duplicate_join<D: Driver>(scope: &Scope<D>) -> Scenario {
    let env = scope.default_server().await;
    let (client, _first) = joined(scope, &env, "echo:dup").await?;
    let second = client.channel("echo:dup", json!({}));
    let result = second.join().await;
    check(
        matches!(result, Err(JoinFailure::Rejected(_))),
        format!("{result:?}"),
    )?;
    Ok(Outcome::Passed)
}

// ----- helpers for the scenarios below ---------------------------------

/// A name no other scenario (or concurrent run against the same
/// `PHOENIX_URL` server) uses: `prefix` plus the process id and a counter.
pub fn unique(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "{prefix}{}-{nanos}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The embedded server of an env from [`Scope::embedded`].
fn embedded_server(env: &Env) -> Result<&TestServer, String> {
    env.server("controls").map_err(|o| format!("{o:?}"))
}

/// Runs `future` for at most [`PROMPT`].
pub async fn within<T>(what: &str, future: impl Future<Output = T>) -> Result<T, String> {
    time::timeout(PROMPT, future)
        .await
        .map_err(|_| format!("{what}: not within {PROMPT:?}"))
}

/// The very next event must satisfy `pick`.
pub async fn next_is<C: TestChannel>(
    channel: &mut C,
    what: &str,
    pick: impl Fn(&Ev) -> bool,
) -> Result<Ev, String> {
    match channel.next_event(PROMPT).await {
        Some(ev) if pick(&ev) => Ok(ev),
        Some(ev) => Err(format!("expected {what}, got {ev:?}")),
        None => Err(format!("no {what} within {PROMPT:?}")),
    }
}

/// Fails if any event arrives within `quiet`.
pub async fn no_event<C: TestChannel>(channel: &mut C, quiet: Duration) -> Result<(), String> {
    match channel.next_event(quiet).await {
        None => Ok(()),
        Some(ev) => Err(format!("unexpected event {ev:?}")),
    }
}

/// Pushes and expects an `ok` reply; returns the raw response.
pub async fn push_ok_raw<C: TestChannel>(
    channel: &C,
    event: &str,
    body: Payload<'static>,
) -> Result<Payload<'static>, String> {
    match channel.push(event, body, None).await {
        Ok((status, response)) if status == "ok" => Ok(response),
        Ok((status, response)) => Err(format!("{event}: expected ok, got {status} {response:?}")),
        Err(e) => Err(format!("{event}: {e:?}")),
    }
}

/// Joins a fresh channel and expects the server to refuse it.
async fn join_refused<C: TestClient>(
    client: &C,
    topic: &str,
    params: Value,
) -> Result<Value, String> {
    match client.channel(topic, params).join().await {
        Err(JoinFailure::Refused(status, response)) if status == "error" => Ok(response),
        other => Err(format!("join {topic}: expected a refusal, got {other:?}")),
    }
}

fn is_crashed(ev: &Ev) -> bool {
    matches!(ev, Ev::Errored(ChannelErrorReason::Crashed { .. }))
}

fn is_connection_lost(ev: &Ev) -> bool {
    *ev == Ev::Errored(ChannelErrorReason::ConnectionLost)
}

fn is_rejoined(ev: &Ev) -> bool {
    *ev == Ev::Rejoined
}

// ----- fixture: echo:* -------------------------------------------------

/// `broadcast` reaches every subscriber, the sender too; the reply is ok `{}`.
pub async fn broadcast_reaches_all<D: Driver>(scope: &Scope<D>) -> Scenario {
    let env = scope.default_server().await;
    let topic = unique("echo:bc");
    let (_sender, mut sender_channel) = joined(scope, &env, &topic).await?;
    let (_other, mut other_channel) = joined(scope, &env, &topic).await?;
    let body = json!({"from": "sender", "n": 7});
    let reply = push_ok(&sender_channel, "broadcast", body.clone()).await?;
    check(reply == json!({}), format!("broadcast reply {reply}"))?;
    for (who, channel) in [
        ("sender", &mut sender_channel),
        ("other", &mut other_channel),
    ] {
        let got = expect_message(channel, "broadcasted").await?;
        check(
            got.deserialize::<Value>().ok() == Some(body.clone()),
            format!("{who} got broadcasted {got:?}"),
        )?;
    }
    Ok(Outcome::Passed)
}

/// `push_me` makes the server push `pushed` with the payload; no reply.
pub async fn server_push<D: Driver>(scope: &Scope<D>) -> Scenario {
    let env = scope.default_server().await;
    let (_client, mut channel) = joined(scope, &env, &unique("echo:push")).await?;
    let body = json!({"hello": ["w", 0, "rld"]});
    channel.cast("push_me", payload(body.clone())).await;
    let ev = next_is(&mut channel, "a `pushed` message", |e| {
        e.json_message().is_some_and(|(name, _)| name == "pushed")
    })
    .await?;
    let (_, got) = ev.json_message().unwrap();
    check(got == body, format!("pushed {got}"))?;
    Ok(Outcome::Passed)
}

/// `many` with n=5 pushes `item` i=1..5 in order, then replies ok `{}`.
pub async fn many_messages_in_order<D: Driver>(scope: &Scope<D>) -> Scenario {
    let env = scope.default_server().await;
    let (_client, mut channel) = joined(scope, &env, &unique("echo:many")).await?;
    let reply = push_ok(&channel, "many", json!({"n": 5})).await?;
    check(reply == json!({}), format!("many reply {reply}"))?;
    for i in 1..=5 {
        let ev = next_is(&mut channel, &format!("item {i}"), |e| {
            e.json_message().is_some_and(|(name, _)| name == "item")
        })
        .await?;
        let (_, got) = ev.json_message().unwrap();
        check(got == json!({"i": i}), format!("item {i}: got {got}"))?;
    }
    no_event(&mut channel, Duration::from_millis(50)).await?;
    Ok(Outcome::Passed)
}

/// A crash (`crash`, or any event the channel does not handle) errors the
/// channel, fails the pending push, and the channel rejoins by itself.
async fn crash_and_rejoin<D: Driver>(scope: &Scope<D>, event: &str) -> Scenario {
    let env = scope.default_server().await;
    let (_client, mut channel) = joined(scope, &env, &unique("echo:crash")).await?;
    let result = channel.push(event, payload(json!({"x": 1})), None).await;
    check(
        matches!(
            result,
            Err(PushFailure::Failed(
                phoenix_proto::client::PushFailure::ChannelCrashed
            ))
        ),
        format!("{event}: push outcome {result:?}"),
    )?;
    next_is(&mut channel, "Errored(Crashed)", is_crashed).await?;
    next_is(&mut channel, "Rejoined", is_rejoined).await?;
    let echoed = push_ok(&channel, "echo", json!({"after": event})).await?;
    check(
        echoed == json!({"after": event}),
        format!("echo after {event}: {echoed}"),
    )?;
    Ok(Outcome::Passed)
}

/// `crash`: the channel errors with `Crashed` and rejoins.
pub async fn crash_rejoins<D: Driver>(scope: &Scope<D>) -> Scenario {
    crash_and_rejoin(scope, "crash").await
}

/// An event the channel does not handle crashes it the same way.
pub async fn unknown_event_crashes<D: Driver>(scope: &Scope<D>) -> Scenario {
    crash_and_rejoin(scope, "no_such_event").await
}

/// `stop`: the server closes the channel; later pushes are refused.
pub async fn server_stop<D: Driver>(scope: &Scope<D>) -> Scenario {
    let env = scope.default_server().await;
    let (_client, mut channel) = joined(scope, &env, &unique("echo:stop")).await?;
    channel.cast("stop", payload(json!({}))).await;
    next_is(&mut channel, "Closed(ServerClosed)", |e| {
        *e == Ev::Closed(ChannelCloseReason::ServerClosed)
    })
    .await?;
    let after = channel.push("echo", payload(json!({})), None).await;
    check(
        matches!(after, Err(PushFailure::Rejected(_))),
        format!("push after stop: {after:?}"),
    )?;
    Ok(Outcome::Passed)
}

/// `stop_reply`: reply ok `{}`, then the channel is closed by the server.
pub async fn server_stop_with_reply<D: Driver>(scope: &Scope<D>) -> Scenario {
    let env = scope.default_server().await;
    let (_client, mut channel) = joined(scope, &env, &unique("echo:stopr")).await?;
    let reply = push_ok(&channel, "stop_reply", json!({})).await?;
    check(reply == json!({}), format!("stop_reply reply {reply}"))?;
    next_is(&mut channel, "Closed(ServerClosed)", |e| {
        *e == Ev::Closed(ChannelCloseReason::ServerClosed)
    })
    .await?;
    Ok(Outcome::Passed)
}

/// Binary replies, binary pushes, binary server pushes and broadcasts.
pub async fn binary_payloads<D: Driver>(scope: &Scope<D>) -> Scenario {
    let env = scope.default_server().await;
    let (_client, mut channel) = joined(scope, &env, &unique("echo:bin")).await?;
    let reply = push_ok_raw(&channel, "binary", payload(json!({}))).await?;
    check(
        reply.as_bytes() == Some(&[1, 2, 3][..]),
        format!("binary reply {reply:?}"),
    )?;
    for (event, bytes) in [("binary", vec![10, 20, 30, 40]), ("anything", vec![0; 5])] {
        let n = bytes.len();
        let reply = push_ok_raw(&channel, event, Payload::binary(bytes)).await?;
        check(
            reply.deserialize::<Value>().ok() == Some(json!({"byte_size": n})),
            format!("binary {event} push: reply {reply:?}"),
        )?;
    }
    let reply = push_ok(&channel, "push_binary", json!({})).await?;
    check(reply == json!({}), format!("push_binary reply {reply}"))?;
    let got = expect_message(&mut channel, "pushed_binary").await?;
    check(
        got.as_bytes() == Some(&[4, 5, 6][..]),
        format!("pushed_binary {got:?}"),
    )?;
    let reply = push_ok(&channel, "broadcast_binary", json!({})).await?;
    check(
        reply == json!({}),
        format!("broadcast_binary reply {reply}"),
    )?;
    let got = expect_message(&mut channel, "broadcasted_binary").await?;
    check(
        got.as_bytes() == Some(&[7, 8, 9][..]),
        format!("broadcasted_binary {got:?}"),
    )?;
    Ok(Outcome::Passed)
}

/// `disconnect_me` with a socket id drops the connection: the client
/// reconnects and rejoins. Without a socket id it replies `{"socket_id": null}`.
pub async fn disconnect_me<D: Driver>(scope: &Scope<D>) -> Scenario {
    let env = scope.default_server().await;
    let topic = unique("echo:dm");
    let client = scope.connect(env.options().param("user_id", &unique("dm")));
    client.wait_connected(PROMPT).await?;
    let mut channel = client.channel(&topic, json!({}));
    channel.join().await.map_err(|e| format!("join: {e:?}"))?;
    channel.cast("disconnect_me", payload(json!({}))).await;
    next_is(&mut channel, "Errored(ConnectionLost)", is_connection_lost).await?;
    next_is(&mut channel, "Rejoined", is_rejoined).await?;
    push_ok(&channel, "echo", json!({"back": true})).await?;
    if let Ok(server) = env.server("stats") {
        check(
            server.stats().connections_opened >= 2,
            "disconnect_me: a second connection",
        )?;
    }

    let (_anonymous, anonymous_channel) = joined(scope, &env, &unique("echo:dm-anon")).await?;
    let reply = push_ok(&anonymous_channel, "disconnect_me", json!({})).await?;
    check(
        reply == json!({"socket_id": null}),
        format!("disconnect_me without a socket id: {reply}"),
    )?;
    Ok(Outcome::Passed)
}

/// `sleep` blocks the channel: an echo pushed right after is answered after it.
pub async fn sleep_orders_replies<D: Driver>(scope: &Scope<D>) -> Scenario {
    let env = scope.default_server().await;
    let (_client, channel) = joined(scope, &env, &unique("echo:sleep")).await?;
    let start = Instant::now();
    let order = AtomicU64::new(0);
    let (slept, echoed) = future::join(
        async {
            let r = push_ok(&channel, "sleep", json!({"ms": 300})).await;
            (r, order.fetch_add(1, Ordering::SeqCst), start.elapsed())
        },
        async {
            // Leave the sleep push time to go out first.
            time::sleep(Duration::from_millis(20)).await;
            let r = push_ok(&channel, "echo", json!({"e": 1})).await;
            (r, order.fetch_add(1, Ordering::SeqCst), start.elapsed())
        },
    )
    .await;
    check(slept.0? == json!({}), "sleep reply")?;
    check(echoed.0? == json!({"e": 1}), "echo reply")?;
    check(
        slept.1 < echoed.1,
        format!(
            "the echo was answered first (sleep after {:?}, echo after {:?})",
            slept.2, echoed.2
        ),
    )?;
    check(
        echoed.2 >= Duration::from_millis(290),
        format!("the echo did not wait for the sleep: {:?}", echoed.2),
    )?;
    Ok(Outcome::Passed)
}

// ----- fixture: other topics -------------------------------------------

/// `auth:*` wants `"token":"secret"`, else refuses with `unauthorized`.
pub async fn auth_topic<D: Driver>(scope: &Scope<D>) -> Scenario {
    let env = scope.default_server().await;
    let client = scope.connect(env.options());
    client.wait_connected(PROMPT).await?;
    for params in [json!({}), json!({"token": "wrong"})] {
        let response = join_refused(&client, &unique("auth:no"), params.clone()).await?;
        check(
            response == json!({"reason": "unauthorized"}),
            format!("auth with {params}: {response}"),
        )?;
    }
    let channel = client.channel(&unique("auth:yes"), json!({"token": "secret"}));
    let response = channel.join().await.map_err(|e| format!("{e:?}"))?;
    check(
        response == json!({}),
        format!("auth ok response {response}"),
    )?;
    Ok(Outcome::Passed)
}

/// `crash_join:*`: the join handler crashes and the join is refused.
pub async fn crash_join_refused<D: Driver>(scope: &Scope<D>) -> Scenario {
    let env = scope.default_server().await;
    let client = scope.connect(env.options());
    client.wait_connected(PROMPT).await?;
    let response = join_refused(&client, &unique("crash_join:"), json!({})).await?;
    check(
        response == json!({"reason": "join crashed"}),
        format!("crash_join: {response}"),
    )?;
    // The socket is unaffected.
    let channel = client.channel(&unique("echo:cj"), json!({}));
    channel.join().await.map_err(|e| format!("{e:?}"))?;
    Ok(Outcome::Passed)
}

/// A topic no channel matches is refused (the reply has a null join_ref).
pub async fn unmatched_topic_refused<D: Driver>(scope: &Scope<D>) -> Scenario {
    let env = scope.default_server().await;
    let client = scope.connect(env.options());
    client.wait_connected(PROMPT).await?;
    let response = join_refused(&client, &unique("nowhere:"), json!({})).await?;
    check(
        response == json!({"reason": "unmatched topic"}),
        format!("unmatched: {response}"),
    )?;
    Ok(Outcome::Passed)
}

/// Checks one presence entry: `{"metas": [{"phx_ref": .., "online_at": ..}, ..]}`.
fn check_presence_entry(entries: &Value, key: &str) -> Result<(), String> {
    let metas = entries[key]["metas"]
        .as_array()
        .ok_or_else(|| format!("no metas for {key} in {entries}"))?;
    check(!metas.is_empty(), format!("empty metas for {key}"))?;
    for meta in metas {
        check(
            meta["phx_ref"].as_str().is_some_and(|r| !r.is_empty()),
            format!("meta without phx_ref: {meta}"),
        )?;
        check(
            meta["online_at"].is_number(),
            format!("meta without online_at: {meta}"),
        )?;
    }
    Ok(())
}

/// Waits for a `presence_diff` whose `side` (`joins`/`leaves`) has `key`.
async fn expect_diff<C: TestChannel>(channel: &mut C, side: &str, key: &str) -> Result<(), String> {
    let deadline = Instant::now() + PROMPT;
    loop {
        let diff: Value = expect_message(channel, "presence_diff")
            .await?
            .deserialize()
            .map_err(|e| format!("presence_diff: {e}"))?;
        check(
            diff["joins"].is_object() && diff["leaves"].is_object(),
            format!("presence_diff shape: {diff}"),
        )?;
        if diff[side].get(key).is_some() {
            return check_presence_entry(&diff[side], key);
        }
        check(
            Instant::now() < deadline,
            format!("no presence_diff with {key} in {side}"),
        )?;
    }
}

/// `presence:*`: state on join, diffs on joins and leaves of others.
pub async fn presence<D: Driver>(scope: &Scope<D>) -> Scenario {
    let env = scope.default_server().await;
    let topic = unique("presence:");
    let alice = scope.connect(env.options().param("user_id", "alice"));
    alice.wait_connected(PROMPT).await?;
    let mut alice_channel = alice.channel(&topic, json!({}));
    let response = alice_channel.join().await.map_err(|e| format!("{e:?}"))?;
    check(response == json!({}), format!("presence join {response}"))?;
    let state: Value = expect_message(&mut alice_channel, "presence_state")
        .await?
        .deserialize()
        .map_err(|e| format!("presence_state: {e}"))?;
    check_presence_entry(&state, "alice")?;

    let bob = scope.connect(env.options().param("user_id", "bob"));
    bob.wait_connected(PROMPT).await?;
    let bob_channel = bob.channel(&topic, json!({}));
    bob_channel.join().await.map_err(|e| format!("{e:?}"))?;
    expect_diff(&mut alice_channel, "joins", "bob").await?;
    bob_channel.leave().await?;
    expect_diff(&mut alice_channel, "leaves", "bob").await?;
    Ok(Outcome::Passed)
}

// ----- connecting --------------------------------------------------------

/// A server that requires an auth token gets it from the client; without
/// it the connect is refused with 403.
pub async fn auth_token<D: Driver>(scope: &Scope<D>) -> Scenario {
    let config = ServerConfig {
        auth_token: Some("s3cr3t".into()),
        ..ServerConfig::default()
    };
    let env = match scope.embedded(config, "a required auth token").await {
        Ok(env) => env,
        Err(outcome) => return Ok(outcome),
    };
    let server = embedded_server(&env)?;
    let mut options = env.options();
    options.auth_token = Some("s3cr3t".into());
    let client = scope.connect(options);
    client.wait_connected(PROMPT).await?;
    let connections = server.connections();
    check(
        connections.len() == 1 && connections[0].auth_token.as_deref() == Some("s3cr3t"),
        format!("the server saw {connections:?}"),
    )?;
    let channel = client.channel(&unique("echo:tok"), json!({}));
    channel.join().await.map_err(|e| format!("{e:?}"))?;

    let mut wrong = env.options();
    wrong.auth_token = Some("wrong".into());
    for (what, options) in [("without a token", env.options()), ("wrong token", wrong)] {
        let refused = scope.connect(options);
        let reason = refused.wait_disconnected(PROMPT).await?;
        check(
            matches!(reason, DisconnectReason::Refused { status: 403, .. }),
            format!("{what}: {reason:?}"),
        )?;
        refused.shutdown().await;
    }
    Ok(Outcome::Passed)
}

/// Extra upgrade headers reach the server as given.
pub async fn custom_headers<D: Driver>(scope: &Scope<D>) -> Scenario {
    let env = scope.default_server().await;
    let server = match env.server("record of request headers") {
        Ok(server) => server,
        Err(outcome) => return Ok(outcome),
    };
    let mut options = env.options();
    options.headers = vec![
        ("x-api-key".into(), "k-123".into()),
        ("x-client".into(), "phoenix-tests".into()),
    ];
    let client = scope.connect(options);
    client.wait_connected(PROMPT).await?;
    let connections = server.connections();
    let headers = &connections.first().ok_or("no connection")?.headers;
    check(
        headers.get("x-api-key").map(String::as_str) == Some("k-123")
            && headers.get("x-client").map(String::as_str) == Some("phoenix-tests"),
        format!("the server saw {headers:?}"),
    )?;
    Ok(Outcome::Passed)
}

/// `wss://` with the test server's own CA.
pub async fn tls<D: Driver>(scope: &Scope<D>) -> Scenario {
    let config = ServerConfig {
        tls: true,
        ..ServerConfig::default()
    };
    let env = match scope.embedded(config, "TLS").await {
        Ok(env) => env,
        Err(outcome) => return Ok(outcome),
    };
    let server = embedded_server(&env)?;
    check(
        env.endpoint().starts_with("wss://") && env.endpoint() == server.socket_url(),
        format!("TLS endpoint {}", env.endpoint()),
    )?;
    let material = server.tls().ok_or("no TLS material")?;
    let mut options = env.options();
    options.ca_der = Some(material.ca_der.clone());
    let client = scope.connect(options);
    client.wait_connected(PROMPT).await?;
    let channel = client.channel(&unique("echo:tls"), json!({}));
    channel.join().await.map_err(|e| format!("{e:?}"))?;
    let echoed = push_ok(&channel, "echo", json!({"secure": true})).await?;
    check(echoed == json!({"secure": true}), format!("echo {echoed}"))?;
    Ok(Outcome::Passed)
}

/// The params function runs again for each connection: the reconnect
/// presents a refreshed token.
pub async fn token_refresh_on_reconnect<D: Driver>(scope: &Scope<D>) -> Scenario {
    let env = scope.default_server().await;
    let server = match env.server("drop_all and connection info") {
        Ok(s) => s,
        Err(outcome) => return Ok(outcome),
    };
    let counter = Arc::new(AtomicU64::new(0));
    let mut options = env.options();
    let made = counter.clone();
    options.params_fn = Some(Arc::new(move || {
        let n = made.fetch_add(1, Ordering::SeqCst) + 1;
        vec![("token".to_owned(), format!("t{n}"))]
    }));
    let client = scope.connect(options);
    client.wait_connected(PROMPT).await?;
    let token_of = |c: &phoenix_test_server::ConnectionInfo| c.params.get("token").cloned();
    let first = server
        .connections()
        .first()
        .and_then(token_of)
        .ok_or("no token on the first connection")?;
    check(
        first == format!("t{}", counter.load(Ordering::SeqCst)),
        format!("first token {first}"),
    )?;
    server.drop_all();
    within("a second connection", server.wait_for_opened(2)).await?;
    client.wait_connected(PROMPT).await?;
    let newest = server
        .connections()
        .into_iter()
        .max_by_key(|c| c.id)
        .ok_or("no connection after the drop")?;
    let second = token_of(&newest).ok_or("no token on the second connection")?;
    check(
        second != first && second == format!("t{}", counter.load(Ordering::SeqCst)),
        format!("token after reconnect {second} (first {first})"),
    )?;
    Ok(Outcome::Passed)
}

/// A 503 with `Retry-After` is reported, and honoured; after the server
/// accepts again the client connects.
pub async fn retry_after<D: Driver>(scope: &Scope<D>) -> Scenario {
    let env = scope.default_server().await;
    let server = match env.server("refuse_connections_with") {
        Ok(s) => s,
        Err(outcome) => return Ok(outcome),
    };
    server.refuse_connections_with(503, None, Some(Duration::from_secs(1)));
    let client = scope.connect(env.options());
    let reason = client.wait_disconnected(PROMPT).await?;
    let refused_at = Instant::now();
    check(
        reason
            == DisconnectReason::Refused {
                status: 503,
                retry_after: Some(Duration::from_secs(1)),
            },
        format!("{reason:?}"),
    )?;
    server.accept_connections();
    client.wait_connected(PROMPT).await?;
    let waited = refused_at.elapsed();
    check(
        waited >= Duration::from_millis(700),
        format!("reconnected {waited:?} after a Retry-After of 1 s"),
    )?;
    check(
        server.stats().connections_refused == 1,
        format!("refusals: {}", server.stats().connections_refused),
    )?;
    Ok(Outcome::Passed)
}

// ----- faults --------------------------------------------------------------

/// Pushes made while the channel is errored are held and sent after the rejoin.
pub async fn pushes_held_during_rejoin<D: Driver>(scope: &Scope<D>) -> Scenario {
    let env = scope.default_server().await;
    let server = match env.server("drop_all and refuse_connections") {
        Ok(s) => s,
        Err(outcome) => return Ok(outcome),
    };
    let (_client, mut channel) = joined(scope, &env, &unique("echo:held")).await?;
    // Keep the client off the server until the push is surely held.
    server.refuse_connections_with(503, None, None);
    server.drop_all();
    next_is(&mut channel, "Errored(ConnectionLost)", is_connection_lost).await?;
    let (status, response) = {
        let push = channel.push("echo", payload(json!({"held": 1})), None);
        let mut push = std::pin::pin!(push);
        let early = time::timeout(Duration::from_millis(150), &mut push).await;
        check(
            early.is_err(),
            format!("the push completed while disconnected: {early:?}"),
        )?;
        server.accept_connections();
        within("the held push", push)
            .await?
            .map_err(|e| format!("held push: {e:?}"))?
    };
    check(
        status == "ok" && response.deserialize::<Value>().ok() == Some(json!({"held": 1})),
        format!("held push reply {status} {response:?}"),
    )?;
    next_is(&mut channel, "Rejoined", is_rejoined).await?;
    Ok(Outcome::Passed)
}

/// Pushes made while a (slow) join is pending are held and answered after it.
pub async fn pushes_held_during_slow_join<D: Driver>(scope: &Scope<D>) -> Scenario {
    let env = scope.default_server().await;
    let server = match env.server("set_delay_all") {
        Ok(s) => s,
        Err(outcome) => return Ok(outcome),
    };
    let client = scope.connect(env.options());
    client.wait_connected(PROMPT).await?;
    server.set_delay_all(Duration::from_millis(300));
    let channel = client.channel(&unique("echo:slow"), json!({}));
    let order = AtomicU64::new(0);
    let (join, push) = future::join(
        async {
            let r = channel.join().await;
            (r, order.fetch_add(1, Ordering::SeqCst))
        },
        async {
            // The join is out (its reply takes 300 ms); push meanwhile.
            time::sleep(Duration::from_millis(50)).await;
            let r = push_ok(&channel, "echo", json!({"early": true})).await;
            (r, order.fetch_add(1, Ordering::SeqCst))
        },
    )
    .await;
    server.set_delay_all(Duration::ZERO);
    join.0.map_err(|e| format!("slow join: {e:?}"))?;
    check(push.0? == json!({"early": true}), "the held push's reply")?;
    check(join.1 < push.1, "the push was answered before the join")?;
    Ok(Outcome::Passed)
}

/// A server restart: the client reconnects and its channels rejoin.
pub async fn server_restart<D: Driver>(scope: &Scope<D>) -> Scenario {
    let env = scope.default_server().await;
    let server = match env.server("restart") {
        Ok(s) => s,
        Err(outcome) => return Ok(outcome),
    };
    let (_client, mut channel) = joined(scope, &env, &unique("echo:restart")).await?;
    within("restart", server.restart()).await?;
    next_is(&mut channel, "Errored(ConnectionLost)", is_connection_lost).await?;
    next_is(&mut channel, "Rejoined", is_rejoined).await?;
    let echoed = push_ok(&channel, "echo", json!({"restarted": true})).await?;
    check(
        echoed == json!({"restarted": true}),
        format!("echo {echoed}"),
    )?;
    check(
        server.stats().connections_opened >= 2,
        "a second connection",
    )?;
    Ok(Outcome::Passed)
}

/// A half-open connection is detected by the heartbeat; the client
/// reconnects and rejoins.
pub async fn heartbeat_timeout<D: Driver>(scope: &Scope<D>) -> Scenario {
    let env = scope.default_server().await;
    let server = match env.server("half_open_all") {
        Ok(s) => s,
        Err(outcome) => return Ok(outcome),
    };
    let mut options = env.options();
    options.heartbeat = Some(Duration::from_millis(200));
    // Slow enough that the disconnected status is seen before the reconnect.
    options.reconnect = Backoff::from_millis(&[100]);
    let client = scope.connect(options);
    client.wait_connected(PROMPT).await?;
    let mut channel = client.channel(&unique("echo:hb"), json!({}));
    channel.join().await.map_err(|e| format!("{e:?}"))?;
    let stale: Vec<_> = server.connections().iter().map(|c| c.id).collect();
    check(server.half_open_all() == 1, "one connection to half-open")?;
    let reason = client.wait_disconnected(PROMPT).await?;
    check(
        reason == DisconnectReason::HeartbeatTimeout,
        format!("{reason:?}"),
    )?;
    next_is(&mut channel, "Errored(ConnectionLost)", is_connection_lost).await?;
    client.wait_connected(PROMPT).await?;
    next_is(&mut channel, "Rejoined", is_rejoined).await?;
    push_ok(&channel, "echo", json!({})).await?;
    // The half-open connection would otherwise linger until shutdown.
    for id in stale {
        server.drop_connection(id);
    }
    Ok(Outcome::Passed)
}

/// Garbage frames from the server are dropped; the connection and the
/// channel carry on.
pub async fn malformed_frames_ignored<D: Driver>(scope: &Scope<D>) -> Scenario {
    let env = scope.default_server().await;
    let server = match env.server("send_malformed") {
        Ok(s) => s,
        Err(outcome) => return Ok(outcome),
    };
    let (_client, mut channel) = joined(scope, &env, &unique("echo:garbage")).await?;
    let conn = server.connections().first().ok_or("no connection")?.id;
    check(server.send_malformed(conn), "send_malformed")?;
    check(server.send_raw_text(conn, "[1,2"), "send_raw_text")?;
    check(
        server.send_raw_text(conn, r#"{"not": "an array"}"#),
        "send_raw_text",
    )?;
    let echoed = push_ok(&channel, "echo", json!({"fine": true})).await?;
    check(echoed == json!({"fine": true}), format!("echo {echoed}"))?;
    no_event(&mut channel, Duration::from_millis(50)).await?;
    let stats = server.stats();
    check(
        stats.connections_opened == 1 && stats.connections_open == 1,
        format!("the connection did not survive: {stats:?}"),
    )?;
    Ok(Outcome::Passed)
}

/// A message with a stale join_ref is dropped; the next one is delivered.
pub async fn stale_message_dropped<D: Driver>(scope: &Scope<D>) -> Scenario {
    let env = scope.default_server().await;
    let server = match env.server("send_raw_text") {
        Ok(s) => s,
        Err(outcome) => return Ok(outcome),
    };
    let topic = unique("echo:stale");
    let (_client, mut channel) = joined(scope, &env, &topic).await?;
    let conn = server.connections().first().ok_or("no connection")?.id;
    let stale = json!(["999", null, topic, "stale", {"stale": true}]).to_string();
    check(server.send_raw_text(conn, &stale), "send_raw_text")?;
    check(
        server.broadcast(&topic, "fresh", json!({"n": 1})) == 1,
        "the broadcast reached one subscriber",
    )?;
    let ev = next_is(&mut channel, "a message", |e| {
        matches!(e, Ev::Message { .. })
    })
    .await?;
    check(
        ev.json_message() == Some(("fresh", json!({"n": 1}))),
        format!("the next message is {ev:?}"),
    )?;
    Ok(Outcome::Passed)
}

fn idle_config() -> ServerConfig {
    ServerConfig {
        idle_timeout: Duration::from_millis(300),
        ..ServerConfig::default()
    }
}

/// Without heartbeats the server's idle timeout closes the connection; the
/// client reconnects and rejoins.
pub async fn idle_timeout_reconnects<D: Driver>(scope: &Scope<D>) -> Scenario {
    let env = match scope.embedded(idle_config(), "a 300 ms idle timeout").await {
        Ok(env) => env,
        Err(outcome) => return Ok(outcome),
    };
    let server = embedded_server(&env)?;
    let mut options = env.options();
    options.heartbeat = None;
    let client = scope.connect(options);
    client.wait_connected(PROMPT).await?;
    let mut channel = client.channel(&unique("echo:idle"), json!({}));
    channel.join().await.map_err(|e| format!("{e:?}"))?;
    next_is(&mut channel, "Errored(ConnectionLost)", is_connection_lost).await?;
    next_is(&mut channel, "Rejoined", is_rejoined).await?;
    check(
        server.stats().connections_opened >= 2,
        "a second connection",
    )?;
    Ok(Outcome::Passed)
}

/// Heartbeats keep an otherwise idle connection open past the idle timeout.
pub async fn heartbeats_keep_alive<D: Driver>(scope: &Scope<D>) -> Scenario {
    let env = match scope.embedded(idle_config(), "a 300 ms idle timeout").await {
        Ok(env) => env,
        Err(outcome) => return Ok(outcome),
    };
    let server = embedded_server(&env)?;
    let mut options = env.options();
    options.heartbeat = Some(Duration::from_millis(100));
    let client = scope.connect(options);
    client.wait_connected(PROMPT).await?;
    time::sleep(Duration::from_millis(700)).await;
    let stats = server.stats();
    check(
        stats.connections_opened == 1 && stats.connections_open == 1,
        format!("the connection did not survive: {stats:?}"),
    )?;
    check(
        stats.frames_received >= 4,
        format!("heartbeats received: {}", stats.frames_received),
    )?;
    client.wait_connected(Duration::from_millis(50)).await?;
    Ok(Outcome::Passed)
}

/// `max_channels_per_transport`: joins beyond the limit are refused.
pub async fn channel_limit<D: Driver>(scope: &Scope<D>) -> Scenario {
    let config = ServerConfig {
        max_channels: 2,
        ..ServerConfig::default()
    };
    let env = match scope.embedded(config, "max_channels 2").await {
        Ok(env) => env,
        Err(outcome) => return Ok(outcome),
    };
    let client = scope.connect(env.options());
    client.wait_connected(PROMPT).await?;
    let first = client.channel("echo:limit-1", json!({}));
    first.join().await.map_err(|e| format!("{e:?}"))?;
    let second = client.channel("echo:limit-2", json!({}));
    second.join().await.map_err(|e| format!("{e:?}"))?;
    let response = join_refused(&client, "echo:limit-3", json!({})).await?;
    check(
        response == json!({"reason": "too many channels joined"}),
        format!("third join: {response}"),
    )?;
    Ok(Outcome::Passed)
}

// ----- the list --------------------------------------------------------------

/// The one list of scenarios; a driver's test file calls it once:
///
/// ```text
/// use phoenix_tests::tokio_driver::TokioDriver;
///
/// phoenix_tests::all_scenarios!(tokio, TokioDriver);
/// ```
///
/// That generates a module `tokio` with one `#[test]` per scenario, so the
/// tests are named `tokio::join_and_echo` and so on, each driver's apart.
///
/// An entry `name => "needs the embedded test server's ..."` marks a scenario
/// that cannot run against a real server: when `PHOENIX_URL` is set at build
/// time (the build script turns it into `cfg(phoenix_url)`), its test gets
/// `#[ignore = "<that reason>"]` and libtest reports it as ignored. The
/// reason is a plain string literal because libtest drops a reason built
/// with `concat!`.
///
/// Keep the list and the functions of this module in step; the unit test
/// `the_list_names_every_scenario` checks that they are. The macro must be
/// expanded inside phoenix-tests (in one of its `tests/*.rs`), where the
/// build script's `cfg(phoenix_url)` is visible.
#[macro_export]
macro_rules! all_scenarios {
    (@with [$($callback:tt)*] $($args:tt)*) => {
        $($callback)*! { $($args)*
            join_and_echo,
            error_reply,
            push_timeout,
            refused_connect,
            reconnect_and_rejoin_after_drop => "needs the embedded test server's drop_all",
            leave,
            duplicate_join,
            broadcast_reaches_all,
            server_push,
            many_messages_in_order,
            crash_rejoins,
            unknown_event_crashes,
            server_stop,
            server_stop_with_reply,
            binary_payloads,
            disconnect_me,
            sleep_orders_replies,
            auth_topic,
            crash_join_refused,
            unmatched_topic_refused,
            presence,
            auth_token => "needs the embedded test server with a required auth token",
            custom_headers => "needs the embedded test server's record of request headers",
            tls => "needs the embedded test server with TLS",
            token_refresh_on_reconnect
                => "needs the embedded test server's drop_all and connection info",
            retry_after => "needs the embedded test server's refuse_connections_with",
            pushes_held_during_rejoin
                => "needs the embedded test server's drop_all and refuse_connections",
            pushes_held_during_slow_join => "needs the embedded test server's set_delay_all",
            server_restart => "needs the embedded test server's restart",
            heartbeat_timeout => "needs the embedded test server's half_open_all",
            malformed_frames_ignored => "needs the embedded test server's send_malformed",
            stale_message_dropped => "needs the embedded test server's send_raw_text",
            idle_timeout_reconnects => "needs the embedded test server with a 300 ms idle timeout",
            heartbeats_keep_alive => "needs the embedded test server with a 300 ms idle timeout",
            channel_limit => "needs the embedded test server with max_channels 2",
        }
    };
    ($module:ident, $driver:ty $(,)?) => {
        $crate::all_scenarios!(@with [$crate::scenario_tests] $module, $driver;);
    };
}

/// One entry of the scenario list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listed {
    /// The scenario function's name, which is also its test's name.
    pub name: &'static str,
    /// Why its test is ignored when `PHOENIX_URL` is set, if it is.
    pub ignored_with_url: Option<&'static str>,
}

/// The list of [`all_scenarios!`](crate::all_scenarios), as data.
pub const LIST: &[Listed] = crate::all_scenarios!(@with [crate::__listed]);

/// Builds [`LIST`] from the list.
#[doc(hidden)]
#[macro_export]
macro_rules! __listed {
    ($($name:ident $(=> $why:literal)?),* $(,)?) => {
        &[$($crate::scenarios::Listed {
            name: ::std::stringify!($name),
            ignored_with_url: $crate::__ignored_with_url!($($why)?),
        }),*]
    };
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::LIST;

    /// The prefixes of the reasons in the list, with where the scenario's
    /// body names what it needs: `env.server("X")` goes with "...'s X",
    /// `scope.embedded(config, "X")` with "... with X".
    const REASONS: [&str; 2] = [
        "needs the embedded test server's ",
        "needs the embedded test server with ",
    ];

    /// A scenario found in the source: its name and its body.
    struct Found {
        name: String,
        body: String,
    }

    /// Every `pub async fn NAME<D: Driver>(scope: &Scope<D>) -> Scenario`
    /// of scenarios.rs. Any other `pub` function returning `Scenario` is
    /// reported as an error, so a scenario with a new signature cannot
    /// slip past the check.
    fn scenarios_in_source() -> Result<Vec<Found>, String> {
        let source = include_str!("scenarios.rs");
        let mut found = Vec::new();
        let mut rest = source;
        while let Some(at) = rest.find("\npub async fn ") {
            rest = &rest[at + 1..];
            let open = rest.find('{').ok_or("a function without a body")?;
            let signature = rest[..open]
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            let close = rest.find("\n}\n").ok_or("a function without an end")?;
            let body = rest[open..close].to_owned();
            rest = &rest[close..];
            if !signature.ends_with("-> Scenario") {
                continue;
            }
            let name = signature["pub async fn ".len()..]
                .split(['<', '('])
                .next()
                .unwrap_or_default()
                .to_owned();
            let expected = format!("pub async fn {name}<D: Driver>(scope: &Scope<D>) -> Scenario");
            if signature != expected {
                return Err(format!(
                    "`{signature}`: a scenario's signature must be `{expected}`"
                ));
            }
            found.push(Found { name, body });
        }
        Ok(found)
    }

    #[test]
    fn the_list_names_every_scenario() {
        let found = scenarios_in_source().unwrap();
        assert!(found.len() >= 30, "found only {} scenarios", found.len());
        let defined: BTreeSet<&str> = found.iter().map(|f| f.name.as_str()).collect();
        let listed: BTreeSet<&str> = LIST.iter().map(|l| l.name).collect();
        assert_eq!(listed.len(), LIST.len(), "a scenario is listed twice");
        let unlisted: Vec<_> = defined.difference(&listed).collect();
        assert!(
            unlisted.is_empty(),
            "scenarios missing from the list in `all_scenarios!`: {unlisted:?}"
        );
        let undefined: Vec<_> = listed.difference(&defined).collect();
        assert!(
            undefined.is_empty(),
            "listed in `all_scenarios!` but not a `pub async fn NAME<D: Driver>(scope: \
             &Scope<D>) -> Scenario` in scenarios.rs: {undefined:?}"
        );
    }

    #[test]
    fn scenarios_that_leave_themselves_out_are_marked() {
        let found = scenarios_in_source().unwrap();
        for scenario in &found {
            // An unlisted one is the_list_names_every_scenario's to report.
            let Some(listed) = LIST.iter().find(|l| l.name == scenario.name) else {
                continue;
            };
            let leaves_out = scenario.body.contains("return Ok(outcome)");
            match listed.ignored_with_url {
                None => assert!(
                    !leaves_out,
                    "{} leaves itself out against PHOENIX_URL but is not marked in the list \
                     (`{} => \"needs the embedded test server's ...\"`)",
                    scenario.name, scenario.name
                ),
                Some(why) => {
                    assert!(
                        leaves_out,
                        "{} is marked ({why:?}) but has no left-out path \
                         (`Err(outcome) => return Ok(outcome)`): it can run anywhere",
                        scenario.name
                    );
                    let needs = REASONS
                        .iter()
                        .find_map(|prefix| why.strip_prefix(prefix))
                        .unwrap_or_else(|| {
                            panic!(
                                "{}: the reason {why:?} starts with none of {REASONS:?}",
                                scenario.name
                            )
                        });
                    assert!(
                        scenario.body.contains(&format!("{needs:?}")),
                        "{}: the reason {why:?} does not match the body, which names no {needs:?}",
                        scenario.name
                    );
                }
            }
        }
    }
}
