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
use phoenix_test_server::proxy::{Direction, FaultProxy, Refusal};
use phoenix_test_server::{ServerConfig, TestServer};
use serde_json::{Value, json};

use crate::driver::{Driver, Ev, JoinFailure, Options, PushFailure, TestChannel, TestClient};
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
            let r = push_ok(&channel, "sleep", json!({"ms": 400})).await;
            (r, order.fetch_add(1, Ordering::SeqCst), start.elapsed())
        },
        async {
            // Leave the sleep push time to go out first (generously: a
            // blocking driver starts a thread per call, on a busy machine).
            time::sleep(Duration::from_millis(100)).await;
            let r = push_ok(&channel, "echo", json!({"e": 1})).await;
            (r, order.fetch_add(1, Ordering::SeqCst), start.elapsed())
        },
    )
    .await;
    check(slept.0? == json!({}), "sleep reply")?;
    check(echoed.0? == json!({"e": 1}), "echo reply")?;
    // The replies arrive in order on one connection; the two waiting calls
    // may still resume in either order when they land together (the
    // blocking driver wakes one thread per call), so a tie is not a failure.
    check(
        slept.1 < echoed.1 || echoed.2 + Duration::from_millis(20) >= slept.2,
        format!(
            "the echo was answered first (sleep after {:?}, echo after {:?})",
            slept.2, echoed.2
        ),
    )?;
    check(
        echoed.2 >= Duration::from_millis(390),
        format!("the echo did not wait for the sleep: {:?}", echoed.2),
    )?;
    Ok(Outcome::Passed)
}

// ----- start_push: pushes in flight without waiting ---------------------

/// Waits for the `broadcasted` messages of `tag` until `last` came (at most
/// [`PROMPT`]) and returns the `i` of each in arrival order; any other event
/// fails.
async fn broadcasts_until<C: TestChannel>(
    channel: &mut C,
    tag: &str,
    last: u64,
) -> Result<Vec<u64>, String> {
    let deadline = Instant::now() + PROMPT;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let Some(ev) = channel.next_event(left).await else {
            return Err(format!(
                "{tag}: broadcast {last} not seen within {PROMPT:?}; {} seen, the last {:?}",
                seen.len(),
                seen.last()
            ));
        };
        match ev.json_message() {
            Some(("broadcasted", body)) if body["burst"] == tag => {
                let i = body["i"]
                    .as_u64()
                    .ok_or(format!("{tag}: broadcast {body}"))?;
                seen.push(i);
                if i == last {
                    return Ok(seen);
                }
            }
            _ => return Err(format!("{tag}: unexpected event {ev:?}")),
        }
    }
}

/// 500 pushes started with `start_push` before any is waited for, behind a
/// `sleep` that holds the channel on the server, so that all of them are in
/// flight at once (past the command queue's capacity of 256). The server
/// gets them without their futures being polled and handles them in the
/// order they were started (its `broadcasted` messages come in order, once
/// each); then every one gives exactly one outcome, its own reply (an
/// `echo` its body, a `broadcast` `{}`).
pub async fn start_push_many_in_flight<D: Driver>(scope: &Scope<D>) -> Scenario {
    const N: usize = 500;
    const HOLD_MS: u64 = 500;
    const HOLD: Duration = Duration::from_millis(HOLD_MS);
    let env = scope.default_server().await;
    let (_client, mut channel) = joined(scope, &env, &unique("echo:inflight")).await?;
    let tag = unique("inflight");
    let started = Instant::now();
    let hold = channel.start_push("sleep", payload(json!({ "ms": HOLD_MS })), None);
    let pending: Vec<_> = (0..N)
        .map(|i| {
            let (event, body) = burst_push(&tag, i);
            channel.start_push(event, payload(body), None)
        })
        .collect();
    let starting = started.elapsed();
    // No push can be answered before the sleep ends on the server: had
    // start_push waited for a reply, starting them would have taken longer.
    check(
        starting < HOLD * 4 / 5,
        format!("starting {N} pushes took {starting:?}, the server holds them for {HOLD:?}"),
    )?;
    let expected: Vec<u64> = (0..N as u64).filter(|i| i % 2 == 1).collect();
    let last = *expected.last().ok_or("no broadcast")?;
    // Nothing polls the pending pushes yet: the server gets them because
    // start_push queued them, and its broadcasts come in the order they
    // were started, once each.
    let broadcasts = broadcasts_until(&mut channel, &tag, last).await?;
    check(
        broadcasts == expected,
        format!(
            "the server handled the broadcasts in another order, or not once each: {broadcasts:?}"
        ),
    )?;
    // Then every pending push gives its outcome, its own reply.
    match within("the sleep", hold).await? {
        Ok((status, response)) if status == "ok" => check(
            response.deserialize::<Value>().ok() == Some(json!({})),
            format!("the sleep's reply {response:?}"),
        )?,
        other => return Err(format!("the sleep: {other:?}")),
    }
    let mut results = Vec::with_capacity(N);
    for (i, push) in pending.into_iter().enumerate() {
        results.push(within(&format!("push {i}"), push).await?);
    }
    let took = started.elapsed();
    let tally = check_burst(&tag, &results)?;
    check(
        tally.replied == N,
        format!("{N} pushes in flight: {tally:?}"),
    )?;
    no_event(&mut channel, Duration::from_millis(100)).await?;
    eprintln!(
        "{}: {N} pushes started in {starting:?}, all answered after {took:?}",
        D::NAME
    );
    Ok(Outcome::Passed)
}

/// Errors of `start_push`, each from its own future and once: before the
/// join `NotJoined` (and the push is never sent); past a
/// `max_pending_pushes` of 3, with three `noreply` pushes waiting,
/// `TooManyPending` (and those pushes never reach the server), while the
/// three end in `Timeout`; a dropped pending push still reaches the
/// server; after the shutdown `SocketGone`.
pub async fn start_push_errors<D: Driver>(scope: &Scope<D>) -> Scenario {
    const LIMIT: usize = 3;
    const QUIET: Duration = Duration::from_millis(400);
    let env = scope.default_server().await;
    let mut options = env.options();
    options.max_pending_pushes = Some(LIMIT);
    let client = scope.connect(options);
    client.wait_connected(PROMPT).await?;
    let tag = unique("errors");
    let mut channel = client.channel(&unique("echo:errors"), json!({}));
    // `i` of the broadcasts below: 0 before the join, 10.. past the limit,
    // 20 dropped, 30 the last.
    let broadcast = |i: u64| payload(json!({"burst": tag, "i": i}));

    let early = within(
        "a push before the join",
        channel.start_push("broadcast", broadcast(0), None),
    )
    .await?;
    check(
        early == Err(PushFailure::NotJoined),
        format!("a push before the join: {early:?}"),
    )?;
    channel.join().await.map_err(|e| format!("join: {e:?}"))?;

    let waiting: Vec<_> = (0..LIMIT)
        .map(|i| channel.start_push("noreply", payload(json!({"n": i})), Some(QUIET)))
        .collect();
    let over: Vec<_> = (0..2)
        .map(|k| channel.start_push("broadcast", broadcast(10 + k), None))
        .collect();
    let started = Instant::now();
    for (k, push) in over.into_iter().enumerate() {
        let result = within(&format!("push {k} past the limit"), push).await?;
        check(
            result == Err(PushFailure::TooManyPending { limit: LIMIT }),
            format!("push {k} past the limit of {LIMIT}: {result:?}"),
        )?;
    }
    check(
        started.elapsed() < QUIET,
        format!(
            "the refusals took {:?}: they waited for the pushes before them",
            started.elapsed()
        ),
    )?;
    for (i, push) in waiting.into_iter().enumerate() {
        let result = within(&format!("noreply push {i}"), push).await?;
        check(
            result == Err(PushFailure::Timeout),
            format!("noreply push {i}: {result:?}"),
        )?;
    }

    // The limit is free again. A dropped pending push is still sent; the
    // next push's broadcast comes after it, and nothing else came before:
    // neither the push before the join nor those past the limit reached
    // the server.
    drop(channel.start_push("broadcast", broadcast(20), None));
    let last = channel.start_push("broadcast", broadcast(30), None);
    let (result, seen) = future::join(
        within("the last push", last),
        broadcasts_until(&mut channel, &tag, 30),
    )
    .await;
    match result? {
        Ok((status, response)) if status == "ok" => check(
            response.deserialize::<Value>().ok() == Some(json!({})),
            format!("the last push's reply {response:?}"),
        )?,
        other => return Err(format!("the last push: {other:?}")),
    }
    let seen = seen?;
    check(
        seen == [20, 30],
        format!(
            "broadcasts seen (0: before the join, 10..: past the limit, 20: dropped): {seen:?}"
        ),
    )?;
    no_event(&mut channel, Duration::from_millis(100)).await?;

    client.shutdown().await;
    let late = within(
        "a push after the shutdown",
        channel.start_push("broadcast", broadcast(40), None),
    )
    .await?;
    check(
        late == Err(PushFailure::SocketGone),
        format!("a push after the shutdown: {late:?}"),
    )?;
    Ok(Outcome::Passed)
}

