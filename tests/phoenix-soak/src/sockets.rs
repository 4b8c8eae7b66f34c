//! The soak's sockets, in both models of the tokio driver, and what each
//! channel does: pushes with a timeout (several in flight), casts, and a
//! reader of its events; every push, outcome and event goes to the
//! [`Checker`].

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use phoenix_client_tokio::phoenix_proto::codec::DecodeError;
use phoenix_client_tokio::{
    Action, Builder, Channel, ChannelCloseReason, ChannelErrorReason, ChannelEvent, ChannelEvents,
    ChannelId, Client, Context, DisconnectReason, Handler, HandlerHandle, Name, Payload, PushError,
    PushFailure, PushId, PushOutcome, ReplyTo, SocketEvent, Status,
};
use serde_json::json;
use tokio::sync::{Semaphore, watch};

use crate::checker::{Checker, Expect, Outcome, PushInfo, PushKey};
use crate::options::Options;
use crate::rng::Rng;

/// Time allowed for each join (the socket's default timeout).
pub(crate) const JOIN_TIMEOUT: Duration = Duration::from_secs(3);
/// Time allowed for TCP, the upgrade, each.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Time allowed for each write.
const WRITE_TIMEOUT: Duration = Duration::from_secs(2);
/// The timeout of the final pushes.
pub(crate) const FINAL_TIMEOUT: Duration = Duration::from_secs(5);
/// How long past its timeout plus the margin the soak's own guard waits
/// for a push's future before giving up on it (`Outcome::Abandoned`).
pub(crate) const GUARD: Duration = Duration::from_secs(5);
/// Pushes in flight per channel, at most (async API).
const IN_FLIGHT: usize = 3;

/// What every socket shares.
#[derive(Debug)]
pub(crate) struct World {
    pub(crate) checker: Arc<Mutex<Checker>>,
    /// One flag per channel: push `crash` next.
    pub(crate) crash: Arc<Vec<AtomicBool>>,
    pub(crate) options: Options,
    /// Becomes `true` when the load stops.
    pub(crate) stop: watch::Receiver<bool>,
}

impl World {
    pub(crate) fn checker(&self) -> MutexGuard<'_, Checker> {
        self.checker.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn crash_next(&self, channel: u32) -> bool {
        self.crash
            .get(channel as usize)
            .is_some_and(|flag| flag.swap(false, Ordering::Relaxed))
    }
}

/// The topic of channel `c` of socket `socket`.
pub(crate) fn topic(socket: u32, c: u32) -> String {
    format!("echo:soak:s{socket}c{c}")
}

/// The builder of socket `socket`: short heartbeats (a stall is noticed in
/// two of them), short connect and write timeouts, a jitter seed from the
/// run's seed, and a shorter wait after a server restart (200 ms to 2 s
/// instead of 1 to 5 s) so that restarts do not dominate the run.
pub(crate) fn builder(options: &Options, socket: u32, url: String) -> Builder {
    let mut builder = Builder::new(url)
        .param("group", options.group(socket).to_string())
        .param("socket", socket.to_string())
        .heartbeat_interval(Some(options.heartbeat))
        .timeout(JOIN_TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT)
        .write_timeout(WRITE_TIMEOUT)
        .rng_seed(Rng::stream(options.seed, 0x3000 + u64::from(socket)).next_u64());
    builder.config_mut().service_restart_delay =
        (Duration::from_millis(200), Duration::from_secs(2));
    builder
}

// ----- what a channel sends ---------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Act {
    Echo,
    Error,
    Sleep,
    Broadcast,
    Binary,
    PushMe,
    NoReply,
    CastEcho,
    Crash,
}

/// How often each request is drawn. In the callback model the casts
/// (`push_me`, `noreply`, a cast `echo`) are pushes whose outcome is
/// awaited too: a timeout for the first two.
const ACTS: &[(Act, u32)] = &[
    (Act::Echo, 55),
    (Act::Error, 8),
    (Act::Sleep, 3),
    (Act::Broadcast, 6),
    (Act::Binary, 5),
    (Act::PushMe, 10),
    (Act::NoReply, 8),
    (Act::CastEcho, 5),
];

