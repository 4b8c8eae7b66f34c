//! Tokens, secret parameters and the client certificate's key never reach
//! the logs (at TRACE) nor `Debug` output, and turning certificate
//! verification off warns on every connection attempt. Sockets run on the
//! global executor's threads, so the capturing subscriber is the global one.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use futures_lite::future::block_on;
use phoenix_client_async_std::{Builder, Client};
use phoenix_test_server::{ServerConfig, TestServer};
use phoenix_test_support::logs::{
    assert_session_logged_without, global as logs, key_fragments, unverified_warnings,
};
use phoenix_test_support::wait_until;
use serde_json::{Value, json};

/// Waits at most 5 s for `client` to be connected.
fn connected(client: &Client) {
    let limit = async {
        async_io::Timer::after(Duration::from_secs(5)).await;
        panic!("not connected within 5 s");
    };
    block_on(futures_lite::future::or(
        async { client.connected().await.unwrap() },
        limit,
    ));
}

#[test]
fn secrets_never_appear_in_trace_logs_or_debug() {
    let _ = logs();
    let server = TestServer::start_blocking(ServerConfig {
        tls: true,
        tls_client_auth: true,
        auth_token: Some("tok-AUTH-9f8e".into()),
        ..ServerConfig::default()
    })
    .unwrap();
    let tls = server.tls().unwrap();
    let cert = tls.issue_client_certificate("logs-client").unwrap();
    let builder = Builder::new(server.socket_url())
        .param("token", "tok-PARAM-1a2b")
        .auth_token("tok-AUTH-9f8e")
        .header("authorization", "Bearer tok-HEADER-3c4d")
        .add_root_certificate(tls.ca_der.clone())
        .client_certificate(cert.chain_der.clone(), cert.key_der.clone());
    let shown_builder = format!("{builder:?}");
    let client = builder.connect();
    let channel = client.channel("echo:logs", &json!({}));
    block_on(channel.join()).unwrap();
    let _: Value = block_on(channel.push("echo", &json!({"x": 1}))).unwrap();
    server.drop_all();
    wait_until("a second connection", || {
        server.stats().connections_opened >= 2
    });
    connected(&client);
    let shown_client = format!("{client:?} {channel:?}");
    block_on(client.shutdown());
    drop(server);
    let logs = logs();
    let mut secrets: Vec<String> = [
        "tok-PARAM-1a2b",
        "tok-AUTH-9f8e",
        "tok-HEADER-3c4d",
        "dG9rLUFVVEgtOWY4ZQ",
    ]
    .map(str::to_owned)
    .to_vec();
    secrets.extend(key_fragments(&cert.key_der, &cert.key_pem));
    let shown = [
        ("the builder's Debug", shown_builder.as_str()),
        ("the handles' Debug", shown_client.as_str()),
    ];
    assert_session_logged_without(&logs, &shown, &secrets);
    assert!(shown_builder.contains("key ***"), "{shown_builder}");
}

#[test]
fn turning_verification_off_warns_on_every_attempt() {
    let _ = logs();
    let server = TestServer::start_blocking(ServerConfig {
        tls: true,
        ..ServerConfig::default()
    })
    .unwrap();
    // Not trusting the server's CA: only the dangerous option lets it in.
    let client = Builder::new(server.socket_url())
        .danger_accept_invalid_certs()
        .connect();
    connected(&client);
    server.drop_all();
    wait_until("a second connection", || {
        server.stats().connections_opened >= 2
    });
    connected(&client);
    block_on(client.shutdown());
    let attempts = server.stats().connections_opened;
    let port = format!(":{}/", server.port());
    let logs = logs();
    let warnings = unverified_warnings(&logs, &port);
    assert_eq!(
        warnings as u64, attempts,
        "one warning per attempt:\n{logs}"
    );
}
