//! The faults: a plan drawn from the seed before the run, and the task
//! that carries it out against the proxies and the test server.
//!
//! Each proxy's group of sockets has a schedule of its own: a fault, held
//! for a while when it is a state (a stall, latency, a refusal), then a
//! calm of 1.5 to 4.5 s, then the next. The server as a whole restarts
//! once within the warm-up (6% to 12% of the run), then restarts or
//! refuses connections every 20 to 35 s. The plan is a
//! pure function of the seed, the duration and the number of groups
//! (`phoenix-soak --plan` prints it); which connections a per-connection
//! fault hits depends on which are open at that moment.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use phoenix_test_server::proxy::{Direction, FaultProxy, Refusal};
use phoenix_test_server::{ConnectionId, TestServer};
use tokio::sync::watch;

use crate::rng::Rng;

/// One fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The proxy closes every open connection (FIN).
    Cut,
    /// The proxy resets every open connection (RST).
    Reset,
    /// The proxy stops forwarding both ways (half-open), for `hold`.
    Stall {
        /// How long.
        hold: Duration,
    },
    /// The proxy delays every chunk by `delay`, both ways, for `hold`.
    Latency {
        /// The delay.
        delay: Duration,
        /// How long.
        hold: Duration,
    },
    /// The proxy limits each direction of each connection, for `hold`.
    Bandwidth {
        /// Bytes per second.
        bytes_per_second: u64,
        /// How long.
        hold: Duration,
    },
    /// The proxy forwards `bytes` more bytes in a direction, then cuts.
    Truncate {
        /// Towards the server (else towards the client).
        to_server: bool,
        /// Bytes.
        bytes: u64,
    },
    /// The proxy refuses new connections `how`, for `hold`, and cuts the
    /// open ones so that the sockets meet the refusal.
    Refuse {
        /// How.
        how: Refusal,
        /// How long.
        hold: Duration,
    },
    /// The proxy writes garbage into each connection towards the client
    /// (breaks the WebSocket framing).
    Inject {
        /// Bytes of garbage.
        bytes: u64,
    },
    /// The server drops some of the group's connections (no close frame).
    ServerDrop {
        /// Percent of the connections.
        share: u32,
    },
    /// The server closes some of the group's connections with `code`.
    ServerClose {
        /// The close code.
        code: u16,
        /// Percent of the connections.
        share: u32,
    },
    /// The server stops reading and writing some of the group's connections
    /// (half-open on the server's side).
    ServerHalfOpen {
        /// Percent of the connections.
        share: u32,
    },
    /// The server sends malformed frames (not JSON, binary garbage, a reply
    /// to a ref never used, a push for a topic never joined) to some of the
    /// group's connections.
    Malformed {
        /// Percent of the connections.
        share: u32,
    },
    /// Some of the group's channels push `crash` (the server channel
    /// crashes: `phx_error`, then a rejoin).
    ChannelCrash {
        /// Percent of the channels.
        share: u32,
    },
    /// The server restarts: every connection closed with 1012, every
    /// channel forgotten.
    Restart,
    /// The server refuses new connections with 503 for `hold` and drops
    /// every open one.
    ServerRefuse {
        /// How long.
        hold: Duration,
    },
}

impl Fault {
    /// The kind, for the counts.
    pub fn kind(&self) -> &'static str {
        match self {
            Fault::Cut => "proxy cut",
            Fault::Reset => "proxy reset",
            Fault::Stall { .. } => "proxy stall (half-open)",
            Fault::Latency { .. } => "proxy latency",
            Fault::Bandwidth { .. } => "proxy bandwidth limit",
            Fault::Truncate { .. } => "proxy truncation",
            Fault::Refuse {
                how: Refusal::Close,
                ..
            } => "proxy refusal (close)",
            Fault::Refuse {
                how: Refusal::Reset,
                ..
            } => "proxy refusal (reset)",
            Fault::Refuse {
                how: Refusal::Hang, ..
            } => "proxy refusal (hang)",
            Fault::Refuse { .. } => "proxy refusal (not accepting)",
            Fault::Inject { .. } => "proxy garbage bytes",
            Fault::ServerDrop { .. } => "server drop",
            Fault::ServerClose { .. } => "server close frame",
            Fault::ServerHalfOpen { .. } => "server half-open",
            Fault::Malformed { .. } => "server malformed frames",
            Fault::ChannelCrash { .. } => "channel crash",
            Fault::Restart => "server restart",
            Fault::ServerRefuse { .. } => "server refusal (503)",
        }
    }

    /// How long the fault lasts (zero for those that act once).
    pub fn hold(&self) -> Duration {
        match self {
            Fault::Stall { hold }
            | Fault::Latency { hold, .. }
            | Fault::Bandwidth { hold, .. }
            | Fault::Refuse { hold, .. }
            | Fault::ServerRefuse { hold } => *hold,
            _ => Duration::ZERO,
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind())?;
        match self {
            Fault::Latency { delay, .. } => write!(f, " {delay:?}")?,
            Fault::Bandwidth {
                bytes_per_second, ..
            } => write!(f, " {bytes_per_second} B/s")?,
            Fault::Truncate { to_server, bytes } => write!(
                f,
                " after {bytes} B to the {}",
                if *to_server { "server" } else { "client" }
            )?,
            Fault::Inject { bytes } => write!(f, " {bytes} B")?,
            Fault::ServerClose { code, share } => write!(f, " {code} to {share}%")?,
            Fault::ServerDrop { share }
            | Fault::ServerHalfOpen { share }
            | Fault::Malformed { share }
            | Fault::ChannelCrash { share } => write!(f, " {share}%")?,
            _ => {}
        }
        let hold = self.hold();
        if !hold.is_zero() {
            write!(f, " for {hold:.1?}")?;
        }
        Ok(())
    }
}

