//! Transport settings every driver understands.

use std::time::Duration;

use super::tls::TlsSettings;

/// Default size of the read buffer a streaming socket reads into: small,
/// since Phoenix frames are usually small (tungstenite's own default is
/// 128 KiB per socket, kept for the connection's life; ours is allocated
/// only while data flows, see [`ElasticIo`](super::ElasticIo)).
pub const DEFAULT_READ_BUFFER: usize = 8 * 1024;
/// Default largest message accepted from the server: 10 MiB, about
/// Phoenix's own default limit on what it accepts. The WebSocket library
/// checks each frame's length before reading its payload and the message's
/// running size as frames arrive, so an oversized message is refused
/// before it is buffered whole; the socket then closes with 1009 and
/// reconnects.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 10 << 20;
/// Default capacity of each channel's event queue.
pub const DEFAULT_CHANNEL_CAPACITY: usize = 256;
/// Default capacity of the queue of commands from handles to the socket.
pub const DEFAULT_COMMAND_CAPACITY: usize = 256;

/// How a driver opens and runs connections.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TransportOptions {
    /// TLS roots and library.
    pub tls: TlsSettings,
    /// Opens the byte stream instead of a plain TCP connect.
    #[cfg(feature = "async-driver")]
    pub connector: Option<super::connect::Connector>,
    /// Time allowed for TCP, TLS and the upgrade, each.
    pub connect_timeout: Duration,
    /// Limit on each write and flush of an open connection.
    pub write_timeout: Duration,
    /// The most bytes read from the socket at a time while data streams.
    pub read_buffer_size: usize,
    /// Largest message accepted from the server (see
    /// [`DEFAULT_MAX_MESSAGE_SIZE`]).
    pub max_message_size: Option<usize>,
}

impl Default for TransportOptions {
    fn default() -> Self {
        TransportOptions {
            tls: TlsSettings::default(),
            #[cfg(feature = "async-driver")]
            connector: None,
            connect_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(10),
            read_buffer_size: DEFAULT_READ_BUFFER,
            max_message_size: Some(DEFAULT_MAX_MESSAGE_SIZE),
        }
    }
}
