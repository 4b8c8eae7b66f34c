//! Where scenarios run: the embedded test server, or a real server from
//! `PHOENIX_URL`. Scenarios get their [`Env`] from their
//! [`Scope`](crate::harness::Scope), which stops it when they end.

use phoenix_test_server::{ServerConfig, TestServer};

use crate::driver::Options;

/// How a scenario ended, when it did not fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Every assertion held.
    Passed,
    /// Not run here, and why (it needs the embedded server's controls).
    /// The harness fails the test on it: a scenario that can leave itself
    /// out must be marked in the list of
    /// [`all_scenarios!`](crate::all_scenarios), so that it is ignored when
    /// `PHOENIX_URL` is set and never gets here.
    LeftOut(String),
}

/// The server a scenario talks to.
pub struct Env {
    server: Option<TestServer>,
    endpoint: String,
}

impl std::fmt::Debug for Env {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Env")
            .field("endpoint", &self.endpoint)
            .field("embedded", &self.server.is_some())
            .finish()
    }
}

/// The variable that points the suite at a real server.
pub const PHOENIX_URL: &str = "PHOENIX_URL";

impl Env {
    /// The embedded server with `config`, or the `PHOENIX_URL` server.
    pub async fn start(config: ServerConfig) -> Env {
        if let Ok(url) = std::env::var(PHOENIX_URL) {
            return Env {
                server: None,
                endpoint: url,
            };
        }
        let server = TestServer::start_with(config)
            .await
            .expect("the embedded test server starts");
        let endpoint = server.socket_url();
        Env {
            server: Some(server),
            endpoint,
        }
    }

    /// The embedded server with its defaults, or the `PHOENIX_URL` server.
    pub async fn default_server() -> Env {
        Env::start(ServerConfig::default()).await
    }

    /// The embedded server, or an error naming what the scenario needs.
    ///
    /// # Errors
    /// [`Outcome::LeftOut`] when running against `PHOENIX_URL`.
    pub fn server(&self, needs: &str) -> Result<&TestServer, Outcome> {
        self.server.as_ref().ok_or_else(|| {
            Outcome::LeftOut(format!(
                "needs the embedded test server's {needs}; {PHOENIX_URL} is set"
            ))
        })
    }

    /// The socket endpoint.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Client options for this server.
    pub fn options(&self) -> Options {
        Options::new(self.endpoint.clone())
    }

    /// Stops the embedded server.
    pub async fn stop(self) {
        if let Some(server) = self.server {
            server.shutdown().await;
        }
    }
}
