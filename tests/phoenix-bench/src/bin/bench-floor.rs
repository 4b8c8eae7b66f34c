//! `bench-floor`: the transport floor of phoenix-bench. What any Phoenix
//! client on tokio pays at least: tokio-tungstenite on a current-thread
//! runtime, frames encoded before the clock starts (once, for the refs of
//! one window, then sent again and again), replies found by scanning the
//! frame text for the ref, no JSON parsing, no channel state, no timers.
//! Pipelined pushes are written in batches (every reply that has already
//! arrived is read before the window is refilled and flushed once). The
//! WebSocket read buffer is 4 KiB, so idle sockets cost what the transport
//! needs rather than tungstenite's 128 KiB default.
//!
//! See `phoenix_bench_probe` for the command line and the report.

use std::time::Instant;

use futures_util::future::join_all;
use futures_util::{FutureExt, SinkExt, StreamExt};
use phoenix_bench_probe::{
    Args, BODY_JSON, ECHO_EVENT, Error, ITEM_EVENT, Latency, MANY_EVENT, Meter, Report, TOPIC,
    Workload, idle_topic, rss_kib, websocket_url,
};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

const READ_BUFFER: usize = 4096;
const JOIN_REF: &str = "1";
/// Frames encoded for the sequential workload (one in flight at a time).
const RING: u64 = 1000;

fn main() {
    phoenix_bench_probe::main("bench-floor", |args| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(run(&args))
    })
}

/// `n` echo pushes with refs 2, 3, ..., encoded once and then sent again
/// and again (cloning a message only counts a reference).
fn frames(n: u64) -> Vec<(String, Message)> {
    (2..2 + n)
        .map(|r| (r.to_string(), push_frame(r, ECHO_EVENT, BODY_JSON)))
        .collect()
}

/// The push with ref `msg_ref`, as text.
fn push_frame(msg_ref: u64, event: &str, payload: &str) -> Message {
    Message::text(format!(
        r#"["{JOIN_REF}","{msg_ref}","{TOPIC}","{event}",{payload}]"#
    ))
}

/// The ref of a `phx_reply` frame with status `ok`, found by scanning:
/// `["1","<ref>","topic","phx_reply",{..."status":"ok"}]`.
fn ok_reply_ref(frame: &str) -> Option<&str> {
    if !frame.contains(r#""phx_reply""#) || !frame.contains(r#""status":"ok""#) {
        return None;
    }
    let after_join_ref = frame.get(frame.find(',')? + 1..)?;
    let quoted = after_join_ref.strip_prefix('"')?;
    quoted.get(..quoted.find('"')?)
}

