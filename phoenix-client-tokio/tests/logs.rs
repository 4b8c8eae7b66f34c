//! Tokens and secret parameters never reach the logs, at any level.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use phoenix_client_tokio::Builder;
use phoenix_test_server::{ServerConfig, TestServer};
use phoenix_test_support::logs::{Capture, assert_session_logged_without};
use serde_json::json;

#[test]
fn secrets_never_appear_in_trace_logs() {
    let capture = Capture::default();
    let _guard = capture.start();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let server = TestServer::start_with(ServerConfig {
            auth_token: Some("tok-AUTH-9f8e".into()),
            ..ServerConfig::default()
        })
        .await
        .unwrap();
        let client = Builder::new(server.socket_url())
            .param("token", "tok-PARAM-1a2b")
            .auth_token("tok-AUTH-9f8e")
            .header("authorization", "Bearer tok-HEADER-3c4d")
            .connect();
        let channel = client.channel("echo:logs", &json!({}));
        channel.join().await.unwrap();
        let _: serde_json::Value = channel.push("echo", &json!({"x": 1})).await.unwrap();
        server.drop_all();
        client.connected().await.unwrap();
        client.shutdown().await;
        server.shutdown().await;
    });
    let logs = capture.text();
    let secrets = [
        "tok-PARAM-1a2b",
        "tok-AUTH-9f8e",
        "tok-HEADER-3c4d",
        "dG9rLUFVVEgtOWY4ZQ",
    ];
    assert_session_logged_without(&logs, &[], &secrets);
}
