//! Configuration of the client state machine: where to connect, timers,
//! backoff schedules.

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::codec::{Serializer, V2Serializer};

/// A string that never shows in `Debug` output or logs (tokens, secrets).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself. Do not log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Secret::new(value)
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

/// A retry schedule: a list of delays, the last one repeating, with
/// optional jitter and an optional limit on attempts.
///
/// Jitter spreads each delay uniformly over `delay * (1 - jitter) ..= delay`,
/// drawn from the seeded generator in [`Config::rng_seed`], so runs replay
/// exactly.
#[derive(Debug, Clone, PartialEq)]
pub struct Backoff {
    /// Delays for attempts 1, 2, ...; the last one is used for every later
    /// attempt. An empty schedule means "never retry". Shared, so every
    /// socket with the default schedules points at one copy (make one with
    /// `vec![...].into()` or [`from_millis`](Self::from_millis)).
    pub schedule: Arc<[Duration]>,
    /// Fraction of each delay to randomise, from 0.0 (none) to 1.0.
    pub jitter: f64,
    /// Give up after this many consecutive attempts (`None`: never give up).
    pub max_attempts: Option<u32>,
}

impl Backoff {
    /// The official client's reconnect schedule: 10, 50, 100, 150, 200, 250,
    /// 500, 1000, 2000 ms, then 5 s.
    pub fn reconnect_default() -> Self {
        static DEFAULT: OnceLock<Backoff> = OnceLock::new();
        DEFAULT
            .get_or_init(|| {
                Backoff::from_millis(&[10, 50, 100, 150, 200, 250, 500, 1000, 2000, 5000])
            })
            .clone()
    }

    /// The official client's rejoin schedule: 1, 2, 5 s, then 10 s.
    pub fn rejoin_default() -> Self {
        static DEFAULT: OnceLock<Backoff> = OnceLock::new();
        DEFAULT
            .get_or_init(|| Backoff::from_millis(&[1000, 2000, 5000, 10_000]))
            .clone()
    }

    /// A schedule from milliseconds, without jitter or limit.
    pub fn from_millis(millis: &[u64]) -> Self {
        Backoff {
            schedule: millis.iter().copied().map(Duration::from_millis).collect(),
            jitter: 0.0,
            max_attempts: None,
        }
    }

    /// Never retry.
    pub fn never() -> Self {
        Backoff {
            schedule: Arc::from([]),
            jitter: 0.0,
            max_attempts: Some(0),
        }
    }

    /// Sets the jitter fraction (clamped to 0.0..=1.0).
    pub fn with_jitter(mut self, jitter: f64) -> Self {
        self.jitter = if jitter.is_nan() {
            0.0
        } else {
            jitter.clamp(0.0, 1.0)
        };
        self
    }

    /// Sets the maximum number of consecutive attempts.
    pub fn with_max_attempts(mut self, max: u32) -> Self {
        self.max_attempts = Some(max);
        self
    }

    /// The delay before attempt number `attempt` (1-based), or `None` when
    /// the schedule says to give up. `random` is a uniform draw in `0.0..1.0`.
    pub fn delay(&self, attempt: u32, random: f64) -> Option<Duration> {
        if self.max_attempts.is_some_and(|max| attempt > max) {
            return None;
        }
        let index = usize::try_from(attempt.saturating_sub(1)).unwrap_or(usize::MAX);
        let base = self
            .schedule
            .get(index)
            .or_else(|| self.schedule.last())
            .copied()?;
        let cut = base.mul_f64(self.jitter * random.clamp(0.0, 1.0));
        Some(base.saturating_sub(cut))
    }
}

/// Produces the query parameters for a connection attempt (see
/// [`Config::params_fn`]).
pub type ParamsFn = Arc<dyn Fn() -> Vec<(String, String)> + Send + Sync>;

/// Produces the auth token for a connection attempt, or `None` for none
/// (see [`Config::auth_token_fn`]).
pub type TokenFn = Arc<dyn Fn() -> Option<String> + Send + Sync>;

