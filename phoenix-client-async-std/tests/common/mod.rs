//! The driver's tests, written once without any runtime's API (async-io
//! timers, futures-lite) and run by `tests/async_std.rs` under
//! `async_std::task::block_on` and by `tests/smol.rs` under
//! `smol::block_on` with sockets spawned on smol's executor.
//!
//! Each test file expands [`every_scenario!`] once, so neither runtime can
//! miss a scenario. The embedded test server runs on a tokio runtime of its
//! own (`TestServer::start_blocking`), apart from the client's runtime.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    dead_code,
    unreachable_pub
)]

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_lite::future;
use phoenix_client_async_std::{
    Action, AsyncIo, Backoff, Builder, Channel, ChannelEvent, ChannelEvents, ChannelId, Client,
    Connector, Context, Handler, HandlerHandle, HandlerSocket, JoinError, Name, Payload,
    PushOutcome, ReplyTo, Status, StatusWatch,
};
use phoenix_test_server::{ServerConfig, TestServer};
use phoenix_test_support::handlers::JoinOnCall;
use serde_json::{Value, json};

/// How long anything that should happen promptly may take.
pub const PROMPT: Duration = Duration::from_secs(5);

/// Runs every scenario below as a `#[test]`: `$block_on` runs it, and
/// `$runtime` is the [`AsyncIo`] its sockets use.
#[macro_export]
macro_rules! every_scenario {
    ($block_on:path, $runtime:expr) => {
        $crate::every_scenario!(@each $block_on, $runtime;
            join_push_and_reply,
            server_push_and_broadcast,
            reconnect_and_rejoin_after_the_server_drops_the_connection,
            handler_model_joins_pushes_calls_and_stops,
            a_connector_opens_the_stream,
            shutdown_closes_the_connection,
            native_tls_is_refused_with_a_clear_message,
            deferred_replies_are_answered_later_or_fail_on_stop,
        );
    };
    (@each $block_on:path, $runtime:expr; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                let server = $crate::common::start_server();
                $block_on($crate::common::$name(&server, $runtime));
                drop(server);
            }
        )*
    };
}

/// The embedded test server, on its own tokio runtime.
pub fn start_server() -> TestServer {
    TestServer::start_blocking(ServerConfig::default()).expect("the test server starts")
}

/// `future`'s output, or a panic naming `what` after [`PROMPT`].
pub async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    future::or(async { Some(future.await) }, async {
        async_io::Timer::after(PROMPT).await;
        None
    })
    .await
    .unwrap_or_else(|| panic!("no {what} within {PROMPT:?}"))
}

fn builder(server: &TestServer, runtime: AsyncIo) -> Builder {
    Builder::with_runtime(server.socket_url(), runtime)
        .timeout(PROMPT)
        .reconnect(Backoff::from_millis(&[20, 50, 100]))
        .rejoin(Backoff::from_millis(&[50, 100]))
}

async fn joined(channel: &Channel) -> ChannelEvents {
    let events = channel.events().unwrap();
    within("join", channel.join()).await.unwrap();
    events
}

/// The next message `wanted` on `events`, skipping anything else.
async fn message(events: &mut ChannelEvents, wanted: &str) -> Payload<'static> {
    within(wanted, async {
        loop {
            match events.recv().await {
                Some(ChannelEvent::Message { event, payload }) if event == wanted => {
                    return payload;
                }
                Some(_) => {}
                None => panic!("the channel's events ended before {wanted}"),
            }
        }
    })
    .await
}

async fn status_until(status: &mut StatusWatch, what: &str, wanted: impl Fn(&Status) -> bool) {
    within(what, status.wait_for(wanted)).await.unwrap();
}