/// A push started with `start_push` that the server never answers ends in
/// `Timeout` after its own short timeout, counted from `start_push` (not
/// from the first poll of its future), while a push started after it is
/// answered meanwhile; the channel stays usable.
pub async fn start_push_timeout<D: Driver>(scope: &Scope<D>) -> Scenario {
    const TIMEOUT: Duration = Duration::from_millis(300);
    let env = scope.default_server().await;
    let (_client, mut channel) = joined(scope, &env, &unique("echo:startquiet")).await?;
    let started = Instant::now();
    let quiet = channel.start_push("noreply", payload(json!({"q": 1})), Some(TIMEOUT));
    let unpolled = channel.start_push("noreply", payload(json!({"q": 2})), Some(TIMEOUT));
    let echo = channel.start_push("echo", payload(json!({"e": 1})), None);
    let echoed = within("the echo", echo).await?;
    let answered = started.elapsed();
    match echoed {
        Ok((status, response)) if status == "ok" => check(
            response.deserialize::<Value>().ok() == Some(json!({"e": 1})),
            format!("the echo's reply {response:?}"),
        )?,
        other => return Err(format!("the echo: {other:?}")),
    }
    check(
        answered < TIMEOUT,
        format!("the echo was answered after {answered:?}, not before the quiet push timed out"),
    )?;
    let result = within("the quiet push", quiet).await?;
    let took = started.elapsed();
    check(
        result == Err(PushFailure::Timeout),
        format!("the quiet push: {result:?}"),
    )?;
    check(
        took >= TIMEOUT - Duration::from_millis(10),
        format!("timed out after {took:?}, before its {TIMEOUT:?}"),
    )?;
    check(
        took < TIMEOUT + Duration::from_secs(2),
        format!("timed out only after {took:?} (timeout {TIMEOUT:?})"),
    )?;
    // The second one, not polled until now, timed out with the first.
    time::sleep(Duration::from_millis(200)).await;
    let asked = Instant::now();
    let result = within("the unpolled quiet push", unpolled).await?;
    let waited = asked.elapsed();
    check(
        result == Err(PushFailure::Timeout),
        format!("the unpolled quiet push: {result:?}"),
    )?;
    check(
        waited < TIMEOUT / 2,
        format!(
            "the unpolled quiet push took {waited:?} more: its timeout did not run from start_push"
        ),
    )?;
    no_event(&mut channel, Duration::from_millis(50)).await?;
    push_ok(&channel, "echo", json!({"still": "here"})).await?;
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

// ----- faults through a proxy, and the invariants after them -----------------
//
// These scenarios break connections at the TCP level with a
// [`FaultProxy`] in front of the embedded server (or use the server's own
// controls), then check the same invariants:
//
// - every push ends in exactly one outcome the application sees: a reply,
//   a timeout, or an error saying why (`PushFailure`); none hangs (every
//   wait is bounded) and none is handled twice (each broadcast push is seen
//   at most once);
// - every joined channel is joined again when the connection returns
//   (`Errored(ConnectionLost)`, then `Rejoined`, then a push is answered);
// - reconnects follow the backoff schedule, counted from the server's side
//   (the proxy's accepted connections, with timestamps).

/// A fault proxy in front of the embedded server, and client options that
/// connect through it. The proxy stops when dropped, at the scenario's end.
pub fn through_proxy(env: &Env, server: &TestServer) -> Result<(FaultProxy, Options), String> {
    let proxy =
        FaultProxy::start(server.addr()).map_err(|e| format!("the fault proxy starts: {e}"))?;
    let mut options = env.options();
    options.endpoint = proxy.socket_url();
    Ok((proxy, options))
}

/// How many reconnect attempts `schedule` allows within `window` after a
/// connection was lost: those whose delays, added up, fit (with the most
/// jitter can take off). Attempts take time themselves, so a client makes
/// at most this many.
pub fn attempts_permitted(schedule: &Backoff, window: Duration) -> usize {
    let mut spent = Duration::ZERO;
    let mut attempts = 0_usize;
    while attempts < 10_000 {
        let Some(delay) = schedule.delay(attempts as u32 + 1, 1.0) else {
            break;
        };
        spent += delay;
        if spent > window {
            break;
        }
        attempts += 1;
    }
    attempts
}

/// What became of one push.
pub use crate::driver::PushResult;

/// Push `i` of a burst tagged `tag`: even ones `echo`, odd ones `broadcast`
/// (the server broadcasts the body to the channel, so the client sees how
/// often the server handled it).
fn burst_push(tag: &str, i: usize) -> (&'static str, Value) {
    let event = if i % 2 == 0 { "echo" } else { "broadcast" };
    (event, json!({"burst": tag, "i": i}))
}

/// Makes `n` pushes (even ones `echo`, odd ones `broadcast`), `spacing` apart, each with
/// `timeout`, and waits for them all. Fails when one hangs: all must be
/// over by `spacing * n + timeout` plus [`PROMPT`].
pub async fn push_burst<C: TestChannel>(
    channel: &C,
    tag: &str,
    n: usize,
    spacing: Duration,
    timeout: Duration,
) -> Result<Vec<PushResult>, String> {
    let pushes = (0..n).map(|i| async move {
        time::sleep(spacing * i as u32).await;
        let (event, body) = burst_push(tag, i);
        channel.push(event, payload(body), Some(timeout)).await
    });
    let bound = spacing * n as u32 + timeout + PROMPT;
    time::timeout(bound, future::join_all(pushes))
        .await
        .map_err(|_| format!("{tag}: a push of the burst did not end within {bound:?}"))
}

/// How the pushes of a burst ended.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    /// Answered.
    pub replied: usize,
    /// Timed out.
    pub timed_out: usize,
    /// Failed after they were accepted (`PushFailure::Failed`).
    pub failed: usize,
    /// Refused at once, with the reason.
    pub rejected: usize,
}

/// Checks that every push of a burst ended in one outcome the application
/// can act on, and that each reply is its own push's (an `echo` returns
/// its body, a `broadcast` `{}`).
pub fn check_burst(tag: &str, results: &[PushResult]) -> Result<Tally, String> {
    let mut tally = Tally::default();
    for (i, result) in results.iter().enumerate() {
        let (event, body) = burst_push(tag, i);
        match result {
            Ok((status, response)) => {
                let expected = if event == "echo" { body } else { json!({}) };
                let got = response.deserialize::<Value>().ok();
                check(
                    status == "ok" && got.as_ref() == Some(&expected),
                    format!("{tag}: push {i} ({event}) got the reply {status} {got:?}"),
                )?;
                tally.replied += 1;
            }
            Err(PushFailure::Timeout) => tally.timed_out += 1,
            Err(PushFailure::Failed(_)) => tally.failed += 1,
            Err(PushFailure::Rejected(why)) if !why.is_empty() => tally.rejected += 1,
            Err(PushFailure::TooManyPending { .. }) => tally.rejected += 1,
            Err(other) => {
                return Err(format!(
                    "{tag}: push {i} ended without a reason the application can act on: {other:?}"
                ));
            }
        }
    }
    Ok(tally)
}

/// Checks that each `broadcasted` message of the burst `tag` came at most once.
pub fn check_no_duplicates(tag: &str, events: &[Ev]) -> Result<(), String> {
    let mut seen = std::collections::BTreeMap::<u64, usize>::new();
    for ev in events {
        if let Some(("broadcasted", body)) = ev.json_message() {
            if body["burst"] == tag {
                *seen
                    .entry(body["i"].as_u64().unwrap_or(u64::MAX))
                    .or_default() += 1;
            }
        }
    }
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    check(
        twice.is_empty(),
        format!("{tag}: pushes handled more than once (push, times): {twice:?}"),
    )
}

/// Waits (at most `limit`) for the channel to error because the
/// connection was lost and then rejoin; returns every event up to the
/// rejoin. Messages may come in between; other events fail.
pub async fn lost_then_rejoined<C: TestChannel>(
    channel: &mut C,
    what: &str,
    limit: Duration,
) -> Result<Vec<Ev>, String> {
    let deadline = Instant::now() + limit;
    let mut events = Vec::new();
    let mut lost = false;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let Some(ev) = channel.next_event(left).await else {
            let waited = if lost {
                "Rejoined"
            } else {
                "Errored(ConnectionLost)"
            };
            return Err(format!(
                "{what}: no {waited} within {limit:?}; events so far {events:?}"
            ));
        };
        match &ev {
            Ev::Message { .. } => {}
            ev if is_connection_lost(ev) => lost = true,
            Ev::Rejoined if lost => {
                events.push(ev);
                return Ok(events);
            }
            other => {
                return Err(format!(
                    "{what}: unexpected {other:?} (lost: {lost}); events so far {events:?}"
                ));
            }
        }
        events.push(ev);
    }
}

/// Every event that comes until none has for `quiet` (at most [`PROMPT`]).
pub async fn drain<C: TestChannel>(channel: &mut C, quiet: Duration) -> Vec<Ev> {
    let deadline = Instant::now() + PROMPT;
    let mut events = Vec::new();
    while Instant::now() < deadline {
        match channel.next_event(quiet).await {
            Some(ev) => events.push(ev),
            None => break,
        }
    }
    events
}

/// Waits for `proxy` to have accepted `n` connections in all.
async fn attempts_reach(proxy: &FaultProxy, n: usize) -> Result<(), String> {
    within(
        &format!("{n} connection attempts (seen {})", proxy.attempt_count()),
        proxy.wait_for_attempts(n),
    )
    .await
}

/// The milliseconds of each attempt since `from`, for messages.
fn attempt_offsets(proxy: &FaultProxy, from: Instant) -> Vec<u128> {
    proxy
        .attempts()
        .iter()
        .map(|a| a.at.saturating_duration_since(from).as_millis())
        .collect()
}

/// How long a rejoin after a server restart may take: the client waits out
/// a floor after close code 1012 ("service restart") before it reconnects.
const AFTER_RESTART: Duration = Duration::from_secs(10);