/// Everything the state machine needs to know before it starts.
///
/// # Credentials that change
/// Query parameters and the auth token can come from fixed values
/// ([`params`](Self::params), [`auth_token`](Self::auth_token)) or from
/// providers ([`params_fn`](Self::params_fn),
/// [`auth_token_fn`](Self::auth_token_fn)): functions the socket calls
/// itself, right before it emits each
/// [`Instruction::Connect`](super::Instruction::Connect) (the first
/// connect, every reconnect, and [`Socket::reconnect_with`](super::Socket::reconnect_with)).
/// What a provider returns replaces the current params or token (params
/// are wrapped in [`Secret`]), so every connection attempt carries fresh
/// credentials and the driver has nothing to rebuild. A provider, when
/// set, wins over values given by [`Socket::set_params`](super::Socket::set_params),
/// [`Socket::set_auth_token`](super::Socket::set_auth_token) or
/// `reconnect_with`. Providers run on the driver's task or thread, inside
/// the command or input that starts the attempt: keep them quick (read a
/// cached token; do not fetch one over the network).
#[derive(Clone)]
pub struct Config {
    /// The socket endpoint, e.g. `ws://localhost:4000/socket`
    /// (`/websocket` is appended; see [`crate::url::connection_url`]).
    pub endpoint: String,
    /// Query parameters for the app's `connect/3` (e.g. a token).
    pub params: Vec<(String, Secret)>,
    /// The Phoenix 1.8 auth token, sent as a `Sec-WebSocket-Protocol` value.
    pub auth_token: Option<Secret>,
    /// Called before every connection attempt; its result replaces
    /// [`params`](Self::params). See [Credentials that change](Self#credentials-that-change).
    pub params_fn: Option<ParamsFn>,
    /// Called before every connection attempt; its result replaces
    /// [`auth_token`](Self::auth_token). See [Credentials that change](Self#credentials-that-change).
    pub auth_token_fn: Option<TokenFn>,
    /// Extra HTTP headers for the upgrade request.
    pub headers: Vec<(String, Secret)>,
    /// The wire format. Default: [`V2Serializer`].
    pub serializer: Arc<dyn Serializer>,
    /// Interval between heartbeats; a heartbeat not answered when the next
    /// one is due means the connection is dead. `None` turns them off.
    /// Default 30 s.
    pub heartbeat_interval: Option<Duration>,
    /// Default timeout of joins, pushes and leaves. Default 10 s.
    pub default_timeout: Duration,
    /// Reconnect schedule. Default [`Backoff::reconnect_default`] with a
    /// jitter of 0.5 (each delay drawn from half to all of its step), so
    /// the clients of a server that dropped them all do not return at the
    /// same instant. Give every socket its own [`rng_seed`](Self::rng_seed)
    /// (the drivers do) or their jitter is the same.
    pub reconnect: Backoff,
    /// Rejoin schedule for channels that errored. Default [`Backoff::rejoin_default`].
    pub rejoin: Backoff,
    /// Whether a join the server refused is retried on the rejoin schedule
    /// (the official client does; by default we report it and stop).
    pub rejoin_after_refusal: bool,
    /// Seed of the generator behind backoff jitter. The same seed replays
    /// the same delays (tests); the drivers' builders draw a new one for
    /// every socket.
    pub rng_seed: u64,
    /// How long a connection must stay up before the reconnect schedule
    /// starts again from its first step. A server that accepts connections
    /// (and even joins) and then drops them keeps climbing the schedule to
    /// its cap instead of being retried every 10 ms for ever. Default 30 s.
    pub stable_after: Duration,
    /// The wait, drawn uniformly from this range, before reconnecting
    /// after the server closed with 1012 (service restart): the whole
    /// deploy's clients spread out instead of returning at once. The
    /// reconnect schedule's own delay applies when it is longer.
    /// Default 1 to 5 s.
    pub service_restart_delay: (Duration, Duration),
    /// The same for 1013 (try again later). Default 10 to 30 s.
    pub try_again_later_delay: (Duration, Duration),
    /// Most pushes awaiting an outcome at once; beyond it
    /// [`Socket::push`](super::Socket::push) refuses with
    /// [`PushError::TooManyPending`](super::PushError::TooManyPending)
    /// instead of buffering without bound. Default 65 536.
    pub max_pending_pushes: usize,
}

