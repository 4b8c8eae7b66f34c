//! The callback model: on the calling thread (`run`), on a thread of its
//! own (`Runner::spawn`), and through the shared `Builder::spawn_handler`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll, Wake, Waker};
use std::thread::{self, Thread, ThreadId};
use std::time::{Duration, Instant};

use phoenix_client_blocking::{
    Action, Builder, BuilderExt, ChannelId, Context, Handler, Payload, PushId, PushOutcome, ReplyTo,
};
use phoenix_test_server::{ServerConfig, TestServer};
use phoenix_test_support::handlers::JoinOnCall;
use serde_json::{Value, json};

/// Joins `echo:handler` once connected, pushes `echo` once joined, and
/// stops with the reply. Records the thread every callback ran on.
#[derive(Default)]
struct EchoOnce {
    threads: Vec<ThreadId>,
    infos: Vec<String>,
}

impl EchoOnce {
    fn seen(&mut self) {
        self.threads.push(thread::current().id());
    }
}

impl Handler for EchoOnce {
    type Info = String;
    type Call = ();
    type Reply = usize;

    fn handle_connected(&mut self, ctx: &mut Context<'_>) -> Action {
        self.seen();
        ctx.join("echo:handler", Payload::empty()).unwrap();
        Action::Continue
    }

    fn handle_joined(
        &mut self,
        ctx: &mut Context<'_>,
        channel: ChannelId,
        _topic: Arc<str>,
        _response: Payload<'static>,
        _rejoin: bool,
    ) -> Action {
        self.seen();
        let payload = Payload::json(&json!({"from": "handler"})).unwrap();
        ctx.push(channel, "echo", payload).unwrap();
        Action::Continue
    }

    fn handle_reply(
        &mut self,
        _ctx: &mut Context<'_>,
        _channel: ChannelId,
        _push: PushId,
        outcome: PushOutcome,
    ) -> Action {
        self.seen();
        let reason = match outcome {
            PushOutcome::Reply { response, .. } => {
                format!("reply {}", response.deserialize::<Value>().unwrap())
            }
            other => format!("no reply: {other:?}"),
        };
        Action::Stop { reason }
    }

    fn handle_info(&mut self, _ctx: &mut Context<'_>, info: String) -> Action {
        self.seen();
        self.infos.push(info);
        Action::Continue
    }

    fn handle_call(&mut self, _ctx: &mut Context<'_>, _: (), reply: ReplyTo<usize>) -> Action {
        self.seen();
        reply.send(self.infos.len());
        Action::Continue
    }
}

/// Answers calls; never stops by itself.
#[derive(Default)]
struct Counter {
    calls: usize,
}

impl Handler for Counter {
    type Info = ();
    type Call = ();
    type Reply = usize;

    fn handle_call(&mut self, _ctx: &mut Context<'_>, _: (), reply: ReplyTo<usize>) -> Action {
        self.calls += 1;
        reply.send(self.calls);
        Action::Continue
    }
}

fn server() -> TestServer {
    TestServer::start_blocking(ServerConfig::default()).unwrap()
}

