//! Tokens, secret parameters and the client certificate's key never reach
//! the logs (at TRACE) nor `Debug` output, and turning certificate
//! verification off warns on every connection attempt. The socket runs on
//! a thread of its own, so the capturing subscriber is the global one.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use phoenix_client_blocking::{Builder, Client};
use phoenix_test_server::{ServerConfig, TestServer};
use serde_json::{Value, json};

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

/// Everything logged by this test binary so far, at every level.
fn logs() -> String {
    static CAPTURE: OnceLock<Capture> = OnceLock::new();
    let capture = CAPTURE.get_or_init(|| {
        let capture = Capture::default();
        let writer = capture.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
        capture
    });
    String::from_utf8_lossy(&capture.0.lock().unwrap()).into_owned()
}

/// Pieces of the key that would show if it were logged: its PEM lines and
/// a run of its bytes as `Debug` prints them.
fn key_fragments(key_der: &[u8], key_pem: &str) -> Vec<String> {
    let mut fragments: Vec<String> = key_pem
        .lines()
        .filter(|line| !line.starts_with("-----") && line.len() > 16)
        .map(str::to_owned)
        .collect();
    let bytes = format!("{:?}", key_der.get(40..56).unwrap());
    fragments.push(bytes.trim_matches(['[', ']']).to_owned());
    fragments
}

fn wait_until(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within 5 s");
        std::thread::sleep(Duration::from_millis(10));
    }
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
    let client = Client::from(builder.connect());
    let channel = client.channel("echo:logs", &json!({}));
    channel.join().unwrap();
    let _: Value = channel.push("echo", &json!({"x": 1})).unwrap();
    server.drop_all();
    wait_until("a second connection", || {
        server.stats().connections_opened >= 2
    });
    assert!(client.connected_timeout(Duration::from_secs(5)).unwrap());
    let shown_client = format!("{client:?} {channel:?}");
    client.shutdown();
    drop(server);
    let logs = logs();
    assert!(
        logs.contains("connecting"),
        "the session was logged:\n{logs}"
    );
    assert!(
        logs.contains("token=***"),
        "the redacted URL was logged:\n{logs}"
    );
    let mut secrets: Vec<String> = [
        "tok-PARAM-1a2b",
        "tok-AUTH-9f8e",
        "tok-HEADER-3c4d",
        "dG9rLUFVVEgtOWY4ZQ",
    ]
    .map(str::to_owned)
    .to_vec();
    secrets.extend(key_fragments(&cert.key_der, &cert.key_pem));
    for (what, text) in [
        ("the logs", &logs),
        ("the builder's Debug", &shown_builder),
        ("the handles' Debug", &shown_client),
    ] {
        for secret in &secrets {
            assert!(
                !text.contains(secret),
                "{secret} leaked into {what}:\n{text}"
            );
        }
    }
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
    let client = Client::from(
        Builder::new(server.socket_url())
            .danger_accept_invalid_certs()
            .connect(),
    );
    assert!(client.connected_timeout(Duration::from_secs(5)).unwrap());
    server.drop_all();
    wait_until("a second connection", || {
        server.stats().connections_opened >= 2
    });
    assert!(client.connected_timeout(Duration::from_secs(5)).unwrap());
    client.shutdown();
    let attempts = server.stats().connections_opened;
    let port = format!(":{}/", server.port());
    let logs = logs();
    let warnings = logs
        .lines()
        .filter(|line| line.contains(&port))
        .filter(|line| {
            line.contains("WARN") && line.contains("TLS certificate verification is OFF")
        })
        .count();
    assert_eq!(
        warnings as u64, attempts,
        "one warning per attempt:\n{logs}"
    );
}
