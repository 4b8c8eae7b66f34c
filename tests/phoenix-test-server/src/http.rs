//! The HTTP side: routing (`/socket/websocket`, `/socket/longpoll`,
//! `/health`), the fixture's `connect/3`, the auth-token subprotocol and the
//! WebSocket upgrade.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

use crate::codec::Serializer;
use crate::control::{ConnectionId, ConnectionInfo, Transport};
use crate::hub::Hub;
use crate::session::SocketAssigns;
use crate::{longpoll, websocket};

/// Response body type.
pub(crate) type Body = Full<Bytes>;

const AUTH_TOKEN_PREFIX: &str = "base64url.bearer.phx.";

/// Serves HTTP/1.1 on one accepted (maybe TLS) stream.
pub(crate) async fn serve_connection<S>(hub: Arc<Hub>, io: S, peer: SocketAddr)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let svc = service_fn(move |req| {
        let hub = hub.clone();
        async move { Ok::<_, Infallible>(route(hub, req, peer).await) }
    });
    let _ = http1::Builder::new()
        .serve_connection(TokioIo::new(io), svc)
        .with_upgrades()
        .await;
}

pub(crate) fn response(status: StatusCode, body: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r
}

async fn route(hub: Arc<Hub>, req: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
    match req.uri().path() {
        "/health" => response(StatusCode::OK, "ok"),
        "/socket/websocket" => websocket_endpoint(hub, req, peer),
        "/socket/longpoll" => longpoll::endpoint(hub, req, peer).await,
        _ => response(StatusCode::NOT_FOUND, "not found"),
    }
}

/// Parses a query string into (key, value) pairs, percent-decoding both.
pub(crate) fn parse_query(query: Option<&str>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        out.insert(percent_decode(k), percent_decode(v));
    }
    out
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let hi = bytes.get(i + 1).copied().and_then(hex_val);
                let lo = bytes.get(i + 2).copied().and_then(hex_val);
                if let (Some(hi), Some(lo)) = (hi, lo) {
                    out.push(hi * 16 + lo);
                    i += 3;
                    continue;
                }
                out.push(b'%');
            }
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Why `connect/3` refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Refused;

/// The fixture's `connect/3` plus serializer negotiation and the auth-token
/// check. On success returns the assigns for a new connection.
pub(crate) fn connect(
    hub: &Hub,
    params: &BTreeMap<String, String>,
    auth_token: Option<&str>,
) -> Result<SocketAssigns, Refused> {
    // `vsn[]=x` and friends make vsn a non-string: not negotiable.
    if params.keys().any(|k| k.starts_with("vsn[")) {
        return Err(Refused);
    }
    let serializer = Serializer::negotiate(params.get("vsn").map(String::as_str)).ok_or(Refused)?;
    if params.get("reject").map(String::as_str) == Some("true") {
        return Err(Refused);
    }
    if let Some(expected) = &hub.config.auth_token {
        if auth_token != Some(expected.as_str()) {
            return Err(Refused);
        }
    }
    let user_id = params.get("user_id").cloned();
    Ok(SocketAssigns {
        conn_id: ConnectionId(hub.next_id()),
        serializer,
        socket_id: user_id.as_ref().map(|u| format!("user_socket:{u}")),
        user_id,
    })
}

/// Builds the public [`ConnectionInfo`] of a new connection.
pub(crate) fn connection_info(
    assigns: &SocketAssigns,
    transport: Transport,
    params: BTreeMap<String, String>,
    auth_token: Option<String>,
    headers: &HeaderMap,
    peer: SocketAddr,
) -> ConnectionInfo {
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        seen.entry(name.as_str().to_owned())
            .and_modify(|v| {
                v.push_str(", ");
                v.push_str(&value);
            })
            .or_insert(value);
    }
    ConnectionInfo {
        headers: seen,
        id: assigns.conn_id,
        transport,
        serializer: assigns.serializer,
        params,
        socket_id: assigns.socket_id.clone(),
        auth_token,
        peer,
        frames_received: 0,
    }
}

/// The answer to an auth-token subprotocol offer.
struct Subprotocol {
    token: Option<String>,
    answer: Option<&'static str>,
}