/// The server restarts in the middle of a burst of pushes: every push
/// ends once (reply, timeout or failure), none is handled twice, and both
/// channels, the busy one and an idle one, rejoin.
pub async fn restart_during_push_burst<D: Driver>(scope: &Scope<D>) -> Scenario {
    let env = scope.default_server().await;
    let server = match env.server("restart") {
        Ok(s) => s,
        Err(outcome) => return Ok(outcome),
    };
    let client = scope.connect(env.options());
    client.wait_connected(PROMPT).await?;
    let mut busy = client.channel(&unique("echo:burst"), json!({}));
    let mut idle = client.channel(&unique("echo:idle"), json!({}));
    busy.join().await.map_err(|e| format!("join: {e:?}"))?;
    idle.join().await.map_err(|e| format!("join: {e:?}"))?;
    let started = Instant::now();
    let (results, restarted) = future::join(
        push_burst(
            &busy,
            "restart",
            40,
            Duration::from_millis(5),
            Duration::from_secs(1),
        ),
        async {
            time::sleep(Duration::from_millis(60)).await;
            within("restart", server.restart()).await
        },
    )
    .await;
    restarted?;
    let tally = check_burst("restart", &results?)?;
    eprintln!(
        "{}: restart during a burst of 40 pushes: {tally:?} after {:?}",
        D::NAME,
        started.elapsed()
    );
    check(
        tally.replied > 0 && tally.replied < 40,
        format!("the restart did not fall inside the burst: {tally:?}"),
    )?;
    let events = lost_then_rejoined(&mut busy, "the busy channel", AFTER_RESTART).await?;
    let later = drain(&mut busy, Duration::from_millis(100)).await;
    check_no_duplicates("restart", &[events, later].concat())?;
    lost_then_rejoined(&mut idle, "the idle channel", AFTER_RESTART).await?;
    push_ok(&busy, "echo", json!({"after": "restart"})).await?;
    push_ok(&idle, "echo", json!({"after": "restart"})).await?;
    Ok(Outcome::Passed)
}

/// The connection is cut while a join waits for its (delayed) reply: the
/// join ends (an answer after the rejoin, or an error saying why), and the
/// channel ends up joined once the connection is back.
pub async fn cut_during_join<D: Driver>(scope: &Scope<D>) -> Scenario {
    let env = scope.default_server().await;
    let server = match env.server("set_delay_all and a fault proxy") {
        Ok(s) => s,
        Err(outcome) => return Ok(outcome),
    };
    let (proxy, options) = through_proxy(&env, server)?;
    let client = scope.connect(options);
    client.wait_connected(PROMPT).await?;
    let topic = unique("echo:cutjoin");
    let mut channel = client.channel(&topic, json!({}));
    server.set_delay_all(Duration::from_millis(300));
    let (join, ()) = future::join(within("the join", channel.join()), async {
        // The join is out; its reply waits 300 ms on the server.
        time::sleep(Duration::from_millis(100)).await;
        proxy.cut_all();
        server.set_delay_all(Duration::ZERO);
    })
    .await;
    match join? {
        Ok(response) => check(
            response == json!({"joined": topic}),
            format!("join response {response}"),
        )?,
        Err(JoinFailure::Other(why)) if why.is_empty() => {
            return Err("the join failed without saying why".into());
        }
        Err(failure) => {
            // Told why; the channel must still end up joined.
            eprintln!("{}: the cut join ended with {failure:?}", D::NAME);
            expect_event(&mut channel, "Rejoined", is_rejoined).await?;
        }
    }
    let echoed = push_ok(&channel, "echo", json!({"after": "cut join"})).await?;
    check(
        echoed == json!({"after": "cut join"}),
        format!("echo {echoed}"),
    )?;
    check(
        proxy.attempt_count() >= 2,
        format!("{} connection attempts", proxy.attempt_count()),
    )?;
    let extra = drain(&mut channel, Duration::from_millis(50)).await;
    check(
        !extra
            .iter()
            .any(|e| matches!(e, Ev::Closed(_) | Ev::JoinRefused)),
        format!("events after the rejoin: {extra:?}"),
    )?;
    Ok(Outcome::Passed)
}

/// The connection is cut (FIN), reset (RST) or truncated mid-reply while
/// pushes wait for replies: each of them fails with `ConnectionLost`, the
/// channel rejoins, and a push made while disconnected is answered after
/// the rejoin.
pub async fn cut_during_push<D: Driver>(scope: &Scope<D>) -> Scenario {
    let env = scope.default_server().await;
    let server = match env.server("fault proxy") {
        Ok(s) => s,
        Err(outcome) => return Ok(outcome),
    };
    let (proxy, mut options) = through_proxy(&env, server)?;
    // Slow enough to see the disconnected status.
    options.reconnect = Backoff::from_millis(&[100]);
    let client = scope.connect(options);
    client.wait_connected(PROMPT).await?;
    let mut channel = client.channel(&unique("echo:cutpush"), json!({}));
    channel.join().await.map_err(|e| format!("join: {e:?}"))?;
    type Fault = fn(&FaultProxy) -> usize;
    let faults: [(&str, Fault, Said); 3] = [
        ("cut", FaultProxy::cut_all, Said::Ended),
        ("reset", FaultProxy::reset_all, Said::Reset),
        // The sleep's reply (due at 300 ms) is cut after 10 bytes.
        (
            "truncate",
            |p| p.truncate(Direction::ToClient, 10),
            Said::Ended,
        ),
    ];
    let mut wrong_reasons = Vec::new();
    for (round, (name, fault, said)) in faults.into_iter().enumerate() {
        let (reason, pushes, _) = future::join3(
            client.wait_disconnected(PROMPT),
            within(
                "the pushes",
                future::join(
                    channel.push("sleep", payload(json!({"ms": 300})), None),
                    async {
                        time::sleep(Duration::from_millis(20)).await;
                        channel
                            .push("echo", payload(json!({"round": round})), None)
                            .await
                    },
                ),
            ),
            async {
                time::sleep(Duration::from_millis(100)).await;
                fault(&proxy)
            },
        )
        .await;
        let (slept, echoed) = pushes.map_err(|e| format!("{name}: {e}"))?;
        // Checked last: the other invariants matter more.
        if let Err(e) = check_loss_reason(&reason?, said, name) {
            wrong_reasons.push(e);
        }
        for (what, result) in [("sleep", slept), ("echo", echoed)] {
            check(
                result
                    == Err(PushFailure::Failed(
                        phoenix_proto::client::PushFailure::ConnectionLost,
                    )),
                format!("{name}: the {what} push in flight ended with {result:?}"),
            )?;
        }
        next_is(&mut channel, "Errored(ConnectionLost)", is_connection_lost)
            .await
            .map_err(|e| format!("{name}: {e}"))?;
        // Made while disconnected: held, sent after the rejoin, answered.
        let held = push_ok(&channel, "echo", json!({"held": round}))
            .await
            .map_err(|e| format!("{name}: {e}"))?;
        check(
            held == json!({"held": round}),
            format!("{name}: held push {held}"),
        )?;
        next_is(&mut channel, "Rejoined", is_rejoined)
            .await
            .map_err(|e| format!("{name}: {e}"))?;
    }
    check(
        proxy.attempt_count() == 4,
        format!(
            "one reconnect per fault: {} attempts",
            proxy.attempt_count()
        ),
    )?;
    check(wrong_reasons.is_empty(), wrong_reasons.join("; "))?;
    Ok(Outcome::Passed)
}

/// The connection is cut while a leave waits for its (delayed) reply: the
/// leave ends, the channel closes as left and stays left after the
/// reconnect, while the other channel of the socket rejoins.
pub async fn cut_during_leave<D: Driver>(scope: &Scope<D>) -> Scenario {
    let env = scope.default_server().await;
    let server = match env.server("set_delay_all and a fault proxy") {
        Ok(s) => s,
        Err(outcome) => return Ok(outcome),
    };
    let (proxy, options) = through_proxy(&env, server)?;
    let client = scope.connect(options);
    client.wait_connected(PROMPT).await?;
    let mut leaving = client.channel(&unique("echo:leaving"), json!({}));
    let mut staying = client.channel(&unique("echo:staying"), json!({}));
    leaving.join().await.map_err(|e| format!("join: {e:?}"))?;
    staying.join().await.map_err(|e| format!("join: {e:?}"))?;
    server.set_delay_all(Duration::from_millis(300));
    let (left, ()) = future::join(within("the leave", leaving.leave()), async {
        time::sleep(Duration::from_millis(100)).await;
        proxy.cut_all();
        server.set_delay_all(Duration::ZERO);
    })
    .await;
    left?.map_err(|e| format!("the cut leave failed: {e}"))?;
    next_is(&mut leaving, "Closed(Left)", |e| {
        *e == Ev::Closed(ChannelCloseReason::Left)
    })
    .await?;
    lost_then_rejoined(&mut staying, "the other channel", PROMPT).await?;
    push_ok(&staying, "echo", json!({"staying": true})).await?;
    let after = channel_after_leave(&leaving).await;
    check(
        matches!(after, Err(PushFailure::Rejected(_))),
        format!("a push on the left channel after the reconnect: {after:?}"),
    )?;
    no_event(&mut leaving, Duration::from_millis(100)).await?;
    Ok(Outcome::Passed)
}

async fn channel_after_leave<C: TestChannel>(channel: &C) -> PushResult {
    match time::timeout(PROMPT, channel.push("echo", payload(json!({})), None)).await {
        Ok(result) => result,
        Err(_) => Err(PushFailure::Other("the push hung".into())),
    }
}

