//! Connection URLs and the Phoenix 1.8 auth-token subprotocol
//! (phoenix-proto/PROTOCOL.md 1.1 and 1.4).

use std::fmt;

use base64::Engine as _;

/// The first subprotocol offered with an auth token.
pub const PHOENIX_SUBPROTOCOL: &str = "phoenix";
/// The prefix of the subprotocol entry that carries the auth token.
pub const AUTH_TOKEN_PREFIX: &str = "base64url.bearer.phx.";

/// Which transport a URL is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Transport {
    /// `<endpoint>/websocket` with a `ws:` or `wss:` scheme.
    WebSocket,
    /// `<endpoint>/longpoll` with an `http:` or `https:` scheme.
    LongPoll,
}

/// Why an endpoint could not be turned into a connection URL.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UrlError {
    /// The scheme is not `ws`, `wss`, `http` or `https`.
    UnsupportedScheme {
        /// The scheme found (empty when there was none).
        scheme: String,
    },
    /// There is no host after the scheme.
    MissingHost,
    /// The URL has a `#fragment`, which WebSocket URLs cannot carry.
    Fragment,
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UrlError::UnsupportedScheme { scheme } if scheme.is_empty() => {
                f.write_str("the endpoint needs a scheme: ws://, wss://, http:// or https://")
            }
            UrlError::UnsupportedScheme { scheme } => write!(
                f,
                "unsupported scheme `{scheme}`: use ws://, wss://, http:// or https://"
            ),
            UrlError::MissingHost => f.write_str("the endpoint has no host"),
            UrlError::Fragment => f.write_str("a WebSocket URL cannot have a #fragment"),
        }
    }
}

impl std::error::Error for UrlError {}

/// Builds the URL to connect to, the way the official client does:
/// `<endpoint>/websocket?<params>&vsn=<vsn>`.
///
/// * `endpoint` is the socket mount, e.g. `ws://localhost:4000/socket`; a
///   URL that already ends in `/websocket` or `/longpoll` is accepted too,
///   and `http(s)` schemes map to `ws(s)` (and back for long-poll).
/// * A query string already in `endpoint` is kept, before `params`.
/// * Keys and values are encoded as `encodeURIComponent` does; nested
///   params are written by the caller as `key[sub]`.
/// * `vsn` is appended last unless the endpoint or `params` set one.
///
/// ```
/// use phoenix_proto::url::{connection_url, Transport};
/// let url = connection_url(
///     "ws://example.com/socket",
///     &[("token", "abc"), ("n[a]", "1")],
///     "2.0.0",
///     Transport::WebSocket,
/// )?;
/// assert_eq!(url, "ws://example.com/socket/websocket?token=abc&n%5Ba%5D=1&vsn=2.0.0");
/// # Ok::<(), phoenix_proto::url::UrlError>(())
/// ```
///
/// # Errors
/// [`UrlError`] for an unsupported scheme, a missing host or a fragment.
pub fn connection_url<K: AsRef<str>, V: AsRef<str>>(
    endpoint: &str,
    params: &[(K, V)],
    vsn: &str,
    transport: Transport,
) -> Result<String, UrlError> {
    if endpoint.contains('#') {
        return Err(UrlError::Fragment);
    }
    let (scheme, rest) = endpoint
        .split_once("://")
        .ok_or_else(|| UrlError::UnsupportedScheme {
            scheme: String::new(),
        })?;
    let secure = match scheme.to_ascii_lowercase().as_str() {
        "ws" | "http" => false,
        "wss" | "https" => true,
        _ => {
            return Err(UrlError::UnsupportedScheme {
                scheme: scheme.to_owned(),
            });
        }
    };
    let (location, query) = match rest.split_once('?') {
        Some((location, query)) => (location, Some(query)),
        None => (rest, None),
    };
    let host_end = location.find('/').unwrap_or(location.len());
    if host_end == 0 {
        return Err(UrlError::MissingHost);
    }
    let mut path = location.trim_end_matches('/');
    for suffix in ["/websocket", "/longpoll"] {
        if let Some(stripped) = path.strip_suffix(suffix) {
            path = stripped;
            break;
        }
    }
    let (scheme, suffix) = match (transport, secure) {
        (Transport::WebSocket, false) => ("ws", "/websocket"),
        (Transport::WebSocket, true) => ("wss", "/websocket"),
        (Transport::LongPoll, false) => ("http", "/longpoll"),
        (Transport::LongPoll, true) => ("https", "/longpoll"),
    };
    let mut url = format!("{scheme}://{path}{suffix}");
    let mut has_vsn = false;
    let mut separator = '?';
    if let Some(query) = query.filter(|q| !q.is_empty()) {
        has_vsn |= query
            .split('&')
            .any(|pair| pair.split('=').next() == Some("vsn"));
        url.push(separator);
        url.push_str(query);
        separator = '&';
    }
    for (key, value) in params {
        has_vsn |= key.as_ref() == "vsn";
        url.push(separator);
        push_uri_component(&mut url, key.as_ref());
        url.push('=');
        push_uri_component(&mut url, value.as_ref());
        separator = '&';
    }
    if !has_vsn {
        url.push(separator);
        url.push_str("vsn=");
        push_uri_component(&mut url, vsn);
    }
    Ok(url)
}

