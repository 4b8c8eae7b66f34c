//! The narrated session of `phoenix-client-tokio`'s demo, on async-std (or
//! smol), against a Phoenix server that serves the fixture
//! (tests/transcripts/FIXTURE.md).
//!
//! ```text
//! cargo run -p phoenix-client-async-std --example async_std_demo            # async-std, embedded test server
//! cargo run -p phoenix-client-async-std --example async_std_demo -- --smol  # the same on smol
//! cargo run -p phoenix-client-async-std --example async_std_demo -- --url ws://localhost:4000/socket
//! ```
//!
//! Without `--url` it starts the embedded test server, which runs on a
//! tokio runtime of its own, beside the client's runtime.
#![allow(clippy::print_stdout)]

use std::error::Error;
use std::future::Future;
use std::time::Duration;

use futures_lite::future;
use phoenix_client_async_std::{
    AsyncIo, Backoff, Builder, Channel, ChannelEvent, ChannelEvents, Client, JoinError, Payload,
    Status,
};
use serde_json::{Value, json};

type Result<T> = std::result::Result<T, Box<dyn Error + Send + Sync>>;

fn say(line: impl AsRef<str>) {
    println!("{}", line.as_ref());
}

/// `work`'s output, or an error naming `what` after `secs` seconds.
async fn within<T>(secs: u64, what: &str, work: impl Future<Output = T>) -> Result<T> {
    let late = async {
        async_io::Timer::after(Duration::from_secs(secs)).await;
        Err(format!("no {what} within {secs} s").into())
    };
    future::or(async { Ok(work.await) }, late).await
}

/// The first event that `pick` takes within 5 s (`what` names it).
async fn until<T>(
    events: &mut ChannelEvents,
    what: &str,
    mut pick: impl FnMut(ChannelEvent) -> Option<T>,
) -> Result<T> {
    within(5, what, async {
        while let Some(event) = events.recv().await {
            if let ChannelEvent::Errored(reason) = &event {
                say(format!("   channel errored: {reason:?}"));
            }
            if let Some(found) = pick(event) {
                return Ok(found);
            }
        }
        Err("the channel closed".into())
    })
    .await?
}

/// The payload of the next `wanted` message, shown.
async fn next(events: &mut ChannelEvents, wanted: &str) -> Result<String> {
    until(events, wanted, |event| match event {
        ChannelEvent::Message { event, payload } if event == wanted => {
            Some(match payload.as_bytes() {
                Some(bytes) => format!("bytes {bytes:?}"),
                None => payload.as_json().unwrap_or_default().to_owned(),
            })
        }
        _ => None,
    })
    .await
}

async fn join(channel: &Channel) -> Result<ChannelEvents> {
    let events = channel.events().ok_or("events already taken")?;
    let response = channel.join().await?;
    let response = response.as_json().unwrap_or("<binary>");
    say(format!("   joined {} -> {response}", channel.topic()));
    Ok(events)
}

