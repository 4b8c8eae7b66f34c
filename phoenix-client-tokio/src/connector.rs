//! Custom byte streams for tokio users: a [`Connector`] takes any tokio
//! stream and hands it to the shared driver.

use std::future::Future;
use std::io;

use phoenix_proto::api::{self, ConnectTarget};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::compat::TokioAsyncReadCompatExt;

/// Opens the byte stream for a connection instead of a plain TCP connect:
/// a proxy tunnel, a Unix socket, an in-memory pipe in tests. TLS (for
/// `wss:`) and the WebSocket upgrade still run on top of what it returns.
#[derive(Debug, Clone)]
pub struct Connector(api::Connector);

impl Connector {
    /// Wraps a function that opens a tokio stream for a target.
    pub fn new<F, Fut, S>(open: F) -> Self
    where
        F: Fn(ConnectTarget) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = io::Result<S>> + Send + 'static,
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        Connector(api::Connector::new(move |target| {
            let opening = open(target);
            async move { opening.await.map(TokioAsyncReadCompatExt::compat) }
        }))
    }
}

impl From<Connector> for api::Connector {
    fn from(connector: Connector) -> Self {
        connector.0
    }
}
