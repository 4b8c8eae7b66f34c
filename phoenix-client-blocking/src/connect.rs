//! Opening a connection: TCP, TLS (rustls) and the WebSocket upgrade the
//! core described (written and read by `phoenix_proto::api::upgrade`), on
//! the socket's thread.
//!
//! This is the one place where the loop blocks on the network: each of the
//! three steps may take up to the connect timeout (resolving the host name
//! is the system's blocking lookup, without a limit of ours). Meanwhile the
//! handles' commands wait in the inbox. Once open, the socket is switched
//! to non-blocking mode and the loop never blocks on it again.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant, SystemTime};

use phoenix_proto::api::tungstenite::WebSocket;
use phoenix_proto::api::tungstenite::protocol::Role;
use phoenix_proto::api::upgrade::{Progress, Upgrade, io_failure};
use phoenix_proto::api::{
    ConnectTarget, ElasticIo, TransportOptions, server_name, websocket_config,
};
use phoenix_proto::client::{ConnectFailure, ConnectRequest};
use rustls::{ClientConnection, StreamOwned};

/// A WebSocket over a [`Stream`], with buffers that are given back while
/// the socket is idle ([`ElasticIo`]).
pub(crate) type Ws = WebSocket<ElasticIo<Stream>>;

/// The byte stream under a WebSocket: TCP, or TLS over TCP.
#[derive(Debug)]
pub(crate) enum Stream {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Stream {
    /// The TCP socket, for readiness and socket options.
    pub(crate) fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(tcp) => tcp,
            Stream::Tls(tls) => &tls.sock,
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(tcp) => tcp.read(buf),
            Stream::Tls(tls) => tls.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(tcp) => tcp.write(buf),
            Stream::Tls(tls) => tls.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(tcp) => tcp.flush(),
            Stream::Tls(tls) => tls.flush(),
        }
    }
}

/// Opens the connection `request` describes and leaves its socket in
/// non-blocking mode.
pub(crate) fn open(
    request: &ConnectRequest,
    options: &TransportOptions,
) -> Result<Ws, ConnectFailure> {
    let target = ConnectTarget::for_url(&request.url)?;
    let upgrade = Upgrade::new(request)?;
    let tcp = open_tcp(&target, options.connect_timeout)?;
    let stream = if target.tls {
        Stream::Tls(Box::new(open_tls(tcp, &target.host, options)?))
    } else {
        Stream::Plain(tcp)
    };
    let ws = open_websocket(upgrade, stream, options)?;
    let tcp = ws.get_ref().get_ref().tcp();
    tcp.set_read_timeout(None)
        .and_then(|()| tcp.set_write_timeout(None))
        .and_then(|()| tcp.set_nonblocking(true))
        .map_err(|e| ConnectFailure::new(format!("could not set up the connection: {e}")))?;
    Ok(ws)
}

/// The time left until `deadline`, `None` once it has passed (never zero:
/// a zero socket timeout means "no timeout").
pub(crate) fn time_left(deadline: Instant) -> Option<Duration> {
    deadline
        .checked_duration_since(Instant::now())
        .filter(|left| !left.is_zero())
}

/// Makes the blocking reads and writes of `tcp` give up after `limit`.
pub(crate) fn limit_io(tcp: &TcpStream, limit: Duration) -> io::Result<()> {
    tcp.set_read_timeout(Some(limit))?;
    tcp.set_write_timeout(Some(limit))
}

