//! The command line.

use std::time::Duration;

/// `phoenix-soak --help`.
pub const HELP: &str = "\
phoenix-soak: hundreds of sockets against the test server through fault-injecting
proxies, with seeded random faults, checking the client's invariants as it goes

USAGE:
    cargo run -p phoenix-soak -- [OPTIONS]      (--release works the same)

OPTIONS:
    --seconds N          how long the faults and the load run (default 120); setup,
                         recovery and the final check come on top (usually under 10 s)
    --sockets N          sockets (default 200)
    --channels N         channels per socket, each on its own echo:* topic (default 3)
    --proxies N          fault proxies; socket i connects through proxy i mod N, and
                         each proxy has its own fault schedule (default 4)
    --callback-every N   every Nth socket of each proxy's group uses the callback model
                         instead of the async API (default 4; 0: none)
    --seed N             the seed of every random choice (default 1)
    --push-timeout-ms N  each push's timeout (default 2000)
    --margin-ms N        how much later than its timeout a push may end (default 3000)
    --heartbeat-ms N     the sockets' heartbeat interval (default 1000): a stalled
                         connection is noticed within two of them
    --plan               print the fault plan for these options and exit
    -h, --help           this text

Exits 0 when every invariant held, 1 when one broke (the summary says which),
2 when the run could not start.
";

/// What to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// How long the faults and the load run.
    pub duration: Duration,
    /// Sockets.
    pub sockets: u32,
    /// Channels per socket.
    pub channels: u32,
    /// Fault proxies (groups of sockets).
    pub proxies: u32,
    /// Every Nth socket uses the callback model (0: none).
    pub callback_every: u32,
    /// The seed.
    pub seed: u64,
    /// Each push's timeout.
    pub push_timeout: Duration,
    /// The margin past the timeout.
    pub margin: Duration,
    /// The heartbeat interval.
    pub heartbeat: Duration,
    /// Print the plan and exit.
    pub plan_only: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            duration: Duration::from_secs(120),
            sockets: 200,
            channels: 3,
            proxies: 4,
            callback_every: 4,
            seed: 1,
            push_timeout: Duration::from_millis(2000),
            margin: Duration::from_millis(3000),
            heartbeat: Duration::from_millis(1000),
            plan_only: false,
        }
    }
}

impl Options {
    /// Parses the options (without the program name); `Ok(None)` for `--help`.
    ///
    /// # Errors
    /// An unknown option, a missing value or a bad number.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Option<Options>, String> {
        let mut o = Options::default();
        let mut args = args.into_iter();
        while let Some(flag) = args.next() {
            if flag == "--help" || flag == "-h" {
                return Ok(None);
            }
            if flag == "--plan" {
                o.plan_only = true;
                continue;
            }
            let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
            let number = value
                .parse::<u64>()
                .map_err(|_| format!("{flag}: not a number: {value}"))?;
            let small = || u32::try_from(number).map_err(|_| format!("{flag}: too large: {value}"));
            match flag.as_str() {
                "--seconds" => o.duration = Duration::from_secs(number),
                "--sockets" => o.sockets = small()?,
                "--channels" => o.channels = small()?,
                "--proxies" => o.proxies = small()?,
                "--callback-every" => o.callback_every = small()?,
                "--seed" => o.seed = number,
                "--push-timeout-ms" => o.push_timeout = Duration::from_millis(number),
                "--margin-ms" => o.margin = Duration::from_millis(number),
                "--heartbeat-ms" => o.heartbeat = Duration::from_millis(number),
                other => return Err(format!("unknown option {other}; see --help")),
            }
        }
        if o.sockets == 0 || o.channels == 0 || o.proxies == 0 {
            return Err("--sockets, --channels and --proxies must be at least 1".into());
        }
        if o.heartbeat.is_zero() || o.push_timeout.is_zero() {
            return Err("--heartbeat-ms and --push-timeout-ms must be at least 1".into());
        }
        Ok(Some(o))
    }

    /// Whether socket `socket` uses the callback model: every
    /// `callback_every`th socket of each proxy's group.
    pub fn is_callback(&self, socket: u32) -> bool {
        let place = socket / self.proxies.max(1);
        self.callback_every > 0 && place % self.callback_every == self.callback_every - 1
    }

    /// The proxy (group) of socket `socket`.
    pub fn group(&self, socket: u32) -> u32 {
        socket % self.proxies
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<Option<Options>, String> {
        Options::parse(line.split_whitespace().map(str::to_owned))
    }

    #[test]
    fn parses_the_options() {
        let o = parse("--seconds 30 --sockets 10 --seed 9 --plan")
            .unwrap()
            .unwrap();
        assert_eq!(o.duration, Duration::from_secs(30));
        assert_eq!((o.sockets, o.seed, o.plan_only), (10, 9, true));
        assert_eq!(o.channels, 3);
        assert_eq!(parse("--help").unwrap(), None);
        assert!(parse("--seconds").is_err());
        assert!(parse("--seconds x").is_err());
        assert!(parse("--bogus 1").is_err());
        assert!(parse("--sockets 0").is_err());
        let o = Options::default();
        let callbacks: Vec<u32> = (0..200).filter(|s| o.is_callback(*s)).collect();
        assert_eq!(callbacks.len(), 48);
        // Spread over the groups alike.
        for group in 0..4 {
            let n = callbacks.iter().filter(|s| o.group(**s) == group).count();
            assert_eq!(n, 12);
        }
        assert_eq!(o.group(5), 1);
    }
}
