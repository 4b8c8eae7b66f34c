//! The tokio driver against the embedded test server: the handler model,
//! slow readers, custom connectors, many tasks, and secrets in Debug output.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use phoenix_client_tokio::{
    Action, Builder, ChannelEvent, ChannelId, Client, Connector, Context, Handler, JoinError, Name,
    Payload, PendingJoin, PushId, PushOutcome, ReplyTo,
};
use phoenix_test_server::TestServer;
use phoenix_test_support::handlers::JoinOnCall;
use serde_json::{Value, json};
use tokio::net::TcpStream;

const PROMPT: Duration = Duration::from_secs(5);

/// A handler in the original library's style: joins on connect, pushes on
/// request, and records what happens.
#[derive(Default)]
struct Recorder {
    log: Vec<String>,
    channel: Option<ChannelId>,
    pushes: Vec<PushId>,
}

enum Info {
    Push(Value),
    StopPlease,
}

impl Handler for Recorder {
    type Info = Info;
    type Call = ();
    type Reply = Vec<String>;

    fn handle_connected(&mut self, ctx: &mut Context<'_>) -> Action {
        self.log.push("connected".into());
        if self.channel.is_none() {
            self.channel = ctx.join("echo:handler", Payload::empty()).ok();
        }
        Action::Continue
    }

    fn handle_joined(
        &mut self,
        _ctx: &mut Context<'_>,
        _channel: ChannelId,
        topic: Arc<str>,
        response: Payload<'static>,
        rejoin: bool,
    ) -> Action {
        self.log.push(format!(
            "joined {topic} {} rejoin={rejoin}",
            response.as_json().unwrap_or("")
        ));
        Action::Continue
    }

    fn handle_reply(
        &mut self,
        _ctx: &mut Context<'_>,
        _channel: ChannelId,
        push: PushId,
        outcome: PushOutcome,
    ) -> Action {
        assert!(self.pushes.contains(&push), "a reply for a push we made");
        match outcome {
            PushOutcome::Reply { status, response } => self.log.push(format!(
                "reply {status} {}",
                response.as_json().unwrap_or("")
            )),
            other => self.log.push(format!("outcome {other:?}")),
        }
        Action::Continue
    }

    fn handle_message(
        &mut self,
        _ctx: &mut Context<'_>,
        _channel: ChannelId,
        _topic: Arc<str>,
        event: Name,
        payload: Payload<'static>,
    ) -> Action {
        self.log.push(format!(
            "message {event} {}",
            payload.as_json().unwrap_or("")
        ));
        Action::Continue
    }

    fn handle_info(&mut self, ctx: &mut Context<'_>, info: Info) -> Action {
        match info {
            Info::Push(body) => {
                let channel = self.channel.expect("joined before pushing");
                let push = ctx
                    .push(channel, "echo", Payload::json(&body).unwrap())
                    .unwrap();
                self.pushes.push(push);
                Action::Continue
            }
            Info::StopPlease => Action::Stop {
                reason: "asked to stop".into(),
            },
        }
    }

    fn handle_call(
        &mut self,
        _ctx: &mut Context<'_>,
        _call: (),
        reply: ReplyTo<Vec<String>>,
    ) -> Action {
        reply.send(self.log.clone());
        Action::Continue
    }
}

