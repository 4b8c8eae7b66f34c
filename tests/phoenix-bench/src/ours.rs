//! Our client's workloads, written once for every driver: the async API
//! over `phoenix_proto::api` (generic over the runtime `R` the sockets run
//! on, which is all that differs between `phoenix_client_tokio::Client`
//! and `phoenix_client_async_std::Client`), and the callback model, one
//! [`BenchHandler`] that any driver's `spawn_handler` runs.
//!
//! Each workload connects and joins first, then measures only its own
//! part (see [`phoenix_bench_probe`]).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures_channel::oneshot;
use futures_util::future::join_all;
use futures_util::{StreamExt, stream};
use phoenix_bench_probe::{
    Args, BODY, ECHO_EVENT, Error, FloodCheck, Hold, ITEM_EVENT, Latency, MANY_EVENT, Meter,
    Report, TOPIC, Workload, idle_topic, rss_kib,
};
use phoenix_proto::api::{
    Builder, Channel, ChannelEvent, ChannelEvents, Client, HandlerSocket, Launch, SocketEvent,
    SocketEvents, Status,
};
use phoenix_proto::client::handler::{Action, Context, Handler};
use phoenix_proto::client::{
    ChannelCloseReason, ChannelErrorReason, ChannelId, DisconnectReason, Name, PushId, PushOutcome,
};
use phoenix_proto::codec::Payload;

/// A runtime's `sleep`, boxed, for the idle workload's settling time.
pub type Sleep = fn(Duration) -> Pin<Box<dyn Future<Output = ()> + Send>>;

/// A builder for `url` with the heartbeat interval of `hold`, if any
/// (otherwise the default, 30 s).
pub fn builder<R: Launch + Default>(url: &str, hold: Option<Hold>) -> Builder<R> {
    let builder = Builder::<R>::new(url);
    match hold {
        Some(hold) => builder.heartbeat_interval(Some(hold.heartbeat)),
        None => builder,
    }
}

/// The join parameters of every channel: `{}`.
fn no_params() -> serde_json::Map<String, serde_json::Value> {
    serde_json::Map::new()
}

/// [`async_api`] as a future that owns its arguments, for the modes that
/// spawn the workload as a task of its own (`--mode async-spawned` and the
/// like).
pub fn owned_async_api<R: Launch + Default>(
    args: &Args,
    sleep: Sleep,
) -> impl Future<Output = Result<Report, Error>> + Send + 'static {
    let args = args.clone();
    async move { async_api::<R>(&args, sleep).await }
}