/// Phoenix 1.8 `maybe_auth_token_from_header` + `check_subprotocols`.
fn negotiate_subprotocol(hub: &Hub, headers: &HeaderMap) -> Result<Subprotocol, StatusCode> {
    let enabled = hub.config.auth_token_subprotocol || hub.config.auth_token.is_some();
    let offered: Vec<String> = headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect();
    if !enabled {
        return Ok(Subprotocol {
            token: None,
            answer: None,
        });
    }
    let (tokens, rest): (Vec<&String>, Vec<&String>) = offered
        .iter()
        .partition(|p| p.starts_with(AUTH_TOKEN_PREFIX));
    let token = match tokens.as_slice() {
        [] => None,
        [one] => {
            let b64 = one.get(AUTH_TOKEN_PREFIX.len()..).unwrap_or("");
            let raw = STANDARD_NO_PAD
                .decode(b64)
                .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
            Some(String::from_utf8(raw).map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?)
        }
        _ => return Err(StatusCode::INTERNAL_SERVER_ERROR),
    };
    if rest.is_empty() {
        return Ok(Subprotocol {
            token,
            answer: None,
        });
    }
    if rest.iter().any(|p| p.as_str() == "phoenix") {
        Ok(Subprotocol {
            token,
            answer: Some("phoenix"),
        })
    } else {
        Err(StatusCode::FORBIDDEN)
    }
}

fn header_has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// Answers a refused request: the refusal switch's status and `Retry-After`.
pub(crate) fn refusal_response(status: u16, retry_after: Option<u64>) -> Response<Body> {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    let mut r = response(code, "connections are being refused");
    if let Some(secs) = retry_after {
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    r
}

fn websocket_endpoint(
    hub: Arc<Hub>,
    mut req: Request<Incoming>,
    peer: SocketAddr,
) -> Response<Body> {
    if let Some((status, retry)) = hub.check_refusal() {
        return refusal_response(status, retry);
    }
    if req.method() != Method::GET {
        return response(StatusCode::BAD_REQUEST, "");
    }
    let headers = req.headers();
    let sub = match negotiate_subprotocol(&hub, headers) {
        Ok(s) => s,
        Err(status) => {
            hub.note_refused();
            return response(status, "");
        }
    };
    let params = parse_query(req.uri().query());
    let Ok(assigns) = connect(&hub, &params, sub.token.as_deref()) else {
        hub.note_refused();
        return response(StatusCode::FORBIDDEN, "");
    };
    if !header_has_token(headers, header::CONNECTION, "upgrade") {
        let got = headers
            .get(header::CONNECTION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        return response(
            StatusCode::BAD_REQUEST,
            format!("'connection' header must contain 'upgrade', got [{got:?}]"),
        );
    }
    if !header_has_token(headers, header::UPGRADE, "websocket") {
        return response(
            StatusCode::BAD_REQUEST,
            "'upgrade' header must contain 'websocket'",
        );
    }
    if headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .map(HeaderValue::as_bytes)
        != Some(b"13")
    {
        return response(
            StatusCode::BAD_REQUEST,
            "'sec-websocket-version' header must be '13'",
        );
    }
    let Some(key) = headers.get(header::SEC_WEBSOCKET_KEY) else {
        return response(
            StatusCode::BAD_REQUEST,
            "'sec-websocket-key' header is missing",
        );
    };
    let accept = derive_accept_key(key.as_bytes());
    let info = connection_info(
        &assigns,
        Transport::WebSocket,
        params,
        sub.token,
        headers,
        peer,
    );
    let on_upgrade = hyper::upgrade::on(&mut req);
    let config = WebSocketConfig::default()
        .max_frame_size(Some(hub.config.max_frame_size))
        .max_message_size(Some(hub.config.max_frame_size));
    let reg = websocket::register(&hub, info);
    let id = assigns.conn_id;
    tokio::spawn(async move {
        let Ok(upgraded) = on_upgrade.await else {
            hub.unregister(id);
            return;
        };
        let ws =
            WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(config))
                .await;
        websocket::serve(hub, ws, reg, assigns).await;
    });

    let mut r = response(StatusCode::SWITCHING_PROTOCOLS, Bytes::new());
    let h = r.headers_mut();
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(v) = HeaderValue::from_str(&accept) {
        h.insert(header::SEC_WEBSOCKET_ACCEPT, v);
    }
    if let Some(p) = sub.answer {
        h.insert(header::SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static(p));
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_queries() {
        let q = parse_query(Some("token=abc&n%5Ba%5D=1&x=a+b%2Fc&vsn=2.0.0&flag"));
        assert_eq!(q.get("token").map(String::as_str), Some("abc"));
        assert_eq!(q.get("n[a]").map(String::as_str), Some("1"));
        assert_eq!(q.get("x").map(String::as_str), Some("a b/c"));
        assert_eq!(q.get("flag").map(String::as_str), Some(""));
        assert_eq!(percent_decode("100%"), "100%");
    }
}
