//! Buffers between the byte stream and the WebSocket library that exist only
//! while data flows: [`ElasticIo`].
//!
//! tungstenite keeps its read buffer (zeroed, so resident) and its write
//! buffer (as large as the largest burst written) for the connection's
//! whole life. With thousands of mostly idle sockets that is most of their
//! memory. So every driver gives tungstenite a read buffer of
//! [`WS_READ_BUFFER`] bytes and no write buffer, and wraps the stream in an
//! [`ElasticIo`]: reads are served from a buffer that is allocated when the
//! socket has something to read (small, grown to the configured size while
//! data streams) and given back when the traffic stops; writes collect in a
//! buffer that is given back once flushed a few times with little in it. A
//! busy socket keeps both between batches (allocating them per wake-up
//! showed in profiles); an idle one holds none but a small write buffer.

use std::io::{self, Read, Write};

/// The read buffer tungstenite itself gets: the bytes it asks for per
/// read. Small, because it stays allocated; the [`ElasticIo`] under it
/// reads in larger pieces.
pub const WS_READ_BUFFER: usize = 512;

/// A write buffer this small is always kept for the next writes.
const KEEP_WRITE: usize = 1024;

/// A byte stream with read and write buffers that grow with traffic and
/// are given back when it stops. `S` is an async stream (`futures-io`,
/// with the feature `async-driver`) or a std one.
#[derive(Debug)]
pub struct ElasticIo<S> {
    inner: S,
    reads: ReadBuf,
    writes: WriteBuf,
}

impl<S> ElasticIo<S> {
    /// Wraps `inner`, reading up to `read_size` bytes at a time.
    pub fn new(inner: S, read_size: usize) -> Self {
        ElasticIo {
            inner,
            reads: ReadBuf::new(read_size.max(WS_READ_BUFFER)),
            writes: WriteBuf {
                data: Vec::new(),
                pos: 0,
                quiet: 0,
            },
        }
    }

    /// The wrapped stream.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped stream, mutably (reading or writing it directly would
    /// bypass what is buffered).
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// How many bytes of the writes not yet all sent have gone out to the
    /// wrapped stream: it grows while a flush makes progress and is back to
    /// 0 once everything buffered went out. What a driver reports to
    /// [`WriteProgress`](super::WriteProgress) while a flush waits.
    pub fn flushed_bytes(&self) -> usize {
        self.writes.pos
    }

    /// Bytes held now in both buffers (allocated, not only used).
    pub fn buffered_capacity(&self) -> usize {
        self.reads.data.capacity() + self.writes.data.capacity()
    }
}

/// The read buffer a socket starts with, and goes back to after its
/// traffic stops. Below 1 KiB on purpose: glibc serves such requests from
/// its per-thread caches, while a larger one first consolidates every
/// freed small chunk (`malloc_consolidate`, 185,000 instructions a call in a
/// profile of pipelined pushes).
const SMALL_READ: usize = 960;

/// Quiet rounds (a wait after little traffic) before a grown buffer is
/// given back: a pipelining socket has some, a socket whose traffic stopped
/// has them all.
const QUIET_ROUNDS: u8 = 4;

/// What was read and not handed out yet: `data[pos..end]`. `data` is
/// either empty (given back) or as long as it was allocated.
#[derive(Debug)]
struct ReadBuf {
    data: Vec<u8>,
    pos: usize,
    end: usize,
    /// The largest buffer (the configured read size).
    size: usize,
    /// The size of the next buffer allocated.
    next: usize,
    /// Bytes read since the stream last made the reader wait.
    since_wait: usize,
    quiet: u8,
}

impl ReadBuf {
    fn new(size: usize) -> Self {
        ReadBuf {
            data: Vec::new(),
            pos: 0,
            end: 0,
            size,
            next: SMALL_READ.min(size),
            since_wait: 0,
            quiet: 0,
        }
    }

    /// Hands out buffered bytes, if any.
    fn take(&mut self, out: &mut [u8]) -> Option<usize> {
        let available = self.data.get(self.pos..self.end).unwrap_or_default();
        if available.is_empty() {
            return None;
        }
        let n = available.len().min(out.len());
        if let (Some(to), Some(from)) = (out.get_mut(..n), available.get(..n)) {
            to.copy_from_slice(from);
        }
        self.pos += n;
        Some(n)
    }