/// One request of a channel.
#[derive(Debug)]
struct Request {
    event: &'static str,
    payload: Payload<'static>,
    expect: Expect,
    /// Sent with `cast` by the async API (no outcome awaited).
    cast: bool,
}

fn json_payload(value: &serde_json::Value) -> Payload<'static> {
    Payload::json(value).unwrap_or_else(|_| Payload::empty())
}

/// Request number `n` of channel `channel`: its payload names the channel
/// and the number, so a reply or a server push that reaches the wrong
/// push or channel is caught.
fn request(act: Act, channel: u32, n: u64, rng: &mut Rng, timeout: Duration) -> Request {
    let tagged = |rng: &mut Rng| {
        let pad = "x".repeat(usize::try_from(rng.below(400)).unwrap_or(0));
        json_payload(&json!({ "ch": channel, "n": n, "pad": pad }))
    };
    let (event, payload, expect, cast) = match act {
        Act::Echo => ("echo", tagged(rng), Expect::Echo { channel, n }, false),
        Act::Error => (
            "error",
            tagged(rng),
            Expect::ErrorEcho { channel, n },
            false,
        ),
        Act::Sleep => {
            // Up to 1.5 timeouts: some reply in time, some time out.
            let most = u64::try_from(timeout.as_millis()).unwrap_or(2000);
            let ms = rng.between(most / 5, most * 3 / 2);
            (
                "sleep",
                json_payload(&json!({ "ms": ms })),
                Expect::Ok,
                false,
            )
        }
        Act::Broadcast => ("broadcast", tagged(rng), Expect::Ok, false),
        Act::Binary => ("binary", Payload::empty(), Expect::Bytes(&[1, 2, 3]), false),
        Act::PushMe => ("push_me", tagged(rng), Expect::NoReply, true),
        Act::NoReply => ("noreply", tagged(rng), Expect::NoReply, true),
        Act::CastEcho => ("echo", tagged(rng), Expect::Echo { channel, n }, true),
        Act::Crash => ("crash", Payload::empty(), Expect::NoReply, false),
    };
    Request {
        event,
        payload,
        expect,
        cast,
    }
}

fn failure_label(failure: &PushFailure) -> String {
    match failure {
        PushFailure::ConnectionLost => "connection lost".to_owned(),
        PushFailure::ChannelCrashed => "channel crashed".to_owned(),
        PushFailure::ChannelClosed => "channel closed".to_owned(),
        PushFailure::Encode(_) => "encode".to_owned(),
        other => format!("{other}"),
    }
}

fn push_error_outcome(error: PushError) -> Outcome {
    match error {
        PushError::Timeout => Outcome::Timeout,
        PushError::Failed(failure) => Outcome::Failed(failure_label(&failure)),
        PushError::Rejected(rejected) => Outcome::Refused(format!("rejected: {rejected}")),
        PushError::NotJoined => Outcome::Refused("not joined".to_owned()),
        PushError::SocketGone => Outcome::Refused("socket gone".to_owned()),
        other => Outcome::Refused(other.to_string()),
    }
}

fn error_label(reason: &ChannelErrorReason) -> &'static str {
    match reason {
        ChannelErrorReason::Crashed { .. } => "channel crashed",
        ChannelErrorReason::JoinTimeout => "join timeout",
        ChannelErrorReason::ConnectionLost => "connection lost",
        _ => "other",
    }
}

fn disconnect_label(reason: &DisconnectReason) -> String {
    match reason {
        DisconnectReason::Refused { status, .. } => format!("refused with HTTP {status}"),
        DisconnectReason::Closed {
            code: Some(1006) | None,
            ..
        } => "ended without a close frame".to_owned(),
        DisconnectReason::Closed {
            code: Some(code), ..
        } => format!("closed with {code}"),
        DisconnectReason::HeartbeatTimeout => "heartbeat timeout".to_owned(),
        DisconnectReason::BadMessage { code, .. } => format!("bad message, closed with {code}"),
        DisconnectReason::TransportError { message } => {
            // The kind, without the details (addresses, OS error numbers).
            let kind: String = message
                .split([':', '('])
                .next()
                .unwrap_or_default()
                .trim()
                .chars()
                .take(60)
                .collect();
            format!("transport error: {kind}")
        }
        other => other.to_string(),
    }
}