async fn session(endpoint: &str, runtime: AsyncIo) -> Result<()> {
    let connect = |user: &str| -> Client {
        Builder::with_runtime(endpoint, runtime.clone())
            .param("user_id", user)
            .timeout(Duration::from_secs(5))
            .reconnect(Backoff::from_millis(&[50, 100, 250, 500]))
            .rejoin(Backoff::from_millis(&[100, 500, 1000]))
            .connect()
    };
    say(format!("1. Connecting to {endpoint} as alice"));
    let alice = connect("alice");
    within(5, "connection", alice.connected()).await??;
    say("   connected");

    say("2. Joining echo:demo");
    let room = alice.channel("echo:demo", &json!({}));
    let mut room_events = join(&room).await?;

    say("3. Pushing `echo` and waiting for the reply");
    let reply: Value = room.push("echo", &json!({"hello": "world"})).await?;
    say(format!("   reply: {reply}"));
    if let Err(e) = room
        .push::<_, Value>("error", &json!({"why": "asked"}))
        .await
    {
        say(format!("   `error` event answered as expected: {e}"));
    }

    say("4. Joining auth:demo without the secret token");
    let wrong = alice.channel("auth:demo", &json!({"token": "wrong"}));
    match wrong.join().await {
        Err(JoinError::Refused { response, .. }) => {
            say(format!("   refused: {}", response.as_json().unwrap_or("")));
        }
        other => return Err(format!("expected a refusal, got {other:?}").into()),
    }
    let right = alice.channel("auth:demo", &json!({"token": "secret"}));
    right.join().await?;
    say("   with the right token it joins");

    say("5. Bob joins echo:demo from a second socket; alice broadcasts");
    let bob = connect("bob");
    let bobs_room = bob.channel("echo:demo", &json!({}));
    let mut bob_events = join(&bobs_room).await?;
    let _: Value = room.push("broadcast", &json!({"from": "alice"})).await?;
    let heard = next(&mut bob_events, "broadcasted").await?;
    say(format!("   bob received `broadcasted`: {heard}"));

    say("6. Asking the server to push to alice only");
    // `push_me` is never answered: cast it instead of waiting for a reply.
    room.cast("push_me", Payload::json(&json!({"just": "you"}))?)
        .await?;
    let pushed = next(&mut room_events, "pushed").await?;
    say(format!("   server push `pushed`: {pushed}"));

    say("7. Binary frames");
    let reply = room.push_binary("binary", vec![1u8, 2, 3, 4]).await?;
    let size = reply.response.as_json().unwrap_or("<binary>");
    say(format!("   pushed 4 bytes, reply {}: {size}", reply.status));
    room.push_raw("push_binary", Payload::empty()).await?;
    let bytes = next(&mut room_events, "pushed_binary").await?;
    say(format!("   binary server push: {bytes}"));

    say("8. The server drops alice's connection (disconnect_me)");
    let mut status = alice.status();
    room.cast("disconnect_me", Payload::empty()).await?;
    let lost = status.wait_for(|s| matches!(s, Status::Disconnected { .. }));
    if let Status::Disconnected {
        reason,
        reconnect_in,
    } = within(5, "disconnect", lost).await??
    {
        say(format!(
            "   disconnected: {reason}; reconnecting in {reconnect_in:?}"
        ));
    }

    say("9. Reconnect and rejoin happen by themselves");
    within(10, "reconnect", alice.connected()).await??;
    say("   reconnected");
    until(&mut room_events, "rejoin", |event| {
        matches!(event, ChannelEvent::Rejoined { .. }).then_some(())
    })
    .await?;
    say("   echo:demo rejoined");
    let reply: Value = room.push("echo", &json!({"after": "reconnect"})).await?;
    say(format!("   echo after the reconnect: {reply}"));

    say("10. Leaving and shutting down");
    room.leave().await?;
    bobs_room.leave().await?;
    future::zip(alice.shutdown(), bob.shutdown()).await;
    say("Done: every step worked.");
    Ok(())
}

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let (mut url, mut on_smol) = (None, false);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--url" => url = Some(args.next().ok_or("--url needs a value")?),
            "--smol" => on_smol = true,
            "-h" | "--help" => {
                say("usage: demo [--url ws://host:port/socket] [--smol]");
                return Ok(());
            }
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let server = match url {
        Some(_) => None,
        None => {
            let server = phoenix_test_server::TestServer::start_blocking(Default::default())?;
            say(format!(
                "No --url given: started the embedded test server at {}",
                server.socket_url()
            ));
            Some(server)
        }
    };
    let endpoint = url
        .or_else(|| server.as_ref().map(|s| s.socket_url()))
        .ok_or("no endpoint")?;
    let result = if on_smol {
        say("Running on smol, sockets spawned on smol's executor");
        let runtime = AsyncIo::with_spawner(|task| smol::spawn(task).detach());
        smol::block_on(session(&endpoint, runtime))
    } else {
        say("Running on async-std, sockets on its global executor");
        async_std::task::block_on(session(&endpoint, AsyncIo::default()))
    };
    drop(server);
    if let Err(e) = &result {
        say(format!("FAILED: {e}"));
    }
    result
}
