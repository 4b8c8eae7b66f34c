//! The fault-control API: close codes, drops, half-open connections, delays,
//! injected frames, refusal with `Retry-After`, restart, shutdown, counters.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::{Duration, Instant};

use common::{Received, connect, connect_v2, http};
use phoenix_test_server::{MALFORMED_FRAME, ServerConfig, TestServer, Transport};
use serde_json::json;

const HEARTBEAT: &str = r#"[null,"hb","phoenix","heartbeat",{}]"#;
const HEARTBEAT_REPLY: &str = r#"[null,"hb","phoenix","phx_reply",{"response":{},"status":"ok"}]"#;

async fn only_connection(server: &TestServer) -> phoenix_test_server::ConnectionId {
    server.wait_for_connections(1).await;
    let conns = server.connections();
    assert_eq!(conns.len(), 1, "{conns:?}");
    conns[0].id
}

#[tokio::test]
async fn close_with_code_and_reason() {
    let server = TestServer::start().await.unwrap();
    let mut c = connect_v2(&server, "").await;
    let id = only_connection(&server).await;
    assert!(server.close_connection(id, 4002, "bye"));
    match next_close_frame(&mut c.ws).await {
        Some((code, reason)) => {
            assert_eq!(code, 4002);
            assert_eq!(reason, "bye");
        }
        None => panic!("no close frame"),
    }
    assert_eq!(c.recv().await, Received::Ended, "close handshake completed");
    server.wait_for_at_most(0).await;
    assert!(
        !server.close_connection(id, 4002, "gone"),
        "unknown ids report false"
    );
}

/// Reads until a close frame and returns its code and reason.
async fn next_close_frame(
    ws: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
) -> Option<(u16, String)> {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    while let Ok(Some(Ok(m))) = tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
        if let Message::Close(Some(f)) = m {
            return Some((u16::from(f.code), f.reason.as_str().to_owned()));
        }
    }
    None
}

#[tokio::test]
async fn drop_without_close_frame() {
    let server = TestServer::start().await.unwrap();
    let mut c = connect_v2(&server, "").await;
    let id = only_connection(&server).await;
    assert!(server.drop_connection(id));
    assert_eq!(c.recv().await, Received::Ended, "no close frame, just EOF");
    server.wait_for_at_most(0).await;
    assert_eq!(server.stats().connections_closed, 1);
}

#[tokio::test]
async fn half_open_stops_answering_but_keeps_the_connection() {
    let server = TestServer::start_with(ServerConfig {
        idle_timeout: Duration::from_millis(300),
        ..ServerConfig::default()
    })
    .await
    .unwrap();
    let mut c = connect_v2(&server, "").await;
    let id = only_connection(&server).await;
    c.send_text(HEARTBEAT).await;
    assert_eq!(c.recv().await, Received::Text(HEARTBEAT_REPLY.into()));
    assert!(server.half_open(id));
    c.send_text(HEARTBEAT).await;
    // No reply, and no idle-timeout close either (longer than 300 ms).
    c.expect_silence(600).await;
    assert_eq!(server.connections().len(), 1, "still registered");
    assert!(server.drop_connection(id));
    assert_eq!(c.recv().await, Received::Ended);
}

