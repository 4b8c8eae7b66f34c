//! The project's main job on plain threads: a narrated session against a
//! Phoenix server that serves the fixture (tests/transcripts/FIXTURE.md).
//! No async runtime in the client; every socket runs on the one
//! `phoenix-socket` reactor thread, and every call below blocks the main
//! thread until its answer.
//!
//! ```text
//! cargo run -p phoenix-client-blocking --example blocking_demo                 # embedded test server
//! cargo run -p phoenix-client-blocking --example blocking_demo -- --url ws://localhost:4000/socket
//! ```
#![allow(clippy::print_stdout)]

use std::error::Error;
use std::time::{Duration, Instant};

use phoenix_client_blocking::{
    Backoff, Channel, ChannelEvent, ChannelEvents, Client, JoinError, Payload, Status,
};
use serde_json::{Value, json};

type Result<T> = std::result::Result<T, Box<dyn Error + Send + Sync>>;

fn say(line: impl AsRef<str>) {
    println!("{}", line.as_ref());
}

/// The next `wanted` message within 5 s, skipping other events.
fn next_message(events: &mut ChannelEvents, wanted: &str) -> Result<Value> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let event = events
            .recv_timeout(left)
            .map_err(|e| format!("no `{wanted}` within 5 s ({e})"))?;
        if let ChannelEvent::Message { event, payload } = event {
            if event == wanted {
                return match payload.as_bytes() {
                    Some(bytes) => Ok(json!({ "bytes": bytes })),
                    None => Ok(payload.deserialize()?),
                };
            }
        }
    }
}

fn wait_for_rejoin(events: &mut ChannelEvents) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match events
            .recv_timeout(left)
            .map_err(|e| format!("no rejoin within 10 s ({e})"))?
        {
            ChannelEvent::Errored(reason) => say(format!("   channel errored: {reason:?}")),
            ChannelEvent::Rejoined { .. } => return Ok(()),
            _ => {}
        }
    }
}

fn client(endpoint: &str, user: &str) -> Client {
    Client::from(
        Client::builder(endpoint)
            .param("user_id", user)
            .timeout(Duration::from_secs(5))
            .reconnect(Backoff::from_millis(&[50, 100, 250, 500]))
            .rejoin(Backoff::from_millis(&[100, 500, 1000]))
            .connect(),
    )
}

fn join(channel: &Channel) -> Result<ChannelEvents> {
    let events = channel.events().ok_or("events already taken")?;
    let response = channel.join()?;
    say(format!(
        "   joined {} -> {}",
        channel.topic(),
        response.as_json().unwrap_or("<binary>")
    ));
    Ok(events)
}

fn session(endpoint: &str) -> Result<()> {
    say(format!("1. Connecting to {endpoint} as alice"));
    let alice = client(endpoint, "alice");
    if !alice.connected_timeout(Duration::from_secs(5))? {
        return Err("could not connect within 5 s".into());
    }
    say("   connected (the sockets run on the `phoenix-socket` reactor thread)");

    say("2. Joining echo:demo");
    let room = alice.channel("echo:demo", &json!({}));
    let mut room_events = join(&room)?;

    say("3. Pushing `echo` and waiting for the reply");
    let reply: Value = room.push("echo", &json!({"hello": "world"}))?;
    say(format!("   reply: {reply}"));
    match room.push::<_, Value>("error", &json!({"why": "asked for it"})) {
        Err(e) => say(format!("   `error` event answered as expected: {e}")),
        Ok(v) => return Err(format!("expected an error reply, got {v}").into()),
    }

    say("4. Joining auth:demo without the secret token");
    match alice
        .channel("auth:demo", &json!({"token": "wrong"}))
        .join()
    {
        Err(JoinError::Refused { response, .. }) => say(format!(
            "   refused: {}",
            response.as_json().unwrap_or("<binary>")
        )),
        other => return Err(format!("expected a refusal, got {other:?}").into()),
    }
    let _ = alice
        .channel("auth:demo", &json!({"token": "secret"}))
        .join()?;
    say("   with the right token it joins");

    say("5. Bob joins echo:demo from a second socket; alice broadcasts");
    let bob = client(endpoint, "bob");
    let bobs_room = bob.channel("echo:demo", &json!({}));
    let mut bob_events = join(&bobs_room)?;
    let _: Value = room.push("broadcast", &json!({"from": "alice"}))?;
    say(format!(
        "   bob received `broadcasted`: {}",
        next_message(&mut bob_events, "broadcasted")?
    ));
    say(format!(
        "   alice received her own broadcast too: {}",
        next_message(&mut room_events, "broadcasted")?
    ));

    say("6. Asking the server to push to alice only");
    // `push_me` is never answered: cast it instead of waiting for a reply.
    room.cast("push_me", Payload::json(&json!({"just": "you"}))?)?;
    say(format!(
        "   server push `pushed`: {}",
        next_message(&mut room_events, "pushed")?
    ));

    say("7. Binary frames");
    let reply = room.push_binary("binary", vec![1u8, 2, 3, 4])?;
    say(format!(
        "   pushed 4 bytes, reply {}: {}",
        reply.status,
        reply.response.as_json().unwrap_or("<binary>")
    ));
    let reply = room.push_raw("binary", Payload::empty())?;
    say(format!(
        "   asked for bytes, got {:?}",
        reply.response.as_bytes().unwrap_or_default()
    ));
    let _ = room.push_raw("push_binary", Payload::empty())?;
    say(format!(
        "   binary server push: {}",
        next_message(&mut room_events, "pushed_binary")?
    ));

    say("8. The server drops alice's connection (disconnect_me)");
    let mut status = alice.status();
    room.cast("disconnect_me", Payload::empty())?;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Status::Disconnected {
            reason,
            reconnect_in,
        } = status.current()
        {
            say(format!(
                "   disconnected: {reason}; reconnecting in {reconnect_in:?}"
            ));
            break;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if !status.changed_blocking(left)? {
            return Err("no disconnect within 5 s".into());
        }
    }

    say("9. Reconnect and rejoin happen by themselves");
    if !alice.connected_timeout(Duration::from_secs(10))? {
        return Err("no reconnect within 10 s".into());
    }
    say("   reconnected");
    wait_for_rejoin(&mut room_events)?;
    say("   echo:demo rejoined");
    let reply: Value = room.push("echo", &json!({"after": "reconnect"}))?;
    say(format!("   echo after the reconnect: {reply}"));

    say("10. Leaving and shutting down");
    room.leave()?;
    bobs_room.leave()?;
    alice.shutdown();
    bob.shutdown();
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

fn main() -> Result<()> {
    let url = url_argument()?;
    // The embedded server is tokio-based; it runs its own runtime on its
    // own threads, apart from the client.
    let server = match &url {
        Some(_) => None,
        None => {
            let config = phoenix_test_server::ServerConfig::default();
            let server = phoenix_test_server::TestServer::start_blocking(config)?;
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
    let result = session(&endpoint);
    // Dropping the server stops it and its runtime.
    drop(server);
    if let Err(e) = &result {
        say(format!("FAILED: {e}"));
    }
    result
}