/// What a fault hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// One proxy and its group of sockets.
    Group(u32),
    /// The whole server.
    Server,
}

/// A fault at a time of the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Planned {
    /// When, from the start of the run.
    pub at: Duration,
    /// What it hits.
    pub target: Target,
    /// The fault.
    pub fault: Fault,
    /// The seed of the choices made when it runs (which connections).
    pub seed: u64,
}

impl fmt::Display for Planned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let target = match self.target {
            Target::Group(g) => format!("proxy {g}"),
            Target::Server => "server".to_owned(),
        };
        write!(
            f,
            "{:>7.1} s  {target:<8} {}",
            self.at.as_secs_f64(),
            self.fault
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Cut,
    Reset,
    Stall,
    Latency,
    Bandwidth,
    Truncate,
    Refuse,
    Inject,
    ServerDrop,
    ServerClose,
    ServerHalfOpen,
    Malformed,
    ChannelCrash,
}

/// How often each group fault is drawn.
const WEIGHTS: &[(Kind, u32)] = &[
    (Kind::Cut, 10),
    (Kind::Reset, 8),
    (Kind::Stall, 8),
    (Kind::Latency, 8),
    (Kind::Bandwidth, 4),
    (Kind::Truncate, 8),
    (Kind::Refuse, 10),
    (Kind::Inject, 4),
    (Kind::ServerDrop, 6),
    (Kind::ServerClose, 6),
    (Kind::ServerHalfOpen, 6),
    (Kind::Malformed, 10),
    (Kind::ChannelCrash, 10),
];

fn group_fault(rng: &mut Rng) -> Fault {
    match rng.weighted(WEIGHTS).unwrap_or(Kind::Cut) {
        Kind::Cut => Fault::Cut,
        Kind::Reset => Fault::Reset,
        Kind::Stall => Fault::Stall {
            hold: rng.millis(1500, 4000),
        },
        Kind::Latency => Fault::Latency {
            delay: rng.millis(20, 300),
            hold: rng.millis(2000, 6000),
        },
        Kind::Bandwidth => Fault::Bandwidth {
            bytes_per_second: rng.between(20_000, 100_000),
            hold: rng.millis(2000, 5000),
        },
        Kind::Truncate => Fault::Truncate {
            to_server: rng.chance(0.5),
            bytes: rng.between(0, 4096),
        },
        Kind::Refuse => Fault::Refuse {
            how: rng
                .weighted(&[
                    (Refusal::Close, 1),
                    (Refusal::Reset, 1),
                    (Refusal::Hang, 1),
                    (Refusal::NotAccept, 1),
                ])
                .unwrap_or(Refusal::Close),
            hold: rng.millis(500, 3000),
        },
        Kind::Inject => Fault::Inject {
            bytes: rng.between(1, 64),
        },
        Kind::ServerDrop => Fault::ServerDrop { share: share(rng) },
        Kind::ServerClose => Fault::ServerClose {
            code: rng
                .weighted(&[(1000, 1), (1001, 1), (1011, 1), (4000, 1)])
                .unwrap_or(1000),
            share: share(rng),
        },
        Kind::ServerHalfOpen => Fault::ServerHalfOpen { share: share(rng) },
        Kind::Malformed => Fault::Malformed { share: share(rng) },
        Kind::ChannelCrash => Fault::ChannelCrash {
            share: u32::try_from(rng.between(5, 30)).unwrap_or(10),
        },
    }
}