/// Percent-encodes like JavaScript's `encodeURIComponent`.
pub fn push_uri_component(out: &mut String, s: &str) {
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(crate::codec::hex_digit(b >> 4).to_ascii_uppercase());
            out.push(crate::codec::hex_digit(b & 0xf).to_ascii_uppercase());
        }
    }
}

/// The `Sec-WebSocket-Protocol` values that carry a Phoenix 1.8 auth token:
/// `phoenix` and `base64url.bearer.phx.` followed by the token in
/// **standard** base64 without padding (what the official client sends,
/// despite the name).
///
/// ```
/// assert_eq!(
///     phoenix_proto::url::auth_token_protocols("s3cr3t"),
///     ["phoenix".to_owned(), "base64url.bearer.phx.czNjcjN0".to_owned()]
/// );
/// ```
pub fn auth_token_protocols(token: &str) -> [String; 2] {
    let encoded = base64::engine::general_purpose::STANDARD_NO_PAD.encode(token);
    [
        PHOENIX_SUBPROTOCOL.to_owned(),
        format!("{AUTH_TOKEN_PREFIX}{encoded}"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ws(endpoint: &str, params: &[(&str, &str)]) -> Result<String, UrlError> {
        connection_url(endpoint, params, "2.0.0", Transport::WebSocket)
    }

    #[test]
    fn appends_suffix_params_and_vsn() {
        assert_eq!(
            ws("ws://h:4000/socket", &[]).unwrap(),
            "ws://h:4000/socket/websocket?vsn=2.0.0"
        );
        assert_eq!(
            ws("wss://h/socket/", &[("token", "a b&c=d/é")]).unwrap(),
            "wss://h/socket/websocket?token=a%20b%26c%3Dd%2F%C3%A9&vsn=2.0.0"
        );
        assert_eq!(
            ws("https://h/socket/websocket?x=1", &[]).unwrap(),
            "wss://h/socket/websocket?x=1&vsn=2.0.0"
        );
        assert_eq!(
            ws("ws://h/socket", &[("vsn", "1.0.0")]).unwrap(),
            "ws://h/socket/websocket?vsn=1.0.0"
        );
        assert_eq!(
            ws("ws://h/socket?vsn=2.0.0", &[]).unwrap(),
            "ws://h/socket/websocket?vsn=2.0.0"
        );
        assert_eq!(
            connection_url::<&str, &str>(
                "wss://h/socket/websocket",
                &[],
                "2.0.0",
                Transport::LongPoll
            )
            .unwrap(),
            "https://h/socket/longpoll?vsn=2.0.0"
        );
    }

    #[test]
    fn rejects_bad_endpoints() {
        assert!(matches!(
            ws("ftp://h/socket", &[]),
            Err(UrlError::UnsupportedScheme { .. })
        ));
        assert!(matches!(
            ws("h/socket", &[]),
            Err(UrlError::UnsupportedScheme { .. })
        ));
        assert_eq!(ws("ws:///socket", &[]), Err(UrlError::MissingHost));
        assert_eq!(ws("ws://h/socket#x", &[]), Err(UrlError::Fragment));
    }

    #[test]
    fn token_uses_standard_alphabet_without_padding() {
        // 0xfb 0xff encodes to "+/8" in the standard alphabet: not url-safe.
        let token = String::from_utf8_lossy(&[0x3f, 0x3f, 0x3f]).into_owned();
        assert_eq!(auth_token_protocols(&token)[1], "base64url.bearer.phx.Pz8/");
        assert_eq!(auth_token_protocols("ab")[1], "base64url.bearer.phx.YWI");
    }
}
