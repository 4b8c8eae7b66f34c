//! Running one scenario: the [`Scope`] it gets its servers and clients from,
//! cleanup that always runs, and the verdict libtest sees.
//!
//! A generated test (see [`all_scenarios!`](crate::all_scenarios)) does
//!
//! ```text
//! harness::block_on(async {
//!     let scope = Scope::<MyDriver>::new("join_and_echo", None);
//!     let scenario = scenarios::join_and_echo::<MyDriver>(&scope);
//!     scope.run(scenario).await;
//! });
//! ```
//!
//! [`Scope::run`] drives the scenario for at most [`SCENARIO_LIMIT`], catching
//! panics; then, whatever happened (passed, failed with an early `?`, panicked,
//! timed out), it shuts down every client the scenario made through
//! [`Scope::connect`] and then stops every server it started through
//! [`Scope::default_server`] / [`Scope::start`] / [`Scope::embedded`]; only
//! then does it fail the test or let it pass. Should even that be skipped
//! (the test thread dies elsewhere), dropping the scope drops the clients and
//! the servers ([`TestServer`](phoenix_test_server::TestServer) stops itself
//! on drop).

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::join_all;
use phoenix_test_server::ServerConfig;

use crate::driver::{Driver, Options, TestClient};
use crate::env::{Env, Outcome, PHOENIX_URL};
use crate::scenarios::Scenario;
use crate::time;

/// The longest a scenario may run before its test fails.
pub const SCENARIO_LIMIT: Duration = Duration::from_secs(60);

/// The longest one client's shutdown, or one server's stop, may take during
/// cleanup before the test fails.
pub const CLEANUP_LIMIT: Duration = Duration::from_secs(10);

/// Runs a generated test's body.
///
/// This is a tokio runtime (two workers) because the embedded test server's
/// async controls (`restart`, `wait_for_opened`, its graceful shutdown) use
/// tokio's clock. The scenario bodies themselves touch no tokio API (see
/// [`crate::time`]), so a client whose futures need no runtime, or bring
/// their own (async-std, smol, threads), is tested as it is; only the tokio
/// driver relies on this runtime, as its users' programs would.
pub fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("the test runtime starts")
        .block_on(future)
}

/// What one scenario run has made: its servers and its clients, all shut
/// down when it ends, whatever the outcome.
pub struct Scope<D: Driver> {
    name: &'static str,
    ignored_with_url: Option<&'static str>,
    clients: Mutex<Vec<D::Client>>,
    envs: Mutex<Vec<Arc<Env>>>,
}

