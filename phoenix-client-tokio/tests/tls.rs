//! wss:// against the test server's generated CA (and with client certificates,
//! or with verification turned off by name), with rustls and (feature
//! `native-tls`) the platform library.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use phoenix_client_tokio::{Builder, DisconnectReason, Status};
use phoenix_test_server::{ServerConfig, TestServer};
// Captures what this thread logs, at every level (the tests run on
// tokio's current-thread runtime, so the socket's task logs here too).
use phoenix_test_support::logs::Capture;
use serde_json::{Value, json};

async fn tls_server() -> TestServer {
    TestServer::start_with(ServerConfig {
        tls: true,
        ..ServerConfig::default()
    })
    .await
    .unwrap()
}

async fn echo_over(builder: Builder) {
    let client = builder.connect();
    let channel = client.channel("echo:tls", &json!({}));
    channel.join().await.unwrap();
    let reply: Value = channel
        .push("echo", &json!({"secure": true}))
        .await
        .unwrap();
    assert_eq!(reply, json!({"secure": true}));
    client.shutdown().await;
}

/// Connects once (the builder must not retry) and checks that the
/// connection was refused for a TLS reason.
async fn refused_for_tls(builder: Builder) {
    let client = builder.connect();
    let mut status = client.status();
    let reason = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if let Status::Disconnected { reason, .. } = &*status.borrow_and_update() {
                return reason.clone();
            }
            status.changed().await.unwrap();
        }
    })
    .await
    .unwrap();
    match reason {
        DisconnectReason::TransportError { message } => {
            assert!(message.contains("TLS"), "{message}")
        }
        other => panic!("expected a TLS failure, got {other:?}"),
    }
    client.shutdown().await;
}

#[tokio::test]
async fn rustls_with_the_servers_ca() {
    let server = tls_server().await;
    assert!(server.socket_url().starts_with("wss://"));
    let ca = server.tls().unwrap().ca_der.clone();
    echo_over(Builder::new(server.socket_url()).add_root_certificate(ca)).await;
    server.shutdown().await;
}

#[tokio::test]
async fn rustls_refuses_an_unknown_ca() {
    let server = tls_server().await;
    refused_for_tls(
        Builder::new(server.socket_url()).reconnect(phoenix_client_tokio::Backoff::never()),
    )
    .await;
    server.shutdown().await;
}

#[cfg(feature = "native-tls")]
#[tokio::test]
async fn native_tls_with_the_servers_ca() {
    let server = tls_server().await;
    let ca = server.tls().unwrap().ca_der.clone();
    echo_over(
        Builder::new(server.socket_url())
            .native_tls()
            .add_root_certificate(ca),
    )
    .await;
    server.shutdown().await;
}

/// The warnings that certificate verification is off, in `logs`.
fn unverified_warnings(logs: &str) -> usize {
    logs.lines()
        .filter(|l| l.contains("WARN") && l.contains("TLS certificate verification is OFF"))
        .count()
}

/// Connects with `builder`, reconnects once after the server drops the
/// connection, and returns how many connections the server opened.
async fn connect_twice(server: &TestServer, builder: Builder) -> u64 {
    let client = builder.connect();
    client.connected().await.unwrap();
    server.drop_all();
    tokio::time::timeout(Duration::from_secs(5), server.wait_for_opened(2))
        .await
        .unwrap();
    client.connected().await.unwrap();
    client.shutdown().await;
    server.stats().connections_opened
}

#[tokio::test]
async fn rustls_danger_accept_invalid_certs_connects_and_warns_on_every_attempt() {
    let server = tls_server().await;
    let capture = Capture::default();
    let _logs = capture.start();
    // The server's CA is not added: only the dangerous option lets it in.
    let builder = Builder::new(server.socket_url()).danger_accept_invalid_certs();
    let attempts = connect_twice(&server, builder).await;
    assert_eq!(unverified_warnings(&capture.text()) as u64, attempts);
    echo_over(Builder::new(server.socket_url()).danger_accept_invalid_certs()).await;
    server.shutdown().await;
}