/// Runs `args.workload` with the async API on runtime `R`.
///
/// # Errors
/// A failed join or push, or a channel that closed.
pub async fn async_api<R: Launch + Default>(args: &Args, sleep: Sleep) -> Result<Report, Error> {
    let workload = &args.workload;
    match *workload {
        Workload::Seq { count, warmup } => {
            let (_client, channel, _events) = joined::<R>(&args.url, TOPIC).await?;
            for _ in 0..warmup {
                echo(&channel).await?;
            }
            let mut latencies = Vec::with_capacity(usize::try_from(count)?);
            let meter = Meter::start()?;
            for _ in 0..count {
                let sent = Instant::now();
                echo(&channel).await?;
                latencies.push(sent.elapsed());
            }
            let mut report = Report::new(workload, count, meter.stop()?);
            report.latency_us = Latency::of(&mut latencies);
            Ok(report)
        }
        Workload::Pipe { count, inflight } => {
            let (_client, channel, _events) = joined::<R>(&args.url, TOPIC).await?;
            let meter = Meter::start()?;
            let mut replies = stream::iter(0..count)
                .map(|_| echo(&channel))
                .buffer_unordered(usize::try_from(inflight)?);
            while let Some(reply) = replies.next().await {
                reply?;
            }
            Ok(Report::new(workload, count, meter.stop()?))
        }
        Workload::Recv { count } => {
            let (_client, channel, mut events) = joined::<R>(&args.url, TOPIC).await?;
            let many = Payload::json(&serde_json::json!({ "n": count }))?;
            let meter = Meter::start()?;
            // A cast: the reply comes after the last item and is not awaited.
            channel.cast(MANY_EVENT, many).await?;
            let mut received = 0;
            while received < count {
                match events.recv().await {
                    Some(ChannelEvent::Message { event, .. }) if event == ITEM_EVENT => {
                        received += 1;
                    }
                    Some(ChannelEvent::Message { .. }) => {}
                    Some(other) => return Err(format!("unexpected channel event {other:?}").into()),
                    None => return Err("the channel closed".into()),
                }
            }
            Ok(Report::new(workload, count, meter.stop()?))
        }
        Workload::Flood {
            count,
            pause_every,
            pause,
        } => {
            let (_client, channel, mut events) = joined::<R>(&args.url, TOPIC).await?;
            let many = Payload::json(&serde_json::json!({ "n": count }))?;
            let rss_before = rss_kib()?;
            let meter = Meter::start()?;
            channel.cast(MANY_EVENT, many).await?;
            let mut check = FloodCheck::new(count, pause_every);
            while !check.done() {
                match events.recv().await {
                    Some(ChannelEvent::Message { event, payload }) if event == ITEM_EVENT => {
                        let item = payload.as_json().ok_or("flood: a binary item")?;
                        if check.item(item)? {
                            // The slow reader: the socket's task runs on,
                            // fills the channel's queue and stops reading.
                            sleep(pause).await;
                        }
                    }
                    Some(ChannelEvent::Message { .. }) => {}
                    Some(other) => return Err(format!("unexpected channel event {other:?}").into()),
                    None => return Err("the channel closed".into()),
                }
            }
            flood_report(workload, count, &meter, rss_before)
        }
        Workload::Idle { sockets, settle } => {
            let rss_before = rss_kib()?;
            let meter = Meter::start()?;
            let mut clients = Vec::with_capacity(usize::try_from(sockets)?);
            for index in 0..clients.capacity() {
                let client = builder::<R>(&args.url, args.hold).connect();
                let channel = client.channel(idle_topic(index), &no_params());
                let events = channel.events();
                clients.push((client, channel, events));
            }
            let joins = join_all(clients.iter().map(|(_, channel, _)| channel.join())).await;
            for join in joins {
                join?;
            }
            let mut report = Report::new(workload, sockets, meter.stop()?);
            sleep(settle).await;
            report.rss_before_kib = Some(rss_before);
            report.rss_after_kib = Some(rss_kib()?);
            if let Some(hold) = args.hold {
                // Subscribed only now, so that the memory above is the
                // sockets' alone.
                let mut news: Vec<SocketEvents> = clients
                    .iter()
                    .map(|(client, _, _)| client.socket_events())
                    .collect();
                sleep(hold.hold).await;
                report.rss_held_kib = Some(rss_kib()?);
                let mut tally = HoldTally::default();
                for (index, ((client, _, events), news)) in
                    clients.iter_mut().zip(&mut news).enumerate()
                {
                    let channel_events = events
                        .iter_mut()
                        .flat_map(|events| std::iter::from_fn(|| events.try_recv().ok()));
                    tally.socket(
                        index,
                        std::iter::from_fn(|| news.try_recv().ok()),
                        &client.status().current(),
                        channel_events,
                    );
                }
                tally.finish(hold, sockets, &mut report)?;
            }
            // The process exits right after the report: closing ten
            // thousand sockets politely first would only slow the run.
            std::mem::forget(clients);
            Ok(report)
        }
    }
}

/// What the async or blocking API saw of its sockets at the end of a hold
/// (see [`Hold`]), one socket after the other.
#[derive(Debug, Default)]
pub struct HoldTally {
    heartbeats: u64,
    sockets_answered: u64,
    problems: Vec<String>,
}

impl HoldTally {
    /// What socket `index` saw during the hold: its socket events
    /// (subscribed when the hold started), which must all be answered
    /// heartbeats; its status at the end, which must be connected; and its
    /// channel's events, which must all be messages (an error, a rejoin or
    /// a close means the channel did not stay joined).
    pub fn socket(
        &mut self,
        index: usize,
        socket_events: impl IntoIterator<Item = SocketEvent>,
        status: &Status,
        channel_events: impl IntoIterator<Item = ChannelEvent>,
    ) {
        let mut heartbeats = 0;
        for event in socket_events {
            match event {
                SocketEvent::Heartbeat { .. } => heartbeats += 1,
                other => self.problems.push(format!("socket {index}: {other:?}")),
            }
        }
        if !matches!(status, Status::Connected) {
            self.problems.push(format!("socket {index}: {status:?}"));
        }
        for event in channel_events {
            if !matches!(event, ChannelEvent::Message { .. }) {
                self.problems.push(format!("channel {index}: {event:?}"));
            }
        }
        if heartbeats > 0 {
            self.sockets_answered += 1;
        }
        self.heartbeats += heartbeats;
    }

