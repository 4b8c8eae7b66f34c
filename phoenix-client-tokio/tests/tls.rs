//! wss:// against the test server's generated CA, with rustls and (feature
//! `native-tls`) the platform library.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use phoenix_client_tokio::{Builder, DisconnectReason, Status};
use phoenix_test_server::{ServerConfig, TestServer};
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
    let client = Builder::new(server.socket_url())
        .reconnect(phoenix_client_tokio::Backoff::never())
        .connect();
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