#[test]
fn run_returns_when_the_handler_stops_and_its_handles_learn_it() {
    let server = server();
    let runner = Builder::new(server.socket_url()).runner(EchoOnce::default());
    let handle = runner.handle();
    // Queued before the loop runs; delivered once it does.
    handle.info("early".into()).unwrap();
    let stopped = runner.run();
    assert_eq!(stopped.reason, r#"reply {"from":"handler"}"#);
    assert!(handle.call(()).is_err());
    assert!(handle.info("late".into()).is_err());
}

#[test]
fn every_callback_of_run_happens_on_the_calling_thread() {
    /// Wraps `EchoOnce` to report its threads when it is dropped.
    struct Report(EchoOnce, std::sync::mpsc::Sender<Vec<ThreadId>>);
    impl Handler for Report {
        type Info = String;
        type Call = ();
        type Reply = usize;
        fn handle_connected(&mut self, ctx: &mut Context<'_>) -> Action {
            self.0.handle_connected(ctx)
        }
        fn handle_joined(
            &mut self,
            ctx: &mut Context<'_>,
            channel: ChannelId,
            topic: Arc<str>,
            response: Payload<'static>,
            rejoin: bool,
        ) -> Action {
            self.0.handle_joined(ctx, channel, topic, response, rejoin)
        }
        fn handle_reply(
            &mut self,
            ctx: &mut Context<'_>,
            channel: ChannelId,
            push: PushId,
            outcome: PushOutcome,
        ) -> Action {
            self.0.handle_reply(ctx, channel, push, outcome)
        }
        fn handle_call(
            &mut self,
            ctx: &mut Context<'_>,
            call: (),
            reply: ReplyTo<usize>,
        ) -> Action {
            self.0.handle_call(ctx, call, reply)
        }
    }
    impl Drop for Report {
        fn drop(&mut self) {
            let _ = self.1.send(std::mem::take(&mut self.0.threads));
        }
    }

    let server = server();
    let (tx, rx) = std::sync::mpsc::channel();
    let stopped = Builder::new(server.socket_url()).run(Report(EchoOnce::default(), tx));
    assert!(stopped.reason.starts_with("reply"), "{}", stopped.reason);
    let threads = rx.recv().unwrap();
    assert_eq!(threads.len(), 3, "connected, joined, reply");
    assert!(threads.iter().all(|t| *t == thread::current().id()));
}

#[test]
fn a_handle_on_another_thread_wakes_run_at_once_and_stops_it() {
    let server = server();
    let heartbeat = Duration::from_secs(30);
    let runner = Builder::new(server.socket_url())
        .heartbeat_interval(Some(heartbeat))
        .runner(Counter::default());
    let handle = runner.handle();
    let other = thread::spawn(move || {
        // Let the loop connect and go to sleep until its heartbeat.
        thread::sleep(Duration::from_millis(300));
        let started = Instant::now();
        let answers = (handle.call(()).unwrap(), handle.call(()).unwrap());
        let took = started.elapsed();
        handle.stop();
        (answers, took)
    });
    let stopped = runner.run();
    let (answers, took) = other.join().unwrap();
    assert_eq!(answers, (1, 2));
    assert!(took < heartbeat / 10, "two calls took {took:?}");
    assert_eq!(stopped.reason, "stopped by the application");
}

#[test]
fn spawn_runs_the_handler_on_a_named_thread() {
    let server = server();
    let socket = Builder::new(server.socket_url())
        .runner(EchoOnce::default())
        .spawn()
        .unwrap();
    let stopped = socket.wait();
    assert_eq!(stopped.reason, r#"reply {"from":"handler"}"#);

    let socket = Builder::new(server.socket_url())
        .runner(Counter::default())
        .spawn()
        .unwrap();
    let handle = socket.handle();
    assert_eq!(handle.call(()).unwrap(), 1);
    assert_eq!(socket.call(()).unwrap(), 2);
    assert_eq!(socket.stop().reason, "stopped by the application");
    assert!(handle.call(()).is_err());
}

#[test]
fn dropping_every_handle_of_a_spawned_socket_stops_it() {
    /// Tells which thread it runs on.
    struct WhereAmI;
    impl Handler for WhereAmI {
        type Info = ();
        type Call = ();
        type Reply = Option<String>;
        fn handle_call(
            &mut self,
            _ctx: &mut Context<'_>,
            _: (),
            reply: ReplyTo<Option<String>>,
        ) -> Action {
            reply.send(thread::current().name().map(str::to_owned));
            Action::Continue
        }
    }

    let server = server();
    let socket = Builder::new(server.socket_url())
        .runner(WhereAmI)
        .spawn()
        .unwrap();
    let handle = socket.handle();
    drop(socket);
    assert_eq!(handle.call(()).unwrap().as_deref(), Some("phoenix-socket"));
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.stats().connections_open == 0 {
        assert!(Instant::now() < deadline, "never connected");
        thread::sleep(Duration::from_millis(10));
    }
    drop(handle);
    while server.stats().connections_open > 0 {
        assert!(Instant::now() < deadline, "the socket kept its connection");
        thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn the_shared_spawn_handler_works_on_blocking_threads() {
    let server = server();
    let socket = Builder::new(server.socket_url()).spawn_handler(Counter::default());
    assert_eq!(block_on(socket.call(())).unwrap(), 1);
    let stopped = block_on(socket.stop());
    assert_eq!(stopped.reason, "stopped by the application");
}

/// A minimal executor for the shared async handles.
fn block_on<F: Future>(future: F) -> F::Output {
    struct Unpark(Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let mut future = pin!(future);
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut TaskContext::from_waker(&waker)) {
            return out;
        }
        thread::park();
    }
}

#[test]
fn deferred_replies_are_answered_later_or_fail_when_the_socket_stops() {
    let server = server();
    let runner = Builder::new(server.socket_url()).runner(JoinOnCall::default());
    let (handle, stopper) = (runner.handle(), runner.handle());
    let socket = std::thread::spawn(move || runner.run());
    // Answered from handle_joined, once the server answered the join.
    assert_eq!(
        handle.call("echo:later".to_owned()).unwrap(),
        r#"{"joined":"echo:later"}"#
    );
    // Kept unanswered: the caller waits, then hears the socket is gone.
    let waiter = std::thread::spawn(move || handle.call("never".to_owned()));
    std::thread::sleep(std::time::Duration::from_millis(50));
    assert!(!waiter.is_finished(), "the handler keeps the call");
    stopper.stop();
    assert_eq!(
        waiter.join().unwrap(),
        Err(phoenix_client_blocking::SocketGone)
    );
    assert_eq!(socket.join().unwrap().reason, "stopped by the application");
}
