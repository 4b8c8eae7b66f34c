//! `bench-pcc`: phoenix-bench's client process for
//! [phoenix_channels_client](https://crates.io/crates/phoenix_channels_client)
//! 0.1.2, on a current-thread tokio runtime like the other tokio clients.
//! See `phoenix_bench_probe` for the command line and the report.
//!
//! It is used as its README shows: `Client::connect`, `Client::join`,
//! `Channel::send` for a push and its reply (a `serde_json::Value`), and
//! `Channel::on` for server pushes.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use futures_util::{StreamExt, stream};
use phoenix_bench_probe::{
    Args, ECHO_EVENT, Error, ITEM_EVENT, Latency, MANY_EVENT, Meter, Report, TOPIC, Workload,
    idle_topic, rss_kib,
};
use phoenix_channels_client::{Channel, Client, Config};
use serde_json::{Value, json};
use tokio::sync::Notify;

const JOIN_TIMEOUT: Duration = Duration::from_secs(30);

fn main() {
    phoenix_bench_probe::main("bench-pcc", |args| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(run(&args))
    })
}

fn body() -> Value {
    json!({"body": "hello"})
}

/// A connected client joined to `topic`. The URL is the socket's
/// WebSocket URL without `vsn`, which the client adds.
async fn open(url: &str, topic: &str) -> Result<(Client, Arc<Channel>), Error> {
    let endpoint = format!("{}/websocket", url.trim_end_matches('/'));
    let mut client = Client::new(Config::new(endpoint.as_str())?)?;
    client.connect().await?;
    let channel = client.join(topic, Some(JOIN_TIMEOUT)).await?;
    Ok((client, channel))
}

async fn run(args: &Args) -> Result<Report, Error> {
    let workload = &args.workload;
    match *workload {
        Workload::Seq { count, warmup } => {
            let (_client, channel) = open(&args.url, TOPIC).await?;
            for _ in 0..warmup {
                channel.send(ECHO_EVENT, body()).await?;
            }
            let mut latencies = Vec::with_capacity(usize::try_from(count)?);
            let meter = Meter::start()?;
            for _ in 0..count {
                let sent = Instant::now();
                channel.send(ECHO_EVENT, body()).await?;
                latencies.push(sent.elapsed());
            }
            let mut report = Report::new(workload, count, meter.stop()?);
            report.latency_us = Latency::of(&mut latencies);
            Ok(report)
        }
        Workload::Pipe { count, inflight } => {
            let (_client, channel) = open(&args.url, TOPIC).await?;
            let meter = Meter::start()?;
            let mut replies = stream::iter(0..count)
                .map(|_| channel.send(ECHO_EVENT, body()))
                .buffer_unordered(usize::try_from(inflight)?);
            while let Some(reply) = replies.next().await {
                reply?;
            }
            Ok(Report::new(workload, count, meter.stop()?))
        }
        Workload::Recv { count } => {
            let (_client, channel) = open(&args.url, TOPIC).await?;
            let received = Arc::new(AtomicU64::new(0));
            let all_in = Arc::new(Notify::new());
            let (counter, notify) = (received.clone(), all_in.clone());
            channel
                .on(ITEM_EVENT, move |_channel, _payload| {
                    if counter.fetch_add(1, Ordering::Relaxed) + 1 == count {
                        notify.notify_one();
                    }
                })
                .await?;
            let meter = Meter::start()?;
            // The reply comes after the last item has been sent.
            channel.send(MANY_EVENT, json!({ "n": count })).await?;
            while received.load(Ordering::Relaxed) < count {
                all_in.notified().await;
            }
            Ok(Report::new(workload, count, meter.stop()?))
        }
        // A flood into a slow reader checks our drivers' back-pressure;
        // phoenix-bench runs it for our clients alone.
        Workload::Flood { .. } => {
            Err("the flood workload is not implemented by this client".into())
        }
        Workload::Idle { sockets, settle } => {
            let rss_before = rss_kib()?;
            let meter = Meter::start()?;
            let opened = join_all(
                (0..usize::try_from(sockets)?)
                    .map(|index| async move { open(&args.url, &idle_topic(index)).await }),
            )
            .await;
            let mut clients = Vec::with_capacity(opened.len());
            for client in opened {
                clients.push(client?);
            }
            let mut report = Report::new(workload, sockets, meter.stop()?);
            tokio::time::sleep(settle).await;
            report.rss_before_kib = Some(rss_before);
            report.rss_after_kib = Some(rss_kib()?);
            // The process exits right after the report.
            std::mem::forget(clients);
            Ok(report)
        }
    }
}
