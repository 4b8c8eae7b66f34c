//! Helpers shared by the integration tests: a small WebSocket client wrapper
//! and a raw HTTP/1.1 client.

#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::error::Error as WsError;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long to wait for an expected frame.
pub const RECV_TIMEOUT: Duration = Duration::from_secs(5);

/// What a client saw next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    Text(String),
    Binary(Vec<u8>),
    /// A close frame (its code, if any).
    Close(Option<u16>),
    /// The stream ended or failed without a close frame.
    Ended,
    /// Nothing arrived in time.
    Timeout,
}

pub struct Client {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

/// Connects; `Err(status)` when the upgrade was refused with an HTTP status.
pub async fn connect(url: &str) -> Result<Client, u16> {
    match tokio_tungstenite::connect_async(url).await {
        Ok((ws, _)) => Ok(Client { ws }),
        Err(WsError::Http(resp)) => Err(resp.status().as_u16()),
        Err(e) => panic!("connect {url}: {e}"),
    }
}

/// Connects to `<server ws_url>?vsn=2.0.0` (plus `extra` query params).
pub async fn connect_v2(server: &phoenix_test_server::TestServer, extra: &str) -> Client {
    let url = format!("{}?vsn=2.0.0{}", server.ws_url(), extra);
    connect(&url)
        .await
        .unwrap_or_else(|s| panic!("connect refused with {s}"))
}

impl Client {
    pub async fn send_text(&mut self, text: &str) {
        self.ws.send(Message::text(text)).await.expect("send text");
    }

    pub async fn send_binary(&mut self, bytes: &[u8]) {
        self.ws
            .send(Message::binary(bytes.to_vec()))
            .await
            .expect("send binary");
    }

    /// The next data or close frame (pings/pongs are skipped).
    pub async fn recv_within(&mut self, within: Duration) -> Received {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let next = match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => return Received::Timeout,
                Ok(n) => n,
            };
            return match next {
                None | Some(Err(_)) => Received::Ended,
                Some(Ok(Message::Text(t))) => Received::Text(t.as_str().to_owned()),
                Some(Ok(Message::Binary(b))) => Received::Binary(b.to_vec()),
                Some(Ok(Message::Close(f))) => Received::Close(f.map(|f| u16::from(f.code))),
                Some(Ok(_)) => continue,
            };
        }
    }

    pub async fn recv(&mut self) -> Received {
        self.recv_within(RECV_TIMEOUT).await
    }

    /// The next text frame as JSON; panics on anything else.
    pub async fn recv_json(&mut self) -> serde_json::Value {
        match self.recv().await {
            Received::Text(t) => {
                serde_json::from_str(&t).unwrap_or_else(|e| panic!("bad JSON {t}: {e}"))
            }
            other => panic!("expected a text frame, got {other:?}"),
        }
    }

    /// Asserts that nothing arrives for `ms` milliseconds.
    pub async fn expect_silence(&mut self, ms: u64) {
        match self.recv_within(Duration::from_millis(ms)).await {
            Received::Timeout => {}
            other => panic!("expected silence, got {other:?}"),
        }
    }

    /// Expects a close frame with `code`, then finishes the close handshake.
    pub async fn expect_close(&mut self, code: u16) {
        match self.recv().await {
            Received::Close(c) => assert_eq!(c, Some(code), "close code"),
            other => panic!("expected close {code}, got {other:?}"),
        }
        // Reading again flushes our close reply and ends the stream.
        let _ = tokio::time::timeout(Duration::from_secs(2), self.ws.next()).await;
    }

    /// Closes from the client side with 1000 and waits for the server's answer.
    pub async fn close(&mut self) -> Received {
        let _ = self
            .ws
            .close(Some(CloseFrame {
                code: CloseCode::Normal,
                reason: "".into(),
            }))
            .await;
        let r = self.recv_within(Duration::from_secs(2)).await;
        let _ = tokio::time::timeout(Duration::from_millis(500), self.ws.next()).await;
        r
    }
}

/// A parsed HTTP response.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("bad JSON body {:?}: {e}", self.body))
    }
}

/// A minimal HTTP/1.1 request over a fresh TCP connection (`Connection: close`).
pub async fn http(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> HttpResponse {
    let mut tcp = TcpStream::connect(addr).await.expect("tcp connect");
    let mut req = format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || method == "POST" {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    tcp.write_all(req.as_bytes()).await.expect("write request");
    tcp.write_all(body).await.expect("write body");
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), tcp.read_to_end(&mut raw))
        .await
        .expect("http response in time")
        .expect("read response");
    parse_response(&raw)
}

fn parse_response(raw: &[u8]) -> HttpResponse {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n").expect("header end");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().expect("status line");
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status code");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let chunked = headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_owned()
    };
    HttpResponse {
        status,
        headers,
        body,
    }
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        s = &rest[n + 2..];
    }
    out
}

/// Decodes a hex string.
pub fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}