#[tokio::test]
async fn the_client_key_stays_out_of_debug_and_logs() {
    let server = TestServer::start_with(ServerConfig {
        tls: true,
        tls_client_auth: true,
        ..ServerConfig::default()
    })
    .await
    .unwrap();
    let tls = server.tls().unwrap();
    let cert = tls.issue_client_certificate("tokio-client").unwrap();
    let capture = Capture::default();
    let _logs = capture.start();
    let builder = Builder::new(server.socket_url())
        .auth_token("tok-AUTH-5e6f")
        .add_root_certificate(tls.ca_der.clone())
        .client_certificate(cert.chain_der.clone(), cert.key_der.clone());
    let shown = format!("{builder:?}");
    let client = builder.connect();
    client.connected().await.unwrap();
    let shown = format!("{shown} {client:?}");
    client.shutdown().await;
    let logs = capture.text();
    assert!(
        logs.contains("connecting"),
        "the session was logged:\n{logs}"
    );
    assert!(shown.contains("key ***"), "{shown}");
    let mut secrets: Vec<String> = cert
        .key_pem
        .lines()
        .filter(|l| !l.starts_with("-----") && l.len() > 16)
        .map(str::to_owned)
        .collect();
    let bytes = format!("{:?}", cert.key_der.get(40..56).unwrap());
    secrets.push(bytes.trim_matches(['[', ']']).to_owned());
    secrets.push("tok-AUTH-5e6f".to_owned());
    for secret in &secrets {
        assert!(
            !logs.contains(secret),
            "{secret} leaked into the logs:\n{logs}"
        );
        assert!(
            !shown.contains(secret),
            "{secret} leaked into Debug: {shown}"
        );
    }
    server.shutdown().await;
}

#[cfg(feature = "native-tls")]
#[tokio::test]
async fn native_tls_danger_accept_invalid_certs_connects_and_warns_on_every_attempt() {
    let server = tls_server().await;
    let capture = Capture::default();
    let _logs = capture.start();
    let builder = Builder::new(server.socket_url())
        .native_tls()
        .danger_accept_invalid_certs();
    let attempts = connect_twice(&server, builder).await;
    assert_eq!(unverified_warnings(&capture.text()) as u64, attempts);
    server.shutdown().await;
}

#[cfg(feature = "native-tls")]
#[tokio::test]
async fn native_tls_refuses_an_unknown_ca_and_a_wrong_host() {
    for names in [None, Some(vec!["not-this-host.invalid".to_owned()])] {
        let wrong_host = names.is_some();
        let server = TestServer::start_with(ServerConfig {
            tls: true,
            tls_cert_names: names.unwrap_or_else(|| ServerConfig::default().tls_cert_names),
            ..ServerConfig::default()
        })
        .await
        .unwrap();
        let mut builder = Builder::new(server.socket_url())
            .native_tls()
            .reconnect(phoenix_client_tokio::Backoff::never());
        if wrong_host {
            builder = builder.add_root_certificate(server.tls().unwrap().ca_der.clone());
        }
        refused_for_tls(builder).await;
        server.shutdown().await;
    }
}

#[cfg(feature = "native-tls")]
#[tokio::test]
async fn native_tls_with_a_client_certificate() {
    let server = TestServer::start_with(ServerConfig {
        tls: true,
        tls_client_auth: true,
        ..ServerConfig::default()
    })
    .await
    .unwrap();
    let tls = server.tls().unwrap();
    let cert = tls.issue_client_certificate("native-client").unwrap();
    echo_over(
        Builder::new(server.socket_url())
            .native_tls()
            .add_root_certificate(tls.ca_der.clone())
            .client_certificate(cert.chain_der, cert.key_der),
    )
    .await;
    server.shutdown().await;
}
