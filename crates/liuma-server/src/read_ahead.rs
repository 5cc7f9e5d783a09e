//! Large socket reads under rustls.
//!
//! rustls reads TLS records from the socket into its own buffer a few KiB
//! at a time (its `read_tls` grows the buffer by 4 KiB per read, up to one
//! record), so a TLS request body costs about one `recvfrom` and one
//! wake-up per 16 KiB record: 65 000 of them for a 1 GiB PUT where plain
//! HTTP makes 2 600 (issue #19, `strace -c`). [`ReadAhead`] sits between
//! the socket and rustls and reads up to [`CAPACITY`] bytes per syscall;
//! rustls's small reads are then copies out of it. The buffer is held only
//! while it has bytes: when the socket has nothing more, it is freed, so an
//! idle connection (most of them, most of the time) costs nothing extra. A
//! connection whose body the handler is not reading yet holds at most
//! [`CAPACITY`] here, bytes that would otherwise wait in the kernel's
//! socket buffer: 64 KiB × `max_connections` (4 096) = 256 MiB per TLS
//! listener in the worst case, which is why it is 64 KiB and not the
//! 256 KiB first measured (that cut `recvfrom` 16×, 64 KiB cuts it ~4×;
//! the CPU saved was ~2 % either way, BENCHMARKS.md). Writes go straight
//! through.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Bytes read from the socket at most per syscall.
pub const CAPACITY: usize = 64 << 10;

/// A stream whose reads fill a buffer of [`CAPACITY`] bytes at a time.
pub struct ReadAhead<T> {
    io: T,
    /// Bytes read and not yet handed out; unallocated while empty and the
    /// socket has nothing (an idle connection holds no buffer).
    buf: BytesMut,
}

impl<T> ReadAhead<T> {
    /// Wrap `io`.
    pub fn new(io: T) -> Self {
        ReadAhead {
            io,
            buf: BytesMut::new(),
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for ReadAhead<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.buf.is_empty() {
            if out.remaining() >= CAPACITY {
                // a read at least as large as ours: no point copying
                return Pin::new(&mut this.io).poll_read(cx, out);
            }
            // reuses the allocation while there is one; no zeroing
            this.buf.reserve(CAPACITY);
            match tokio_util::io::poll_read_buf(Pin::new(&mut this.io), cx, &mut this.buf) {
                Poll::Ready(Ok(_)) => {}
                Poll::Ready(Err(e)) => {
                    this.buf = BytesMut::new();
                    return Poll::Ready(Err(e));
                }
                Poll::Pending => {
                    // nothing buffered while waiting: give the memory back
                    this.buf = BytesMut::new();
                    return Poll::Pending;
                }
            }
            if this.buf.is_empty() {
                return Poll::Ready(Ok(())); // end of stream
            }
        }
        let n = out.remaining().min(this.buf.len());
        out.put_slice(&this.buf[..n]);
        this.buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for ReadAhead<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A reader that serves `data` and records the size of every read asked of it.
    struct Counting {
        data: Vec<u8>,
        pos: usize,
        asked: Vec<usize>,
    }

    impl AsyncRead for Counting {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            out: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            self.asked.push(out.remaining());
            let n = out.remaining().min(self.data.len() - self.pos);
            let (from, to) = (self.pos, self.pos + n);
            out.put_slice(&self.data[from..to]);
            self.pos = to;
            Poll::Ready(Ok(()))
        }
    }

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 % 251) as u8).collect()
    }

    #[tokio::test]
    async fn small_reads_are_served_from_one_large_socket_read_each() {
        let data = pattern(3 * CAPACITY + 1000);
        let mut r = ReadAhead::new(Counting {
            data: data.clone(),
            pos: 0,
            asked: Vec::new(),
        });
        let mut got = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let n = r.read(&mut chunk).await.unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&chunk[..n]);
        }
        assert_eq!(got, data, "bytes and their order unchanged");
        // four reads carry the data (three full, one of 1000 bytes), one sees the end
        assert_eq!(r.io.asked.len(), 5, "{:?}", r.io.asked);
        assert!(r.io.asked.iter().all(|&n| n >= CAPACITY));
    }

    #[tokio::test]
    async fn a_read_as_large_as_the_buffer_goes_straight_to_the_socket() {
        let data = pattern(CAPACITY * 2);
        let mut r = ReadAhead::new(Counting {
            data: data.clone(),
            pos: 0,
            asked: Vec::new(),
        });
        let mut big = vec![0u8; CAPACITY * 2];
        let n = r.read(&mut big).await.unwrap();
        assert_eq!(n, CAPACITY * 2);
        assert_eq!(big, data);
        assert_eq!(r.buf.capacity(), 0, "nothing was buffered");
    }

    #[tokio::test(start_paused = true)]
    async fn the_buffer_is_freed_while_the_socket_has_nothing() {
        let (mut client, server) = tokio::io::duplex(1 << 16);
        let mut r = ReadAhead::new(server);
        client.write_all(b"hello").await.unwrap();
        let mut buf = [0u8; 3];
        r.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"hel");
        assert_eq!(&r.buf[..], b"lo", "holds the rest");
        let mut rest = [0u8; 16];
        let n = r.read(&mut rest).await.unwrap();
        assert_eq!(&rest[..n], b"lo");
        // nothing more: the read is pending, and the buffer gone
        let pending =
            tokio::time::timeout(std::time::Duration::from_millis(20), r.read(&mut rest)).await;
        assert!(pending.is_err(), "no data, so the read waits");
        assert_eq!(r.buf.capacity(), 0);
        // then data and the end of the stream still arrive in order
        client.write_all(b"more").await.unwrap();
        drop(client);
        let mut tail = Vec::new();
        r.read_to_end(&mut tail).await.unwrap();
        assert_eq!(tail, b"more");
    }

    #[tokio::test]
    async fn writes_pass_through() {
        let (mut client, server) = tokio::io::duplex(1 << 16);
        let mut r = ReadAhead::new(server);
        r.write_all(b"reply").await.unwrap();
        r.flush().await.unwrap();
        let mut buf = [0u8; 5];
        client.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"reply");
    }
}
