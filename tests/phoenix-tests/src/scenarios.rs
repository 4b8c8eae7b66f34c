//! The scenarios. Each is generic over the [`Driver`] and returns
//! `Ok(Outcome::Passed)`, `Ok(Outcome::LeftOut(why))`, or `Err(what failed)`.
//!
//! Add a scenario here and to the list in [`all_scenarios!`](crate::all_scenarios):
//! every driver's test file runs the whole list.

use std::time::Duration;

use phoenix_proto::client::{ChannelCloseReason, ChannelErrorReason, DisconnectReason};
use phoenix_proto::codec::Payload;
use serde_json::{Value, json};

use crate::driver::{Driver, Ev, JoinFailure, PushFailure, TestChannel, TestClient};
use crate::env::{Env, Outcome};

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
    let deadline = tokio::time::Instant::now() + PROMPT;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
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
    let deadline = tokio::time::Instant::now() + PROMPT;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match channel.next_event(left).await {
            Some(ev) if pick(&ev) => return Ok(ev),
            Some(_) => {}
            None => return Err(format!("no {what} within {PROMPT:?}")),
        }
    }
}

/// Connects a client and joins `topic`, returning both.
pub async fn joined<D: Driver>(
    env: &Env,
    topic: &str,
) -> Result<(D::Client, <D::Client as TestClient>::Channel), String> {
    let client = D::connect(env.options());
    client.wait_connected(PROMPT).await?;
    let channel = client.channel(topic, json!({}));
    channel
        .join()
        .await
        .map_err(|e| format!("join {topic}: {e:?}"))?;
    Ok((client, channel))
}

/// `echo:*` joins with `{"joined": topic}` and echoes pushes back.
pub async fn join_and_echo<D: Driver>() -> Scenario {
    let env = Env::default_server().await;
    let client = D::connect(env.options());
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
    client.shutdown().await;
    env.stop().await;
    Ok(Outcome::Passed)
}

/// `error` replies with status `error` and the payload.
pub async fn error_reply<D: Driver>() -> Scenario {
    let env = Env::default_server().await;
    let (client, channel) = joined::<D>(&env, "echo:err").await?;
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
    client.shutdown().await;
    env.stop().await;
    Ok(Outcome::Passed)
}

/// `noreply` is never answered: the push times out, once.
pub async fn push_timeout<D: Driver>() -> Scenario {
    let env = Env::default_server().await;
    let (client, channel) = joined::<D>(&env, "echo:quiet").await?;
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
    client.shutdown().await;
    env.stop().await;
    Ok(Outcome::Passed)
}

/// A refused connect (`reject=true`) reports HTTP 403.
pub async fn refused_connect<D: Driver>() -> Scenario {
    let env = Env::default_server().await;
    let client = D::connect(env.options().param("reject", "true"));
    let reason = client.wait_disconnected(PROMPT).await?;
    check(
        matches!(reason, DisconnectReason::Refused { status: 403, .. }),
        format!("{reason:?}"),
    )?;
    client.shutdown().await;
    env.stop().await;
    Ok(Outcome::Passed)
}

/// The server drops the TCP connection: the client reconnects and rejoins.
pub async fn reconnect_and_rejoin_after_drop<D: Driver>() -> Scenario {
    let env = Env::default_server().await;
    let server = match env.server("drop_all") {
        Ok(s) => s,
        Err(outcome) => return Ok(outcome),
    };
    let (client, mut channel) = joined::<D>(&env, "echo:drop").await?;
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
    client.shutdown().await;
    env.stop().await;
    Ok(Outcome::Passed)
}

/// Leaving: the channel closes with `Left` and pushes are refused.
pub async fn leave<D: Driver>() -> Scenario {
    let env = Env::default_server().await;
    let (client, mut channel) = joined::<D>(&env, "echo:leave").await?;
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
    client.shutdown().await;
    env.stop().await;
    Ok(Outcome::Passed)
}

/// Joining a topic that has a live channel on the same socket is refused
/// by the client, not sent.
pub async fn duplicate_join<D: Driver>() -> Scenario {
    let env = Env::default_server().await;
    let (client, _first) = joined::<D>(&env, "echo:dup").await?;
    let second = client.channel("echo:dup", json!({}));
    let result = second.join().await;
    check(
        matches!(result, Err(JoinFailure::Rejected(_))),
        format!("{result:?}"),
    )?;
    client.shutdown().await;
    env.stop().await;
    Ok(Outcome::Passed)
}

/// Prints the outcome and fails the test on `Err`.
pub async fn run(name: &str, driver: &str, scenario: impl std::future::Future<Output = Scenario>) {
    match tokio::time::timeout(Duration::from_secs(60), scenario).await {
        Ok(Ok(Outcome::Passed)) => {}
        Ok(Ok(Outcome::LeftOut(why))) => println!("{driver}/{name}: left out: {why}"),
        Ok(Err(failure)) => panic!("{driver}/{name} failed: {failure}"),
        Err(_) => panic!("{driver}/{name} did not finish within 60 s"),
    }
}

/// Generates one test per scenario for a driver.
#[macro_export]
macro_rules! scenario_tests {
    ($driver:ty; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                $crate::scenarios::run(
                    stringify!($name),
                    <$driver as $crate::Driver>::NAME,
                    $crate::scenarios::$name::<$driver>(),
                )
                .await;
            }
        )*
    };
}

/// The one list of scenarios: `all_scenarios!(MyDriver);` in a driver's test file.
#[macro_export]
macro_rules! all_scenarios {
    ($driver:ty) => {
        $crate::scenario_tests!($driver;
            join_and_echo,
            error_reply,
            push_timeout,
            refused_connect,
            reconnect_and_rejoin_after_drop,
            leave,
            duplicate_join,
        );
    };
}
