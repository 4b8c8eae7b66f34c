//! The long-poll transport (phoenix-proto/PROTOCOL.md §9): `GET` opens a session or polls
//! it, `POST` delivers client frames (one JSON frame, or ndjson lines where
//! lines starting with `[` are text frames and others base64 binary frames).
//!
//! Every answer is HTTP 200 with the real status in the JSON body, like
//! Phoenix, except for the refusal switch (its own HTTP status) and bad
//! methods (400). Server→client binary frames cannot be carried over
//! long-poll and are dropped.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{Value, json};
use tokio::sync::{Notify, mpsc, oneshot};

use crate::codec::{self, ClientMessage, DecodeError, Frame, Serializer};
use crate::control::Transport;
use crate::http::{Body, connect, connection_info, parse_query, refusal_response, response};
use crate::hub::{ConnCtl, ConnEntry, Hub, Out, Outbox};
use crate::session::{Session, SocketAssigns};

const TOKEN_HEADER: &str = "x-phoenix-longpoll-token";
const AUTH_TOKEN_HEADER: &str = "x-phoenix-authtoken";
/// Phoenix only looks at the first 100 lines of an ndjson POST.
const MAX_LINES: usize = 100;

/// Frames of one POST, with an acknowledgement once they were dispatched
/// (`true`) or the session died on them (`false`).
struct Post {
    frames: Vec<Frame>,
    ack: oneshot::Sender<bool>,
}

/// The part of a session that the HTTP handlers share with its task.
pub(crate) struct Shared {
    buf: Mutex<Vec<String>>,
    notify: Notify,
    alive: AtomicBool,
    last_poll: Mutex<Instant>,
    posts: mpsc::UnboundedSender<Post>,
}

impl Shared {
    fn buf(&self) -> MutexGuard<'_, Vec<String>> {
        self.buf.lock().unwrap_or_else(PoisonError::into_inner)
    }
    fn touch(&self) {
        *self
            .last_poll
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Instant::now();
    }
    fn idle_for(&self) -> Duration {
        self.last_poll
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .elapsed()
    }
}

/// Long-poll sessions by token.
#[derive(Default)]
pub(crate) struct Registry {
    sessions: Mutex<HashMap<String, Arc<Shared>>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").finish_non_exhaustive()
    }
}

impl Registry {
    pub(crate) fn lock(&self) -> MutexGuard<'_, HashMap<String, Arc<Shared>>> {
        self.sessions.lock().unwrap_or_else(PoisonError::into_inner)
    }
    fn get(&self, token: &str) -> Option<Arc<Shared>> {
        self.lock()
            .get(token)
            .filter(|s| s.alive.load(Ordering::SeqCst))
            .cloned()
    }
}

static TOKEN_COUNTER: AtomicU64 = AtomicU64::new(0);

fn new_token(conn_id: u64) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let mut bytes = Vec::with_capacity(32);
    bytes.extend_from_slice(&nanos.to_be_bytes());
    bytes.extend_from_slice(&conn_id.to_be_bytes());
    bytes.extend_from_slice(&TOKEN_COUNTER.fetch_add(1, Ordering::Relaxed).to_be_bytes());
    format!("LP.{}", URL_SAFE_NO_PAD.encode(bytes))
}

fn json_response(body: &Value) -> Response<Body> {
    let mut r = response(StatusCode::OK, body.to_string());
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn session_token(req: &Request<Incoming>) -> Option<String> {
    if let Some(v) = req
        .headers()
        .get(TOKEN_HEADER)
        .and_then(|v| v.to_str().ok())
    {
        return Some(v.to_owned());
    }
    parse_query(req.uri().query()).remove("token")
}

/// Handles a request to `/socket/longpoll`.
pub(crate) async fn endpoint(
    hub: Arc<Hub>,
    req: Request<Incoming>,
    peer: SocketAddr,
) -> Response<Body> {
    match *req.method() {
        Method::OPTIONS => {
            let mut r = json_response(&json!({}));
            let h = r.headers_mut();
            h.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static("*"),
            );
            h.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("GET, POST, OPTIONS"),
            );
            r
        }
        Method::GET => get(hub, req, peer).await,
        Method::POST => post(hub, req).await,
        _ => response(StatusCode::BAD_REQUEST, ""),
    }
}