impl<D: Driver> std::fmt::Debug for Scope<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scope")
            .field("driver", &D::NAME)
            .field("scenario", &self.name)
            .field("clients", &lock(&self.clients).len())
            .field("envs", &lock(&self.envs))
            .finish()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<D: Driver> Scope<D> {
    /// A scope for the scenario `name`. `ignored_with_url` is the reason the
    /// scenario list gives for ignoring it when `PHOENIX_URL` is set, if it
    /// gives one.
    pub fn new(name: &'static str, ignored_with_url: Option<&'static str>) -> Self {
        Scope {
            name,
            ignored_with_url,
            clients: Mutex::new(Vec::new()),
            envs: Mutex::new(Vec::new()),
        }
    }

    /// The embedded server with `config` (or the `PHOENIX_URL` server),
    /// stopped when the scenario ends.
    pub async fn start(&self, config: ServerConfig) -> Arc<Env> {
        let env = Arc::new(Env::start(config).await);
        lock(&self.envs).push(env.clone());
        env
    }

    /// The embedded server with its defaults (or the `PHOENIX_URL` server),
    /// stopped when the scenario ends.
    pub async fn default_server(&self) -> Arc<Env> {
        self.start(ServerConfig::default()).await
    }

    /// The embedded server with `config`, stopped when the scenario ends;
    /// or [`Outcome::LeftOut`] naming `needs` when the suite runs against
    /// `PHOENIX_URL` (a real server cannot be reconfigured).
    ///
    /// # Errors
    /// [`Outcome::LeftOut`] when `PHOENIX_URL` is set.
    pub async fn embedded(&self, config: ServerConfig, needs: &str) -> Result<Arc<Env>, Outcome> {
        if std::env::var(PHOENIX_URL).is_ok() {
            return Err(Outcome::LeftOut(format!(
                "needs the embedded test server with {needs}; {PHOENIX_URL} is set"
            )));
        }
        Ok(self.start(config).await)
    }

    /// Starts a client of the driver under test, shut down when the scenario
    /// ends (the scenario may shut it down earlier itself).
    pub fn connect(&self, options: Options) -> D::Client {
        let client = D::connect(options);
        lock(&self.clients).push(client.clone());
        client
    }

    /// Shuts down every client (concurrently), then stops every server.
    /// Returns what went wrong, if anything.
    pub async fn cleanup(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let clients = std::mem::take(&mut *lock(&self.clients));
        let count = clients.len();
        let shutdowns = clients
            .iter()
            .map(|client| time::timeout(CLEANUP_LIMIT, client.shutdown()));
        let late = join_all(shutdowns)
            .await
            .into_iter()
            .filter(Result::is_err)
            .count();
        if late > 0 {
            problems.push(format!(
                "{late} of {count} clients did not shut down within {CLEANUP_LIMIT:?}"
            ));
        }
        drop(clients);
        let envs = std::mem::take(&mut *lock(&self.envs));
        for env in envs {
            // The scenario's future, and so its clones, are gone by now; a
            // clone kept elsewhere stops its server when dropped.
            if let Ok(env) = Arc::try_unwrap(env) {
                if time::timeout(CLEANUP_LIMIT, env.stop()).await.is_err() {
                    problems.push(format!(
                        "the test server did not stop within {CLEANUP_LIMIT:?}"
                    ));
                }
            }
        }
        problems
    }

    /// Runs `scenario` (made with this scope) for at most [`SCENARIO_LIMIT`],
    /// cleans up whatever the result, and then panics unless it passed.
    ///
    /// A scenario that reports [`Outcome::LeftOut`] fails: one that cannot
    /// run against `PHOENIX_URL` must be marked in the scenario list, so that
    /// libtest reports it as ignored rather than as passed.
    pub async fn run(&self, scenario: impl Future<Output = Scenario>) {
        let result = time::timeout(SCENARIO_LIMIT, AssertUnwindSafe(scenario).catch_unwind()).await;
        let problems = self.cleanup().await;
        let who = format!("{}/{}", D::NAME, self.name);
        let cleanup = if problems.is_empty() {
            String::new()
        } else {
            format!(" (and cleanup: {})", problems.join("; "))
        };
        match result {
            Ok(Ok(Ok(Outcome::Passed))) if problems.is_empty() => {}
            Ok(Ok(Ok(Outcome::Passed))) => {
                panic!("{who} passed, but cleanup failed: {}", problems.join("; "))
            }
            Ok(Ok(Ok(Outcome::LeftOut(why)))) => panic!("{}{cleanup}", self.left_out(&who, &why)),
            Ok(Ok(Err(failure))) => panic!("{who} failed: {failure}{cleanup}"),
            Ok(Err(payload)) => {
                if !problems.is_empty() {
                    eprintln!("{who}: cleanup after the panic: {}", problems.join("; "));
                }
                std::panic::resume_unwind(payload)
            }
            Err(time::Elapsed) => panic!("{who} did not finish within {SCENARIO_LIMIT:?}{cleanup}"),
        }
    }

    fn left_out(&self, who: &str, why: &str) -> String {
        match self.ignored_with_url {
            Some(_) if cfg!(phoenix_url) => format!(
                "{who} cannot run against {PHOENIX_URL} ({why}); it is ignored unless \
                 asked for with --ignored or --include-ignored"
            ),
            Some(_) => format!(
                "{who} cannot run here ({why}), and is not ignored because {PHOENIX_URL} \
                 was not set when phoenix-tests was built: run it through `cargo test`, \
                 which rebuilds when {PHOENIX_URL} changes"
            ),
            None => format!(
                "{who} was left out at run time ({why}); mark it in the list of \
                 `all_scenarios!` (`{} => \"needs the embedded test server's ...\"`) \
                 so that libtest reports it as ignored when {PHOENIX_URL} is set",
                self.name
            ),
        }
    }
}

/// Generates one `#[test]` per listed scenario for a driver, in a module
/// named after it. Used by [`all_scenarios!`](crate::all_scenarios), which
/// holds the list; call that one.
#[doc(hidden)]
#[macro_export]
macro_rules! scenario_tests {
    ($module:ident, $driver:ty; $($name:ident $(=> $why:literal)?),* $(,)?) => {
        mod $module {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[test]
                $(#[cfg_attr(phoenix_url, ignore = $why)])?
                fn $name() {
                    $crate::harness::block_on(async {
                        let scope = $crate::harness::Scope::<$driver>::new(
                            ::std::stringify!($name),
                            $crate::__ignored_with_url!($($why)?),
                        );
                        let scenario = $crate::scenarios::$name::<$driver>(&scope);
                        scope.run(scenario).await;
                    });
                }
            )*
        }
    };
}