pub async fn join_push_and_reply(server: &TestServer, runtime: AsyncIo) {
    let client = builder(server, runtime).connect();
    let room = client.channel("echo:basics", &json!({}));
    let response = within("join", room.join()).await.unwrap();
    assert_eq!(response.as_json(), Some(r#"{"joined":"echo:basics"}"#));
    let reply: Value = within("reply", room.push("echo", &json!({"n": 1})))
        .await
        .unwrap();
    assert_eq!(reply, json!({"n": 1}));
    let error = within("error reply", room.push::<_, Value>("error", &json!({})))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("error"), "{error}");
    let refused = client.channel("auth:basics", &json!({"token": "wrong"}));
    match within("refusal", refused.join()).await {
        Err(JoinError::Refused { response, .. }) => {
            assert_eq!(response.as_json(), Some(r#"{"reason":"unauthorized"}"#));
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    within("leave", room.leave()).await.unwrap();
    within("shutdown", client.shutdown()).await;
}

pub async fn server_push_and_broadcast(server: &TestServer, runtime: AsyncIo) {
    let (alice, bob) = (
        builder(server, runtime.clone()).connect(),
        builder(server, runtime).connect(),
    );
    let alices = alice.channel("echo:news", &json!({}));
    let bobs = bob.channel("echo:news", &json!({}));
    let (mut alice_events, mut bob_events) = (joined(&alices).await, joined(&bobs).await);

    alices
        .cast("push_me", Payload::json(&json!({"to": "alice"})).unwrap())
        .await
        .unwrap();
    let pushed = message(&mut alice_events, "pushed").await;
    assert_eq!(pushed.as_json(), Some(r#"{"to":"alice"}"#));

    let _: Value = within(
        "broadcast",
        alices.push("broadcast", &json!({"from": "alice"})),
    )
    .await
    .unwrap();
    let heard = message(&mut bob_events, "broadcasted").await;
    assert_eq!(heard.as_json(), Some(r#"{"from":"alice"}"#));

    server.broadcast("echo:news", "bulletin", json!({"n": 2}));
    let bulletin = message(&mut bob_events, "bulletin").await;
    assert_eq!(bulletin.as_json(), Some(r#"{"n":2}"#));

    within(
        "push_binary",
        alices.push_raw("push_binary", Payload::empty()),
    )
    .await
    .unwrap();
    let bytes = message(&mut alice_events, "pushed_binary").await;
    assert_eq!(bytes.as_bytes(), Some(&[4u8, 5, 6][..]));

    within("shutdowns", future::zip(alice.shutdown(), bob.shutdown())).await;
}

pub async fn reconnect_and_rejoin_after_the_server_drops_the_connection(
    server: &TestServer,
    runtime: AsyncIo,
) {
    let client = builder(server, runtime).connect();
    let room = client.channel("echo:again", &json!({}));
    let mut events = joined(&room).await;
    let mut status = client.status();
    status_until(&mut status, "connection", |s| *s == Status::Connected).await;

    assert_eq!(server.drop_all(), 1);
    status_until(&mut status, "disconnect", |s| {
        matches!(s, Status::Disconnected { .. })
    })
    .await;
    within("reconnect", client.connected()).await.unwrap();
    within("rejoin", async {
        loop {
            match events.recv().await {
                Some(ChannelEvent::Rejoined { .. }) => return,
                Some(_) => {}
                None => panic!("the channel's events ended"),
            }
        }
    })
    .await;
    let reply: Value = within("reply", room.push("echo", &json!({"after": "drop"})))
        .await
        .unwrap();
    assert_eq!(reply, json!({"after": "drop"}));
    assert_eq!(server.stats().connections_opened, 2);
    within("shutdown", client.shutdown()).await;
}

/// A handler in the original library's style: joins on connect, pushes
/// on request, and keeps a log that a call returns.
#[derive(Default)]
pub struct Recorder {
    channel: Option<ChannelId>,
    log: Vec<String>,
}

pub enum Order {
    Echo(Value),
    Stop,
}

impl Handler for Recorder {
    type Info = Order;
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
        _: &mut Context<'_>,
        _: ChannelId,
        topic: Arc<str>,
        _: Payload<'static>,
        rejoin: bool,
    ) -> Action {
        self.log.push(format!("joined {topic} rejoin={rejoin}"));
        Action::Continue
    }

    fn handle_message(
        &mut self,
        _: &mut Context<'_>,
        _: ChannelId,
        _: Arc<str>,
        event: Name,
        payload: Payload<'static>,
    ) -> Action {
        let body = payload.as_json().unwrap_or("<binary>");
        self.log.push(format!("message {event} {body}"));
        Action::Continue
    }

    fn handle_reply(
        &mut self,
        _: &mut Context<'_>,
        _: ChannelId,
        _: phoenix_client_async_std::PushId,
        outcome: PushOutcome,
    ) -> Action {
        if let PushOutcome::Reply { status, response } = outcome {
            let body = response.as_json().unwrap_or("<binary>");
            self.log.push(format!("reply {status} {body}"));
        }
        Action::Continue
    }

    fn handle_info(&mut self, ctx: &mut Context<'_>, order: Order) -> Action {
        match order {
            Order::Echo(body) => {
                let channel = self.channel.expect("joined before the order");
                ctx.push(channel, "echo", Payload::json(&body).unwrap())
                    .unwrap();
                Action::Continue
            }
            Order::Stop => Action::Stop {
                reason: "told to stop".into(),
            },
        }
    }

    fn handle_call(&mut self, _: &mut Context<'_>, _: (), reply: ReplyTo<Vec<String>>) -> Action {
        reply.send(self.log.clone());
        Action::Continue
    }
}

/// The handler's log once a line contains `wanted`.
async fn log_until(socket: &HandlerSocket<Recorder>, wanted: &str) -> Vec<String> {
    within(wanted, async {
        loop {
            let log = socket.call(()).await.unwrap();
            if log.iter().any(|line| line.contains(wanted)) {
                return log;
            }
            async_io::Timer::after(Duration::from_millis(10)).await;
        }
    })
    .await
}

pub async fn handler_model_joins_pushes_calls_and_stops(server: &TestServer, runtime: AsyncIo) {
    let socket = builder(server, runtime).spawn_handler(Recorder::default());
    log_until(&socket, "joined echo:handler").await;
    socket.info(Order::Echo(json!({"n": 1}))).await.unwrap();
    let log = log_until(&socket, "reply ok").await;
    assert_eq!(
        log,
        [
            "connected",
            "joined echo:handler rejoin=false",
            r#"reply ok {"n":1}"#
        ]
    );
    server.broadcast("echo:handler", "news", json!({"x": 1}));
    log_until(&socket, r#"message news {"x":1}"#).await;
    // Reconnect and rejoin happen by themselves.
    server.drop_all();
    log_until(&socket, "rejoin=true").await;
    // A handle from another thread talks to the same handler.
    let handle = socket.handle();
    let from_a_thread = std::thread::spawn(move || {
        future::block_on(handle.info(Order::Echo(json!({"n": 2})))).unwrap();
    });
    from_a_thread.join().unwrap();
    log_until(&socket, r#"reply ok {"n":2}"#).await;
    socket.info(Order::Stop).await.unwrap();
    let stopped = within("stop", socket.wait()).await;
    assert_eq!(stopped.reason, "told to stop");
}

pub async fn a_connector_opens_the_stream(server: &TestServer, runtime: AsyncIo) {
    let addr = server.addr();
    // The URL's host does not resolve; only the connector knows where to go.
    let client = Builder::with_runtime("ws://phoenix.invalid:1/socket", runtime)
        .connector(Connector::new(move |target| {
            assert_eq!(target.host, "phoenix.invalid");
            async_net::TcpStream::connect(addr)
        }))
        .connect();
    let channel = client.channel("echo:tunnel", &json!({}));
    let response = within("join", channel.join()).await.unwrap();
    assert_eq!(response.as_json(), Some(r#"{"joined":"echo:tunnel"}"#));
    within("shutdown", client.shutdown()).await;
}

pub async fn shutdown_closes_the_connection(server: &TestServer, runtime: AsyncIo) {
    let client = builder(server, runtime).connect();
    within("connection", client.connected()).await.unwrap();
    assert_eq!(server.stats().connections_open, 1);
    within("shutdown", client.shutdown()).await;
    within("the server to see the close", server.wait_for_at_most(0)).await;
    assert_eq!(client.status().current(), Status::Stopped);
}

pub async fn native_tls_is_refused_with_a_clear_message(server: &TestServer, runtime: AsyncIo) {
    let url = server.socket_url().replacen("ws:", "wss:", 1);
    let client = Builder::with_runtime(url, runtime)
        .native_tls()
        .reconnect(Backoff::never())
        .connect();
    let mut status = client.status();
    let seen = within(
        "the failure",
        status.wait_for(|s| !matches!(s, Status::Connecting)),
    )
    .await
    .unwrap();
    match seen {
        Status::Disconnected { reason, .. } => {
            assert!(reason.to_string().contains("native TLS"), "{reason}");
        }
        other => panic!("expected a failed connect, got {other:?}"),
    }
    within("shutdown", client.shutdown()).await;
}

/// Compile-time checks: the handles cross threads and tasks.
pub fn handles_are_send_sync_and_clone() {
    fn shared<T: Send + Sync + Clone + 'static>() {}
    shared::<Client>();
    shared::<Channel>();
    shared::<StatusWatch>();
    shared::<HandlerHandle<Recorder>>();
    shared::<AsyncIo>();
    fn sendable<T: Send + 'static>() {}
    sendable::<ChannelEvents>();
    sendable::<HandlerSocket<Recorder>>();
    sendable::<Builder>();
}

pub async fn deferred_replies_are_answered_later_or_fail_on_stop(
    server: &TestServer,
    runtime: AsyncIo,
) {
    let socket = builder(server, runtime).spawn_handler(JoinOnCall::default());
    let answered = within("the deferred reply", socket.call("echo:later".to_owned())).await;
    assert_eq!(answered.unwrap(), r#"{"joined":"echo:later"}"#);
    let handle = socket.handle();
    let kept = handle.call("never".to_owned());
    let stop = async {
        async_io::Timer::after(Duration::from_millis(50)).await;
        socket.stop().await
    };
    let (kept, stopped) = within("the stop", future::zip(kept, stop)).await;
    assert_eq!(kept, Err(phoenix_client_async_std::SocketGone));
    assert_eq!(stopped.reason, "stopped by the application");
}
