//! The project's main job: a narrated session against a Phoenix server that
//! serves the fixture (tests/transcripts/FIXTURE.md).
//!
//! ```text
//! cargo run -p phoenix-client-tokio --example demo                 # embedded test server
//! cargo run -p phoenix-client-tokio --example demo -- --url ws://localhost:4000/socket
//! ```
#![allow(clippy::print_stdout)]

use std::error::Error;
use std::time::Duration;

use phoenix_client_tokio::{
    Backoff, Channel, ChannelEvent, ChannelEvents, Client, JoinError, Status,
};
use serde_json::{Value, json};

type Result<T> = std::result::Result<T, Box<dyn Error + Send + Sync>>;

fn say(line: impl AsRef<str>) {
    println!("{}", line.as_ref());
}

async fn next_message(events: &mut ChannelEvents, wanted: &str) -> Result<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let event = tokio::time::timeout_at(deadline, events.recv())
            .await
            .map_err(|_| format!("no `{wanted}` within 5 s"))?
            .ok_or("the channel closed")?;
        match event {
            ChannelEvent::Message { event, payload } if event == wanted => {
                return match payload.as_bytes() {
                    Some(bytes) => Ok(json!({ "bytes": bytes })),
                    None => Ok(payload.deserialize()?),
                };
            }
            _ => {}
        }
    }
}

async fn wait_for_rejoin(events: &mut ChannelEvents) -> Result<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let event = tokio::time::timeout_at(deadline, events.recv())
            .await
            .map_err(|_| "no rejoin within 10 s")?
            .ok_or("the channel closed")?;
        match event {
            ChannelEvent::Errored(reason) => say(format!("   channel errored: {reason:?}")),
            ChannelEvent::Rejoined { .. } => return Ok(()),
            _ => {}
        }
    }
}

fn client(endpoint: &str, user: &str) -> Client {
    Client::builder(endpoint)
        .param("user_id", user)
        .timeout(Duration::from_secs(5))
        .reconnect(Backoff::from_millis(&[50, 100, 250, 500]))
        .rejoin(Backoff::from_millis(&[100, 500, 1000]))
        .connect()
}

async fn join(channel: &Channel) -> Result<ChannelEvents> {
    let events = channel.events().ok_or("events already taken")?;
    let response = channel.join().await?;
    say(format!(
        "   joined {} -> {}",
        channel.topic(),
        response.as_json().unwrap_or("<binary>")
    ));
    Ok(events)
}

async fn session(endpoint: &str) -> Result<()> {
    say(format!("1. Connecting to {endpoint} as alice"));
    let alice = client(endpoint, "alice");
    tokio::time::timeout(Duration::from_secs(5), alice.connected())
        .await
        .map_err(|_| "could not connect within 5 s")??;
    say("   connected");

    say("2. Joining echo:demo");
    let room = alice.channel("echo:demo", &json!({}));
    let mut room_events = join(&room).await?;

    say("3. Pushing `echo` and waiting for the reply");
    let reply: Value = room.push("echo", &json!({"hello": "world"})).await?;
    say(format!("   reply: {reply}"));
    match room
        .push::<_, Value>("error", &json!({"why": "asked for it"}))
        .await
    {
        Err(e) => say(format!("   `error` event answered as expected: {e}")),
        Ok(v) => return Err(format!("expected an error reply, got {v}").into()),
    }

    say("4. Joining auth:demo without the secret token");
    match alice
        .channel("auth:demo", &json!({"token": "wrong"}))
        .join()
        .await
    {
        Err(JoinError::Refused { response, .. }) => say(format!(
            "   refused: {}",
            response.as_json().unwrap_or("<binary>")
        )),
        other => return Err(format!("expected a refusal, got {other:?}").into()),
    }
    let _ = alice
        .channel("auth:demo", &json!({"token": "secret"}))
        .join()
        .await?;
    say("   with the right token it joins");

    say("5. Bob joins echo:demo from a second socket; alice broadcasts");
    let bob = client(endpoint, "bob");
    let bobs_room = bob.channel("echo:demo", &json!({}));
    let mut bob_events = join(&bobs_room).await?;
    let _: Value = room.push("broadcast", &json!({"from": "alice"})).await?;
    say(format!(
        "   bob received `broadcasted`: {}",
        next_message(&mut bob_events, "broadcasted").await?
    ));
    say(format!(
        "   alice received her own broadcast too: {}",
        next_message(&mut room_events, "broadcasted").await?
    ));

    say("6. Asking the server to push to alice only");
    // `push_me` is never answered: cast it instead of waiting for a reply.
    room.cast(
        "push_me",
        phoenix_client_tokio::Payload::json(&json!({"just": "you"}))?,
    )
    .await?;
    say(format!(
        "   server push `pushed`: {}",
        next_message(&mut room_events, "pushed").await?
    ));

    say("7. Binary frames");
    let reply = room.push_binary("binary", vec![1u8, 2, 3, 4]).await?;
    say(format!(
        "   pushed 4 bytes, reply {}: {}",
        reply.status,
        reply.response.as_json().unwrap_or("<binary>")
    ));
    let reply = room
        .push_raw("binary", phoenix_client_tokio::Payload::empty())
        .await?;
    say(format!(
        "   asked for bytes, got {:?}",
        reply.response.as_bytes().unwrap_or_default()
    ));
    let _ = room
        .push_raw("push_binary", phoenix_client_tokio::Payload::empty())
        .await?;
    say(format!(
        "   binary server push: {}",
        next_message(&mut room_events, "pushed_binary").await?
    ));

    say("8. The server drops alice's connection (disconnect_me)");
    let mut status = alice.status();
    room.cast("disconnect_me", phoenix_client_tokio::Payload::empty())
        .await?;
    loop {
        if let Status::Disconnected {
            reason,
            reconnect_in,
        } = &*status.borrow_and_update()
        {
            say(format!(
                "   disconnected: {reason}; reconnecting in {reconnect_in:?}"
            ));
            break;
        }
        status.changed().await?;
    }

    say("9. Reconnect and rejoin happen by themselves");
    tokio::time::timeout(Duration::from_secs(10), alice.connected())
        .await
        .map_err(|_| "no reconnect within 10 s")??;
    say("   reconnected");
    wait_for_rejoin(&mut room_events).await?;
    say("   echo:demo rejoined");
    let reply: Value = room.push("echo", &json!({"after": "reconnect"})).await?;
    say(format!("   echo after the reconnect: {reply}"));

    say("10. Leaving and shutting down");
    room.leave().await?;
    bobs_room.leave().await?;
    alice.shutdown().await;
    bob.shutdown().await;
    say("Done: every step worked.");
    Ok(())
}

fn url_argument() -> Result<Option<String>> {
    let mut args = std::env::args().skip(1);
    let mut url = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--url" => url = Some(args.next().ok_or("--url needs a value")?),
            "-h" | "--help" => {
                say("usage: demo [--url ws://host:port/socket]");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    Ok(url)
}

#[tokio::main]
async fn main() -> Result<()> {
    let url = url_argument()?;
    let server = match &url {
        Some(_) => None,
        None => {
            let server = phoenix_test_server::TestServer::start().await?;
            say(format!(
                "No --url given: started the embedded test server at {}",
                server.socket_url()
            ));
            Some(server)
        }
    };
    let endpoint = url
        .clone()
        .or_else(|| server.as_ref().map(|s| s.socket_url()))
        .ok_or("no endpoint")?;
    let result = session(&endpoint).await;
    if let Some(server) = server {
        server.shutdown().await;
    }
    if let Err(e) = &result {
        say(format!("FAILED: {e}"));
    }
    result
}