    /// Fills in the report's heartbeats and checks the hold of `sockets`.
    ///
    /// # Errors
    /// As [`Hold::check`].
    pub fn finish(self, hold: Hold, sockets: u64, report: &mut Report) -> Result<(), Error> {
        report.heartbeats = Some(self.heartbeats);
        hold.check(
            sockets,
            self.sockets_answered,
            self.heartbeats,
            &self.problems,
        )
    }
}

/// What every [`BenchHandler`] of an idle process tells during a hold: the
/// heartbeats answered (counted once the hold starts) and anything that
/// went wrong with a socket or its channel after the join.
#[derive(Debug, Default)]
pub struct HoldCounts {
    counting: AtomicBool,
    heartbeats: AtomicU64,
    sockets_answered: AtomicU64,
    problems: Mutex<Vec<String>>,
}

impl HoldCounts {
    /// Counts the heartbeats answered from now on.
    pub fn start(&self) {
        self.counting.store(true, Ordering::SeqCst);
    }

    fn problem(&self, what: String) {
        self.problems
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(what);
    }

    /// Fills in the report's heartbeats and checks the hold of `sockets`.
    ///
    /// # Errors
    /// As [`Hold::check`].
    pub fn finish(&self, hold: Hold, sockets: u64, report: &mut Report) -> Result<(), Error> {
        let heartbeats = self.heartbeats.load(Ordering::SeqCst);
        report.heartbeats = Some(heartbeats);
        let problems = self
            .problems
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        hold.check(
            sockets,
            self.sockets_answered.load(Ordering::SeqCst),
            heartbeats,
            &problems,
        )
    }
}

/// The report of a flood, once its memory is checked.
fn flood_report(
    workload: &Workload,
    count: u64,
    meter: &Meter,
    rss_before: u64,
) -> Result<Report, Error> {
    let mut report = Report::new(workload, count, meter.stop()?);
    FloodCheck::check_memory(rss_before)?;
    report.rss_before_kib = Some(rss_before);
    report.rss_after_kib = Some(rss_kib()?);
    Ok(report)
}

async fn joined<R: Launch + Default>(
    url: &str,
    topic: &str,
) -> Result<(Client<R>, Channel, ChannelEvents), Error> {
    let client = Builder::<R>::new(url).connect();
    let channel = client.channel(topic, &no_params());
    let events = channel
        .events()
        .ok_or("the events stream was already taken")?;
    channel.join().await?;
    Ok((client, channel, events))
}

/// One push and its reply, deserialized as an application would.
async fn echo(channel: &Channel) -> Result<(), Error> {
    let _reply: serde_json::Value = channel.push(ECHO_EVENT, &BODY).await?;
    Ok(())
}