/// The connection goes half-open (the proxy stops forwarding both ways
/// and closes nothing): the heartbeat notices within two intervals, the
/// push in flight fails then (not at its own timeout), and the channel
/// rejoins once the proxy forwards again.
pub async fn half_open_detected_by_heartbeat<D: Driver>(scope: &Scope<D>) -> Scenario {
    let env = scope.default_server().await;
    let server = match env.server("fault proxy") {
        Ok(s) => s,
        Err(outcome) => return Ok(outcome),
    };
    let (proxy, mut options) = through_proxy(&env, server)?;
    let interval = Duration::from_millis(200);
    options.heartbeat = Some(interval);
    let client = scope.connect(options);
    client.wait_connected(PROMPT).await?;
    let mut channel = client.channel(&unique("echo:halfopen"), json!({}));
    channel.join().await.map_err(|e| format!("join: {e:?}"))?;
    proxy.stall(Direction::Both);
    let stalled = Instant::now();
    let limit = interval * 2 + Duration::from_millis(250);
    let (pushed, lost) = future::join(
        async {
            let result = channel
                .push("echo", payload(json!({})), Some(Duration::from_secs(5)))
                .await;
            (result, stalled.elapsed())
        },
        async {
            let reason = client.wait_disconnected(PROMPT).await;
            (reason, stalled.elapsed())
        },
    )
    .await;
    eprintln!(
        "{}: half-open noticed after {:?} ({:?}); the push ended after {:?}",
        D::NAME,
        lost.1,
        lost.0,
        pushed.1
    );
    let reason = lost.0?;
    check(
        reason == DisconnectReason::HeartbeatTimeout,
        format!("disconnect reason {reason:?}"),
    )?;
    check(
        lost.1 <= limit,
        format!("half-open noticed after {:?}, over {limit:?}", lost.1),
    )?;
    check(
        pushed.0
            == Err(PushFailure::Failed(
                phoenix_proto::client::PushFailure::ConnectionLost,
            ))
            && pushed.1 <= limit + Duration::from_millis(100),
        format!(
            "the push in flight ended with {:?} after {:?}",
            pushed.0, pushed.1
        ),
    )?;
    proxy.resume();
    lost_then_rejoined(&mut channel, "after the half-open", PROMPT).await?;
    push_ok(&channel, "echo", json!({"after": "half-open"})).await?;
    Ok(Outcome::Passed)
}

/// A deploy: five clients on one proxy lose their connections at once;
/// all reconnect and rejoin. The spread of their rejoin times is printed
/// (run with `--nocapture`), not asserted beyond [`PROMPT`].
pub async fn deploy_drops_every_client<D: Driver>(scope: &Scope<D>) -> Scenario {
    let env = scope.default_server().await;
    let server = match env.server("fault proxy") {
        Ok(s) => s,
        Err(outcome) => return Ok(outcome),
    };
    let (proxy, options) = through_proxy(&env, server)?;
    let mut clients = Vec::new();
    for _ in 0..5 {
        let client = scope.connect(options.clone());
        client.wait_connected(PROMPT).await?;
        let channel = client.channel(&unique("echo:deploy"), json!({}));
        channel.join().await.map_err(|e| format!("join: {e:?}"))?;
        clients.push((client, channel));
    }
    within("five connections", proxy.wait_for_open(5)).await?;
    let before = proxy.attempt_count();
    let cut_at = Instant::now();
    check(proxy.cut_all() == 5, "five connections to cut")?;
    let rejoins = future::join_all(clients.iter_mut().map(|(_, channel)| async move {
        lost_then_rejoined(channel, "a deployed client", PROMPT)
            .await
            .map(|_| cut_at.elapsed())
    }))
    .await;
    let mut times = rejoins.into_iter().collect::<Result<Vec<_>, _>>()?;
    times.sort();
    let attempts = attempt_offsets(&proxy, cut_at);
    eprintln!(
        "{}: deploy of 5 clients: rejoined after {:?} (spread {:?}); attempts after the cut \
         at ms {:?}",
        D::NAME,
        times,
        times.last().copied().unwrap_or_default() - times.first().copied().unwrap_or_default(),
        &attempts[before..]
    );
    check(
        proxy.attempt_count() - before >= 5,
        format!("only {} reconnects", proxy.attempt_count() - before),
    )?;
    for (_, channel) in &clients {
        push_ok(channel, "echo", json!({"after": "deploy"})).await?;
    }
    Ok(Outcome::Passed)
}

/// Refused connects are told apart in the disconnect reason: the status
/// (403, 500, 503, 429) and the `Retry-After` when there is one; a 429
/// with `Retry-After` is waited out.
pub async fn refusals_told_apart<D: Driver>(scope: &Scope<D>) -> Scenario {
    let env = scope.default_server().await;
    let server = match env.server("refuse_connections_with") {
        Ok(s) => s,
        Err(outcome) => return Ok(outcome),
    };
    let second = Duration::from_secs(1);
    for (status, retry_after) in [(403, None), (500, None), (503, None), (429, Some(second))] {
        server.refuse_connections_with(status, None, retry_after);
        let client = scope.connect(env.options());
        let reason = client.wait_disconnected(PROMPT).await?;
        check(
            reason
                == DisconnectReason::Refused {
                    status,
                    retry_after,
                },
            format!("refused with {status}: reported as {reason:?}"),
        )?;
        if retry_after.is_none() {
            client.shutdown().await;
            continue;
        }
        let refused_at = Instant::now();
        let refusals = server.stats().connections_refused;
        server.accept_connections();
        client.wait_connected(PROMPT).await?;
        let waited = refused_at.elapsed();
        check(
            waited >= Duration::from_millis(700),
            format!("reconnected {waited:?} after a 429 with Retry-After: 1"),
        )?;
        check(
            server.stats().connections_refused == refusals,
            "another attempt before the Retry-After",
        )?;
    }
    Ok(Outcome::Passed)
}

/// The window over which connection attempts are counted.
const ATTEMPT_WINDOW: Duration = Duration::from_secs(2);

/// Attempts allowed over the schedule's count (timer slack).
const ATTEMPT_MARGIN: usize = 2;

/// A server whose every connection is accepted and closed at once (before
/// the WebSocket handshake): the client retries on its backoff schedule,
/// not in a tight loop. Counted at the proxy over two seconds.
pub async fn backoff_when_accepted_then_closed<D: Driver>(scope: &Scope<D>) -> Scenario {
    let env = scope.default_server().await;
    let server = match env.server("fault proxy") {
        Ok(s) => s,
        Err(outcome) => return Ok(outcome),
    };
    let (proxy, options) = through_proxy(&env, server)?;
    let schedule = options.reconnect.clone();
    proxy.refuse(Refusal::Close, None);
    let _client = scope.connect(options);
    attempts_reach(&proxy, 1).await?;
    let first = proxy.attempts().first().map(|a| a.at).ok_or("no attempt")?;
    time::sleep((first + ATTEMPT_WINDOW).saturating_duration_since(Instant::now())).await;
    let made = proxy.attempts_between(first, first + ATTEMPT_WINDOW);
    let allowed = 1 + attempts_permitted(&schedule, ATTEMPT_WINDOW) + ATTEMPT_MARGIN;
    eprintln!(
        "{}: accept-then-close: {made} attempts in {ATTEMPT_WINDOW:?} (allowed {allowed}), at ms {:?}",
        D::NAME,
        attempt_offsets(&proxy, first)
    );
    check(
        made <= allowed,
        format!(
            "{made} connection attempts in {ATTEMPT_WINDOW:?}; the schedule {:?} allows {allowed}: \
             at ms {:?}",
            schedule.schedule,
            attempt_offsets(&proxy, first)
        ),
    )?;
    check(
        made >= 3,
        format!("only {made} attempts: the client gave up?"),
    )?;
    Ok(Outcome::Passed)
}

/// A flapping server: every connection is accepted, the WebSocket opens
/// and the channel rejoins, then the connection is cut 50 ms later. The
/// reconnects must still back off along the schedule (a rejoin or an open
/// connection that does not last is no reason to start the schedule over),
/// counted at the proxy over two seconds; once connections last, the
/// channel is joined again.
pub async fn backoff_when_connections_flap<D: Driver>(scope: &Scope<D>) -> Scenario {
    let env = scope.default_server().await;
    let server = match env.server("fault proxy") {
        Ok(s) => s,
        Err(outcome) => return Ok(outcome),
    };
    let (proxy, options) = through_proxy(&env, server)?;
    let schedule = options.reconnect.clone();
    let client = scope.connect(options);
    client.wait_connected(PROMPT).await?;
    let mut channel = client.channel(&unique("echo:flap"), json!({}));
    channel.join().await.map_err(|e| format!("join: {e:?}"))?;
    proxy.set_lifetime(Some(Duration::from_millis(50)));
    let cut_at = Instant::now();
    proxy.cut_all();
    time::sleep(ATTEMPT_WINDOW).await;
    let made = proxy.attempts_between(cut_at, cut_at + ATTEMPT_WINDOW);
    let allowed = attempts_permitted(&schedule, ATTEMPT_WINDOW) + ATTEMPT_MARGIN;
    let offsets = attempt_offsets(&proxy, cut_at);
    let events = drain(&mut channel, Duration::ZERO).await;
    let rejoins = events.iter().filter(|e| is_rejoined(e)).count();
    eprintln!(
        "{}: flapping: {made} attempts in {ATTEMPT_WINDOW:?} (allowed {allowed}), {rejoins} \
         rejoins, at ms {offsets:?}",
        D::NAME
    );
    // Connections last again: the channel ends up joined.
    proxy.set_lifetime(None);
    proxy.cut_all();
    drain(&mut channel, Duration::from_millis(400)).await;
    push_ok(&channel, "echo", json!({"after": "flapping"})).await?;
    check(
        made <= allowed,
        format!(
            "{made} connection attempts in {ATTEMPT_WINDOW:?} while every connection lived 50 ms \
             ({rejoins} rejoins); the schedule {:?} allows {allowed}: at ms {offsets:?}",
            schedule.schedule
        ),
    )?;
    Ok(Outcome::Passed)
}