#[tokio::test]
async fn delayed_frames_keep_their_order() {
    let server = TestServer::start().await.unwrap();
    let mut c = connect_v2(&server, "").await;
    let id = only_connection(&server).await;
    assert!(server.set_delay(id, Duration::from_millis(400)));
    let sent = Instant::now();
    c.send_text(r#"["1","1","echo:1","phx_join",{}]"#).await;
    c.send_text(HEARTBEAT).await;
    c.expect_silence(200).await;
    let join = c.recv_json().await;
    assert_eq!(join[3], "phx_reply");
    assert_eq!(join[1], "1");
    assert_eq!(c.recv().await, Received::Text(HEARTBEAT_REPLY.into()));
    assert!(
        sent.elapsed() >= Duration::from_millis(380),
        "the delay applied"
    );
    // Remove the delay: answers come at once again.
    server.set_delay(id, Duration::ZERO);
    c.send_text(HEARTBEAT).await;
    assert_eq!(
        c.recv_within(Duration::from_millis(300)).await,
        Received::Text(HEARTBEAT_REPLY.into())
    );
}

#[tokio::test]
async fn server_wide_delay_applies_to_new_connections() {
    let server = TestServer::start().await.unwrap();
    server.set_delay_all(Duration::from_millis(300));
    let mut c = connect_v2(&server, "").await;
    c.send_text(HEARTBEAT).await;
    c.expect_silence(150).await;
    assert_eq!(c.recv().await, Received::Text(HEARTBEAT_REPLY.into()));
}

#[tokio::test]
async fn injected_frames() {
    let server = TestServer::start().await.unwrap();
    let mut c = connect_v2(&server, "").await;
    let id = only_connection(&server).await;
    assert!(server.send_malformed(id));
    assert_eq!(c.recv().await, Received::Text(MALFORMED_FRAME.into()));
    let stale = r#"["99",null,"echo:1","new_msg",{"stale":1}]"#;
    assert!(server.send_raw_text(id, stale));
    assert_eq!(c.recv().await, Received::Text(stale.into()));
    assert!(server.send_raw_binary(id, &[9, 9, 9]));
    assert_eq!(c.recv().await, Received::Binary(vec![9, 9, 9]));
    // The connection is unaffected.
    c.send_text(HEARTBEAT).await;
    assert_eq!(c.recv().await, Received::Text(HEARTBEAT_REPLY.into()));
}

#[tokio::test]
async fn refuse_with_retry_after_then_accept() {
    let server = TestServer::start().await.unwrap();
    server.refuse_connections(Duration::from_secs(30));
    let url = format!("{}?vsn=2.0.0", server.ws_url());
    assert_eq!(connect(&url).await.err(), Some(503));
    let target = "/socket/websocket?vsn=2.0.0";
    let resp = http(server.addr(), "GET", target, &[], b"").await;
    assert_eq!(resp.status, 503);
    let retry: u64 = resp
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert!((1..=30).contains(&retry), "{retry}");
    // Long-poll connects are refused the same way; health is not.
    assert_eq!(
        http(server.addr(), "GET", "/socket/longpoll?vsn=2.0.0", &[], b"")
            .await
            .status,
        503
    );
    assert_eq!(
        http(server.addr(), "GET", "/health", &[], b"").await.status,
        200
    );

    server.refuse_connections_with(429, None, Some(Duration::from_secs(7)));
    let resp = http(server.addr(), "GET", target, &[], b"").await;
    assert_eq!(resp.status, 429);
    assert_eq!(resp.header("retry-after"), Some("7"));

    server.accept_connections();
    let mut c = connect_v2(&server, "").await;
    c.send_text(HEARTBEAT).await;
    assert_eq!(c.recv().await, Received::Text(HEARTBEAT_REPLY.into()));
    assert_eq!(server.stats().connections_refused, 4);
}

#[tokio::test]
async fn refusal_expires_by_itself() {
    let server = TestServer::start().await.unwrap();
    server.refuse_connections(Duration::from_millis(200));
    let url = format!("{}?vsn=2.0.0", server.ws_url());
    assert_eq!(connect(&url).await.err(), Some(503));
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert!(connect(&url).await.is_ok());
}

#[tokio::test]
async fn restart_closes_everything_and_keeps_the_port() {
    let server = TestServer::start().await.unwrap();
    let port = server.port();
    let mut a = connect_v2(&server, "&user_id=alice").await;
    a.send_text(r#"["1","1","presence:r","phx_join",{}]"#).await;
    assert_eq!(a.recv_json().await[3], "phx_reply");
    assert_eq!(a.recv_json().await[3], "presence_diff");
    assert_eq!(a.recv_json().await[3], "presence_state");
    tokio::join!(server.restart(), a.expect_close(1012));
    assert_eq!(server.port(), port);
    assert!(server.connections().is_empty());
    // Same port, fresh state: the presence list is empty again.
    let mut b = connect_v2(&server, "&user_id=bob").await;
    b.send_text(r#"["1","1","presence:r","phx_join",{}]"#).await;
    assert_eq!(b.recv_json().await[3], "phx_reply");
    assert_eq!(b.recv_json().await[3], "presence_diff");
    let state = b.recv_json().await;
    assert_eq!(state[3], "presence_state");
    assert_eq!(
        state[4].as_object().unwrap().keys().collect::<Vec<_>>(),
        vec!["bob"]
    );
}

#[tokio::test]
async fn endpoint_broadcasts_and_socket_id_disconnect() {
    let server = TestServer::start().await.unwrap();
    let mut a = connect_v2(&server, "&user_id=7").await;
    a.send_text(r#"["1","1","echo:b","phx_join",{}]"#).await;
    a.recv_json().await;
    assert_eq!(server.broadcast("echo:b", "news", json!({"n": 1})), 1);
    assert_eq!(
        a.recv().await,
        Received::Text(r#"[null,null,"echo:b","news",{"n":1}]"#.into())
    );
    assert_eq!(server.broadcast_binary("echo:b", "blob", &[1, 2]), 1);
    assert_eq!(
        a.recv().await,
        Received::Binary(vec![
            2, 6, 4, b'e', b'c', b'h', b'o', b':', b'b', b'b', b'l', b'o', b'b', 1, 2
        ])
    );
    assert_eq!(server.broadcast("echo:nobody", "news", json!({})), 0);
    // Phoenix's Endpoint.broadcast(socket_id, "disconnect", %{}) closes with 1001.
    server.broadcast("user_socket:7", "disconnect", json!({}));
    a.expect_close(1001).await;
}

#[tokio::test]
async fn listing_waiting_and_counting() {
    let server = TestServer::start().await.unwrap();
    let waiter = server.next_connection();
    let (info, mut c) = tokio::join!(waiter, connect_v2(&server, "&user_id=u1&foo=b%20r"));
    assert_eq!(info.transport, Transport::WebSocket);
    assert_eq!(info.socket_id.as_deref(), Some("user_socket:u1"));
    assert_eq!(info.params.get("foo").map(String::as_str), Some("b r"));
    assert_eq!(info.params.get("vsn").map(String::as_str), Some("2.0.0"));
    let mut d = connect_v2(&server, "").await;
    server.wait_for_connections(2).await;
    server.wait_for_opened(2).await;
    for _ in 0..3 {
        c.send_text(HEARTBEAT).await;
        c.recv().await;
    }
    let stats = server.stats();
    assert_eq!(stats.connections_opened, 2);
    assert_eq!(stats.connections_open, 2);
    assert_eq!(stats.frames_received, 3);
    assert!(stats.frames_sent >= 3);
    assert_eq!(server.connection(info.id).unwrap().frames_received, 3);
    assert_eq!(server.close_all(1000, ""), 2);
    tokio::join!(
        server.wait_for_at_most(0),
        c.expect_close(1000),
        d.expect_close(1000)
    );
}

#[tokio::test]
async fn graceful_shutdown_closes_with_1001() {
    let server = TestServer::start().await.unwrap();
    let addr = server.addr();
    let mut c = connect_v2(&server, "").await;
    server.wait_for_connections(1).await;
    tokio::join!(server.shutdown(), c.expect_close(1001));
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "listener closed"
    );
}

#[tokio::test]
async fn drop_stops_the_server() {
    let server = TestServer::start().await.unwrap();
    let addr = server.addr();
    let mut c = connect_v2(&server, "").await;
    server.wait_for_connections(1).await;
    drop(server);
    assert!(matches!(
        c.recv().await,
        Received::Ended | Received::Close(_)
    ));
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "listener closed"
    );
}

#[tokio::test]
async fn max_frame_size_closes_with_1009() {
    let server = TestServer::start_with(ServerConfig {
        max_frame_size: 1024,
        ..ServerConfig::default()
    })
    .await
    .unwrap();
    let mut c = connect_v2(&server, "").await;
    let big = format!(
        r#"["1","1","echo:1","echo",{{"x":"{}"}}]"#,
        "a".repeat(2000)
    );
    c.send_text(&big).await;
    c.expect_close(1009).await;
}

#[tokio::test]
async fn channel_limit() {
    // phoenix-proto/PROTOCOL.md T13 (limit 5 there; 3 here).
    let server = TestServer::start_with(ServerConfig {
        max_channels: 3,
        ..ServerConfig::default()
    })
    .await
    .unwrap();
    let mut c = connect_v2(&server, "").await;
    for i in 1..=3 {
        c.send_text(&format!(r#"["{i}","{i}","echo:{i}","phx_join",{{}}]"#))
            .await;
        assert_eq!(c.recv_json().await[4]["status"], "ok");
    }
    c.send_text(r#"["4","4","echo:4","phx_join",{}]"#).await;
    assert_eq!(
        c.recv().await,
        Received::Text(r#"["4","4","echo:4","phx_reply",{"response":{"reason":"too many channels joined"},"status":"error"}]"#.into())
    );
    // A duplicate join of a joined topic is not a new channel.
    c.send_text(r#"["5","5","echo:1","phx_join",{}]"#).await;
    assert_eq!(c.recv_json().await[4]["status"], "ok");
    assert_eq!(
        c.recv().await,
        Received::Text(r#"["1","1","echo:1","phx_close",{}]"#.into())
    );
    // Leaving frees a slot.
    c.send_text(r#"["2","6","echo:2","phx_leave",{}]"#).await;
    c.recv_json().await;
    c.recv_json().await;
    c.send_text(r#"["7","7","echo:4","phx_join",{}]"#).await;
    assert_eq!(c.recv_json().await[4]["status"], "ok");
}