/// Runs `args.workload` with the callback model on runtime `R`.
///
/// # Errors
/// A failed join or push, or a socket that stopped.
pub async fn callback<R: Launch + Default>(args: &Args, sleep: Sleep) -> Result<Report, Error> {
    let workload = &args.workload;
    match *workload {
        Workload::Seq { count, warmup } => {
            let socket = joined_handler::<R>(&args.url, TOPIC).await?;
            run_job(&socket, Job::Seq { count: warmup }).await?;
            let meter = Meter::start()?;
            let mut latencies = run_job(&socket, Job::Seq { count }).await?;
            let mut report = Report::new(workload, count, meter.stop()?);
            report.latency_us = Latency::of(&mut latencies);
            Ok(report)
        }
        Workload::Pipe { count, inflight } => {
            let socket = joined_handler::<R>(&args.url, TOPIC).await?;
            let meter = Meter::start()?;
            run_job(&socket, Job::Pipe { count, inflight }).await?;
            Ok(Report::new(workload, count, meter.stop()?))
        }
        Workload::Recv { count } => {
            let socket = joined_handler::<R>(&args.url, TOPIC).await?;
            let meter = Meter::start()?;
            run_job(&socket, Job::Recv { count }).await?;
            Ok(Report::new(workload, count, meter.stop()?))
        }
        Workload::Flood {
            count,
            pause_every,
            pause,
        } => {
            let socket = joined_handler::<R>(&args.url, TOPIC).await?;
            let rss_before = rss_kib()?;
            let meter = Meter::start()?;
            let job = Job::Flood {
                count,
                pause_every,
                pause,
            };
            run_job(&socket, job).await?;
            flood_report(workload, count, &meter, rss_before)
        }
        Workload::Idle { sockets, settle } => {
            let rss_before = rss_kib()?;
            let meter = Meter::start()?;
            let mut handles = Vec::with_capacity(usize::try_from(sockets)?);
            let mut joins = Vec::with_capacity(handles.capacity());
            let counts = args.hold.map(|_| Arc::new(HoldCounts::default()));
            for index in 0..handles.capacity() {
                let (mut handler, joined) = BenchHandler::new(idle_topic(index));
                handler.hold = counts.clone();
                handles.push(builder::<R>(&args.url, args.hold).spawn_handler(handler));
                joins.push(joined);
            }
            for joined in join_all(joins).await {
                joined.map_err(|_| "a socket stopped before joining")??;
            }
            let mut report = Report::new(workload, sockets, meter.stop()?);
            sleep(settle).await;
            report.rss_before_kib = Some(rss_before);
            report.rss_after_kib = Some(rss_kib()?);
            if let (Some(hold), Some(counts)) = (args.hold, &counts) {
                counts.start();
                sleep(hold.hold).await;
                report.rss_held_kib = Some(rss_kib()?);
                counts.finish(hold, sockets, &mut report)?;
            }
            std::mem::forget(handles);
            Ok(report)
        }
    }
}

async fn joined_handler<R: Launch + Default>(
    url: &str,
    topic: &str,
) -> Result<HandlerSocket<BenchHandler>, Error> {
    let (handler, joined) = BenchHandler::new(topic.to_owned());
    let socket = Builder::<R>::new(url).spawn_handler(handler);
    joined
        .await
        .map_err(|_| "the socket stopped before joining")??;
    Ok(socket)
}

async fn run_job(socket: &HandlerSocket<BenchHandler>, job: Job) -> Result<Vec<Duration>, Error> {
    let (done, finished) = oneshot::channel();
    socket.info(Start { job, done }).await?;
    Ok(finished
        .await
        .map_err(|_| "the socket stopped during the workload")??)
}

/// A workload for [`BenchHandler`] to run on its socket's task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    /// `count` pushes one after the other; each one's latency is kept.
    Seq {
        /// Pushes.
        count: u64,
    },
    /// `count` pushes, `inflight` at a time.
    Pipe {
        /// Pushes.
        count: u64,
        /// In flight at most.
        inflight: u64,
    },
    /// A `many` push, then `count` server pushes.
    Recv {
        /// Server pushes.
        count: u64,
    },
    /// A `many` push, then `count` server pushes read slowly: the callback
    /// sleeps `pause` (blocking the socket's loop, as a slow callback
    /// does) after every `pause_every` of them, and checks their order.
    Flood {
        /// Server pushes.
        count: u64,
        /// Pushes between pauses.
        pause_every: u64,
        /// Each pause.
        pause: Duration,
    },
}

/// Where a finished [`Job`] reports: the latencies of a `Seq` job (empty
/// otherwise), or what went wrong.
pub type Done = oneshot::Sender<Result<Vec<Duration>, String>>;

/// The message that starts a [`Job`].
#[derive(Debug)]
pub struct Start {
    /// What to do.
    pub job: Job,
    /// Where to report.
    pub done: Done,
}

/// A job under way.
#[derive(Debug)]
enum Running {
    Seq {
        left: u64,
        sent_at: Instant,
        latencies: Vec<Duration>,
    },
    Pipe {
        unsent: u64,
        in_flight: u64,
    },
    Recv {
        left: u64,
    },
    Flood {
        check: FloodCheck,
        pause: Duration,
    },
}

