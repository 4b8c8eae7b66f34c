//! Protocol behaviour beyond the live transcripts: the fixture-independent
//! parts of the Phoenix 1.8 module transcripts, the auth token, TLS,
//! long-poll details and presence leaves.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use common::{Received, connect, connect_v2, http};
use futures_util::{SinkExt, StreamExt};
use phoenix_test_server::{ServerConfig, TestServer, Transport};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const MODULES_DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../transcripts/phoenix-1.8-modules"
);

/// One line of a `=== S<n>` section: a client or server frame, or a note.
#[derive(Debug, Clone, PartialEq)]
enum ModLine {
    ClientText(String),
    ClientBinary(Vec<u8>),
    ServerText(String),
    Note(String),
}

fn section(file: &str, id: &str) -> Vec<ModLine> {
    let text =
        std::fs::read_to_string(format!("{MODULES_DIR}/{file}")).expect("read module transcript");
    let header = format!("=== {id} ");
    let mut out = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        if line.starts_with("=== ") {
            inside = line.starts_with(&header);
            continue;
        }
        if !inside || line.trim().is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("C->S text") {
            out.push(ModLine::ClientText(rest.trim().to_owned()));
        } else if let Some(rest) = line.strip_prefix("C->S binary") {
            out.push(ModLine::ClientBinary(common::hex(&rest.replace(' ', ""))));
        } else if let Some(rest) = line.strip_prefix("S->C text") {
            out.push(ModLine::ServerText(rest.trim().to_owned()));
        } else {
            out.push(ModLine::Note(line.trim().to_owned()));
        }
    }
    assert!(!out.is_empty(), "section {id} of {file} not found");
    out
}

/// Replays a section whose frames do not depend on the app's channels.
async fn replay_exact(file: &str, id: &str) {
    let server = TestServer::start().await.unwrap();
    let mut c = connect_v2(&server, "").await;
    for line in section(file, id) {
        match line {
            ModLine::ClientText(t) => c.send_text(&t).await,
            ModLine::ServerText(t) => assert_eq!(c.recv().await, Received::Text(t), "{id}"),
            other => panic!("unexpected {other:?} in {id}"),
        }
    }
    c.expect_silence(100).await;
}

#[tokio::test]
async fn modules_s5_heartbeat() {
    replay_exact("server_v2_part1.txt", "S5").await;
}

#[tokio::test]
async fn modules_s7_push_on_unjoined_topic() {
    replay_exact("server_v2_part1.txt", "S7").await;
}

#[tokio::test]
async fn modules_s18_invalid_frames_close_1011() {
    let server = TestServer::start().await.unwrap();
    let lines = section("server_v2_part2.txt", "S18");
    let mut n = 0;
    for line in lines {
        let mut c = connect_v2(&server, "").await;
        match line {
            ModLine::ClientText(t) => c.send_text(&t).await,
            ModLine::ClientBinary(b) => c.send_binary(&b).await,
            ModLine::Note(note) => {
                assert!(note.contains("closes 1011"), "{note}");
                continue;
            }
            other => panic!("unexpected {other:?}"),
        }
        c.expect_close(1011).await;
        n += 1;
    }
    assert_eq!(n, 5);
}