fn share(rng: &mut Rng) -> u32 {
    u32::try_from(rng.between(20, 101)).unwrap_or(100)
}

/// The plan of a run: every fault, in time order.
pub fn plan(seed: u64, duration: Duration, groups: u32) -> Vec<Planned> {
    let mut planned = Vec::new();
    for group in 0..groups {
        let mut rng = Rng::stream(seed, 0x1000 + u64::from(group));
        let mut at = rng.millis(500, 2500);
        while at < duration {
            let fault = group_fault(&mut rng);
            planned.push(Planned {
                at,
                target: Target::Group(group),
                fault,
                seed: rng.next_u64(),
            });
            at += fault.hold() + rng.millis(1500, 4500);
        }
    }
    let mut rng = Rng::stream(seed, 0x2000);
    // The first server fault is a restart within the warm-up (6% to 12% of
    // the run): the largest burst of all (every socket reconnects and
    // rejoins at once) then comes before the memory baseline is taken,
    // so the allocator's high-water mark is reached in the warm-up, not
    // at some later restart that would read as growth.
    let warmup = duration.as_millis() as u64 / 5;
    let mut at = rng.millis(warmup * 3 / 10, warmup * 6 / 10);
    let mut first = true;
    while at < duration {
        let fault = if first || rng.chance(0.6) {
            Fault::Restart
        } else {
            Fault::ServerRefuse {
                hold: rng.millis(1000, 3000),
            }
        };
        planned.push(Planned {
            at,
            target: Target::Server,
            fault,
            seed: rng.next_u64(),
        });
        first = false;
        at += rng.millis(20_000, 35_000);
    }
    planned.sort_by_key(|p| p.at);
    planned
}

/// What the faults act on.
#[derive(Debug)]
pub struct Targets {
    /// The test server.
    pub server: Arc<TestServer>,
    /// The proxies, one per group.
    pub proxies: Vec<Arc<FaultProxy>>,
    /// One flag per channel: push `crash` next.
    pub crash: Arc<Vec<AtomicBool>>,
    /// Channels per socket.
    pub channels: u32,
    /// Groups (sockets `s` with `s % groups == g` are group `g`).
    pub groups: u32,
}

impl Targets {
    fn proxy(&self, group: u32) -> Option<&FaultProxy> {
        self.proxies.get(group as usize).map(|p| &**p)
    }

    /// The open connections of `group`'s sockets (they connect with a
    /// `group` parameter).
    fn connections(&self, group: u32) -> Vec<ConnectionId> {
        let group = group.to_string();
        self.server
            .connections()
            .into_iter()
            .filter(|c| c.params.get("group") == Some(&group))
            .map(|c| c.id)
            .collect()
    }

    fn some_connections(&self, group: u32, share: u32, rng: &mut Rng) -> Vec<ConnectionId> {
        self.connections(group)
            .into_iter()
            .filter(|_| rng.below(100) < u64::from(share))
            .collect()
    }
}

/// Waits `hold`, or less when the run is stopping.
async fn hold_for(hold: Duration, stop: &mut watch::Receiver<bool>) {
    let _ = tokio::time::timeout(hold, stop.wait_for(|s| *s)).await;
}