/// Nesting `depth` arrays deep, as JSON text.
fn nested(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

/// Garbage the server sends in well-formed WebSocket frames, kind by kind:
/// text that is not a Phoenix message, and binary frames that are not
/// Phoenix binary messages. The client drops each (a few, valid JSON in
/// odd shapes, may be delivered as a message), never panics, keeps the
/// connection, and the channel goes on working after each.
pub async fn malformed_frames_of_every_kind<D: Driver>(scope: &Scope<D>) -> Scenario {
    let env = scope.default_server().await;
    let server = match env.server("send_raw_text and send_raw_binary") {
        Ok(s) => s,
        Err(outcome) => return Ok(outcome),
    };
    let topic = unique("echo:kinds");
    let (_client, mut channel) = joined(scope, &env, &topic).await?;
    let conn = server.connections().first().ok_or("no connection")?.id;
    let deep = nested(100_000);
    // (what, text or binary, whether a message may come of it)
    let texts: Vec<(&str, String, bool)> = vec![
        (
            "not JSON",
            phoenix_test_server::MALFORMED_FRAME.to_owned(),
            false,
        ),
        ("empty", String::new(), false),
        ("truncated JSON", "[1,2".to_owned(), false),
        ("an object", r#"{"not": "an array"}"#.to_owned(), false),
        (
            "four elements",
            json!(["1", "1", topic, "e"]).to_string(),
            false,
        ),
        // phoenix.js destructures the first five and ignores the rest.
        (
            "six elements",
            json!([null, null, topic, "e", {}, 6]).to_string(),
            true,
        ),
        ("numbers", "[1,2,3,4,5]".to_owned(), false),
        (
            "a null topic",
            r#"[null,null,null,"e",{}]"#.to_owned(),
            false,
        ),
        (
            "a numeric event",
            json!([null, null, topic, 42, {}]).to_string(),
            false,
        ),
        (
            "a nested topic",
            format!(r#"[null,null,{deep},"e",{{}}]"#),
            false,
        ),
        (
            "a deep payload",
            format!(r#"[null,null,"{topic}","deep",{deep}]"#),
            true,
        ),
        (
            "a lone surrogate",
            format!(r#"[null,null,"{topic}","surrogate",{{"s":"\ud800"}}]"#),
            true,
        ),
        (
            "a reply to no push",
            json!(["1", "99999", topic, "phx_reply", {"status": "ok", "response": {}}]).to_string(),
            false,
        ),
        (
            "a reply without a status",
            json!([null, "1", topic, "phx_reply", {"response": {}}]).to_string(),
            false,
        ),
    ];
    let binaries: Vec<(&str, Vec<u8>)> = vec![
        ("empty binary", Vec::new()),
        ("an unknown kind", vec![9, 1, 2, 3]),
        ("a cut header", vec![0]),
        ("push lengths past the end", vec![0, 5, 200, 5, b'x']),
        ("reply lengths past the end", vec![1, 1, 1, 255, 2, b'1']),
        ("broadcast lengths past the end", vec![2, 3, 3, b'a']),
        (
            "a broadcast topic of invalid UTF-8",
            vec![2, 2, 1, 0xff, 0xfe, b'e'],
        ),
    ];
    let mut kinds = 0;
    for (what, text, may_deliver) in &texts {
        check(server.send_raw_text(conn, text), "send_raw_text")?;
        after_garbage(&mut channel, what, *may_deliver).await?;
        kinds += 1;
    }
    for (what, bytes) in &binaries {
        check(server.send_raw_binary(conn, bytes), "send_raw_binary")?;
        after_garbage(&mut channel, what, false).await?;
        kinds += 1;
    }
    let stats = server.stats();
    check(
        stats.connections_opened == 1 && stats.connections_open == 1,
        format!("the connection did not survive {kinds} kinds of garbage: {stats:?}"),
    )?;
    Ok(Outcome::Passed)
}

/// After one kind of garbage: the channel answers a push, and nothing but
/// (when allowed) a message came of it.
async fn after_garbage<C: TestChannel>(
    channel: &mut C,
    what: &str,
    may_deliver: bool,
) -> Result<(), String> {
    let echoed = push_ok(channel, "echo", json!({"after": what}))
        .await
        .map_err(|e| format!("after {what}: {e}"))?;
    check(
        echoed == json!({"after": what}),
        format!("after {what}: echo {echoed}"),
    )?;
    for ev in drain(channel, Duration::from_millis(20)).await {
        check(
            may_deliver && matches!(ev, Ev::Message { .. }),
            format!("after {what}: unexpected {ev:?}"),
        )?;
    }
    Ok(())
}

/// Messages over the client's `max_message_size` (1 KiB here), a
/// broadcast and then a push's reply: each time the client reports the
/// connection lost, fails the push waiting for that reply, reconnects
/// after its backoff delay (once), and rejoins; nothing oversized is
/// delivered.
pub async fn oversized_message_reconnects<D: Driver>(scope: &Scope<D>) -> Scenario {
    let env = scope.default_server().await;
    let server = match env.server("broadcast and stats") {
        Ok(s) => s,
        Err(outcome) => return Ok(outcome),
    };
    let mut options = env.options();
    options.max_message_size = Some(1024);
    // Slow enough to see the disconnected status, and a delay to check.
    let delay = Duration::from_millis(100);
    options.reconnect = Backoff::from_millis(&[100]);
    let client = scope.connect(options);
    client.wait_connected(PROMPT).await?;
    let topic = unique("echo:big");
    let mut channel = client.channel(&topic, json!({}));
    channel.join().await.map_err(|e| format!("join: {e:?}"))?;
    let big = json!({"blob": "x".repeat(4096)});

    let (reason, reached) = future::join(client.wait_disconnected(PROMPT), async {
        server.broadcast(&topic, "big", big.clone())
    })
    .await;
    let lost_at = Instant::now();
    check(reached == 1, "the broadcast reached the channel")?;
    check_loss_reason(&reason?, Said::TooLarge, "a 4 KiB broadcast")?;
    let events = lost_then_rejoined(&mut channel, "after the big broadcast", PROMPT).await?;
    check(
        lost_at.elapsed() >= delay.mul_f64(0.8),
        format!(
            "rejoined {:?} after the loss, before the backoff delay",
            lost_at.elapsed()
        ),
    )?;
    check(
        !events.iter().any(|e| matches!(e, Ev::Message { .. })),
        format!("delivered: {events:?}"),
    )?;
    check(
        server.broadcast(&topic, "small", json!({"n": 1})) == 1,
        "small broadcast",
    )?;
    expect_message(&mut channel, "small").await?;

    let (reason, pushed) = future::join(
        client.wait_disconnected(PROMPT),
        within("the push", channel.push("echo", payload(big.clone()), None)),
    )
    .await;
    check_loss_reason(&reason?, Said::TooLarge, "a 4 KiB reply")?;
    let pushed = pushed?;
    check(
        pushed
            == Err(PushFailure::Failed(
                phoenix_proto::client::PushFailure::ConnectionLost,
            )),
        format!("the push whose reply was too big ended with {pushed:?}"),
    )?;
    lost_then_rejoined(&mut channel, "after the big reply", PROMPT).await?;
    push_ok(&channel, "echo", json!({"small": true})).await?;
    let opened = server.stats().connections_opened;
    check(opened == 3, format!("{opened} connections for two losses"))?;
    Ok(Outcome::Passed)
}

/// What a disconnect reason should say after a fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Said {
    /// The connection just ended, without a close frame: `Closed` with
    /// 1006 ("abnormal closure"; `None` from a driver that cannot tell).
    Ended,
    /// A reset: a transport error (or, as some platforms report it, an end).
    Reset,
    /// `BadMessage` with `TooLarge` (1009).
    TooLarge,
    /// `BadMessage` with `InvalidUtf8` (1007).
    InvalidUtf8,
    /// `BadMessage` with `Protocol` (1002).
    Protocol,
    /// A bad close frame: `BadMessage` with `Protocol` (1002), or the close
    /// code 1002 the WebSocket library puts in its place.
    BadClose,
}

impl Said {
    fn fits(self, reason: &DisconnectReason) -> bool {
        use phoenix_proto::client::BadMessage;
        match (self, reason) {
            (
                Said::Ended | Said::Reset,
                DisconnectReason::Closed {
                    code: Some(1006) | None,
                    ..
                },
            )
            | (Said::Reset, DisconnectReason::TransportError { .. })
            | (
                Said::BadClose,
                DisconnectReason::Closed {
                    code: Some(1002), ..
                },
            ) => true,
            (Said::TooLarge, DisconnectReason::BadMessage { kind, code }) => {
                *kind == BadMessage::TooLarge && *code == 1009
            }
            (Said::InvalidUtf8, DisconnectReason::BadMessage { kind, code }) => {
                *kind == BadMessage::InvalidUtf8 && *code == 1007
            }
            (Said::Protocol | Said::BadClose, DisconnectReason::BadMessage { kind, code }) => {
                matches!(kind, BadMessage::Protocol(_)) && *code == 1002
            }
            _ => false,
        }
    }
}

/// Checks that the disconnect reason after `what` says what it should.
fn check_loss_reason(reason: &DisconnectReason, said: Said, what: &str) -> Result<(), String> {
    eprintln!("after {what}: {reason:?}");
    check(
        said.fits(reason),
        format!("after {what} the disconnect reason is {reason:?}, expected {said:?}"),
    )
}

/// WebSocket protocol violations from the server side, injected by the
/// proxy into a quiet connection (the server cannot produce them): text
/// with invalid UTF-8, reserved opcodes and bits, a masked frame, broken
/// fragmentation, bad control frames, impossible lengths, a frame cut off
/// by the end of the stream. After each the client reports the
/// connection lost, reconnects once and rejoins.
pub async fn invalid_websocket_frames_reconnect<D: Driver>(scope: &Scope<D>) -> Scenario {
    let env = scope.default_server().await;
    let server = match env.server("fault proxy") {
        Ok(s) => s,
        Err(outcome) => return Ok(outcome),
    };
    let (proxy, mut options) = through_proxy(&env, server)?;
    // Slow enough to see the disconnected status.
    options.reconnect = Backoff::from_millis(&[100]);
    let client = scope.connect(options);
    client.wait_connected(PROMPT).await?;
    let mut channel = client.channel(&unique("echo:wsbad"), json!({}));
    channel.join().await.map_err(|e| format!("join: {e:?}"))?;
    let mut long_ping = vec![0x89, 126, 0, 126];
    long_ping.extend([0; 126]);
    let cases: Vec<(&str, Vec<u8>, Said)> = vec![
        (
            "text with invalid UTF-8",
            vec![0x81, 4, 0xff, 0xfe, 0xfd, 0xfc],
            Said::InvalidUtf8,
        ),
        ("a reserved data opcode", vec![0x83, 0], Said::Protocol),
        ("a reserved control opcode", vec![0x8B, 0], Said::Protocol),
        (
            "RSV1 without an extension",
            vec![0xC1, 2, b'h', b'i'],
            Said::Protocol,
        ),
        (
            "a masked frame",
            vec![0x81, 0x82, 1, 2, 3, 4, b'h' ^ 1, b'i' ^ 2],
            Said::Protocol,
        ),
        ("a fragmented ping", vec![0x09, 0], Said::Protocol),
        (
            "a continuation without a start",
            vec![0x80, 2, b'h', b'i'],
            Said::Protocol,
        ),
        (
            "a text frame inside a fragmented one",
            vec![0x01, 1, b'[', 0x81, 2, b'[', b']'],
            Said::Protocol,
        ),
        ("a ping of 126 bytes", long_ping, Said::Protocol),
        (
            "a close frame of one byte",
            vec![0x88, 1, 0],
            Said::BadClose,
        ),
        (
            "a close code that is not allowed (1005)",
            vec![0x88, 2, 0x03, 0xED],
            Said::BadClose,
        ),
        (
            "a length with the top bit set",
            vec![0x81, 127, 0x80, 0, 0, 0, 0, 0, 0, 2],
            Said::TooLarge,
        ),
        (
            "a 1 GiB frame",
            vec![0x82, 127, 0, 0, 0, 0, 0x40, 0, 0, 0],
            Said::TooLarge,
        ),
        (
            "a frame cut by the end of the stream",
            vec![0x81, 10, b'[', b'1'],
            Said::Ended,
        ),
    ];
    let mut failures = Vec::new();
    for (what, bytes, said) in &cases {
        let (reason, injected) = future::join(client.wait_disconnected(PROMPT), async {
            let n = proxy.inject(Direction::ToClient, bytes);
            if what.contains("cut by the end") {
                // The rest of the frame never comes.
                time::sleep(Duration::from_millis(20)).await;
                proxy.truncate(Direction::ToClient, 0);
            }
            n
        })
        .await;
        let outcome = match reason {
            _ if injected != 1 => Err(format!("{what}: {injected} connections to inject into")),
            Ok(reason) => check_loss_reason(&reason, *said, what),
            Err(e) => {
                // Not noticed: cut the connection so the next case starts clean.
                proxy.cut_all();
                Err(format!("{what}: {e}"))
            }
        };
        let rejoined = lost_then_rejoined(&mut channel, what, PROMPT)
            .await
            .map(|_| ());
        let answered = match rejoined {
            Ok(()) => push_ok(&channel, "echo", json!({"after": what}))
                .await
                .map(|_| ()),
            Err(e) => Err(e),
        };
        for result in [outcome, answered] {
            if let Err(e) = result {
                failures.push(e);
            }
        }
    }
    let attempts = proxy.attempt_count();
    check(
        failures.is_empty(),
        format!(
            "{} of {} cases: {}",
            failures.len(),
            cases.len(),
            failures.join("; ")
        ),
    )?;
    check(
        attempts == 1 + cases.len(),
        format!("{attempts} connections for {} losses", cases.len()),
    )?;
    Ok(Outcome::Passed)
}

/// A slow link (50 ms each way, 64 kB/s): joins, pushes and an 8 KiB
/// echo work, and the heartbeat (every 500 ms; a round trip takes 100 ms,
/// about 350 ms behind the echo) keeps the connection without a false alarm.
pub async fn slow_link_stays_connected<D: Driver>(scope: &Scope<D>) -> Scenario {
    let env = scope.default_server().await;
    let server = match env.server("fault proxy") {
        Ok(s) => s,
        Err(outcome) => return Ok(outcome),
    };
    let (proxy, mut options) = through_proxy(&env, server)?;
    options.heartbeat = Some(Duration::from_millis(500));
    proxy.set_latency(Direction::Both, Duration::from_millis(50));
    proxy.set_bandwidth(Direction::Both, Some(64_000));
    let client = scope.connect(options);
    client.wait_connected(PROMPT).await?;
    let channel = client.channel(&unique("echo:slow"), json!({}));
    channel.join().await.map_err(|e| format!("join: {e:?}"))?;
    let body = json!({"blob": "y".repeat(8192)});
    let echoed = push_ok(&channel, "echo", body.clone()).await?;
    check(echoed == body, "the 8 KiB echo")?;
    let results = push_burst(
        &channel,
        "slow",
        6,
        Duration::from_millis(10),
        Duration::from_secs(3),
    )
    .await?;
    let tally = check_burst("slow", &results)?;
    check(tally.replied == 6, format!("on a slow link: {tally:?}"))?;
    time::sleep(Duration::from_millis(800)).await;
    client.wait_connected(Duration::ZERO).await?;
    check(
        proxy.attempt_count() == 1,
        format!("{} connections on a slow link", proxy.attempt_count()),
    )?;
    Ok(Outcome::Passed)
}

/// Casts 16 MiB (256 casts of 64 KiB, no replies): more than the kernel's
/// buffers of a loopback connection hold. Returns the number of casts.
async fn cast_a_burst<C: TestChannel>(channel: &C) -> u64 {
    const CASTS: u64 = 256;
    let body = payload(json!({"b": "x".repeat(64 << 10)}));
    for _ in 0..CASTS {
        channel.cast("noreply", body.clone()).await;
    }
    CASTS
}

/// A peer that reads slowly but steadily keeps its connection while a burst
/// drains for several times the write limit (1 s here): the limit is on
/// waiting without a byte going out, not on a flush as a whole. 16 MiB in
/// 64 KiB casts through a proxy that passes about 8 MB/s to the server:
/// more than the kernel's buffers hold, so the client's last flush waits
/// for the proxy most of the way. Then an echo on the same connection.
pub async fn slow_reader_keeps_the_connection<D: Driver>(scope: &Scope<D>) -> Scenario {
    let env = scope.default_server().await;
    let server = match env.server("fault proxy") {
        Ok(s) => s,
        Err(outcome) => return Ok(outcome),
    };
    let (proxy, mut options) = through_proxy(&env, server)?;
    let limit = Duration::from_secs(1);
    options.write_timeout = Some(limit);
    let client = scope.connect(options);
    client.wait_connected(PROMPT).await?;
    let channel = client.channel(&unique("echo:steady"), json!({}));
    channel.join().await.map_err(|e| format!("join: {e:?}"))?;
    let before = server.stats().frames_received;
    proxy.set_bandwidth(Direction::ToServer, Some(8_000_000));
    let started = Instant::now();
    let frames = cast_a_burst(&channel).await;
    let deadline = started + 4 * PROMPT;
    while server.stats().frames_received < before + frames {
        check(
            Instant::now() < deadline,
            format!(
                "{} of {frames} casts reached the server within {:?} ({} connections)",
                server.stats().frames_received - before,
                4 * PROMPT,
                proxy.attempt_count()
            ),
        )?;
        time::sleep(Duration::from_millis(20)).await;
    }
    let took = started.elapsed();
    check(
        took > 2 * limit,
        format!("16 MiB went out in {took:?}: the proxy did not slow them below twice the limit"),
    )?;
    check(
        proxy.attempt_count() == 1,
        format!(
            "{} connections: the connection was given up while the peer was reading",
            proxy.attempt_count()
        ),
    )?;
    proxy.set_bandwidth(Direction::ToServer, None);
    let echoed = push_ok(&channel, "echo", json!({"after": 1})).await?;
    check(echoed == json!({"after": 1}), "the echo after the burst")?;
    Ok(Outcome::Passed)
}

/// The other side of [`slow_reader_keeps_the_connection`]: a peer that
/// takes nothing more (the proxy stops reading from the client) fails the
/// connection once the writes have waited the write limit (500 ms here),
/// not before, with a transport error that says so; the socket then
/// reconnects once the peer reads again.
pub async fn stalled_reader_fails_the_connection<D: Driver>(scope: &Scope<D>) -> Scenario {
    let env = scope.default_server().await;
    let server = match env.server("fault proxy") {
        Ok(s) => s,
        Err(outcome) => return Ok(outcome),
    };
    let (proxy, mut options) = through_proxy(&env, server)?;
    let limit = Duration::from_millis(500);
    options.write_timeout = Some(limit);
    let client = scope.connect(options);
    client.wait_connected(PROMPT).await?;
    let channel = client.channel(&unique("echo:stalled"), json!({}));
    channel.join().await.map_err(|e| format!("join: {e:?}"))?;
    proxy.stall(Direction::ToServer);
    let started = Instant::now();
    cast_a_burst(&channel).await;
    let reason = client.wait_disconnected(PROMPT).await?;
    let took = started.elapsed();
    check(
        matches!(&reason, DisconnectReason::TransportError { message }
            if message.contains("write timed out")),
        format!("the connection ended with {reason:?}, not the write limit"),
    )?;
    check(
        took >= limit,
        format!("the connection was given up after {took:?}, before the limit of {limit:?}"),
    )?;
    proxy.resume();
    client.wait_connected(PROMPT).await?;
    let echoed = push_ok(&channel, "echo", json!({"again": 1})).await?;
    check(echoed == json!({"again": 1}), "the echo after reconnecting")?;
    Ok(Outcome::Passed)
}

// ----- the list --------------------------------------------------------------

// ----- the API as users meet it ----------------------------------------

/// The next socket event that `pick` accepts, within [`PROMPT`].
async fn expect_socket_event(
    events: &mut phoenix_proto::api::SocketEvents,
    what: &str,
    pick: impl Fn(&phoenix_proto::api::SocketEvent) -> bool,
) -> Result<phoenix_proto::api::SocketEvent, String> {
    let deadline = Instant::now() + PROMPT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match time::timeout(left, events.recv()).await {
            Ok(Some(event)) if pick(&event) => return Ok(event),
            Ok(Some(_)) => {}
            Ok(None) => return Err(format!("the socket events ended before {what}")),
            Err(_) => return Err(format!("no {what} within {PROMPT:?}")),
        }
    }
}

/// Waits until the presence list's keys are `keys`, reading its events.
async fn presence_keys_become(
    presence: &phoenix_proto::api::PresenceHandle,
    events: &mut phoenix_proto::api::PresenceEvents,
    keys: &[&str],
) -> Result<(), String> {
    let deadline = Instant::now() + PROMPT;
    loop {
        let now: Vec<String> = presence.list().into_iter().map(|(k, _)| k).collect();
        if now == keys {
            return Ok(());
        }
        let left = deadline.saturating_duration_since(Instant::now());
        match time::timeout(left, events.recv()).await {
            Ok(Some(_)) => {}
            Ok(None) => return Err("the presence events ended".into()),
            Err(_) => return Err(format!("presence keys {now:?}, expected {keys:?}")),
        }
    }
}

/// The presence handle keeps a channel's list in sync (state, joins,
/// leaves, a socket that goes away) with no help from the application,
/// and its metas deserialize into the application's own type.
pub async fn presence_handle_keeps_the_list<D: Driver>(scope: &Scope<D>) -> Scenario {
    #[derive(serde::Deserialize)]
    struct Meta {
        online_at: u64,
    }
    let env = scope.default_server().await;
    let topic = unique("presence:");
    let alice = scope.connect(env.options().param("user_id", "alice"));
    let alice_channel = alice.channel(&topic, json!({}));
    let presence = alice_channel.presence();
    let mut changes = presence.events();
    alice_channel.join().await.map_err(|e| format!("{e:?}"))?;
    presence_keys_become(&presence, &mut changes, &["alice"]).await?;
    let mut others = Vec::new();
    for user in ["bob", "carol"] {
        let client = scope.connect(env.options().param("user_id", user));
        let channel = client.channel(&topic, json!({}));
        channel.join().await.map_err(|e| format!("{user}: {e:?}"))?;
        others.push((client, channel));
    }
    presence_keys_become(&presence, &mut changes, &["alice", "bob", "carol"]).await?;
    let metas = presence
        .list_as::<Meta>()
        .map_err(|e| format!("metas: {e}"))?;
    check(
        metas
            .iter()
            .all(|(_, m)| m.len() == 1 && m[0].online_at > 0),
        "one meta with online_at per key",
    )?;
    // Carol leaves; Bob's whole socket goes away.
    let (bob, _bob_channel) = others.remove(0);
    let (_carol, carol_channel) = others.remove(0);
    carol_channel.leave().await?;
    presence_keys_become(&presence, &mut changes, &["alice", "bob"]).await?;
    bob.shutdown().await;
    presence_keys_become(&presence, &mut changes, &["alice"]).await?;
    Ok(Outcome::Passed)
}

/// A meta update (a join of the new `phx_ref` with a leave of the old one)
/// keeps the key with its one, updated meta.
pub async fn presence_handle_follows_meta_updates<D: Driver>(scope: &Scope<D>) -> Scenario {
    let env = scope.default_server().await;
    let server = match env.server("update_presence") {
        Ok(s) => s,
        Err(outcome) => return Ok(outcome),
    };
    let topic = unique("presence:");
    let alice = scope.connect(env.options().param("user_id", "alice"));
    let channel = alice.channel(&topic, json!({}));
    let presence = channel.presence();
    let mut changes = presence.events();
    channel.join().await.map_err(|e| format!("{e:?}"))?;
    let bob = scope.connect(env.options().param("user_id", "bob"));
    let bob_channel = bob.channel(&topic, json!({}));
    bob_channel
        .join()
        .await
        .map_err(|e| format!("bob: {e:?}"))?;
    presence_keys_become(&presence, &mut changes, &["alice", "bob"]).await?;
    check(
        server.update_presence(&topic, "bob", json!({"status": "away"})) == 1,
        "one meta updated",
    )?;
    let deadline = Instant::now() + PROMPT;
    loop {
        let metas = presence.get("bob").map(|e| e.metas).unwrap_or_default();
        if metas.len() == 1 && metas[0]["status"] == "away" {
            break;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if time::timeout(left, changes.recv())
            .await
            .ok()
            .flatten()
            .is_none()
        {
            return Err(format!("bob's metas after the update: {metas:?}"));
        }
    }
    let keys: Vec<String> = presence.list().into_iter().map(|(k, _)| k).collect();
    check(keys == ["alice", "bob"], format!("keys {keys:?}"))?;
    Ok(Outcome::Passed)
}

/// The server's close frame is answered with the client's own (RFC 6455
/// 5.5.1) before the client reconnects, so the server records a clean close
/// rather than 1006.
pub async fn server_close_is_answered<D: Driver>(scope: &Scope<D>) -> Scenario {
    let env = scope.default_server().await;
    let server = match env.server("close_all and stats") {
        Ok(s) => s,
        Err(outcome) => return Ok(outcome),
    };
    let (client, _channel) = joined(scope, &env, &unique("echo:bye")).await?;
    check(server.close_all(1001, "going away") == 1, "one connection")?;
    let reason = client.wait_disconnected(PROMPT).await?;
    check(
        matches!(
            reason,
            DisconnectReason::Closed {
                code: Some(1001),
                ..
            }
        ),
        format!("{reason:?}"),
    )?;
    let deadline = Instant::now() + PROMPT;
    while server.stats().closes_answered < 1 {
        check(
            Instant::now() < deadline,
            "the server's close was not answered",
        )?;
        time::sleep(Duration::from_millis(10)).await;
    }
    Ok(Outcome::Passed)
}

/// After a reconnect the presence list is rebuilt from the new state: the
/// application does nothing, and the list is right again.
pub async fn presence_handle_resets_on_rejoin<D: Driver>(scope: &Scope<D>) -> Scenario {
    let env = scope.default_server().await;
    let server = match env.server("drop_all") {
        Ok(s) => s,
        Err(outcome) => return Ok(outcome),
    };
    let topic = unique("presence:");
    let alice = scope.connect(env.options().param("user_id", "alice"));
    let channel = alice.channel(&topic, json!({}));
    let presence = channel.presence();
    let mut changes = presence.events();
    channel.join().await.map_err(|e| format!("{e:?}"))?;
    presence_keys_become(&presence, &mut changes, &["alice"]).await?;
    server.drop_all();
    // The list goes through the new state (a Sync) and ends the same.
    let deadline = Instant::now() + PROMPT;
    let mut synced_after_drop = false;
    while !synced_after_drop {
        let left = deadline.saturating_duration_since(Instant::now());
        match time::timeout(left, changes.recv()).await {
            Ok(Some(phoenix_proto::api::PresenceEvent::Sync)) => {
                synced_after_drop = presence.is_synced();
            }
            Ok(Some(_)) => {}
            _ => return Err("no new presence state after the reconnect".into()),
        }
    }
    let keys: Vec<String> = presence.list().into_iter().map(|(k, _)| k).collect();
    check(keys == ["alice"], format!("keys after the rejoin {keys:?}"))?;
    Ok(Outcome::Passed)
}

/// The socket's events tell every transition, in order: a drop, the new
/// attempt with its number, the connection; malformed frames; a ping's
/// round trip.
pub async fn socket_events_tell_every_transition<D: Driver>(scope: &Scope<D>) -> Scenario {
    use phoenix_proto::api::SocketEvent;
    let env = scope.default_server().await;
    let server = match env.server("drop_all and send_malformed") {
        Ok(s) => s,
        Err(outcome) => return Ok(outcome),
    };
    let client = scope.connect(env.options());
    let mut events = client.socket_events();
    client.wait_connected(PROMPT).await?;
    expect_socket_event(&mut events, "Connected", |e| *e == SocketEvent::Connected).await?;
    server.drop_all();
    let lost = expect_socket_event(&mut events, "Disconnected", |e| {
        matches!(e, SocketEvent::Disconnected { .. })
    })
    .await?;
    check(
        matches!(
            &lost,
            SocketEvent::Disconnected {
                reconnect_in: Some(_),
                ..
            }
        ),
        format!("{lost:?}"),
    )?;
    let attempt = expect_socket_event(&mut events, "Connecting", |e| {
        matches!(e, SocketEvent::Connecting { .. })
    })
    .await?;
    check(
        matches!(attempt, SocketEvent::Connecting { attempt } if attempt >= 2),
        format!("{attempt:?}"),
    )?;
    expect_socket_event(&mut events, "Connected again", |e| {
        *e == SocketEvent::Connected
    })
    .await?;
    let conn = server.connections().first().ok_or("no connection")?.id;
    check(server.send_malformed(conn), "send_malformed")?;
    expect_socket_event(&mut events, "MalformedFrame", |e| {
        matches!(e, SocketEvent::MalformedFrame { .. })
    })
    .await?;
    let rtt = client.ping().await?;
    let reported = expect_socket_event(&mut events, "Heartbeat", |e| {
        matches!(e, SocketEvent::Heartbeat { .. })
    })
    .await?;
    check(
        reported == SocketEvent::Heartbeat { rtt },
        format!("{reported:?} for a ping of {rtt:?}"),
    )?;
    client.shutdown().await;
    expect_socket_event(&mut events, "Stopped", |e| *e == SocketEvent::Stopped).await?;
    Ok(Outcome::Passed)
}

/// A join on a socket that cannot connect times out (from the call) instead
/// of waiting for ever.
pub async fn join_times_out_without_a_connection<D: Driver>(scope: &Scope<D>) -> Scenario {
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    let mut options = Options::new(format!("ws://127.0.0.1:{port}/socket"));
    options.timeout = Duration::from_millis(300);
    let client = scope.connect(options);
    let channel = client.channel("echo:nowhere", json!({}));
    let started = Instant::now();
    let result = within("the join", channel.join()).await?;
    check(
        result == Err(JoinFailure::Timeout),
        format!("join without a server: {result:?}"),
    )?;
    check(
        started.elapsed() >= Duration::from_millis(250),
        format!("timed out after {:?}", started.elapsed()),
    )?;
    Ok(Outcome::Passed)
}

/// Shutting the socket down ends every channel's stream with
/// `Closed(SocketStopped)`.
pub async fn shutdown_closes_every_channel<D: Driver>(scope: &Scope<D>) -> Scenario {
    let env = scope.default_server().await;
    let (client, mut channel) = joined(scope, &env, &unique("echo:shut")).await?;
    client.shutdown().await;
    expect_event(&mut channel, "Closed(SocketStopped)", |e| {
        *e == Ev::Closed(ChannelCloseReason::SocketStopped)
    })
    .await?;
    check(
        channel
            .next_event(Duration::from_millis(50))
            .await
            .is_none(),
        "the stream ends after Closed",
    )?;
    Ok(Outcome::Passed)
}

/// A handle whose channel was left says so when asked to join again.
pub async fn joining_a_left_handle_says_why<D: Driver>(scope: &Scope<D>) -> Scenario {
    let env = scope.default_server().await;
    let (_client, channel) = joined(scope, &env, &unique("echo:left")).await?;
    channel.leave().await?;
    let again = channel.join().await;
    check(
        again == Err(JoinFailure::Closed(ChannelCloseReason::Left)),
        format!("join after leave: {again:?}"),
    )?;
    Ok(Outcome::Passed)
}

/// Dropping a channel's last handle and joining the same topic at once with
/// a new one never fails on timing (the new join supersedes the leave).
pub async fn drop_and_rejoin_at_once<D: Driver>(scope: &Scope<D>) -> Scenario {
    let env = scope.default_server().await;
    let client = scope.connect(env.options());
    client.wait_connected(PROMPT).await?;
    let topic = unique("echo:again");
    for round in 0..20 {
        let channel = client.channel(&topic, json!({}));
        channel
            .join()
            .await
            .map_err(|e| format!("round {round}: {e:?}"))?;
        push_ok(&channel, "echo", json!({"round": round})).await?;
        drop(channel);
    }
    Ok(Outcome::Passed)
}

/// Waits for `client`'s first disconnect and checks that it is a transport
/// error that says TLS; returns the message.
async fn refused_in_tls<C: TestClient>(client: &C, what: &str) -> Result<String, String> {
    match client.wait_disconnected(PROMPT).await? {
        DisconnectReason::TransportError { message } if message.contains("TLS") => Ok(message),
        other => Err(format!("{what}: expected a TLS failure, got {other:?}")),
    }
}

/// The server's certificate names another host: a client that trusts the
/// CA still refuses it (host name verification is on by default), and the
/// server never sees a WebSocket connection.
pub async fn tls_wrong_host_refused<D: Driver>(scope: &Scope<D>) -> Scenario {
    let config = ServerConfig {
        tls: true,
        tls_cert_names: vec!["not-this-host.invalid".to_owned()],
        ..ServerConfig::default()
    };
    let env = match scope.embedded(config, "TLS for another host name").await {
        Ok(env) => env,
        Err(outcome) => return Ok(outcome),
    };
    let server = embedded_server(&env)?;
    let material = server.tls().ok_or("no TLS material")?;
    let mut options = env.options();
    options.ca_der = Some(material.ca_der.clone());
    let client = scope.connect(options);
    let message = refused_in_tls(&client, "a certificate for another host").await?;
    check(
        message.contains("not valid for name") || message.contains("NotValidForName"),
        format!("the failure names the host mismatch: {message}"),
    )?;
    check(
        server.stats().connections_opened == 0,
        "the server saw no WebSocket connection",
    )?;
    Ok(Outcome::Passed)
}

/// A server whose CA the client does not trust (and whose certificate names
/// another host) is refused by default, and accepted only with the
/// explicitly named `danger_accept_invalid_certs`.
pub async fn tls_danger_accepts_invalid_certs<D: Driver>(scope: &Scope<D>) -> Scenario {
    let config = ServerConfig {
        tls: true,
        tls_cert_names: vec!["not-this-host.invalid".to_owned()],
        ..ServerConfig::default()
    };
    let env = match scope.embedded(config, "TLS from an untrusted CA").await {
        Ok(env) => env,
        Err(outcome) => return Ok(outcome),
    };
    let verifying = scope.connect(env.options());
    let message = refused_in_tls(&verifying, "an untrusted CA").await?;
    check(
        message.contains("UnknownIssuer") || message.contains("unknown issuer"),
        format!("the failure names the unknown issuer: {message}"),
    )?;
    let mut options = env.options();
    options.danger_accept_invalid_certs = true;
    let trusting = scope.connect(options);
    trusting.wait_connected(PROMPT).await?;
    let channel = trusting.channel(&unique("echo:danger"), json!({}));
    channel.join().await.map_err(|e| format!("{e:?}"))?;
    let echoed = push_ok(&channel, "echo", json!({"verified": false})).await?;
    check(
        echoed == json!({"verified": false}),
        format!("echo {echoed}"),
    )?;
    Ok(Outcome::Passed)
}

/// Mutual TLS: a server that requires client certificates refuses a client
/// without one, and one whose certificate comes from another CA, both in
/// TLS; a client with a certificate its CA issued joins.
pub async fn tls_client_certificate<D: Driver>(scope: &Scope<D>) -> Scenario {
    let config = ServerConfig {
        tls: true,
        tls_client_auth: true,
        ..ServerConfig::default()
    };
    let env = match scope.embedded(config, "TLS client authentication").await {
        Ok(env) => env,
        Err(outcome) => return Ok(outcome),
    };
    let server = embedded_server(&env)?;
    let material = server.tls().ok_or("no TLS material")?;
    let mut trusting = env.options();
    trusting.ca_der = Some(material.ca_der.clone());

    let without = scope.connect(trusting.clone());
    refused_in_tls(&without, "no client certificate").await?;

    let foreign = phoenix_test_server::ClientCertificate::from_an_unknown_ca("intruder")
        .map_err(|e| e.to_string())?;
    let mut options = trusting.clone();
    options.client_certificate = Some((foreign.chain_der, foreign.key_der));
    let intruder = scope.connect(options);
    refused_in_tls(&intruder, "a client certificate from another CA").await?;
    check(
        server.stats().connections_opened == 0,
        "the server saw no WebSocket connection without a valid client certificate",
    )?;

    let issued = material
        .issue_client_certificate("suite-client")
        .map_err(|e| e.to_string())?;
    let mut options = trusting;
    options.client_certificate = Some((issued.chain_der, issued.key_der));
    let client = scope.connect(options);
    client.wait_connected(PROMPT).await?;
    let channel = client.channel(&unique("echo:mtls"), json!({}));
    channel.join().await.map_err(|e| format!("{e:?}"))?;
    let echoed = push_ok(&channel, "echo", json!({"mutual": true})).await?;
    check(echoed == json!({"mutual": true}), format!("echo {echoed}"))?;
    Ok(Outcome::Passed)
}

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
            start_push_many_in_flight,
            start_push_errors,
            start_push_timeout,
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
            restart_during_push_burst => "needs the embedded test server's restart",
            cut_during_join => "needs the embedded test server's set_delay_all and a fault proxy",
            cut_during_push => "needs the embedded test server's fault proxy",
            cut_during_leave
                => "needs the embedded test server's set_delay_all and a fault proxy",
            half_open_detected_by_heartbeat => "needs the embedded test server's fault proxy",
            deploy_drops_every_client => "needs the embedded test server's fault proxy",
            refusals_told_apart => "needs the embedded test server's refuse_connections_with",
            backoff_when_accepted_then_closed => "needs the embedded test server's fault proxy",
            backoff_when_connections_flap => "needs the embedded test server's fault proxy",
            malformed_frames_of_every_kind
                => "needs the embedded test server's send_raw_text and send_raw_binary",
            oversized_message_reconnects => "needs the embedded test server's broadcast and stats",
            invalid_websocket_frames_reconnect => "needs the embedded test server's fault proxy",
            slow_link_stays_connected => "needs the embedded test server's fault proxy",
            slow_reader_keeps_the_connection => "needs the embedded test server's fault proxy",
            stalled_reader_fails_the_connection => "needs the embedded test server's fault proxy",
            presence_handle_keeps_the_list,
            presence_handle_resets_on_rejoin => "needs the embedded test server's drop_all",
            presence_handle_follows_meta_updates
                => "needs the embedded test server's update_presence",
            server_close_is_answered => "needs the embedded test server's close_all and stats",
            socket_events_tell_every_transition
                => "needs the embedded test server's drop_all and send_malformed",
            join_times_out_without_a_connection,
            shutdown_closes_every_channel,
            joining_a_left_handle_says_why,
            drop_and_rejoin_at_once,
            tls_wrong_host_refused
                => "needs the embedded test server with TLS for another host name",
            tls_danger_accepts_invalid_certs
                => "needs the embedded test server with TLS from an untrusted CA",
            tls_client_certificate
                => "needs the embedded test server with TLS client authentication",
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