/// The channel a server message names in its payload (`{"ch": N, ..}`).
fn meant_for(payload: &Payload<'static>) -> Option<u64> {
    payload
        .deserialize::<serde_json::Value>()
        .ok()?
        .get("ch")?
        .as_u64()
}

// ----- the async API ---------------------------------------------------------------

/// A socket of the async API and its channels (index, handle).
#[derive(Debug)]
pub(crate) struct AsyncSocket {
    pub(crate) socket: u32,
    /// Keeps the socket running (so do its channels' handles).
    _client: Client,
    pub(crate) channels: Vec<(u32, Channel)>,
    seq: Arc<AtomicU64>,
}

/// Starts socket `socket` with the async API: its socket-event watcher
/// and, per channel, a handle and the reader of its events. Joining is the
/// caller's.
pub(crate) fn start_async(world: &Arc<World>, socket: u32, url: String) -> AsyncSocket {
    let options = &world.options;
    let client = builder(options, socket, url).connect();
    tokio::spawn(watch_socket(world.clone(), socket, client.clone()));
    let mut channels = Vec::new();
    for c in 0..options.channels {
        let index = socket * options.channels + c;
        let channel = client.channel(topic(socket, c), &json!({ "ch": index }));
        if let Some(events) = channel.events() {
            tokio::spawn(read_events(world.clone(), index, events));
        }
        channels.push((index, channel));
    }
    AsyncSocket {
        socket,
        _client: client,
        channels,
        seq: Arc::new(AtomicU64::new(0)),
    }
}

async fn watch_socket(world: Arc<World>, socket: u32, client: Client) {
    let mut events = client.socket_events();
    if client.status().current() == Status::Connected {
        world.checker().connected(socket, Instant::now());
    }
    drop(client);
    while let Some(event) = events.recv().await {
        let mut checker = world.checker();
        match event {
            SocketEvent::Connected => checker.connected(socket, Instant::now()),
            SocketEvent::Disconnected { reason, .. } => {
                checker.disconnected(socket, &disconnect_label(&reason));
            }
            SocketEvent::MalformedFrame { .. } => checker.malformed(),
            SocketEvent::Stopped => {
                checker.socket_stopped(socket);
                return;
            }
            _ => {}
        }
    }
}

async fn read_events(world: Arc<World>, index: u32, mut events: ChannelEvents) {
    while let Some(event) = events.recv().await {
        let now = Instant::now();
        match event {
            ChannelEvent::Message { event, payload } => {
                let meant = meant_for(&payload);
                world.checker().message(index, &event, meant);
            }
            ChannelEvent::Errored(reason) => {
                world.checker().errored(index, error_label(&reason), now)
            }
            ChannelEvent::Rejoined { .. } => world.checker().rejoined(index, now),
            ChannelEvent::JoinRefused {
                status, response, ..
            } => world.checker().join_refused(
                index,
                format!("{status} {}", response.as_json().unwrap_or("<binary>")),
            ),
            ChannelEvent::Closed(reason) => {
                world.checker().closed(index, format!("{reason:?}"));
                return;
            }
            _ => {}
        }
    }
}

/// One push through the async API, bounded by the soak's guard.
async fn push_outcome(
    channel: &Channel,
    event: &str,
    payload: Payload<'static>,
    timeout: Duration,
    margin: Duration,
) -> Outcome {
    let push = channel.push_with_timeout(event, payload, Some(timeout));
    match tokio::time::timeout(timeout + margin + GUARD, push).await {
        Err(_) => Outcome::Abandoned,
        Ok(Ok(reply)) => Outcome::Reply {
            status: reply.status.into(),
            response: reply.response,
        },
        Ok(Err(error)) => push_error_outcome(error),
    }
}