async fn log_until(
    socket: &phoenix_client_tokio::HandlerSocket<Recorder>,
    wanted: &str,
) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + PROMPT;
    loop {
        let log = socket.call(()).await.unwrap();
        if log.iter().any(|l| l.contains(wanted)) {
            return log;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no {wanted:?} in {log:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn handler_model_joins_pushes_calls_and_stops() {
    let server = TestServer::start().await.unwrap();
    let socket = Builder::new(server.socket_url()).spawn_handler(Recorder::default());
    log_until(&socket, "joined echo:handler").await;
    socket.info(Info::Push(json!({"n": 1}))).await.unwrap();
    let log = log_until(&socket, "reply ok").await;
    assert_eq!(
        log,
        [
            "connected",
            r#"joined echo:handler {"joined":"echo:handler"} rejoin=false"#,
            r#"reply ok {"n":1}"#
        ]
    );
    // A broadcast from the server reaches handle_message.
    server.broadcast("echo:handler", "news", json!({"x": 1}));
    log_until(&socket, "message news").await;
    // A dropped connection: reconnect, then rejoin, by themselves.
    server.drop_all();
    log_until(&socket, "rejoin=true").await;
    socket.info(Info::StopPlease).await.unwrap();
    let stopped = socket.wait().await;
    assert_eq!(stopped.reason, "asked to stop");
    server.wait_for_at_most(0).await;
    server.shutdown().await;
}

#[tokio::test]
async fn a_slow_reader_loses_nothing_and_holds_at_most_its_capacity() {
    let server = TestServer::start().await.unwrap();
    let client = Builder::new(server.socket_url())
        .channel_capacity(4)
        .connect();
    let channel = client.channel("echo:slow", &json!({}));
    let mut events = channel.events().unwrap();
    channel.join().await.unwrap();
    // 200 pushes from the server while nobody reads.
    let reply = tokio::spawn({
        let channel = channel.clone();
        async move {
            channel
                .push::<_, Value>("many", &json!({"n": 200}))
                .await
                .unwrap()
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The reply is stuck behind the unread messages: the socket stopped
    // reading, so nothing piled up in the client.
    assert!(
        !reply.is_finished(),
        "the driver kept reading past a full queue"
    );
    let mut seen = Vec::new();
    while seen.len() < 200 {
        match tokio::time::timeout(PROMPT, events.recv()).await.unwrap() {
            Some(ChannelEvent::Message { event, payload }) if event == "item" => {
                let item: Value = payload.deserialize().unwrap();
                seen.push(item["i"].as_u64().unwrap());
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(seen, (1..=200).collect::<Vec<u64>>(), "in order, none lost");
    assert_eq!(reply.await.unwrap(), json!({}));
    client.shutdown().await;
    server.shutdown().await;
}

#[tokio::test]
async fn channels_nobody_listens_to_do_not_block_the_socket() {
    let server = TestServer::start().await.unwrap();
    let client = Builder::new(server.socket_url())
        .channel_capacity(2)
        .connect();
    let channel = client.channel("echo:deaf", &json!({}));
    channel.join().await.unwrap();
    let reply: Value = channel.push("many", &json!({"n": 100})).await.unwrap();
    assert_eq!(reply, json!({}));
    client.shutdown().await;
    server.shutdown().await;
}

#[tokio::test]
async fn a_custom_connector_opens_the_stream() {
    let server = TestServer::start().await.unwrap();
    let addr = server.addr();
    let used = Arc::new(AtomicUsize::new(0));
    let counter = used.clone();
    // The URL's host does not resolve; only the connector knows where to go.
    let client = Builder::new("ws://phoenix.invalid:1/socket")
        .connector(Connector::new(move |target| {
            counter.fetch_add(1, Ordering::SeqCst);
            assert_eq!(target.host, "phoenix.invalid");
            TcpStream::connect(addr)
        }))
        .connect();
    let channel = client.channel("echo:tunnel", &json!({}));
    assert_eq!(
        channel.join().await.unwrap().as_json(),
        Some(r#"{"joined":"echo:tunnel"}"#)
    );
    assert_eq!(used.load(Ordering::SeqCst), 1);
    client.shutdown().await;
    server.shutdown().await;
}

#[tokio::test]
async fn many_tasks_share_one_client() {
    let server = TestServer::start().await.unwrap();
    let client = Client::connect(server.socket_url());
    let channel = client.channel("echo:many", &json!({}));
    channel.join().await.unwrap();
    let mut tasks = Vec::new();
    for task in 0..8u64 {
        let channel = channel.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..50u64 {
                let reply: Value = channel
                    .push("echo", &json!({"task": task, "i": i}))
                    .await
                    .unwrap();
                assert_eq!(reply, json!({"task": task, "i": i}));
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    client.shutdown().await;
    server.shutdown().await;
}

#[test]
fn secrets_stay_out_of_debug_output() {
    let builder = Builder::new("ws://h/socket")
        .param("token", "hunter2")
        .auth_token("s3cr3t")
        .header("authorization", "Bearer xyz");
    let shown = format!("{builder:?}");
    for secret in ["hunter2", "s3cr3t", "xyz"] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
}

#[test]
fn handles_are_send_sync_and_clone() {
    fn check<T: Send + Sync + Clone + 'static>() {}
    check::<Client>();
    check::<phoenix_client_tokio::Channel>();
    check::<phoenix_client_tokio::HandlerHandle<Recorder>>();
    fn send<T: Send + 'static>() {}
    send::<phoenix_client_tokio::ChannelEvents>();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_commands_does_not_starve_reading() {
    let server = TestServer::start().await.unwrap();
    let client = Builder::new(server.socket_url())
        .timeout(Duration::from_secs(30))
        .connect();
    let channel = client.channel("echo:flood", &json!({}));
    channel.join().await.unwrap();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flooders: Vec<_> = (0..2)
        .map(|_| {
            let channel = channel.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut sent = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    channel
                        .cast("echo", Payload::json(&json!({"n": sent})).unwrap())
                        .await
                        .unwrap();
                    sent += 1;
                }
                sent
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    // While the inbox never runs dry, replies must still be read.
    let started = tokio::time::Instant::now();
    let reply: Value = tokio::time::timeout(PROMPT, channel.push("echo", &json!({"probe": 1})))
        .await
        .expect("the probe's reply was read while commands kept coming")
        .unwrap();
    assert_eq!(reply, json!({"probe": 1}));
    stop.store(true, Ordering::Relaxed);
    let mut total = 0;
    for f in flooders {
        total += f.await.unwrap();
    }
    assert!(total > 100, "the flood was real: {total} casts");
    assert!(started.elapsed() < PROMPT);
    client.shutdown().await;
    server.shutdown().await;
}

#[tokio::test]
async fn dropping_every_handle_leaves_the_channel() {
    let server = TestServer::start().await.unwrap();
    let client = Client::connect(server.socket_url());
    {
        let channel = client.channel("echo:dropped", &json!({}));
        let events = channel.events().unwrap();
        channel.join().await.unwrap();
        drop(channel);
        // The stream alone keeps the channel joined.
        let again = client.channel("echo:dropped", &json!({}));
        assert!(matches!(
            again.join().await,
            Err(phoenix_client_tokio::JoinError::Rejected(_))
        ));
        drop(events);
    }
    // Now the topic is free: the channel was left.
    let deadline = tokio::time::Instant::now() + PROMPT;
    loop {
        let again = client.channel("echo:dropped", &json!({}));
        match again.join().await {
            Ok(_) => break,
            Err(phoenix_client_tokio::JoinError::Rejected(_))
                if tokio::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Err(e) => panic!("the dropped channel was not left: {e}"),
        }
    }
    client.shutdown().await;
    server.shutdown().await;
}

#[tokio::test]
async fn presence_from_the_async_api() {
    use phoenix_client_tokio::presence::Presence;
    let server = TestServer::start().await.unwrap();
    let alice = Builder::new(server.socket_url())
        .param("user_id", "alice")
        .connect();
    let channel = alice.channel("presence:room", &json!({}));
    let mut events = channel.events().unwrap();
    channel.join().await.unwrap();
    let bob = Builder::new(server.socket_url())
        .param("user_id", "bob")
        .connect();
    let bobs = bob.channel("presence:room", &json!({}));
    bobs.join().await.unwrap();
    let mut presence = Presence::new();
    let deadline = tokio::time::Instant::now() + PROMPT;
    while presence.keys().count() < 2 {
        let event = tokio::time::timeout_at(deadline, events.recv())
            .await
            .expect("alice sees bob arrive")
            .unwrap();
        if let ChannelEvent::Message { event, payload } = event {
            presence.handle_message(&event, &payload).unwrap();
        }
    }
    assert_eq!(presence.keys().collect::<Vec<_>>(), ["alice", "bob"]);
    bobs.leave().await.unwrap();
    while presence.keys().count() > 1 {
        let event = tokio::time::timeout_at(deadline, events.recv())
            .await
            .expect("alice sees bob leave")
            .unwrap();
        if let ChannelEvent::Message { event, payload } = event {
            presence.handle_message(&event, &payload).unwrap();
        }
    }
    assert_eq!(presence.keys().collect::<Vec<_>>(), ["alice"]);
    alice.shutdown().await;
    bob.shutdown().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_closes_every_connection_gets_no_tight_loop() {
    let server = Arc::new(TestServer::start().await.unwrap());
    let closer = {
        let server = server.clone();
        tokio::spawn(async move {
            loop {
                let conn = server.next_connection().await;
                server.close_connection(conn.id, 1000, "go away");
            }
        })
    };
    let client = Client::connect(server.socket_url());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let opened = server.stats().connections_opened;
    // The default schedule reaches 1 s after seven quick tries; the
    // official client, which resets its backoff on every open, would have
    // made well over a hundred attempts here.
    assert!(opened <= 12, "{opened} connections in 2 s");
    // It keeps trying (given more time on a loaded machine).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while server.stats().connections_opened < 3 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "it stopped trying after {} connections",
            server.stats().connections_opened
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    closer.abort();
    client.shutdown().await;
}

#[tokio::test]
async fn a_call_answered_later_from_handle_joined() {
    let server = TestServer::start().await.unwrap();
    let socket = Builder::new(server.socket_url()).spawn_handler(JoinOnCall::default());
    let response = tokio::time::timeout(PROMPT, socket.call("echo:later".to_owned()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(response, r#"{"joined":"echo:later"}"#);
    socket.stop().await;
    server.shutdown().await;
}

#[tokio::test]
async fn a_call_never_answered_fails_when_the_socket_stops() {
    let server = TestServer::start().await.unwrap();
    let socket = Builder::new(server.socket_url()).spawn_handler(JoinOnCall::default());
    let handle = socket.handle();
    let call = tokio::spawn(async move { handle.call("never".to_owned()).await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!call.is_finished(), "the handler keeps the call");
    socket.stop().await;
    let result = tokio::time::timeout(PROMPT, call).await.unwrap().unwrap();
    assert_eq!(result, Err(phoenix_client_tokio::SocketGone));
    server.shutdown().await;
}

#[tokio::test]
async fn start_join_hands_every_join_over_before_any_answer() {
    let server = TestServer::start().await.unwrap();
    let client = Builder::new(server.socket_url()).connect();
    let channels: Vec<_> = (0..10)
        .map(|i| client.channel(format!("echo:start{i}"), &json!({})))
        .collect();
    // Started without awaiting: every join is with the socket already.
    let joins: Vec<PendingJoin> = channels.iter().map(|c| c.start_join(None)).collect();
    for (channel, join) in channels.iter().zip(joins) {
        let response: Value = join.await.unwrap().deserialize().unwrap();
        assert_eq!(response, json!({ "joined": channel.topic() }));
    }
    assert!(matches!(
        channels[0].start_join(None).await,
        Err(JoinError::AlreadyJoined)
    ));
    client.shutdown().await;
    let late = client.channel("echo:late", &json!({}));
    assert!(matches!(
        late.start_join(None).await,
        Err(JoinError::SocketGone)
    ));
    server.shutdown().await;
}