/// Carries out one planned fault (holding it for its time, then lifting it).
pub async fn inject(planned: Planned, targets: &Targets, mut stop: watch::Receiver<bool>) {
    let mut rng = Rng::new(planned.seed);
    let group = match planned.target {
        Target::Group(g) => g,
        Target::Server => u32::MAX,
    };
    let proxy = targets.proxy(group);
    match (planned.fault, proxy) {
        (Fault::Cut, Some(proxy)) => {
            proxy.cut_all();
        }
        (Fault::Reset, Some(proxy)) => {
            proxy.reset_all();
        }
        (Fault::Stall { hold }, Some(proxy)) => {
            proxy.stall(Direction::Both);
            hold_for(hold, &mut stop).await;
            proxy.resume();
        }
        (Fault::Latency { delay, hold }, Some(proxy)) => {
            proxy.set_latency(Direction::Both, delay);
            hold_for(hold, &mut stop).await;
            proxy.set_latency(Direction::Both, Duration::ZERO);
        }
        (
            Fault::Bandwidth {
                bytes_per_second,
                hold,
            },
            Some(proxy),
        ) => {
            proxy.set_bandwidth(Direction::Both, Some(bytes_per_second));
            hold_for(hold, &mut stop).await;
            proxy.set_bandwidth(Direction::Both, None);
        }
        (Fault::Truncate { to_server, bytes }, Some(proxy)) => {
            let direction = if to_server {
                Direction::ToServer
            } else {
                Direction::ToClient
            };
            proxy.truncate(direction, bytes);
        }
        (Fault::Refuse { how, hold }, Some(proxy)) => {
            proxy.refuse(how, Some(hold));
            proxy.cut_all();
            hold_for(hold, &mut stop).await;
            proxy.accept();
            if how == Refusal::Hang {
                // Hung connections are held until cut, even once the
                // refusal is over.
                proxy.cut_all();
            }
        }
        (Fault::Inject { bytes }, Some(proxy)) => {
            let garbage: Vec<u8> = (0..bytes).map(|_| rng.next_u64() as u8).collect();
            proxy.inject(Direction::ToClient, &garbage);
        }
        (Fault::ServerDrop { share }, _) => {
            for id in targets.some_connections(group, share, &mut rng) {
                targets.server.drop_connection(id);
            }
        }
        (Fault::ServerClose { code, share }, _) => {
            for id in targets.some_connections(group, share, &mut rng) {
                targets.server.close_connection(id, code, "soak");
            }
        }
        (Fault::ServerHalfOpen { share }, _) => {
            for id in targets.some_connections(group, share, &mut rng) {
                targets.server.half_open(id);
            }
        }
        (Fault::Malformed { share }, _) => {
            let server = &targets.server;
            for id in targets.some_connections(group, share, &mut rng) {
                server.send_malformed(id);
                let junk: Vec<u8> = (0..rng.between(1, 40))
                    .map(|_| rng.next_u64() as u8)
                    .collect();
                server.send_raw_binary(id, &junk);
                // A reply to a ref no socket has used yet, and a push for a
                // topic nobody joined: both must be dropped.
                server.send_raw_text(
                    id,
                    r#"[null,"987654321","echo:nowhere","phx_reply",{"status":"ok","response":{}}]"#,
                );
                server.send_raw_text(
                    id,
                    r#"[null,null,"echo:nowhere","pushed",{"ch":4294967295}]"#,
                );
            }
        }
        (Fault::ChannelCrash { share }, _) => {
            let channels = targets.channels;
            for (index, flag) in targets.crash.iter().enumerate() {
                let socket = index as u64 / u64::from(channels.max(1));
                if socket % u64::from(targets.groups.max(1)) == u64::from(group)
                    && rng.below(100) < u64::from(share)
                {
                    flag.store(true, Ordering::Relaxed);
                }
            }
        }
        (Fault::Restart, _) => targets.server.restart().await,
        (Fault::ServerRefuse { hold }, _) => {
            targets.server.refuse_connections(hold);
            targets.server.drop_all();
            hold_for(hold, &mut stop).await;
        }
        // A proxy fault for a group without a proxy: not in any plan.
        (_, None) => {}
    }
}

/// Lifts every fault still in force: the end of the run.
pub fn clear(targets: &Targets) {
    for proxy in &targets.proxies {
        proxy.clear();
    }
    targets.server.accept_connections();
    for flag in targets.crash.iter() {
        flag.store(false, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_is_a_function_of_the_seed() {
        let a = plan(7, Duration::from_secs(120), 4);
        let b = plan(7, Duration::from_secs(120), 4);
        let c = plan(8, Duration::from_secs(120), 4);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(a.windows(2).all(|w| w[0].at <= w[1].at));
        assert!(a.iter().all(|p| p.at < Duration::from_secs(120)));
        // Every group has faults, and the server restarts within the
        // warm-up (the first 20%).
        for g in 0..4 {
            let n = a.iter().filter(|p| p.target == Target::Group(g)).count();
            assert!(n > 15, "group {g}: {n}");
        }
        for seed in 0..20 {
            let first = plan(seed, Duration::from_secs(120), 4)
                .into_iter()
                .find(|p| p.target == Target::Server)
                .unwrap();
            assert_eq!(first.fault, Fault::Restart);
            assert!(first.at < Duration::from_secs(24), "{first}");
        }
        // A group's faults never overlap: each starts after the last one's hold.
        for g in 0..4 {
            let group: Vec<&Planned> = a.iter().filter(|p| p.target == Target::Group(g)).collect();
            for w in group.windows(2) {
                assert!(w[1].at >= w[0].at + w[0].fault.hold());
            }
        }
        // Every kind comes up over a few seeds.
        let kinds: std::collections::BTreeSet<&str> = (0..5)
            .flat_map(|seed| plan(seed, Duration::from_secs(120), 4))
            .map(|p| p.fault.kind())
            .collect();
        assert_eq!(kinds.len(), 18, "{kinds:?}");
    }
}
