//! Capturing what a test logs, at every level, as plain text.
//!
//! [`Capture::start`] captures what the current thread logs (a test whose
//! sockets run on that thread, like tokio's current-thread runtime);
//! [`global`] captures what every thread of the test binary logs (sockets
//! on threads of their own or on an executor's threads).

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

/// Log lines written by a `tracing_subscriber::fmt` subscriber at TRACE,
/// without colours.
#[derive(Clone, Debug, Default)]
pub struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Capture {
    /// A subscriber that logs everything, at every level, into this capture.
    fn subscriber(&self) -> impl tracing::Subscriber + Send + Sync + use<> {
        let writer = self.clone();
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish()
    }

    /// Captures what the current thread logs until the guard is dropped.
    pub fn start(&self) -> tracing::subscriber::DefaultGuard {
        tracing::subscriber::set_default(self.subscriber())
    }

    /// Everything captured so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(PoisonError::into_inner)).into_owned()
    }
}

/// Everything logged by this test binary so far, on any thread, at every
/// level. The first call makes a capture the global subscriber; it panics
/// if another global subscriber was set first.
pub fn global() -> String {
    static CAPTURE: OnceLock<Capture> = OnceLock::new();
    #[allow(clippy::panic, reason = "a test helper: failing loudly is its job")]
    let capture = CAPTURE.get_or_init(|| {
        let capture = Capture::default();
        if let Err(error) = tracing::subscriber::set_global_default(capture.subscriber()) {
            panic!("the log capture could not be the global subscriber: {error}");
        }
        capture
    });
    capture.text()
}

/// Pieces of a private key that would show if it were logged: its PEM
/// lines and a run of its bytes as `Debug` prints them.
///
/// # Panics
///
/// If `key_der` is shorter than 56 bytes.
#[allow(clippy::panic, reason = "a test helper: failing loudly is its job")]
pub fn key_fragments(key_der: &[u8], key_pem: &str) -> Vec<String> {
    let mut fragments: Vec<String> = key_pem
        .lines()
        .filter(|line| !line.starts_with("-----") && line.len() > 16)
        .map(str::to_owned)
        .collect();
    let Some(run) = key_der.get(40..56) else {
        panic!("a key of {} bytes is too short", key_der.len());
    };
    let bytes = format!("{run:?}");
    fragments.push(bytes.trim_matches(['[', ']']).to_owned());
    fragments
}

/// Asserts that `logs` show a session (its `connecting` line and the URL
/// with its token redacted as `token=***`), and that none of `secrets`
/// appears in `logs` nor in any of `shown`: more text, each named by what
/// it is (say, `("the builder's Debug", &shown_builder)`).
pub fn assert_session_logged_without(
    logs: &str,
    shown: &[(&str, &str)],
    secrets: &[impl AsRef<str>],
) {
    assert!(
        logs.contains("connecting"),
        "the session was logged:\n{logs}"
    );
    assert!(
        logs.contains("token=***"),
        "the redacted URL was logged:\n{logs}"
    );
    for (what, text) in [("the logs", logs)].iter().chain(shown) {
        for secret in secrets {
            let secret = secret.as_ref();
            assert!(
                !text.contains(secret),
                "{secret} leaked into {what}:\n{text}"
            );
        }
    }
}

/// How many lines of `logs` that name `url_part` (say, the server's
/// `:port/`) warn that TLS certificate verification is off.
pub fn unverified_warnings(logs: &str, url_part: &str) -> usize {
    logs.lines()
        .filter(|line| line.contains(url_part))
        .filter(|line| {
            line.contains("WARN") && line.contains("TLS certificate verification is OFF")
        })
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SESSION: &str = "INFO connecting to wss://h/socket?token=***\n";

    #[test]
    fn a_clean_session_passes() {
        assert_session_logged_without(SESSION, &[("the Debug", "Builder { .. }")], &["s3cr3t"]);
    }

    #[test]
    #[should_panic(expected = "s3cr3t leaked into the Debug")]
    fn a_secret_in_shown_text_fails() {
        assert_session_logged_without(SESSION, &[("the Debug", "token: s3cr3t")], &["s3cr3t"]);
    }

    #[test]
    #[should_panic(expected = "s3cr3t leaked into the logs")]
    fn a_secret_in_the_logs_fails() {
        let logs = format!("{SESSION}DEBUG sent s3cr3t\n");
        assert_session_logged_without(&logs, &[], &["s3cr3t"]);
    }

    #[test]
    #[should_panic(expected = "the redacted URL was logged")]
    fn logs_without_the_session_fail() {
        assert_session_logged_without("INFO connecting\n", &[], &["s3cr3t"]);
    }

    #[test]
    fn warnings_are_counted_for_one_url() {
        let logs = "WARN wss://h:1/socket: TLS certificate verification is OFF\n\
                    WARN wss://h:2/socket: TLS certificate verification is OFF\n\
                    INFO wss://h:1/socket: TLS certificate verification is OFF\n";
        assert_eq!(unverified_warnings(logs, ":1/"), 1);
    }

    #[test]
    fn key_fragments_hold_the_pem_lines_and_a_run_of_bytes() {
        let der: Vec<u8> = (0..64).collect();
        let pem = "-----BEGIN PRIVATE KEY-----\nABCDEFGHIJKLMNOPQRSTUVWXYZ\nshort\n-----END PRIVATE KEY-----\n";
        assert_eq!(
            key_fragments(&der, pem),
            [
                "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
                "40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55"
            ]
        );
    }
}
