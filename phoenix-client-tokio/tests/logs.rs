//! Tokens and secret parameters never reach the logs, at any level.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::sync::{Arc, Mutex};

use phoenix_client_tokio::Builder;
use phoenix_test_server::{ServerConfig, TestServer};
use serde_json::json;

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn secrets_never_appear_in_trace_logs() {
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
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
    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("connecting"),
        "the session was logged:\n{logs}"
    );
    assert!(
        logs.contains("token=***"),
        "the redacted URL was logged:\n{logs}"
    );
    for secret in [
        "tok-PARAM-1a2b",
        "tok-AUTH-9f8e",
        "tok-HEADER-3c4d",
        "dG9rLUFVVEgtOWY4ZQ",
    ] {
        assert!(
            !logs.contains(secret),
            "{secret} leaked into the logs:\n{logs}"
        );
    }
}