/// The callback model's side of every workload: joins its topic on every
/// connect, reports the first join, then runs the [`Job`]s it is sent,
/// pushing from its callbacks as a callback-model application does.
#[derive(Debug)]
pub struct BenchHandler {
    topic: String,
    channel: Option<ChannelId>,
    joined: Option<oneshot::Sender<Result<(), String>>>,
    running: Option<(Running, Done)>,
    body: Payload<'static>,
    /// Where an idle socket under a hold counts its heartbeats and
    /// problems.
    pub hold: Option<Arc<HoldCounts>>,
    answered: bool,
}

impl BenchHandler {
    /// A handler for `topic`, and the receiver that hears when it joined.
    pub fn new(topic: String) -> (BenchHandler, oneshot::Receiver<Result<(), String>>) {
        let (joined, on_joined) = oneshot::channel();
        let body = Payload::json(&BODY).unwrap_or_else(|_| Payload::empty());
        let handler = BenchHandler {
            topic,
            channel: None,
            joined: Some(joined),
            running: None,
            body,
            hold: None,
            answered: false,
        };
        (handler, on_joined)
    }

    fn push(&mut self, ctx: &mut Context<'_>, event: &str, body: Payload<'static>) -> bool {
        let Some(channel) = self.channel else {
            self.fail("not joined".into());
            return false;
        };
        match ctx.push(channel, event, body) {
            Ok(_) => true,
            Err(error) => {
                self.fail(format!("push: {error}"));
                false
            }
        }
    }

    fn echo(&mut self, ctx: &mut Context<'_>) -> bool {
        let body = self.body.clone();
        self.push(ctx, ECHO_EVENT, body)
    }

    fn fail(&mut self, why: String) {
        if let Some(hold) = &self.hold {
            hold.problem(format!("{}: {why}", self.topic));
        }
        if let Some(joined) = self.joined.take() {
            let _ = joined.send(Err(why.clone()));
        }
        if let Some((_, done)) = self.running.take() {
            let _ = done.send(Err(why));
        }
    }

    fn finish(&mut self) {
        if let Some((running, done)) = self.running.take() {
            let latencies = match running {
                Running::Seq { latencies, .. } => latencies,
                _ => Vec::new(),
            };
            let _ = done.send(Ok(latencies));
        }
    }

    fn start(&mut self, ctx: &mut Context<'_>, job: Job, done: Done) {
        match job {
            Job::Seq { count } => {
                let capacity = usize::try_from(count).unwrap_or(0);
                let running = Running::Seq {
                    left: count,
                    sent_at: Instant::now(),
                    latencies: Vec::with_capacity(capacity),
                };
                self.running = Some((running, done));
                self.next_seq(ctx);
            }
            Job::Pipe { count, inflight } => {
                let first = count.min(inflight);
                let running = Running::Pipe {
                    unsent: count - first,
                    in_flight: first,
                };
                self.running = Some((running, done));
                for _ in 0..first {
                    if !self.echo(ctx) {
                        return;
                    }
                }
                if first == 0 {
                    self.finish();
                }
            }
            Job::Flood {
                count,
                pause_every,
                pause,
            } => {
                let check = FloodCheck::new(count, pause_every);
                self.running = Some((Running::Flood { check, pause }, done));
                match Payload::json(&serde_json::json!({ "n": count })) {
                    Ok(many) => {
                        self.push(ctx, MANY_EVENT, many);
                    }
                    Err(error) => self.fail(error.to_string()),
                }
                if count == 0 {
                    self.finish();
                }
            }
            Job::Recv { count } => {
                self.running = Some((Running::Recv { left: count }, done));
                match Payload::json(&serde_json::json!({ "n": count })) {
                    Ok(many) => {
                        self.push(ctx, MANY_EVENT, many);
                    }
                    Err(error) => self.fail(error.to_string()),
                }
                if count == 0 {
                    self.finish();
                }
            }
        }
    }

    /// Sends the next sequential push, or finishes when none is left.
    fn next_seq(&mut self, ctx: &mut Context<'_>) {
        if let Some((Running::Seq { left, sent_at, .. }, _)) = &mut self.running {
            if *left == 0 {
                self.finish();
                return;
            }
            *left -= 1;
            *sent_at = Instant::now();
            self.echo(ctx);
        }
    }
}

impl Handler for BenchHandler {
    type Info = Start;
    type Call = ();
    type Reply = ();