/// Whether an I/O error is a socket timeout (reported as `WouldBlock` on
/// Unix and `TimedOut` on Windows).
fn timed_out(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

fn open_tcp(target: &ConnectTarget, limit: Duration) -> Result<TcpStream, ConnectFailure> {
    let deadline = Instant::now() + limit;
    let addresses = (target.host.as_str(), target.port)
        .to_socket_addrs()
        .map_err(|e| ConnectFailure::new(format!("could not open the connection: {e}")))?;
    let mut last_error = None;
    for address in addresses {
        let Some(left) = time_left(deadline) else {
            last_error = Some(io::ErrorKind::TimedOut.into());
            break;
        };
        match TcpStream::connect_timeout(&address, left) {
            Ok(tcp) => {
                tcp.set_nodelay(true)
                    .map_err(|e| ConnectFailure::new(format!("could not set TCP_NODELAY: {e}")))?;
                return Ok(tcp);
            }
            Err(e) => last_error = Some(e),
        }
    }
    Err(match last_error {
        Some(e) if timed_out(&e) => ConnectFailure::new("timed out opening the connection"),
        Some(e) => ConnectFailure::new(format!("could not open the connection: {e}")),
        None => ConnectFailure::new(format!("{} has no address", target.host)),
    })
}

fn open_tls(
    mut tcp: TcpStream,
    host: &str,
    options: &TransportOptions,
) -> Result<StreamOwned<ClientConnection, TcpStream>, ConnectFailure> {
    if options.tls.wants_native_tls() {
        return Err(ConnectFailure::new(
            "native TLS was requested but the blocking driver only has rustls",
        ));
    }
    options.tls.warn_if_unverified(host);
    let config = options.tls.rustls_client_config()?;
    let mut tls = ClientConnection::new(config, server_name(host)?)
        .map_err(|e| ConnectFailure::new(format!("TLS setup failed: {e}")))?;
    let deadline = Instant::now() + options.connect_timeout;
    while tls.is_handshaking() {
        let left = time_left(deadline)
            .ok_or_else(|| ConnectFailure::new("timed out during the TLS handshake"))?;
        limit_io(&tcp, left)
            .map_err(|e| ConnectFailure::new(format!("TLS handshake failed: {e}")))?;
        match tls.complete_io(&mut tcp) {
            Ok(_) => {}
            Err(e) if timed_out(&e) => {}
            Err(e) => return Err(ConnectFailure::new(format!("TLS handshake failed: {e}"))),
        }
    }
    Ok(StreamOwned::new(tls, tcp))
}

fn open_websocket(
    mut upgrade: Upgrade,
    mut stream: Stream,
    options: &TransportOptions,
) -> Result<Ws, ConnectFailure> {
    let deadline = Instant::now() + options.connect_timeout;
    let timed_out_upgrading = || ConnectFailure::new("timed out during the WebSocket upgrade");
    // Each read and write may take what is left of the time; one that runs
    // out of its limit goes round again with what is left then.
    let limit = |stream: &Stream| {
        let left = time_left(deadline).ok_or_else(timed_out_upgrading)?;
        limit_io(stream.tcp(), left)
            .map_err(|e| ConnectFailure::new(format!("WebSocket upgrade failed: {e}")))
    };
    let mut sent = 0;
    while let Some(rest) = upgrade.request().get(sent..).filter(|r| !r.is_empty()) {
        limit(&stream)?;
        match stream.write(rest) {
            Ok(0) => return Err(io_failure(io::ErrorKind::WriteZero.into())),
            Ok(n) => sent += n,
            Err(e) if retry(&e) => {}
            // A TLS 1.3 server refuses a client certificate after the
            // handshake: its alert arrives here (io_failure says so).
            Err(e) => return Err(io_failure(e)),
        }
    }
    upgrade.request_sent();
    loop {
        limit(&stream)?;
        match stream.flush() {
            Ok(()) => break,
            Err(e) if retry(&e) => {}
            Err(e) => return Err(io_failure(e)),
        }
    }
    loop {
        limit(&stream)?;
        match stream.read(upgrade.read_space()) {
            Ok(n) => {
                if let Progress::Done(leftover) = upgrade.filled(n, SystemTime::now())? {
                    let config = Some(websocket_config(options));
                    return Ok(WebSocket::from_partially_read(
                        ElasticIo::new(stream, options.read_buffer_size),
                        leftover,
                        Role::Client,
                        config,
                    ));
                }
            }
            Err(e) if retry(&e) => {}
            Err(e) => return Err(io_failure(e)),
        }
    }
}

/// Whether a read or write during the upgrade may simply be tried again
/// (until the deadline): it ran out of its time limit or was interrupted.
fn retry(error: &io::Error) -> bool {
    timed_out(error) || error.kind() == io::ErrorKind::Interrupted
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use phoenix_proto::client::{Config, Instruction, Socket};

    use super::*;

    /// The connect request the core makes for `endpoint`.
    fn request(endpoint: &str) -> ConnectRequest {
        let mut core = Socket::new(Config::new(endpoint));
        core.connect(Instant::now());
        match core.poll_instruction() {
            Some(Instruction::Connect(request)) => request,
            other => panic!("expected a connect, got {other:?}"),
        }
    }

    fn failure(endpoint: &str, options: &TransportOptions) -> String {
        match open(&request(endpoint), options) {
            Ok(_) => panic!("{endpoint} opened"),
            Err(failure) => failure.message,
        }
    }

    #[test]
    fn failures_say_which_step_failed() {
        let options = TransportOptions::default();
        let refused = failure("ws://127.0.0.1:1/socket", &options);
        assert!(
            refused.starts_with("could not open the connection"),
            "{refused}"
        );
        let mut hurried = TransportOptions::default();
        hurried.connect_timeout = Duration::ZERO;
        let timed_out = failure("ws://127.0.0.1:1/socket", &hurried);
        assert_eq!(timed_out, "timed out opening the connection");
    }

    #[test]
    fn time_left_is_never_zero() {
        let now = Instant::now();
        assert_eq!(time_left(now), None);
        assert!(time_left(now + Duration::from_secs(5)).is_some_and(|left| !left.is_zero()));
    }
}