/// Waits `pause`; `true` when the load stopped meanwhile.
async fn pause_or_stop(pause: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    if *stop.borrow() {
        return true;
    }
    tokio::time::timeout(pause, stop.wait_for(|s| *s))
        .await
        .is_ok()
}

impl AsyncSocket {
    /// Starts the load of every channel: a task per channel that pushes
    /// and casts until the load stops.
    pub(crate) fn start_load(&self, world: &Arc<World>) {
        for (index, channel) in &self.channels {
            tokio::spawn(push_loop(
                world.clone(),
                self.socket,
                *index,
                channel.clone(),
                self.seq.clone(),
            ));
        }
    }

    /// Pushes `echo` once on every channel (the final check); the outcomes
    /// go to the checker.
    pub(crate) fn final_pushes(&self, world: &Arc<World>) {
        for (index, channel) in &self.channels {
            let key = self.next_key();
            let n = u64::MAX / 2 + u64::from(*index);
            let info = PushInfo {
                channel: *index,
                event: "echo",
                expect: Expect::Echo { channel: *index, n },
                timeout: FINAL_TIMEOUT,
                final_check: true,
            };
            world.checker().push_started(key, info, Instant::now());
            let world = world.clone();
            let channel = channel.clone();
            let payload = json_payload(&json!({ "ch": index, "n": n, "final": true }));
            tokio::spawn(async move {
                let margin = world.options.margin;
                let outcome = push_outcome(&channel, "echo", payload, FINAL_TIMEOUT, margin).await;
                world.checker().push_finished(key, &outcome, Instant::now());
            });
        }
    }

    fn next_key(&self) -> PushKey {
        PushKey {
            source: self.socket,
            seq: self.seq.fetch_add(1, Ordering::Relaxed) + 1,
        }
    }
}

async fn push_loop(
    world: Arc<World>,
    socket: u32,
    index: u32,
    channel: Channel,
    seq: Arc<AtomicU64>,
) {
    let options = world.options.clone();
    let mut rng = Rng::stream(options.seed, 0x10_0000 + u64::from(index));
    let mut stop = world.stop.clone();
    let in_flight = Arc::new(Semaphore::new(IN_FLIGHT));
    let timeout = options.push_timeout;
    let mut n = 0;
    loop {
        if pause_or_stop(rng.millis(100, 400), &mut stop).await {
            return;
        }
        n += 1;
        let act = if world.crash_next(index) {
            Act::Crash
        } else {
            rng.weighted(ACTS).unwrap_or(Act::Echo)
        };
        let request = request(act, index, n, &mut rng, timeout);
        if request.cast {
            let sent = channel.cast(request.event, request.payload).await;
            let result = match sent {
                Ok(()) => format!("{} sent", request.event),
                Err(error) => match push_error_outcome(error) {
                    Outcome::Refused(why) => format!("{} refused: {why}", request.event),
                    other => format!("{} {}", request.event, other.label()),
                },
            };
            world.checker().cast(&result);
            continue;
        }
        let Ok(permit) = in_flight.clone().acquire_owned().await else {
            return;
        };
        let key = PushKey {
            source: socket,
            seq: seq.fetch_add(1, Ordering::Relaxed) + 1,
        };
        let info = PushInfo {
            channel: index,
            event: request.event,
            expect: request.expect,
            timeout,
            final_check: false,
        };
        world.checker().push_started(key, info, Instant::now());
        let world = world.clone();
        let channel = channel.clone();
        tokio::spawn(async move {
            let margin = world.options.margin;
            let outcome =
                push_outcome(&channel, request.event, request.payload, timeout, margin).await;
            world.checker().push_finished(key, &outcome, Instant::now());
            drop(permit);
        });
    }
}

// ----- the callback model ------------------------------------------------------------

/// Messages to a callback-model socket.
#[derive(Debug)]
pub(crate) enum Info {
    /// Push something on one channel.
    Tick,
    /// Push the final `echo` on every channel.
    Final,
}