    /// Whether a read of `out` is better done straight into it.
    fn direct(&self, out: &[u8]) -> bool {
        out.len() >= self.size
    }

    /// The space to read into (allocated now if it was given back, or
    /// grown if the last read filled it).
    fn space(&mut self) -> &mut [u8] {
        (self.pos, self.end) = (0, 0);
        if self.data.len() != self.next {
            self.data = vec![0; self.next];
        }
        &mut self.data
    }

    /// `n` bytes were read into the space; hands out what fits in `out`.
    fn filled(&mut self, n: usize, out: &mut [u8]) -> usize {
        if n == 0 {
            // The end of the stream.
            self.release();
            return 0;
        }
        if n == self.data.len() {
            // Full: more is probably waiting; read it in larger pieces.
            self.next = self.size;
        }
        self.end = n.min(self.data.len());
        self.since_wait += n;
        self.take(out).unwrap_or(0)
    }

    /// The stream has nothing more now. A small buffer is given back at
    /// once (getting it again is cheap); a grown one after
    /// [`QUIET_ROUNDS`] waits in a row that followed little traffic, so a
    /// busy socket does not allocate per wake-up.
    fn waiting(&mut self) {
        let quiet = self.since_wait < self.data.len() / 2;
        self.since_wait = 0;
        self.quiet = if quiet {
            self.quiet.saturating_add(1)
        } else {
            0
        };
        if self.data.len() <= SMALL_READ || self.quiet >= QUIET_ROUNDS {
            self.release();
        }
    }

    /// Gives the memory back; the next buffer is a small one.
    fn release(&mut self) {
        self.data = Vec::new();
        (self.pos, self.end) = (0, 0);
        self.next = SMALL_READ.min(self.size);
        self.quiet = 0;
    }
}

/// What was written and not sent yet: `data[pos..]`.
#[derive(Debug)]
struct WriteBuf {
    data: Vec<u8>,
    pos: usize,
    quiet: u8,
}

impl WriteBuf {
    fn pending(&self) -> &[u8] {
        self.data.get(self.pos..).unwrap_or_default()
    }

    /// `n` more bytes went out. Once all have, the buffer is kept for the
    /// next batch, unless it is large and [`QUIET_ROUNDS`] batches in a row
    /// used little of it (the traffic that grew it is over).
    fn sent(&mut self, n: usize) {
        self.pos += n;
        if self.pos == self.data.len() {
            let used = self.data.len();
            self.data.clear();
            self.pos = 0;
            let capacity = self.data.capacity();
            let quiet = used < capacity / 4;
            self.quiet = if quiet {
                self.quiet.saturating_add(1)
            } else {
                0
            };
            if capacity > KEEP_WRITE && self.quiet >= QUIET_ROUNDS {
                self.data = Vec::new();
                self.quiet = 0;
            }
        }
    }
}

/// Why a write or flush could not go on: the stream wrote nothing.
fn wrote_zero() -> io::Error {
    io::Error::new(io::ErrorKind::WriteZero, "the stream accepted no bytes")
}

impl<S: Read> Read for ElasticIo<S> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if let Some(n) = self.reads.take(out) {
            return Ok(n);
        }
        if self.reads.direct(out) {
            return self.inner.read(out);
        }
        match self.inner.read(self.reads.space()) {
            Ok(n) => Ok(self.reads.filled(n, out)),
            Err(e) => {
                if e.kind() == io::ErrorKind::WouldBlock {
                    self.reads.waiting();
                } else {
                    self.reads.release();
                }
                Err(e)
            }
        }
    }
}

