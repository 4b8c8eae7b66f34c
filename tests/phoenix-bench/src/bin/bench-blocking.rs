//! `bench-blocking`: phoenix-bench's client process for
//! `phoenix-client-blocking`: one reactor thread for every socket, no async runtime.
//!
//! - `--mode api` (the default): the blocking API (`Client`, `Channel`)
//!   called from the main thread. The pipelined workload keeps its pushes
//!   in flight from that one thread with `Channel::start_push`: it starts
//!   pushes until 1,000 `PendingPush`es are outstanding, then `wait`s for
//!   the oldest and starts the next; server pushes are read from
//!   `ChannelEvents` on the main thread.
//! - `--mode callback`: the callback model, the same `BenchHandler` as the
//!   other drivers, run by `Builder::spawn_handler` on the socket's thread;
//!   the main thread only starts each job and waits for it.
//!
//! See `phoenix_bench_probe` for the command line and the report.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use phoenix_bench::ours;
use phoenix_bench_probe::{
    Args, BODY, ECHO_EVENT, Error, FloodCheck, ITEM_EVENT, Latency, MANY_EVENT, Meter, Report,
    TOPIC, Workload, idle_topic, rss_kib,
};
use phoenix_client_blocking::{
    Blocking, Builder, Channel, ChannelEvent, ChannelEvents, Client, Payload, PendingPush,
    PushError, Reply,
};

fn main() {
    phoenix_bench_probe::main("bench-blocking", |args| match args.mode.as_deref() {
        None | Some("api") => api(&args),
        Some("callback") => block_on(ours::callback::<Blocking>(&args, sleep)),
        Some(other) => Err(format!("unknown mode {other} (api or callback)").into()),
    })
}

/// The callback model's settling wait: the sockets have threads of their
/// own, so blocking this one is fine.
fn sleep(duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(async move { thread::sleep(duration) })
}

struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Runs `future` on this thread, parked while it waits (as the blocking
/// API's own calls do).
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        thread::park();
    }
}

fn no_params() -> serde_json::Map<String, serde_json::Value> {
    serde_json::Map::new()
}

fn joined(url: &str, topic: &str) -> Result<(Client, Channel, ChannelEvents), Error> {
    let client = Client::from(Builder::new(url).connect());
    let channel = client.channel(topic, &no_params());
    let events = channel
        .events()
        .ok_or("the events stream was already taken")?;
    channel.join()?;
    Ok((client, channel, events))
}

fn echo(channel: &Channel) -> Result<(), Error> {
    let _reply: serde_json::Value = channel.push(ECHO_EVENT, &BODY)?;
    Ok(())
}

/// Hands an echo push to the socket without waiting for its reply.
fn start_echo(channel: &Channel) -> Result<PendingPush, Error> {
    Ok(channel.start_push(ECHO_EVENT, Payload::json(&BODY)?, None))
}

/// An echo's outcome, checked as [`echo`] does: an `ok` reply,
/// deserialized as an application would.
fn echoed(outcome: Result<Reply, PushError>) -> Result<(), Error> {
    let reply = outcome?;
    if reply.status != "ok" {
        return Err(PushError::Status {
            status: reply.status,
            response: reply.response,
        }
        .into());
    }
    let _reply: serde_json::Value = reply.response.deserialize()?;
    Ok(())
}

fn api(args: &Args) -> Result<Report, Error> {
    let workload = &args.workload;
    match *workload {
        Workload::Seq { count, warmup } => {
            let (_client, channel, _events) = joined(&args.url, TOPIC)?;
            for _ in 0..warmup {
                echo(&channel)?;
            }
            let mut latencies = Vec::with_capacity(usize::try_from(count)?);
            let meter = Meter::start()?;
            for _ in 0..count {
                let sent = Instant::now();
                echo(&channel)?;
                latencies.push(sent.elapsed());
            }
            let mut report = Report::new(workload, count, meter.stop()?);
            report.latency_us = Latency::of(&mut latencies);
            Ok(report)
        }
        Workload::Pipe { count, inflight } => {
            let (_client, channel, _events) = joined(&args.url, TOPIC)?;
            let inflight = usize::try_from(inflight.min(count).max(1))?;
            // One thread: start pushes until `inflight` are outstanding,
            // then wait for the oldest and start the next.
            let mut pending = VecDeque::with_capacity(inflight);
            let (mut started, mut done) = (0, 0);
            let meter = Meter::start()?;
            while done < count {
                while started < count && pending.len() < inflight {
                    pending.push_back(start_echo(&channel)?);
                    started += 1;
                }
                let oldest = pending.pop_front().ok_or("no push in flight")?;
                echoed(oldest.wait())?;
                done += 1;
            }
            Ok(Report::new(workload, count, meter.stop()?))
        }
        Workload::Recv { count } => {
            let (_client, channel, mut events) = joined(&args.url, TOPIC)?;
            let many = Payload::json(&serde_json::json!({ "n": count }))?;
            let meter = Meter::start()?;
            channel.cast(MANY_EVENT, many)?;
            let mut received = 0;
            while received < count {
                match events.recv() {
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
            let (_client, channel, mut events) = joined(&args.url, TOPIC)?;
            let many = Payload::json(&serde_json::json!({ "n": count }))?;
            let rss_before = rss_kib()?;
            let meter = Meter::start()?;
            channel.cast(MANY_EVENT, many)?;
            let mut check = FloodCheck::new(count, pause_every);
            while !check.done() {
                match events.recv() {
                    Some(ChannelEvent::Message { event, payload }) if event == ITEM_EVENT => {
                        let item = payload.as_json().ok_or("flood: a binary item")?;
                        if check.item(item)? {
                            thread::sleep(pause);
                        }
                    }
                    Some(ChannelEvent::Message { .. }) => {}
                    Some(other) => return Err(format!("unexpected channel event {other:?}").into()),
                    None => return Err("the channel closed".into()),
                }
            }
            let mut report = Report::new(workload, count, meter.stop()?);
            FloodCheck::check_memory(rss_before)?;
            report.rss_before_kib = Some(rss_before);
            report.rss_after_kib = Some(rss_kib()?);
            Ok(report)
        }
        Workload::Idle { sockets, settle } => {
            let rss_before = rss_kib()?;
            let meter = Meter::start()?;
            let mut clients = Vec::with_capacity(usize::try_from(sockets)?);
            for index in 0..clients.capacity() {
                let client =
                    Client::from(ours::builder::<Blocking>(&args.url, args.hold).connect());
                let channel = client.channel(idle_topic(index), &no_params());
                let events = channel.events();
                clients.push((client, channel, events));
            }
            // Every join handed over at once from the main thread, then
            // waited for: the sockets connect on the crate's I/O threads
            // and join as they do.
            let joins: Vec<_> = clients
                .iter()
                .map(|(_, channel, _)| channel.start_join(None))
                .collect();
            for join in joins {
                join.wait()?;
            }
            let mut report = Report::new(workload, sockets, meter.stop()?);
            thread::sleep(settle);
            report.rss_before_kib = Some(rss_before);
            report.rss_after_kib = Some(rss_kib()?);
            if let Some(hold) = args.hold {
                // Subscribed only now, so that the memory above is the
                // sockets' alone.
                let mut news: Vec<_> = clients
                    .iter()
                    .map(|(client, _, _)| client.socket_events())
                    .collect();
                thread::sleep(hold.hold);
                report.rss_held_kib = Some(rss_kib()?);
                let mut tally = ours::HoldTally::default();
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
            std::mem::forget(clients);
            Ok(report)
        }
    }
}