/// A callback-model socket: joins its channels on every connect (the
/// natural code; joined channels come back as they are) and pushes from
/// its callbacks on each [`Info::Tick`]; the outcomes arrive in
/// `handle_reply`, keyed by the core's `PushId`, so an outcome given twice
/// would show.
#[derive(Debug)]
pub(crate) struct SoakHandler {
    world: Arc<World>,
    socket: u32,
    ids: Vec<Option<ChannelId>>,
    rng: Rng,
    n: u64,
}

impl SoakHandler {
    pub(crate) fn new(world: Arc<World>, socket: u32) -> SoakHandler {
        let channels = world.options.channels as usize;
        let rng = Rng::stream(world.options.seed, 0x20_0000 + u64::from(socket));
        SoakHandler {
            world,
            socket,
            ids: vec![None; channels],
            rng,
            n: 0,
        }
    }

    fn first(&self) -> u32 {
        self.socket * self.world.options.channels
    }

    fn index(&self, channel: ChannelId) -> Option<u32> {
        let place = self.ids.iter().position(|id| *id == Some(channel))?;
        Some(self.first() + u32::try_from(place).ok()?)
    }

    fn push(
        &mut self,
        ctx: &mut Context<'_>,
        c: usize,
        request: Request,
        timeout: Duration,
        final_check: bool,
    ) {
        let Some(Some(id)) = self.ids.get(c).copied() else {
            return;
        };
        let index = self.first() + u32::try_from(c).unwrap_or(0);
        let pushed = ctx.push_with_timeout(id, request.event, request.payload, timeout);
        let now = ctx.now();
        let mut checker = self.world.checker();
        match pushed {
            Ok(push) => {
                let info = PushInfo {
                    channel: index,
                    event: request.event,
                    expect: request.expect,
                    timeout,
                    final_check,
                };
                checker.push_started(self.key(push), info, now);
            }
            Err(error) => {
                checker.refused_at_once(index, &format!("rejected: {error}"), final_check);
            }
        }
    }

    fn key(&self, push: PushId) -> PushKey {
        PushKey {
            source: self.socket,
            seq: push.get(),
        }
    }
}

impl Handler for SoakHandler {
    type Info = Info;
    type Call = ();
    type Reply = ();

    fn handle_connected(&mut self, ctx: &mut Context<'_>) -> Action {
        self.world.checker().connected(self.socket, ctx.now());
        let first = self.first();
        for (c, id) in self.ids.iter_mut().enumerate() {
            let c = u32::try_from(c).unwrap_or(0);
            let payload = json_payload(&json!({ "ch": first + c }));
            match ctx.join(&topic(self.socket, c), payload) {
                Ok(channel) => *id = Some(channel),
                Err(error) => self
                    .world
                    .checker()
                    .initial_join_failed(first + c, error.to_string()),
            }
        }
        Action::Continue
    }

    fn handle_disconnected(
        &mut self,
        _ctx: &mut Context<'_>,
        reason: DisconnectReason,
        _reconnect_in: Option<Duration>,
    ) -> Action {
        self.world
            .checker()
            .disconnected(self.socket, &disconnect_label(&reason));
        Action::Continue
    }

    fn handle_joined(
        &mut self,
        ctx: &mut Context<'_>,
        channel: ChannelId,
        _topic: Arc<str>,
        _response: Payload<'static>,
        rejoin: bool,
    ) -> Action {
        if let Some(index) = self.index(channel) {
            let mut checker = self.world.checker();
            if rejoin {
                checker.rejoined(index, ctx.now());
            } else {
                checker.joined(index, ctx.now());
            }
        }
        Action::Continue
    }

    fn handle_join_error(
        &mut self,
        _ctx: &mut Context<'_>,
        channel: ChannelId,
        _topic: Arc<str>,
        status: Name,
        response: Payload<'static>,
        _will_retry: bool,
    ) -> Action {
        if let Some(index) = self.index(channel) {
            let response = format!("{status} {}", response.as_json().unwrap_or("<binary>"));
            self.world.checker().join_refused(index, response);
        }
        Action::Continue
    }