#[tokio::test]
async fn modules_s23_version_negotiation() {
    // The seven attempts listed in phoenix-1.8-modules/README.md, in order.
    let attempts = [
        "vsn=2.0.9",
        "vsn=2.1.0",
        "vsn=3.0.0",
        "vsn=garbage",
        "vsn%5B%5D=2.0.0",
        "vsn=1.0.0",
        "vsn=2.0.0&reject=true",
    ];
    let outcomes: Vec<String> = section("server_v2_part2.txt", "S23")
        .into_iter()
        .map(|l| match l {
            ModLine::Note(n) => n,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(outcomes.len(), attempts.len());
    let server = TestServer::start().await.unwrap();
    for (query, outcome) in attempts.iter().zip(outcomes) {
        let url = format!("{}?{query}", server.ws_url());
        let result = connect(&url).await;
        if outcome.contains("connect ok") {
            let mut c = result.unwrap_or_else(|s| panic!("{query}: refused with {s}"));
            let conn = server
                .connections()
                .into_iter()
                .max_by_key(|c| c.id)
                .unwrap();
            let expected = if outcome.contains("V1") { "V1" } else { "V2" };
            assert_eq!(format!("{:?}", conn.serializer), expected, "{query}");
            c.close().await;
        } else {
            assert!(outcome.contains("HTTP 403"), "{outcome}");
            assert_eq!(result.err(), Some(403), "{query}");
        }
    }
}

#[tokio::test]
async fn modules_s22_v1_join_ref_and_missing_ref() {
    // S22: a V1 join carrying join_ref "1" gets phx_error with ref "1"; a V1
    // object without "ref" crashes the connection.
    let server = TestServer::start().await.unwrap();
    let mut c = connect(&server.ws_url()).await.unwrap();
    c.send_text(r#"{"topic":"echo:v1","event":"phx_join","payload":{},"ref":"1","join_ref":"1"}"#)
        .await;
    assert_eq!(
        c.recv().await,
        Received::Text(r#"{"event":"phx_reply","payload":{"response":{"joined":"echo:v1"},"status":"ok"},"ref":"1","topic":"echo:v1"}"#.into())
    );
    c.send_text(r#"{"topic":"echo:v1","event":"crash","payload":{},"ref":"5"}"#)
        .await;
    assert_eq!(
        c.recv().await,
        Received::Text(r#"{"event":"phx_error","payload":{"reason":"channel_crash"},"ref":"1","topic":"echo:v1"}"#.into())
    );
    c.send_text(r#"{"topic":"echo:v1","event":"ping","payload":{}}"#)
        .await;
    c.expect_close(1011).await;
}

#[tokio::test]
async fn null_join_ref_join_and_binary_empty_join_ref() {
    // S13 (mapped to the fixture): a join with join_ref null is stamped with
    // its ref on pushes, and phx_close carries null refs.
    let server = TestServer::start().await.unwrap();
    let mut c = connect_v2(&server, "").await;
    c.send_text(r#"[null,"1","echo:nj","phx_join",{}]"#).await;
    assert_eq!(
        c.recv_json().await,
        json!([null, "1", "echo:nj", "phx_reply", {"response": {"joined": "echo:nj"}, "status": "ok"}])
    );
    c.send_text(r#"[null,"2","echo:nj","stop",{}]"#).await;
    assert_eq!(
        c.recv().await,
        Received::Text(r#"[null,null,"echo:nj","phx_close",{}]"#.into())
    );

    // Binary push with an empty join_ref on a channel joined with "1": stale, dropped (1.8).
    c.send_text(r#"["1","3","echo:b","phx_join",{}]"#).await;
    c.recv_json().await;
    let mut frame = vec![0u8, 0, 1, 6, 6];
    frame.extend_from_slice(b"4echo:bbinary");
    frame.push(1);
    c.send_binary(&frame).await;
    c.expect_silence(200).await;
    // With the right join_ref it is answered.
    let mut frame = vec![0u8, 1, 1, 6, 6];
    frame.extend_from_slice(b"15echo:bbinary");
    frame.extend_from_slice(&[1, 2]);
    c.send_binary(&frame).await;
    assert_eq!(
        c.recv_json().await,
        json!(["1", "5", "echo:b", "phx_reply", {"response": {"byte_size": 2}, "status": "ok"}])
    );
}

#[tokio::test]
async fn presence_anon_and_leave_on_crash_and_disconnect() {
    let server = TestServer::start().await.unwrap();
    let mut a = connect_v2(&server, "").await;
    a.send_text(r#"["1","1","presence:p","phx_join",{}]"#).await;
    a.recv_json().await;
    let diff = a.recv_json().await;
    assert_eq!(diff[3], "presence_diff");
    assert!(diff[4]["joins"]["anon"]["metas"][0]["phx_ref"].is_string());
    let state = a.recv_json().await;
    assert_eq!(state[0], "1");
    assert_eq!(state[1], Value::Null);
    assert!(state[4]["anon"].is_object());

    let mut b = connect_v2(&server, "&user_id=bob").await;
    b.send_text(r#"["1","1","presence:p","phx_join",{}]"#).await;
    b.recv_json().await;
    let bob_join = a.recv_json().await;
    let bob_ref = bob_join[4]["joins"]["bob"]["metas"][0]["phx_ref"].clone();
    // An event on a presence channel crashes it: phx_error, and the others see the leave.
    b.recv_json().await;
    b.recv_json().await;
    b.send_text(r#"["1","2","presence:p","whatever",{}]"#).await;
    assert_eq!(
        b.recv().await,
        Received::Text(r#"["1","1","presence:p","phx_error",{"reason":"channel_crash"}]"#.into())
    );
    let leave = a.recv_json().await;
    assert_eq!(leave[4]["joins"], json!({}));
    assert_eq!(leave[4]["leaves"]["bob"]["metas"][0]["phx_ref"], bob_ref);

    // Rejoin, then the socket-id disconnect: bob's leave is broadcast too.
    b.send_text(r#"["3","3","presence:p","phx_join",{}]"#).await;
    b.recv_json().await;
    assert_eq!(
        a.recv_json().await[4]["joins"]["bob"]["metas"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(server.disconnect_socket_id("user_socket:bob"), 1);
    let leave = a.recv_json().await;
    assert!(leave[4]["leaves"]["bob"].is_object());
}

#[tokio::test]
async fn auth_token_subprotocol() {
    let server = TestServer::start_with(ServerConfig {
        auth_token: Some("s3cr3t".into()),
        ..ServerConfig::default()
    })
    .await
    .unwrap();
    let url = format!("{}?vsn=2.0.0", server.ws_url());
    assert_eq!(connect(&url).await.err(), Some(403), "no token");

    let offer = |token: &str| {
        let b64 = base64::engine::general_purpose::STANDARD_NO_PAD.encode(token);
        let mut req = url.clone().into_client_request().unwrap();
        req.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            format!("phoenix, base64url.bearer.phx.{b64}")
                .parse()
                .unwrap(),
        );
        req
    };
    match tokio_tungstenite::connect_async(offer("wrong")).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status(), 403),
        other => panic!("expected 403, got {:?}", other.map(|_| ())),
    }
    let (mut ws, resp) = tokio_tungstenite::connect_async(offer("s3cr3t"))
        .await
        .unwrap();
    assert_eq!(
        resp.headers().get("sec-websocket-protocol").unwrap(),
        "phoenix"
    );
    let info = server.connections().pop().unwrap();
    assert_eq!(info.auth_token.as_deref(), Some("s3cr3t"));
    ws.send(Message::text(r#"[null,"1","phoenix","heartbeat",{}]"#))
        .await
        .unwrap();
    assert!(ws.next().await.unwrap().unwrap().is_text());

    // Long-poll carries the raw token in X-Phoenix-AuthToken.
    let lp = "/socket/longpoll?vsn=2.0.0";
    assert_eq!(
        http(server.addr(), "GET", lp, &[], b"").await.json(),
        json!({"status": 403})
    );
    let ok = http(
        server.addr(),
        "GET",
        lp,
        &[("X-Phoenix-AuthToken", "s3cr3t")],
        b"",
    )
    .await
    .json();
    assert_eq!(ok["status"], 410);
}

#[tokio::test]
async fn auth_token_is_decoded_without_being_required() {
    let server = TestServer::start().await.unwrap();
    let mut req = format!("{}?vsn=2.0.0", server.ws_url())
        .into_client_request()
        .unwrap();
    req.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "phoenix, base64url.bearer.phx.czNjcjN0".parse().unwrap(),
    );
    let (_ws, resp) = tokio_tungstenite::connect_async(req).await.unwrap();
    assert_eq!(
        resp.headers().get("sec-websocket-protocol").unwrap(),
        "phoenix"
    );
    assert_eq!(
        server.connections().pop().unwrap().auth_token.as_deref(),
        Some("s3cr3t")
    );
    // Garbage in the token entry is a server error, as in Phoenix.
    let mut req = format!("{}?vsn=2.0.0", server.ws_url())
        .into_client_request()
        .unwrap();
    req.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "phoenix, base64url.bearer.phx.-_-_".parse().unwrap(),
    );
    match tokio_tungstenite::connect_async(req).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status(), 500),
        other => panic!("expected 500, got {:?}", other.map(|_| ())),
    }
}

#[tokio::test]
async fn tls_wss_and_https() {
    let server = TestServer::start_with(ServerConfig {
        tls: true,
        ..ServerConfig::default()
    })
    .await
    .unwrap();
    assert!(server.ws_url().starts_with("wss://127.0.0.1:"));
    let tls = server.tls().unwrap();
    assert!(tls.ca_pem.starts_with("-----BEGIN CERTIFICATE-----"));
    assert!(tls.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));

    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from(tls.ca_der.clone()))
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();

    let tcp = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    let stream = connector.connect(name.clone(), tcp).await.unwrap();
    let url = format!("{}?vsn=2.0.0", server.ws_url());
    let (mut ws, _) = tokio_tungstenite::client_async(url, stream).await.unwrap();
    ws.send(Message::text(r#"[null,"1","phoenix","heartbeat",{}]"#))
        .await
        .unwrap();
    let reply = ws.next().await.unwrap().unwrap();
    assert_eq!(
        reply.to_text().unwrap(),
        r#"[null,"1","phoenix","phx_reply",{"response":{},"status":"ok"}]"#
    );

    // https health check over the same certificate.
    let tcp = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    let mut stream = connector.connect(name, tcp).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut resp = Vec::new();
    let _ = stream.read_to_end(&mut resp).await;
    assert!(String::from_utf8_lossy(&resp).starts_with("HTTP/1.1 200"));
}

#[tokio::test]
async fn longpoll_session_lifecycle() {
    let server = TestServer::start_with(ServerConfig {
        longpoll_window: Duration::from_millis(300),
        ..ServerConfig::default()
    })
    .await
    .unwrap();
    let addr = server.addr();
    let open = http(
        addr,
        "GET",
        "/socket/longpoll?vsn=2.0.0&user_id=lp",
        &[],
        b"",
    )
    .await;
    assert_eq!(open.header("access-control-allow-origin"), Some("*"));
    let body = open.json();
    assert_eq!(body["status"], 410);
    let token = body["token"].as_str().unwrap().to_owned();
    let info = server.connections().pop().unwrap();
    assert_eq!(info.transport, Transport::LongPoll);
    assert_eq!(info.socket_id.as_deref(), Some("user_socket:lp"));

    // Token in the header; ndjson with a text line and a base64 binary line.
    let hdr = [
        ("X-Phoenix-Longpoll-Token", token.as_str()),
        ("Content-Type", "application/x-ndjson"),
    ];
    let join = br#"["1","1","echo:lp","phx_join",{}]"#;
    assert_eq!(
        http(addr, "POST", "/socket/longpoll?vsn=2.0.0", &hdr, join)
            .await
            .json(),
        json!({"status": 200})
    );
    let mut bin = vec![0u8, 1, 1, 7, 6];
    bin.extend_from_slice(b"12echo:lpbinary");
    bin.extend_from_slice(&[1, 2, 3]);
    let body = format!(
        "{}\n{}",
        r#"["1","3","echo:lp","push_binary",{}]"#,
        base64::engine::general_purpose::STANDARD.encode(&bin)
    );
    assert_eq!(
        http(addr, "POST", "/socket/longpoll", &hdr, body.as_bytes())
            .await
            .json(),
        json!({"status": 200})
    );
    let mut messages = Vec::new();
    while messages.len() < 3 {
        let poll = http(addr, "GET", "/socket/longpoll", &hdr[..1], b"")
            .await
            .json();
        assert_eq!(poll["status"], 200, "{poll}");
        assert_eq!(poll["token"], json!(token));
        for m in poll["messages"].as_array().unwrap() {
            messages.push(serde_json::from_str::<Value>(m.as_str().unwrap()).unwrap());
        }
    }
    // The binary push ("pushed_binary") cannot travel over long-poll.
    assert_eq!(
        messages,
        vec![
            json!(["1", "1", "echo:lp", "phx_reply", {"response": {"joined": "echo:lp"}, "status": "ok"}]),
            json!(["1", "3", "echo:lp", "phx_reply", {"response": {}, "status": "ok"}]),
            json!(["1", "2", "echo:lp", "phx_reply", {"response": {"byte_size": 3}, "status": "ok"}]),
        ]
    );
    // Nothing more: 204 after the window.
    let idle = http(addr, "GET", "/socket/longpoll", &hdr[..1], b"")
        .await
        .json();
    assert_eq!(idle, json!({"status": 204, "token": token, "messages": []}));

    // Server-side close ends the session; the token is then unknown.
    assert!(server.close_connection(info.id, 1000, ""));
    server.wait_for_at_most(0).await;
    let gone = http(addr, "POST", "/socket/longpoll", &hdr, join)
        .await
        .json();
    assert_eq!(gone, json!({"status": 410}));

    // A session that is not polled for 1.5 x window times out.
    let open = http(addr, "GET", "/socket/longpoll?vsn=2.0.0", &[], b"")
        .await
        .json();
    assert_eq!(open["status"], 410);
    server.wait_for_connections(1).await;
    tokio::time::timeout(Duration::from_secs(3), server.wait_for_at_most(0))
        .await
        .expect("session timed out");
    assert_eq!(
        http(addr, "OPTIONS", "/socket/longpoll", &[], b"")
            .await
            .status,
        200
    );
    assert_eq!(
        http(addr, "PUT", "/socket/longpoll", &[], b"").await.status,
        400
    );
}

#[tokio::test]
async fn http_edges() {
    let server = TestServer::start().await.unwrap();
    let addr = server.addr();
    assert_eq!(http(addr, "GET", "/health", &[], b"").await.status, 200);
    assert_eq!(http(addr, "GET", "/nope", &[], b"").await.status, 404);
    assert_eq!(
        http(addr, "POST", "/socket/websocket?vsn=2.0.0", &[], b"")
            .await
            .status,
        400
    );
    assert_eq!(
        http(
            addr,
            "GET",
            "/socket/websocket?vsn=2.0.0&reject=true",
            &[],
            b""
        )
        .await
        .status,
        403
    );
    assert_eq!(server.stats().connections_refused, 1);
}
