//! Starting, restarting and stopping a [`TestServer`].

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio_rustls::TlsAcceptor;

use crate::hub::Hub;
use crate::tls::{self, TlsMaterial};
use crate::{ServerConfig, http};

/// A running Phoenix-compatible test server bound to `127.0.0.1`.
///
/// It runs on its own small tokio runtime (two worker threads), so it keeps
/// serving while the test's runtime is blocked or single-threaded, and it is
/// stopped when dropped. See the [crate docs](crate) for an example.
#[derive(Debug)]
pub struct TestServer {
    pub(crate) hub: Arc<Hub>,
    addr: SocketAddr,
    tls: Option<TlsMaterial>,
    runtime: Option<tokio::runtime::Runtime>,
    stop_accept: Option<oneshot::Sender<()>>,
}

impl TestServer {
    /// Starts a server with the default [`ServerConfig`] on a free port.
    pub async fn start() -> io::Result<TestServer> {
        TestServer::start_blocking(ServerConfig::default())
    }

    /// Starts a server with the given configuration.
    pub async fn start_with(config: ServerConfig) -> io::Result<TestServer> {
        TestServer::start_blocking(config)
    }

    /// Starts a server from synchronous code (it does not need a runtime).
    pub fn start_blocking(config: ServerConfig) -> io::Result<TestServer> {
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, config.port))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let (tls_material, acceptor) = if config.tls {
            let (material, server_config) = tls::generate(&config)?;
            (Some(material), Some(TlsAcceptor::from(server_config)))
        } else {
            (None, None)
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("phoenix-test-server")
            .enable_all()
            .build()?;
        let listener = {
            let _guard = runtime.enter();
            TcpListener::from_std(listener)?
        };
        let hub = Arc::new(Hub::new(config));
        let (stop_tx, stop_rx) = oneshot::channel();
        runtime.spawn(accept_loop(hub.clone(), listener, acceptor, stop_rx));
        Ok(TestServer {
            hub,
            addr,
            tls: tls_material,
            runtime: Some(runtime),
            stop_accept: Some(stop_tx),
        })
    }

    /// The configuration the server was started with.
    pub fn config(&self) -> &ServerConfig {
        &self.hub.config
    }

    /// The bound address (always `127.0.0.1:<port>`).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    fn scheme(&self, plain: &'static str, secure: &'static str) -> &'static str {
        if self.tls.is_some() { secure } else { plain }
    }

    /// `http://127.0.0.1:PORT` (`https` with TLS).
    pub fn http_url(&self) -> String {
        format!("{}://{}", self.scheme("http", "https"), self.addr)
    }

    /// The socket endpoint as phoenix.js wants it: `ws://127.0.0.1:PORT/socket`
    /// (`wss` with TLS); clients append `/websocket` or `/longpoll`.
    pub fn socket_url(&self) -> String {
        format!("{}://{}/socket", self.scheme("ws", "wss"), self.addr)
    }

    /// The WebSocket transport URL: `ws://127.0.0.1:PORT/socket/websocket`
    /// (add `?vsn=2.0.0` and other params yourself).
    pub fn ws_url(&self) -> String {
        format!("{}/websocket", self.socket_url())
    }

    /// The long-poll transport URL: `http://127.0.0.1:PORT/socket/longpoll`.
    pub fn longpoll_url(&self) -> String {
        format!("{}/socket/longpoll", self.http_url())
    }

    /// The readiness probe: `http://127.0.0.1:PORT/health` (answers 200).
    pub fn health_url(&self) -> String {
        format!("{}/health", self.http_url())
    }

    /// The generated certificates when the server was started with `tls: true`.
    pub fn tls(&self) -> Option<&TlsMaterial> {
        self.tls.as_ref()
    }

    /// Closes every connection (WebSocket close code 1012 "service restart";
    /// long-poll sessions end), forgets all channels, subscriptions and
    /// presences, and keeps listening on the same port. Returns once every
    /// connection is gone (connections that do not finish the close handshake
    /// within 1 s are dropped).
    pub async fn restart(&self) {
        self.close_all(1012, "restart");
        if tokio::time::timeout(Duration::from_secs(3), self.wait_for_at_most(0))
            .await
            .is_err()
        {
            self.drop_all();
            let _ = tokio::time::timeout(Duration::from_secs(2), self.wait_for_at_most(0)).await;
        }
        self.hub.reset_channels();
    }

    /// Graceful shutdown: stops accepting, closes every connection with 1001
    /// ("going away"), waits (bounded) for them to finish, then stops the
    /// server's runtime.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop_accept.take() {
            let _ = stop.send(());
        }
        self.close_all(1001, "server shutdown");
        if tokio::time::timeout(Duration::from_secs(3), self.wait_for_at_most(0))
            .await
            .is_err()
        {
            self.drop_all();
            let _ = tokio::time::timeout(Duration::from_secs(1), self.wait_for_at_most(0)).await;
        }
        if let Some(rt) = self.runtime.take() {
            let (done_tx, done_rx) = oneshot::channel();
            std::thread::spawn(move || {
                stop_runtime(rt);
                let _ = done_tx.send(());
            });
            let _ = done_rx.await;
        }
    }
}

/// Stops a server runtime and waits (bounded) until its tasks, and so its
/// sockets, are gone. Must not run on an async thread.
fn stop_runtime(rt: tokio::runtime::Runtime) {
    rt.shutdown_timeout(Duration::from_secs(2));
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            // Every task (listener, connections, channels) is cancelled and
            // its socket closed before drop returns. Runtimes cannot be shut
            // down from async code, hence the helper thread.
            let _ = std::thread::spawn(move || stop_runtime(rt)).join();
        }
    }
}

async fn accept_loop(
    hub: Arc<Hub>,
    listener: TcpListener,
    acceptor: Option<TlsAcceptor>,
    mut stop: oneshot::Receiver<()>,
) {
    loop {
        let accepted = tokio::select! {
            _ = &mut stop => return,
            r = listener.accept() => r,
        };
        let Ok((tcp, peer)) = accepted else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let hub = hub.clone();
        match &acceptor {
            None => {
                tokio::spawn(http::serve_connection(hub, tcp, peer));
            }
            Some(acceptor) => {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    if let Ok(Ok(stream)) =
                        tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await
                    {
                        http::serve_connection(hub, stream, peer).await;
                    }
                });
            }
        }
    }
}