    fn handle_channel_closed(
        &mut self,
        _ctx: &mut Context<'_>,
        channel: ChannelId,
        _topic: Arc<str>,
        reason: ChannelCloseReason,
    ) -> Action {
        if let Some(index) = self.index(channel) {
            self.world.checker().closed(index, format!("{reason:?}"));
        }
        Action::Continue
    }

    fn handle_channel_errored(
        &mut self,
        ctx: &mut Context<'_>,
        channel: ChannelId,
        _topic: Arc<str>,
        reason: ChannelErrorReason,
    ) -> Action {
        if let Some(index) = self.index(channel) {
            self.world
                .checker()
                .errored(index, error_label(&reason), ctx.now());
        }
        Action::Continue
    }

    fn handle_message(
        &mut self,
        _ctx: &mut Context<'_>,
        channel: ChannelId,
        _topic: Arc<str>,
        event: Name,
        payload: Payload<'static>,
    ) -> Action {
        if let Some(index) = self.index(channel) {
            let meant = meant_for(&payload);
            self.world.checker().message(index, &event, meant);
        }
        Action::Continue
    }

    fn handle_reply(
        &mut self,
        ctx: &mut Context<'_>,
        _channel: ChannelId,
        push: PushId,
        outcome: PushOutcome,
    ) -> Action {
        let outcome = match outcome {
            PushOutcome::Reply { status, response } => Outcome::Reply {
                status: status.into(),
                response,
            },
            PushOutcome::Timeout => Outcome::Timeout,
            PushOutcome::Failed(failure) => Outcome::Failed(failure_label(&failure)),
            other => Outcome::Failed(format!("{other:?}")),
        };
        let key = self.key(push);
        self.world.checker().push_finished(key, &outcome, ctx.now());
        Action::Continue
    }

    fn handle_malformed_frame(&mut self, _ctx: &mut Context<'_>, _error: DecodeError) -> Action {
        self.world.checker().malformed();
        Action::Continue
    }

    fn handle_info(&mut self, ctx: &mut Context<'_>, info: Info) -> Action {
        let channels = self.ids.len();
        match info {
            Info::Tick => {
                let c = usize::try_from(self.rng.below(channels as u64)).unwrap_or(0);
                let index = self.first() + u32::try_from(c).unwrap_or(0);
                let act = if self.world.crash_next(index) {
                    Act::Crash
                } else {
                    self.rng.weighted(ACTS).unwrap_or(Act::Echo)
                };
                self.n += 1;
                let timeout = self.world.options.push_timeout;
                let request = request(act, index, self.n, &mut self.rng, timeout);
                self.push(ctx, c, request, timeout, false);
            }
            Info::Final => {
                for c in 0..channels {
                    let index = self.first() + u32::try_from(c).unwrap_or(0);
                    let n = u64::MAX / 2 + u64::from(index);
                    let request = Request {
                        event: "echo",
                        payload: json_payload(&json!({ "ch": index, "n": n, "final": true })),
                        expect: Expect::Echo { channel: index, n },
                        cast: false,
                    };
                    self.push(ctx, c, request, FINAL_TIMEOUT, true);
                }
            }
        }
        Action::Continue
    }

    fn handle_call(&mut self, _ctx: &mut Context<'_>, _call: (), reply: ReplyTo<()>) -> Action {
        reply.send(());
        Action::Continue
    }
}

/// Sends a callback-model socket a [`Info::Tick`] every 35 to 135 ms
/// (about as many pushes per channel as an async channel makes) until the
/// load stops.
pub(crate) async fn tick_loop(world: Arc<World>, socket: u32, handle: HandlerHandle<SoakHandler>) {
    let mut rng = Rng::stream(world.options.seed, 0x30_0000 + u64::from(socket));
    let mut stop = world.stop.clone();
    loop {
        if pause_or_stop(rng.millis(35, 135), &mut stop).await {
            return;
        }
        if handle.info(Info::Tick).await.is_err() {
            world.checker().socket_stopped(socket);
            return;
        }
    }
}