fn is_item(frame: &str) -> bool {
    // `[join_ref,null,"topic","item",{...}]`
    frame.contains(&format!(r#","{ITEM_EVENT}","#))
}

/// The text of the next message, or an error when the connection ends.
fn text(message: Option<Result<Message, WsError>>) -> Result<Option<Message>, Error> {
    match message {
        Some(Ok(message @ Message::Text(_))) => Ok(Some(message)),
        Some(Ok(Message::Close(_))) | None => Err("the server closed the connection".into()),
        Some(Ok(_)) => Ok(None),
        Some(Err(error)) => Err(error.into()),
    }
}

async fn open(url: &str, topic: &str) -> Result<Ws, Error> {
    let config = WebSocketConfig::default().read_buffer_size(READ_BUFFER);
    let (mut ws, _) =
        tokio_tungstenite::connect_async_with_config(websocket_url(url), Some(config), true)
            .await?;
    ws.send(Message::text(format!(
        r#"["{JOIN_REF}","{JOIN_REF}","{topic}","phx_join",{{}}]"#
    )))
    .await?;
    wait_reply(&mut ws, JOIN_REF).await?;
    Ok(ws)
}

async fn wait_reply(ws: &mut Ws, msg_ref: &str) -> Result<(), Error> {
    loop {
        if let Some(Message::Text(frame)) = text(ws.next().await)? {
            if ok_reply_ref(frame.as_str()) == Some(msg_ref) {
                return Ok(());
            }
        }
    }
}

async fn run(args: &Args) -> Result<Report, Error> {
    let workload = &args.workload;
    match *workload {
        Workload::Seq { count, warmup } => {
            let mut ws = open(&args.url, TOPIC).await?;
            let ring = frames(RING);
            let mut ring = ring.iter().cycle();
            for _ in 0..warmup {
                let (msg_ref, frame) = ring.next().ok_or("no frames")?;
                ws.send(frame.clone()).await?;
                wait_reply(&mut ws, msg_ref).await?;
            }
            let mut latencies = Vec::with_capacity(usize::try_from(count)?);
            let meter = Meter::start()?;
            for _ in 0..count {
                let (msg_ref, frame) = ring.next().ok_or("no frames")?;
                let sent = Instant::now();
                ws.send(frame.clone()).await?;
                wait_reply(&mut ws, msg_ref).await?;
                latencies.push(sent.elapsed());
            }
            let mut report = Report::new(workload, count, meter.stop()?);
            report.latency_us = Latency::of(&mut latencies);
            Ok(report)
        }
        Workload::Pipe { count, inflight } => {
            let mut ws = open(&args.url, TOPIC).await?;
            // Refs are unique within the window, which is all that
            // counting replies needs.
            let ring = frames(inflight.max(1));
            let mut frames = ring.iter().map(|(_, frame)| frame).cycle();
            let meter = Meter::start()?;
            let (mut sent, mut answered) = (0u64, 0u64);
            while answered < count {
                let mut fed = false;
                while sent < count && sent - answered < inflight {
                    let Some(frame) = frames.next() else { break };
                    ws.feed(frame.clone()).await?;
                    sent += 1;
                    fed = true;
                }
                if fed {
                    ws.flush().await?;
                }
                let mut next = Some(ws.next().await);
                while let Some(message) = next {
                    if let Some(Message::Text(frame)) = text(message)? {
                        if ok_reply_ref(frame.as_str()).is_none() {
                            return Err(format!("not an ok reply: {}", frame.as_str()).into());
                        }
                        answered += 1;
                    }
                    // Everything that has already arrived, without waiting.
                    next = ws.next().now_or_never();
                }
            }
            Ok(Report::new(workload, count, meter.stop()?))
        }
        Workload::Recv { count } => {
            let mut ws = open(&args.url, TOPIC).await?;
            let many = push_frame(2, MANY_EVENT, &format!(r#"{{"n":{count}}}"#));
            let meter = Meter::start()?;
            ws.send(many).await?;
            let mut received = 0;
            while received < count {
                if let Some(Message::Text(frame)) = text(ws.next().await)? {
                    received += u64::from(is_item(frame.as_str()));
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
            // One task per socket, reading (as a client must, for pings and
            // server pushes), like one socket task of a real client.
            let joined = join_all((0..usize::try_from(sockets)?).map(|index| {
                let (tx, rx) = futures_channel::oneshot::channel::<Result<(), String>>();
                let url = args.url.clone();
                tokio::spawn(async move {
                    match open(&url, &idle_topic(index)).await {
                        Ok(mut ws) => {
                            let _ = tx.send(Ok(()));
                            while let Some(Ok(_)) = ws.next().await {}
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_ref_of_ok_replies_only() {
        let ok =
            r#"["1","42","echo:bench","phx_reply",{"response":{"body":"hello"},"status":"ok"}]"#;
        assert_eq!(ok_reply_ref(ok), Some("42"));
        let error = r#"["1","42","echo:bench","phx_reply",{"response":{},"status":"error"}]"#;
        assert_eq!(ok_reply_ref(error), None);
        assert!(is_item(r#"["1",null,"echo:bench","item",{"i":1}]"#));
        assert!(!is_item(ok));
    }
}
