//! `bench-phoenix-chan`: phoenix-bench's client process for
//! [phoenix-chan](https://crates.io/crates/phoenix-chan) 0.4.6, on a
//! current-thread tokio runtime like the other tokio clients.
//!
//! phoenix-chan is a thin client: `send` writes a frame and returns its
//! ref, `recv` returns the next frame (payload parsed into a
//! `serde_json::Value`) and sends heartbeats while it waits; matching
//! replies to pushes is the application's job. So the pipelined workload
//! runs a writer and a reader side by side (one task), the window of 1,000
//! kept with a semaphore, and idle sockets each get a task calling `recv`.

use std::time::Instant;

use futures_util::future::join_all;
use phoenix_bench_probe::{
    Args, BODY, ECHO_EVENT, Error, ITEM_EVENT, Latency, MANY_EVENT, Meter, Report, TOPIC, Workload,
    idle_topic, rss_kib, websocket_url,
};
use phoenix_chan::{Client, Message};
use serde_json::Value;
use tokio::sync::Semaphore;

fn main() {
    phoenix_bench_probe::main("bench-phoenix-chan", |args| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(run(&args))
    })
}

/// Whether `message` is the `ok` reply to the push with ref `msg_ref`
/// (any push when `None`).
fn is_ok_reply(message: &Message<Value>, msg_ref: Option<usize>) -> Result<bool, Error> {
    if message.event_name != "phx_reply" {
        return Ok(false);
    }
    if let Some(msg_ref) = msg_ref {
        if message.message_reference.as_deref() != Some(msg_ref.to_string().as_str()) {
            return Ok(false);
        }
    }
    match message.payload.get("status").and_then(Value::as_str) {
        Some("ok") => Ok(true),
        _ => Err(format!("not an ok reply: {:?}", message.payload).into()),
    }
}

async fn wait_reply(client: &Client, msg_ref: usize) -> Result<(), Error> {
    loop {
        let message = client.recv::<Value>().await?;
        if is_ok_reply(&message, Some(msg_ref))? {
            return Ok(());
        }
    }
}

async fn open(url: &str, topic: &str) -> Result<Client, Error> {
    let client = Client::builder(websocket_url(url).parse()?)?
        .connect()
        .await?;
    let join = client.join(topic).await?;
    wait_reply(&client, join).await?;
    Ok(client)
}

async fn run(args: &Args) -> Result<Report, Error> {
    let workload = &args.workload;
    match *workload {
        Workload::Seq { count, warmup } => {
            let client = open(&args.url, TOPIC).await?;
            for _ in 0..warmup {
                let msg_ref = client.send(TOPIC, ECHO_EVENT, BODY).await?;
                wait_reply(&client, msg_ref).await?;
            }
            let mut latencies = Vec::with_capacity(usize::try_from(count)?);
            let meter = Meter::start()?;
            for _ in 0..count {
                let sent = Instant::now();
                let msg_ref = client.send(TOPIC, ECHO_EVENT, BODY).await?;
                wait_reply(&client, msg_ref).await?;
                latencies.push(sent.elapsed());
            }
            let mut report = Report::new(workload, count, meter.stop()?);
            report.latency_us = Latency::of(&mut latencies);
            Ok(report)
        }
        Workload::Pipe { count, inflight } => {
            let client = open(&args.url, TOPIC).await?;
            let window = Semaphore::new(usize::try_from(inflight)?);
            let meter = Meter::start()?;
            let writer = async {
                for _ in 0..count {
                    window.acquire().await?.forget();
                    client.send(TOPIC, ECHO_EVENT, BODY).await?;
                }
                Ok::<_, Error>(())
            };
            let reader = async {
                let mut answered = 0;
                while answered < count {
                    let message = client.recv::<Value>().await?;
                    if is_ok_reply(&message, None)? {
                        answered += 1;
                        window.add_permits(1);
                    }
                }
                Ok::<_, Error>(())
            };
            let (written, read) = tokio::join!(writer, reader);
            written?;
            read?;
            Ok(Report::new(workload, count, meter.stop()?))
        }
        Workload::Recv { count } => {
            let client = open(&args.url, TOPIC).await?;
            let meter = Meter::start()?;
            client
                .send(TOPIC, MANY_EVENT, serde_json::json!({ "n": count }))
                .await?;
            let mut received = 0;
            while received < count {
                let message = client.recv::<Value>().await?;
                if message.event_name == ITEM_EVENT {
                    received += 1;
                }
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
            let joined = join_all((0..usize::try_from(sockets)?).map(|index| {
                let (tx, rx) = futures_channel::oneshot::channel::<Result<(), String>>();
                let url = args.url.clone();
                tokio::spawn(async move {
                    match open(&url, &idle_topic(index)).await {
                        Ok(client) => {
                            let _ = tx.send(Ok(()));
                            while client.recv::<Value>().await.is_ok() {}
                        }
                        Err(error) => {
                            let _ = tx.send(Err(error.to_string()));
                        }
                    }
                });
                rx
            }))
            .await;
            for join in joined {
                join.map_err(|_| "a socket task ended before joining")??;
            }
            let mut report = Report::new(workload, sockets, meter.stop()?);
            tokio::time::sleep(settle).await;
            report.rss_before_kib = Some(rss_before);
            report.rss_after_kib = Some(rss_kib()?);
            Ok(report)
        }
    }
}
