//! The mock server: the part of the project's fixture the workloads use,
//! made fast rather than faithful (the full test server is
//! `tests/phoenix-test-server`).
//!
//! It accepts a WebSocket on any path, reads JSON-array (v2) frames without
//! building a JSON tree (the four head fields and the payload are borrowed
//! as raw JSON), and answers:
//!
//! | client sends | server answers |
//! |---|---|
//! | `phx_join` | ok, response `{"joined": <topic>}` |
//! | `heartbeat` on `phoenix` | ok `{}` |
//! | `many` `{"n": N}` | `N` pushes `item` `{"i": i}` (`i` = 1..N), then ok `{}` |
//! | `phx_leave` | ok `{}`, then `phx_close` |
//! | anything else with a ref (`echo`, ...) | ok with the payload as the response |
//! | anything without a ref | nothing |
//!
//! Every frame read in one go is answered before the answers are flushed,
//! once: under a pipelined load the server writes in batches, as a real
//! server does. One connection is one task on a current-thread runtime, so
//! the server uses at most one core and leaves the other to the client.

use std::io;
use std::time::Duration;

use futures_util::{FutureExt, SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// Listens on `addr` with a long accept queue, so ten thousand clients
/// connecting at once are not dropped and retried.
///
/// # Errors
/// When the address cannot be bound.
pub fn listen(addr: std::net::SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(8192)
}

/// Serves every connection on `listener` until the process ends.
pub async fn serve(listener: TcpListener) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(connection(stream));
            }
            Err(error) => {
                // Out of file descriptors, usually: wait for some to close.
                eprintln!("bench-mock-server: accept: {error}");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// What one client frame asks the server to send back.
#[derive(Debug, PartialEq, Eq)]
enum Out {
    /// A frame as it is.
    Frame(String),
    /// `count` pushes: `prefix` + `i` + `}]` for i = 1..=count.
    Items { prefix: String, count: u64 },
}

async fn connection(stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let config = WebSocketConfig::default().read_buffer_size(4096);
    let Ok(mut ws) = tokio_tungstenite::accept_async_with_config(stream, Some(config)).await else {
        return;
    };
    let mut out = Vec::new();
    loop {
        match ws.next().await {
            Some(Ok(message)) => answer(&message, &mut out),
            _ => return,
        }
        // Answer whatever else has already arrived before flushing once.
        while let Some(next) = ws.next().now_or_never() {
            match next {
                Some(Ok(message)) => answer(&message, &mut out),
                _ => return,
            }
        }
        for item in out.drain(..) {
            let sent = match item {
                Out::Frame(frame) => ws.feed(Message::text(frame)).await,
                Out::Items { prefix, count } => {
                    let mut sent = Ok(());
                    for i in 1..=count {
                        sent = ws.feed(Message::text(format!("{prefix}{i}}}]"))).await;
                        if sent.is_err() {
                            break;
                        }
                    }
                    sent
                }
            };
            if sent.is_err() {
                return;
            }
        }
        if ws.flush().await.is_err() {
            return;
        }
    }
}

fn answer(message: &Message, out: &mut Vec<Out>) {
    if let Message::Text(text) = message {
        respond(text.as_str(), out);
    }
}

/// The four head fields as raw JSON, the event as text, the payload raw.
type Frame<'a> = (
    &'a RawValue,
    &'a RawValue,
    &'a RawValue,
    &'a str,
    &'a RawValue,
);

#[derive(Deserialize)]
struct Many {
    n: u64,
}

fn reply(join_ref: &RawValue, msg_ref: &RawValue, topic: &RawValue, response: &str) -> String {
    format!(
        r#"[{},{},{},"phx_reply",{{"response":{response},"status":"ok"}}]"#,
        join_ref.get(),
        msg_ref.get(),
        topic.get()
    )
}

/// Appends the answers to one client frame; frames that are not v2 arrays
/// are ignored.
fn respond(text: &str, out: &mut Vec<Out>) {
    let Ok((join_ref, msg_ref, topic, event, payload)) = serde_json::from_str::<Frame<'_>>(text)
    else {
        return;
    };
    if msg_ref.get() == "null" {
        return;
    }
    match event {
        "phx_join" => {
            let joined = format!(r#"{{"joined":{}}}"#, topic.get());
            out.push(Out::Frame(reply(join_ref, msg_ref, topic, &joined)));
        }
        "phx_leave" => {
            out.push(Out::Frame(reply(join_ref, msg_ref, topic, "{}")));
            out.push(Out::Frame(format!(
                r#"[{},{},{},"phx_close",{{}}]"#,
                join_ref.get(),
                join_ref.get(),
                topic.get()
            )));
        }
        "many" => {
            let count = serde_json::from_str::<Many>(payload.get()).map_or(0, |many| many.n);
            out.push(Out::Items {
                prefix: format!(r#"[{},null,{},"item",{{"i":"#, join_ref.get(), topic.get()),
                count,
            });
            out.push(Out::Frame(reply(join_ref, msg_ref, topic, "{}")));
        }
        "heartbeat" => out.push(Out::Frame(reply(join_ref, msg_ref, topic, "{}"))),
        _ => out.push(Out::Frame(reply(join_ref, msg_ref, topic, payload.get()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answers(frame: &str) -> Vec<Out> {
        let mut out = Vec::new();
        respond(frame, &mut out);
        out
    }

    fn frame(text: &str) -> Out {
        Out::Frame(text.to_owned())
    }

    #[test]
    fn answers_joins_pushes_heartbeats_and_leaves_like_the_fixture() {
        assert_eq!(
            answers(r#"["1","1","echo:1","phx_join",{}]"#),
            [frame(
                r#"["1","1","echo:1","phx_reply",{"response":{"joined":"echo:1"},"status":"ok"}]"#
            )]
        );
        assert_eq!(
            answers(r#"["1","2","echo:1","echo",{"body":"hello"}]"#),
            [frame(
                r#"["1","2","echo:1","phx_reply",{"response":{"body":"hello"},"status":"ok"}]"#
            )]
        );
        assert_eq!(
            answers(r#"[null,"9","phoenix","heartbeat",{}]"#),
            [frame(
                r#"[null,"9","phoenix","phx_reply",{"response":{},"status":"ok"}]"#
            )]
        );
        assert_eq!(
            answers(r#"["1","3","echo:1","phx_leave",{}]"#),
            [
                frame(r#"["1","3","echo:1","phx_reply",{"response":{},"status":"ok"}]"#),
                frame(r#"["1","1","echo:1","phx_close",{}]"#),
            ]
        );
    }

    #[test]
    fn many_pushes_items_then_replies() {
        let out = answers(r#"["4","5","echo:x","many",{"n":3}]"#);
        assert_eq!(
            out,
            [
                Out::Items {
                    prefix: r#"["4",null,"echo:x","item",{"i":"#.into(),
                    count: 3
                },
                frame(r#"["4","5","echo:x","phx_reply",{"response":{},"status":"ok"}]"#),
            ]
        );
        if let Some(Out::Items { prefix, .. }) = out.first() {
            let item: serde_json::Value = serde_json::from_str(&format!("{prefix}1}}]")).unwrap();
            assert_eq!(item[4]["i"], 1);
        }
    }

    #[test]
    fn ignores_casts_and_garbage() {
        assert!(answers(r#"["1",null,"echo:1","echo",{}]"#).is_empty());
        assert!(answers("not json").is_empty());
        assert!(answers(r#"{"topic":"v1"}"#).is_empty());
    }
}