    fn handle_connected(&mut self, ctx: &mut Context<'_>) -> Action {
        if self.channel.is_none() {
            match ctx.join(&self.topic, Payload::empty()) {
                Ok(channel) => self.channel = Some(channel),
                Err(error) => self.fail(format!("join: {error}")),
            }
        }
        Action::Continue
    }

    fn handle_disconnected(
        &mut self,
        _ctx: &mut Context<'_>,
        reason: DisconnectReason,
        _reconnect_in: Option<Duration>,
    ) -> Action {
        self.fail(format!("disconnected: {reason:?}"));
        Action::Continue
    }

    fn handle_joined(
        &mut self,
        _ctx: &mut Context<'_>,
        _channel: ChannelId,
        _topic: Arc<str>,
        _response: Payload<'static>,
        _rejoin: bool,
    ) -> Action {
        if let Some(joined) = self.joined.take() {
            let _ = joined.send(Ok(()));
        }
        Action::Continue
    }

    fn handle_join_error(
        &mut self,
        _ctx: &mut Context<'_>,
        _channel: ChannelId,
        _topic: Arc<str>,
        status: Name,
        response: Payload<'static>,
        _will_retry: bool,
    ) -> Action {
        self.fail(format!("join refused: {status} {:?}", response.as_json()));
        Action::Continue
    }

    fn handle_channel_closed(
        &mut self,
        _ctx: &mut Context<'_>,
        _channel: ChannelId,
        _topic: Arc<str>,
        reason: ChannelCloseReason,
    ) -> Action {
        self.fail(format!("channel closed: {reason:?}"));
        Action::Continue
    }

    fn handle_channel_errored(
        &mut self,
        _ctx: &mut Context<'_>,
        _channel: ChannelId,
        _topic: Arc<str>,
        reason: ChannelErrorReason,
    ) -> Action {
        self.fail(format!("channel errored: {reason:?}"));
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
        if event != ITEM_EVENT {
            return Action::Continue;
        }
        match &mut self.running {
            Some((Running::Recv { left }, _)) => {
                *left = left.saturating_sub(1);
                if *left == 0 {
                    self.finish();
                }
            }
            Some((Running::Flood { check, pause }, _)) => {
                let checked = check.item(payload.as_json().unwrap_or("<binary>"));
                let (pause, done) = (*pause, check.done());
                match checked {
                    // The slow reader: the socket's loop waits with it.
                    Ok(true) => std::thread::sleep(pause),
                    Ok(false) => {}
                    Err(error) => {
                        self.fail(error.to_string());
                        return Action::Continue;
                    }
                }
                if done {
                    self.finish();
                }
            }
            _ => {}
        }
        Action::Continue
    }

    fn handle_reply(
        &mut self,
        ctx: &mut Context<'_>,
        _channel: ChannelId,
        _push: PushId,
        outcome: PushOutcome,
    ) -> Action {
        match outcome {
            PushOutcome::Reply { status, .. } if status == "ok" => {}
            other => {
                self.fail(format!("push outcome: {other:?}"));
                return Action::Continue;
            }
        }
        match &mut self.running {
            Some((
                Running::Seq {
                    sent_at, latencies, ..
                },
                _,
            )) => {
                latencies.push(sent_at.elapsed());
                self.next_seq(ctx);
            }
            Some((Running::Pipe { unsent, in_flight }, _)) => {
                *in_flight -= 1;
                if *unsent > 0 {
                    *unsent -= 1;
                    *in_flight += 1;
                    self.echo(ctx);
                } else if *in_flight == 0 {
                    self.finish();
                }
            }
            // The `many` push's own reply, after the items.
            Some((Running::Recv { .. } | Running::Flood { .. }, _)) | None => {}
        }
        Action::Continue
    }

    fn handle_pong(&mut self, _ctx: &mut Context<'_>, _rtt: Duration, requested: bool) -> Action {
        if let Some(hold) = &self.hold {
            if !requested && hold.counting.load(Ordering::Relaxed) {
                hold.heartbeats.fetch_add(1, Ordering::Relaxed);
                if !self.answered {
                    self.answered = true;
                    hold.sockets_answered.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        Action::Continue
    }

    fn handle_info(&mut self, ctx: &mut Context<'_>, start: Start) -> Action {
        if self.running.is_some() {
            let _ = start.done.send(Err("a job is already running".into()));
        } else {
            self.start(ctx, start.job, start.done);
        }
        Action::Continue
    }
}