/// `None`, or `Some` of the reason given in the list.
#[doc(hidden)]
#[macro_export]
macro_rules! __ignored_with_url {
    () => {
        ::std::option::Option::None
    };
    ($why:literal) => {
        ::std::option::Option::Some($why)
    };
}

#[cfg(test)]
mod tests {
    use std::net::TcpStream;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use phoenix_proto::client::DisconnectReason;
    use phoenix_proto::codec::Payload;
    use serde_json::Value;

    use super::*;
    use crate::driver::{Ev, JoinFailure, PushFailure, TestChannel};

    /// A driver whose clients only count their shutdowns.
    struct Counting;

    static SHUTDOWNS: AtomicUsize = AtomicUsize::new(0);

    #[derive(Clone)]
    struct CountingClient;

    struct NoChannel;

    impl Driver for Counting {
        const NAME: &'static str = "counting";
        type Client = CountingClient;
        fn connect(_: Options) -> CountingClient {
            CountingClient
        }
    }

    impl TestClient for CountingClient {
        type Channel = NoChannel;
        async fn wait_connected(&self, _: Duration) -> Result<(), String> {
            Ok(())
        }
        async fn wait_disconnected(&self, _: Duration) -> Result<DisconnectReason, String> {
            Err("never".into())
        }
        fn channel(&self, _: &str, _: Value) -> NoChannel {
            NoChannel
        }
        async fn shutdown(&self) {
            SHUTDOWNS.fetch_add(1, Ordering::SeqCst);
        }
        fn socket_events(&self) -> phoenix_proto::api::SocketEvents {
            panic!("the counting driver has no socket")
        }
        async fn ping(&self) -> Result<Duration, String> {
            Err("no socket".into())
        }
    }

    impl TestChannel for NoChannel {
        async fn join(&self) -> Result<Value, JoinFailure> {
            Err(JoinFailure::Timeout)
        }
        async fn push(
            &self,
            _: &str,
            _: Payload<'static>,
            _: Option<Duration>,
        ) -> Result<(String, Payload<'static>), PushFailure> {
            Err(PushFailure::Timeout)
        }
        fn start_push(
            &self,
            _: &str,
            _: Payload<'static>,
            _: Option<Duration>,
        ) -> crate::driver::StartedPush {
            Box::pin(async { Err(PushFailure::Timeout) })
        }
        async fn cast(&self, _: &str, _: Payload<'static>) {}
        async fn next_event(&mut self, _: Duration) -> Option<Ev> {
            None
        }
        async fn leave(&self) -> Result<(), String> {
            Ok(())
        }
        fn presence(&self) -> phoenix_proto::api::PresenceHandle {
            panic!("the counting driver has no channel")
        }
    }

    /// Runs a scenario that makes a server and two clients and then ends
    /// with `end`; returns whether `run` panicked, the clients shut down,
    /// and whether the server still accepts connections.
    fn run_ending_with(end: fn() -> Scenario) -> (bool, usize, bool) {
        SHUTDOWNS.store(0, Ordering::SeqCst);
        let port = Mutex::new(None);
        let panicked = std::panic::catch_unwind(AssertUnwindSafe(|| {
            block_on(async {
                let scope = Scope::<Counting>::new("cleanup", None);
                let scenario = async {
                    let env = scope.default_server().await;
                    *lock(&port) = env.server("port").ok().map(|s| s.port());
                    let _first = scope.connect(env.options());
                    let _second = scope.connect(env.options());
                    end()
                };
                scope.run(scenario).await;
            });
        }))
        .is_err();
        let port = lock(&port).expect("the embedded server");
        let listening = TcpStream::connect(("127.0.0.1", port)).is_ok();
        (panicked, SHUTDOWNS.load(Ordering::SeqCst), listening)
    }

    // One test, so that the counter is not shared between threads.
    #[test]
    #[cfg_attr(phoenix_url, ignore = "starts the embedded test server")]
    fn cleanup_runs_whatever_the_outcome() {
        assert_eq!(run_ending_with(|| Ok(Outcome::Passed)), (false, 2, false));
        assert_eq!(
            run_ending_with(|| Err("an early ?".into())),
            (true, 2, false)
        );
        assert_eq!(run_ending_with(|| panic!("a panic")), (true, 2, false));
        assert_eq!(
            run_ending_with(|| Ok(Outcome::LeftOut("needs".into()))),
            (true, 2, false)
        );
    }
}