async fn get(hub: Arc<Hub>, req: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
    if let Some(shared) = session_token(&req).and_then(|t| hub.longpoll.get(&t).map(|s| (t, s))) {
        let (token, shared) = shared;
        return poll(&hub, &token, &shared).await;
    }
    // No valid session: this GET is a connect.
    if let Some((status, retry)) = hub.check_refusal() {
        return refusal_response(status, retry);
    }
    let params = parse_query(req.uri().query());
    let auth_token = req
        .headers()
        .get(AUTH_TOKEN_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let Ok(assigns) = connect(&hub, &params, auth_token.as_deref()) else {
        hub.note_refused();
        return json_response(&json!({ "status": 403 }));
    };
    let token = new_token(assigns.conn_id.0);
    let info = connection_info(
        &assigns,
        Transport::LongPoll,
        params,
        auth_token,
        req.headers(),
        peer,
    );
    let (posts_tx, posts_rx) = mpsc::unbounded_channel();
    let shared = Arc::new(Shared {
        buf: Mutex::new(Vec::new()),
        notify: Notify::new(),
        alive: AtomicBool::new(true),
        last_poll: Mutex::new(Instant::now()),
        posts: posts_tx,
    });
    hub.longpoll.lock().insert(token.clone(), shared.clone());
    let (outbox, out_rx) = Outbox::new();
    let (ctl_tx, ctl_rx) = mpsc::unbounded_channel();
    hub.register(ConnEntry {
        info,
        outbox: outbox.clone(),
        ctl: ctl_tx,
        delay_ms: Arc::new(AtomicU64::new(u64::MAX)),
    });
    let task = SessionTask {
        hub: hub.clone(),
        token: token.clone(),
        shared,
        assigns,
        outbox,
    };
    tokio::spawn(task.run(out_rx, ctl_rx, posts_rx));
    json_response(&json!({ "status": 410, "token": token, "messages": [] }))
}

async fn poll(hub: &Hub, token: &str, shared: &Shared) -> Response<Body> {
    shared.touch();
    let deadline = tokio::time::Instant::now() + hub.config.longpoll_window;
    loop {
        let notified = shared.notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let messages: Vec<String> = std::mem::take(&mut *shared.buf());
        if !messages.is_empty() {
            shared.touch();
            return json_response(&json!({ "status": 200, "token": token, "messages": messages }));
        }
        if !shared.alive.load(Ordering::SeqCst) {
            return json_response(&json!({ "status": 410 }));
        }
        if tokio::time::timeout_at(deadline, notified).await.is_err() {
            shared.touch();
            return json_response(&json!({ "status": 204, "token": token, "messages": [] }));
        }
    }
}

fn parse_body(content_type: &str, body: &[u8]) -> Option<Vec<Frame>> {
    let text = std::str::from_utf8(body).ok()?;
    if !content_type.starts_with("application/x-ndjson") {
        return Some(vec![Frame::Text(text.to_owned())]);
    }
    let mut frames = Vec::new();
    for line in text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .take(MAX_LINES)
    {
        if line.starts_with('[') {
            frames.push(Frame::Text(line.to_owned()));
        } else {
            frames.push(Frame::Binary(STANDARD.decode(line).ok()?));
        }
    }
    Some(frames)
}

async fn post(hub: Arc<Hub>, req: Request<Incoming>) -> Response<Body> {
    let Some(shared) = session_token(&req).and_then(|t| hub.longpoll.get(&t)) else {
        return json_response(&json!({ "status": 410 }));
    };
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let Ok(body) = req.into_body().collect().await else {
        return response(StatusCode::BAD_REQUEST, "");
    };
    let body = body.to_bytes();
    if body.len() > hub.config.max_frame_size {
        return response(StatusCode::PAYLOAD_TOO_LARGE, "");
    }
    let Some(frames) = parse_body(&content_type, &body) else {
        return response(StatusCode::BAD_REQUEST, "");
    };
    let (ack, done) = oneshot::channel();
    if shared.posts.send(Post { frames, ack }).is_err() {
        return json_response(&json!({ "status": 410 }));
    }
    match tokio::time::timeout(hub.config.longpoll_window, done).await {
        Ok(Ok(true)) => json_response(&json!({ "status": 200 })),
        Ok(_) => json_response(&json!({ "status": 410 })),
        Err(_) => json_response(&json!({ "status": 408 })),
    }
}

fn decode(serializer: Serializer, frame: &Frame) -> Result<ClientMessage, DecodeError> {
    match (serializer, frame) {
        (Serializer::V2, Frame::Text(t)) => codec::decode_v2_text(t),
        (Serializer::V1, Frame::Text(t)) => codec::decode_v1_text(t),
        (Serializer::V2, Frame::Binary(b)) => codec::decode_v2_binary(b),
        (Serializer::V1, Frame::Binary(_)) => Err(DecodeError::BinaryOnV1),
    }
}

struct SessionTask {
    hub: Arc<Hub>,
    token: String,
    shared: Arc<Shared>,
    assigns: SocketAssigns,
    outbox: Outbox,
}

impl SessionTask {
    async fn run(
        self,
        mut out_rx: mpsc::UnboundedReceiver<crate::hub::OutItem>,
        mut ctl_rx: mpsc::UnboundedReceiver<ConnCtl>,
        mut posts_rx: mpsc::UnboundedReceiver<Post>,
    ) {
        let SessionTask {
            hub,
            token,
            shared,
            assigns,
            outbox,
        } = self;
        let id = assigns.conn_id;
        let (events_tx, mut events_rx) = mpsc::unbounded_channel();
        let mut session = Session::new(hub.clone(), assigns, outbox, events_tx);
        // A session with no poll for 1.5 x window shuts down.
        let session_timeout = hub.config.longpoll_window.saturating_mul(3) / 2;
        let check_every = (hub.config.longpoll_window / 4).max(Duration::from_millis(10));
        let mut ticker = tokio::time::interval(check_every);
        'session: loop {
            tokio::select! {
                biased;
                ctl = ctl_rx.recv() => match ctl {
                    Some(ConnCtl::Drop) | None => break 'session,
                    Some(ConnCtl::HalfOpen) => {}
                },
                Some(ev) = events_rx.recv() => session.on_event(ev),
                Some(item) = out_rx.recv() => match item.out {
                    Out::Frame(Frame::Text(t)) => {
                        shared.buf().push(t);
                        shared.notify.notify_waiters();
                    }
                    Out::Frame(Frame::Binary(_)) => {}
                    Out::Close(..) => break 'session,
                },
                Some(post) = posts_rx.recv() => {
                    for frame in &post.frames {
                        hub.note_frame_received(id);
                        match decode(session.serializer(), frame) {
                            Ok(msg) => session.handle(msg).await,
                            Err(_) => {
                                // The session process crashes.
                                let _ = post.ack.send(false);
                                break 'session;
                            }
                        }
                    }
                    // Move what the frames produced into the buffer before
                    // answering, so that the next poll sees it.
                    while let Ok(item) = out_rx.try_recv() {
                        match item.out {
                            Out::Frame(Frame::Text(t)) => shared.buf().push(t),
                            Out::Frame(Frame::Binary(_)) => {}
                            Out::Close(..) => {
                                let _ = post.ack.send(true);
                                break 'session;
                            }
                        }
                    }
                    shared.notify.notify_waiters();
                    let _ = post.ack.send(true);
                }
                _ = ticker.tick() => {
                    if shared.idle_for() > session_timeout {
                        break 'session;
                    }
                }
            }
        }
        shared.alive.store(false, Ordering::SeqCst);
        shared.notify.notify_waiters();
        hub.longpoll.lock().remove(&token);
        session.terminate().await;
        hub.unregister(id);
    }
}