impl Config {
    /// A configuration with the defaults above for `endpoint`.
    pub fn new(endpoint: impl Into<String>) -> Self {
        Config {
            endpoint: endpoint.into(),
            params: Vec::new(),
            auth_token: None,
            params_fn: None,
            auth_token_fn: None,
            headers: Vec::new(),
            serializer: Arc::new(V2Serializer),
            heartbeat_interval: Some(Duration::from_secs(30)),
            default_timeout: Duration::from_secs(10),
            reconnect: Backoff::reconnect_default().with_jitter(0.5),
            rejoin: Backoff::rejoin_default(),
            rejoin_after_refusal: false,
            rng_seed: 0x5eed_cafe_f00d_d00d,
            stable_after: Duration::from_secs(30),
            service_restart_delay: (Duration::from_secs(1), Duration::from_secs(5)),
            try_again_later_delay: (Duration::from_secs(10), Duration::from_secs(30)),
            max_pending_pushes: 65_536,
        }
    }

    /// Adds a query parameter.
    pub fn param(mut self, key: impl Into<String>, value: impl Into<Secret>) -> Self {
        self.params.push((key.into(), value.into()));
        self
    }

    /// Sets the auth token.
    pub fn auth_token(mut self, token: impl Into<Secret>) -> Self {
        self.auth_token = Some(token.into());
        self
    }

    /// Sets the provider of query parameters, called before every
    /// connection attempt.
    pub fn params_fn(
        mut self,
        provider: impl Fn() -> Vec<(String, String)> + Send + Sync + 'static,
    ) -> Self {
        self.params_fn = Some(Arc::new(provider));
        self
    }

    /// Sets the provider of the auth token, called before every connection
    /// attempt.
    pub fn auth_token_fn(
        mut self,
        provider: impl Fn() -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.auth_token_fn = Some(Arc::new(provider));
        self
    }

    /// Adds an upgrade request header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<Secret>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys: Vec<&str> = self.params.iter().map(|(k, _)| k.as_str()).collect();
        let headers: Vec<&str> = self.headers.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("Config")
            .field("endpoint", &self.endpoint)
            .field("param_keys", &keys)
            .field("auth_token", &self.auth_token.as_ref().map(|_| "***"))
            .field("params_fn", &self.params_fn.as_ref().map(|_| "set"))
            .field("auth_token_fn", &self.auth_token_fn.as_ref().map(|_| "set"))
            .field("header_names", &headers)
            .field("serializer", &self.serializer)
            .field("heartbeat_interval", &self.heartbeat_interval)
            .field("default_timeout", &self.default_timeout)
            .field("reconnect", &self.reconnect)
            .field("rejoin", &self.rejoin)
            .field("rejoin_after_refusal", &self.rejoin_after_refusal)
            .field("max_pending_pushes", &self.max_pending_pushes)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_repeats_its_last_delay_and_respects_limits() {
        let b = Backoff::reconnect_default();
        let ms = |a| b.delay(a, 0.0).map(|d| d.as_millis());
        assert_eq!(ms(1), Some(10));
        assert_eq!(ms(9), Some(2000));
        assert_eq!(ms(10), Some(5000));
        assert_eq!(ms(1000), Some(5000));
        let limited = Backoff::from_millis(&[5]).with_max_attempts(2);
        assert!(limited.delay(2, 0.0).is_some());
        assert_eq!(limited.delay(3, 0.0), None);
        assert_eq!(Backoff::never().delay(1, 0.0), None);
    }

    #[test]
    fn jitter_only_shortens() {
        let b = Backoff::from_millis(&[1000]).with_jitter(0.5);
        assert_eq!(b.delay(1, 0.0), Some(Duration::from_millis(1000)));
        assert_eq!(b.delay(1, 0.999), Some(Duration::from_micros(500_500)));
    }

    #[test]
    fn secrets_stay_out_of_debug() {
        let c = Config::new("ws://h/socket")
            .param("token", "hunter2")
            .auth_token("s3cr3t")
            .header("authorization", "Bearer xyz");
        let shown = format!("{c:?}");
        assert!(!shown.contains("hunter2"));
        assert!(!shown.contains("s3cr3t"));
        assert!(!shown.contains("xyz"));
        assert!(shown.contains("token"));
        assert!(shown.contains("params_fn: None"), "{shown}");
    }

    #[test]
    fn debug_says_whether_providers_are_set_but_never_calls_them() {
        let c = Config::new("ws://h/socket")
            .params_fn(|| panic!("Debug called the params provider"))
            .auth_token_fn(|| panic!("Debug called the token provider"));
        let shown = format!("{c:?}");
        assert!(shown.contains(r#"params_fn: Some("set")"#), "{shown}");
        assert!(shown.contains(r#"auth_token_fn: Some("set")"#), "{shown}");
    }
}