impl<S: Write> ElasticIo<S> {
    /// Sends what is buffered, as far as the stream takes it.
    fn send_buffered(&mut self) -> io::Result<()> {
        while !self.writes.pending().is_empty() {
            match self.inner.write(self.writes.pending()) {
                Ok(0) => return Err(wrote_zero()),
                Ok(n) => self.writes.sent(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

impl<S: Write> Write for ElasticIo<S> {
    /// Buffers `data` (sent by [`flush`](Write::flush)).
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.writes.data.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send_buffered()?;
        self.inner.flush()
    }
}

#[cfg(feature = "async-driver")]
mod futures_impls {
    use std::io;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use futures_io::{AsyncRead, AsyncWrite};

    use super::{ElasticIo, wrote_zero};

    impl<S: AsyncWrite + Unpin> ElasticIo<S> {
        /// Sends what is buffered, as far as the stream takes it now.
        fn poll_send_buffered(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            while !self.writes.pending().is_empty() {
                match Pin::new(&mut self.inner).poll_write(cx, self.writes.pending()) {
                    Poll::Ready(Ok(0)) => return Poll::Ready(Err(wrote_zero())),
                    Poll::Ready(Ok(n)) => self.writes.sent(n),
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => return Poll::Pending,
                }
            }
            Poll::Ready(Ok(()))
        }
    }

    impl<S: AsyncRead + Unpin> AsyncRead for ElasticIo<S> {
        fn poll_read(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            out: &mut [u8],
        ) -> Poll<io::Result<usize>> {
            let this = self.get_mut();
            if let Some(n) = this.reads.take(out) {
                return Poll::Ready(Ok(n));
            }
            if this.reads.direct(out) {
                return Pin::new(&mut this.inner).poll_read(cx, out);
            }
            match Pin::new(&mut this.inner).poll_read(cx, this.reads.space()) {
                Poll::Ready(Ok(n)) => Poll::Ready(Ok(this.reads.filled(n, out))),
                Poll::Pending => {
                    this.reads.waiting();
                    Poll::Pending
                }
                failed => {
                    this.reads.release();
                    failed
                }
            }
        }
    }

    impl<S: AsyncWrite + Unpin> AsyncWrite for ElasticIo<S> {
        /// Buffers `data` (sent by `poll_flush`).
        fn poll_write(
            self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            data: &[u8],
        ) -> Poll<io::Result<usize>> {
            self.get_mut().writes.data.extend_from_slice(data);
            Poll::Ready(Ok(data.len()))
        }

        fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            let this = self.get_mut();
            match this.poll_send_buffered(cx) {
                Poll::Ready(Ok(())) => Pin::new(&mut this.inner).poll_flush(cx),
                other => other,
            }
        }

        fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            let this = self.get_mut();
            match this.poll_send_buffered(cx) {
                Poll::Ready(Ok(())) => Pin::new(&mut this.inner).poll_close(cx),
                other => other,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use super::*;

    /// A std stream that hands out scripted reads (`None`: would block) and
    /// takes at most `take` bytes per write.
    struct Script {
        reads: VecDeque<Option<Vec<u8>>>,
        written: Vec<u8>,
        take: usize,
        flushes: usize,
    }

    impl Script {
        fn new(reads: Vec<Option<&[u8]>>) -> Self {
            Script {
                reads: reads.into_iter().map(|r| r.map(<[u8]>::to_vec)).collect(),
                written: Vec::new(),
                take: usize::MAX,
                flushes: 0,
            }
        }
    }

    impl Read for Script {
        /// Hands out the next scripted read, as much of it as fits (the
        /// rest comes with the next call).
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            match self.reads.pop_front() {
                Some(Some(mut bytes)) => {
                    let n = bytes.len().min(out.len());
                    out[..n].copy_from_slice(&bytes[..n]);
                    if n < bytes.len() {
                        self.reads.push_front(Some(bytes.split_off(n)));
                    }
                    Ok(n)
                }
                Some(None) => Err(io::ErrorKind::WouldBlock.into()),
                None => Ok(0),
            }
        }
    }

    impl Write for Script {
        fn write(&mut self, data: &[u8]) -> io::Result<usize> {
            if self.take == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let n = data.len().min(self.take);
            self.written.extend_from_slice(&data[..n]);
            Ok(n)
        }

        fn flush(&mut self) -> io::Result<()> {
            self.flushes += 1;
            Ok(())
        }
    }

    fn read_all_now(io: &mut ElasticIo<Script>, piece: usize) -> (Vec<u8>, io::ErrorKind) {
        let mut got = Vec::new();
        let mut out = vec![0; piece];
        loop {
            match io.read(&mut out) {
                Ok(0) => return (got, io::ErrorKind::UnexpectedEof),
                Ok(n) => got.extend_from_slice(&out[..n]),
                Err(e) => return (got, e.kind()),
            }
        }
    }

    #[test]
    fn small_reads_are_served_from_one_large_read_in_order() {
        let data: Vec<u8> = (0..=255).cycle().take(3000).collect();
        let mut io = ElasticIo::new(Script::new(vec![Some(&data), None]), 4096);
        let (got, end) = read_all_now(&mut io, 100);
        assert_eq!(got, data);
        assert_eq!(end, io::ErrorKind::WouldBlock);
    }

    #[test]
    fn the_read_buffer_is_given_back_when_the_stream_would_block() {
        let mut io = ElasticIo::new(
            Script::new(vec![Some(b"hello"), None, Some(b"again")]),
            4096,
        );
        let mut out = [0; 3];
        assert_eq!(io.read(&mut out).unwrap(), 3);
        assert_eq!(
            io.buffered_capacity(),
            SMALL_READ,
            "held while bytes are left"
        );
        assert_eq!(io.read(&mut out).unwrap(), 2);
        assert_eq!(&out[..2], b"lo");
        assert_eq!(
            io.read(&mut out).unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
        assert_eq!(io.buffered_capacity(), 0);
        assert_eq!(io.read(&mut out).unwrap(), 3);
        assert_eq!(&out, b"aga");
    }

    #[test]
    fn a_read_as_large_as_the_buffer_goes_straight_to_the_stream() {
        let mut io = ElasticIo::new(Script::new(vec![Some(b"direct")]), 1024);
        let mut out = vec![0; 1024];
        assert_eq!(io.read(&mut out).unwrap(), 6);
        assert_eq!(io.buffered_capacity(), 0);
    }

    #[test]
    fn end_of_stream_reads_zero() {
        let mut io = ElasticIo::new(Script::new(vec![Some(b"x")]), 1024);
        let (got, end) = read_all_now(&mut io, 10);
        assert_eq!(got, b"x");
        assert_eq!(end, io::ErrorKind::UnexpectedEof);
        assert_eq!(io.buffered_capacity(), 0);
    }

    #[test]
    fn writes_wait_for_flush_and_the_buffer_is_given_back_after_a_burst() {
        let mut io = ElasticIo::new(Script::new(vec![]), 1024);
        let burst = vec![7u8; 100_000];
        for chunk in burst.chunks(100) {
            assert_eq!(io.write(chunk).unwrap(), 100);
        }
        assert!(
            io.get_ref().written.is_empty(),
            "nothing sent before the flush"
        );
        io.flush().unwrap();
        assert_eq!(io.get_ref().written, burst);
        assert_eq!(io.get_ref().flushes, 1);
        assert!(
            io.buffered_capacity() >= 100_000,
            "kept while the traffic lasts"
        );
        for round in 1..=QUIET_ROUNDS {
            assert!(
                io.buffered_capacity() >= 100_000,
                "kept before round {round}"
            );
            io.write_all(b"heartbeat").unwrap();
            io.flush().unwrap();
            assert!(io.get_ref().written.ends_with(b"heartbeat"));
        }
        assert_eq!(io.buffered_capacity(), 0, "small batches after the burst");
    }

    #[test]
    fn a_streaming_socket_grows_and_keeps_its_read_buffer_until_the_traffic_stops() {
        let full = [1u8; 8192];
        let mut script = vec![Some(&full[..]), None];
        for _ in 0..QUIET_ROUNDS {
            script.extend([Some(&b"ping"[..]), None]);
        }
        let mut io = ElasticIo::new(Script::new(script), 4096);
        let (got, end) = read_all_now(&mut io, 512);
        assert_eq!((got.len(), end), (8192, io::ErrorKind::WouldBlock));
        assert_eq!(io.buffered_capacity(), 4096, "grown and kept: streaming");
        for round in 1..=QUIET_ROUNDS {
            assert_eq!(io.buffered_capacity(), 4096, "kept before round {round}");
            let (got, end) = read_all_now(&mut io, 512);
            assert_eq!((&got[..], end), (&b"ping"[..], io::ErrorKind::WouldBlock));
        }
        assert_eq!(io.buffered_capacity(), 0, "given back: the traffic stopped");
    }

    #[test]
    fn a_small_write_buffer_is_kept_between_flushes() {
        let mut io = ElasticIo::new(Script::new(vec![]), 1024);
        io.write_all(b"ping").unwrap();
        io.flush().unwrap();
        assert!(io.buffered_capacity() > 0 && io.buffered_capacity() <= KEEP_WRITE);
    }

    #[test]
    fn a_flush_the_stream_cannot_take_yet_keeps_the_rest_in_order() {
        let mut io = ElasticIo::new(Script::new(vec![]), 1024);
        io.get_mut().take = 3;
        io.write_all(b"abcdefgh").unwrap();
        io.flush().unwrap();
        assert_eq!(io.get_ref().written, b"abcdefgh", "in pieces of 3");
        io.get_mut().take = 0;
        io.write_all(b"ijk").unwrap();
        assert_eq!(io.flush().unwrap_err().kind(), io::ErrorKind::WouldBlock);
        io.write_all(b"lm").unwrap();
        io.get_mut().take = 2;
        io.flush().unwrap();
        assert_eq!(io.get_ref().written, b"abcdefghijklm");
    }

    #[test]
    fn a_stream_that_takes_nothing_is_an_error_not_a_loop() {
        struct Zero;
        impl Write for Zero {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Ok(0)
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let mut io = ElasticIo::new(Zero, 1024);
        io.write_all(b"x").unwrap();
        assert_eq!(io.flush().unwrap_err().kind(), io::ErrorKind::WriteZero);
    }

    #[cfg(feature = "async-driver")]
    mod futures {
        use std::pin::Pin;
        use std::task::{Context, Poll, Waker};

        use futures_io::{AsyncRead, AsyncWrite};

        use super::*;

        /// The scripted stream as an async one: would-block is `Pending`.
        impl AsyncRead for Script {
            fn poll_read(
                self: Pin<&mut Self>,
                _: &mut Context<'_>,
                out: &mut [u8],
            ) -> Poll<io::Result<usize>> {
                match self.get_mut().read(out) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => Poll::Pending,
                    other => Poll::Ready(other),
                }
            }
        }

        impl AsyncWrite for Script {
            fn poll_write(
                self: Pin<&mut Self>,
                _: &mut Context<'_>,
                data: &[u8],
            ) -> Poll<io::Result<usize>> {
                match self.get_mut().write(data) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => Poll::Pending,
                    other => Poll::Ready(other),
                }
            }
            fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(self.get_mut().flush())
            }
            fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(Ok(()))
            }
        }

        #[test]
        fn a_read_that_waits_gives_the_buffer_back() {
            let mut io = ElasticIo::new(Script::new(vec![Some(b"abcdef"), None]), 4096);
            let mut cx = Context::from_waker(Waker::noop());
            let mut out = [0; 4];
            let mut io = Pin::new(&mut io);
            assert!(matches!(
                io.as_mut().poll_read(&mut cx, &mut out),
                Poll::Ready(Ok(4))
            ));
            assert!(matches!(
                io.as_mut().poll_read(&mut cx, &mut out),
                Poll::Ready(Ok(2))
            ));
            assert_eq!(&out[..2], b"ef");
            assert!(io.as_mut().poll_read(&mut cx, &mut out).is_pending());
            assert_eq!(io.buffered_capacity(), 0);
        }

        #[test]
        fn writes_go_out_on_flush_and_wait_while_the_stream_is_full() {
            let mut io = ElasticIo::new(Script::new(vec![]), 1024);
            let mut cx = Context::from_waker(Waker::noop());
            let mut io = Pin::new(&mut io);
            assert!(matches!(
                io.as_mut().poll_write(&mut cx, &[1; 5000]),
                Poll::Ready(Ok(5000))
            ));
            io.as_mut().get_mut().get_mut().take = 0;
            assert!(io.as_mut().poll_flush(&mut cx).is_pending());
            io.as_mut().get_mut().get_mut().take = 1000;
            assert!(matches!(
                io.as_mut().poll_flush(&mut cx),
                Poll::Ready(Ok(()))
            ));
            assert_eq!(io.as_ref().get_ref().get_ref().written, vec![1; 5000]);
            for _ in 0..QUIET_ROUNDS {
                assert!(matches!(
                    io.as_mut().poll_write(&mut cx, b"x"),
                    Poll::Ready(Ok(1))
                ));
                assert!(matches!(
                    io.as_mut().poll_flush(&mut cx),
                    Poll::Ready(Ok(()))
                ));
            }
            assert_eq!(io.buffered_capacity(), 0, "given back after a small batch");
        }
    }
}
