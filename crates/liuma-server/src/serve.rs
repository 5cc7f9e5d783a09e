//! HTTP/1.1 serving with limits, for every listener (S3, native, admin,
//! shard API): a client can hold only what a deadline lets it hold.
//!
//! - **Connections**: at most `max_connections` per listener; the next one
//!   gets an immediate `503` with `Retry-After` and is closed (a clear
//!   refusal, not a hang in the accept backlog).
//! - **Request head**: a new connection, or a keep-alive one that started
//!   sending a request, has `header_timeout` to deliver the whole head
//!   (slowloris).
//! - **Idle keep-alive**: a connection with no request in flight is closed
//!   after `idle_timeout`.
//! - **Request body**: no byte for `body_timeout` while the handler waits
//!   for one fails the body; the handler then frees whatever it held.
//! - **Response**: a client that takes no byte for `write_timeout` while
//!   the server has bytes to send is disconnected.
//!
//! - **TLS** (optional, [`crate::tls`]): the handshake must finish within
//!   `header_timeout` of the accept; the deadlines above then apply to
//!   the decrypted stream. Plain HTTP on a TLS port gets a 400 and close.
//!   A client certificate (the shard listener's mutual TLS) is read once
//!   per connection and given to each of its requests as a
//!   [`liuma_cluster::PeerCert`] extension, for the per-request
//!   revocation check.
//!
//! The timers live in an I/O wrapper ([`ConnIo`]) that knows whether a
//! request is in flight (a counter the service keeps), and in a request body
//! wrapper ([`TimedBody`]). hyper's own `header_read_timeout` is not used:
//! it also runs on idle keep-alive connections, so it cannot tell the two
//! deadlines apart.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use http_body::Frame;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use liuma_metrics::ConnStats;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::{Instant, Sleep};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tower_service::Service;

use crate::read_ahead::ReadAhead;

/// Limits of one listener.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Open connections at most; beyond, 503 and close.
    pub max_connections: usize,
    /// Time to deliver a request head, from its first byte (or from accept).
    pub header_timeout: Duration,
    /// A keep-alive connection without a request is closed after this.
    pub idle_timeout: Duration,
    /// Longest pause between two bytes of a request body.
    pub body_timeout: Duration,
    /// Longest time a client may take no byte of a response.
    pub write_timeout: Duration,
    /// In-flight requests get this long to finish at shutdown.
    pub shutdown_grace: Duration,
    /// Header lines hyper parses before refusing the request itself (431,
    /// empty body); None = hyper's 100. The native listener raises it so
    /// its router's byte cap, answered in JSON, is what refuses a head.
    pub max_headers: Option<usize>,
}

/// Serve `app` on `listener` until `stop` resolves, then let in-flight
/// requests finish for at most `shutdown_grace`. With `tls`, every
/// connection first completes a TLS handshake, within `header_timeout`
/// of its accept (the same budget the first request head has).
pub async fn serve(
    name: &'static str,
    listener: TcpListener,
    app: axum::Router,
    limits: Limits,
    stats: Arc<ConnStats>,
    tls: Option<TlsAcceptor>,
    stop: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    // Refusals are written by short tasks; a flood of them is bounded too.
    let refusals = Arc::new(Semaphore::new(64));
    let graceful = GracefulShutdown::new();
    tokio::pin!(stop);
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_error(name, &e).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let _ = stream.set_nodelay(true);
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            stats.refused.fetch_add(1, Ordering::Relaxed);
            if let Ok(p) = refusals.clone().try_acquire_owned() {
                tokio::spawn(async move {
                    refuse(stream, REFUSAL).await;
                    drop(p);
                });
            }
            continue;
        };
        // Made at accept: the first head's deadline counts the handshake.
        let state = Arc::new(ConnState::new());
        // Subscribed now, so a shutdown during the handshake still reaches
        // the connection once it is served.
        let watcher = graceful.watcher();
        let (app, stats, tls) = (app.clone(), stats.clone(), tls.clone());
        // Who and how, for the requests of this connection (`aws:SourceIp`,
        // `aws:SecureTransport` in S3 policies).
        let conn = liuma_s3::ClientConn {
            addr: peer,
            tls: tls.is_some(),
        };
        stats.open.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(async move {
            let stream = match tls {
                None => Some(Stream::Plain(stream)),
                Some(acceptor) => handshake(name, acceptor, stream, limits.header_timeout).await,
            };
            if let Some(stream) = stream {
                let peer = stream.peer_cert();
                let io = TokioIo::new(ConnIo::new(stream, state.clone(), limits, stats.clone()));
                let svc = ConnService {
                    app,
                    conn,
                    peer,
                    state,
                    body_timeout: limits.body_timeout,
                    stats: stats.clone(),
                };
                let mut builder = http1::Builder::new();
                builder.header_read_timeout(None);
                if let Some(n) = limits.max_headers {
                    builder.max_headers(n);
                }
                let conn = watcher.watch(builder.serve_connection(io, svc));
                if let Err(e) = conn.await {
                    tracing::debug!(listener = name, error = %e, "connection ended with an error");
                }
            }
            stats.open.fetch_sub(1, Ordering::Relaxed);
            drop(slot);
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(limits.shutdown_grace) => {
            tracing::warn!(listener = name, "requests still running at the end of the shutdown grace");
        }
    }
    Ok(())
}

/// The answer to plain HTTP on a TLS port: what Go's servers do too, a
/// clear 400 instead of a handshake error the client cannot read.
const PLAIN_ON_TLS: &[u8] = b"HTTP/1.0 400 Bad Request\r\n\
Content-Type: text/plain\r\n\
Connection: close\r\n\
Content-Length: 49\r\n\
\r\n\
this port speaks TLS: use https:// to reach it.\r\n";

/// Complete a TLS handshake within `deadline`; `None` (connection closed)
/// when it fails or takes too long. A client that starts with what looks
/// like a plain HTTP request line gets [`PLAIN_ON_TLS`] instead.
async fn handshake(
    name: &'static str,
    acceptor: TlsAcceptor,
    stream: TcpStream,
    deadline: Duration,
) -> Option<Stream> {
    let work = async {
        // A TLS connection opens with a handshake record (0x16); a request
        // line opens with a method's capital letter.
        let mut first = [0u8; 1];
        if stream.peek(&mut first).await.ok()? == 0 {
            return None;
        }
        if first[0].is_ascii_uppercase() {
            tracing::debug!(listener = name, "plain HTTP on a TLS port; answered 400");
            refuse(stream, PLAIN_ON_TLS).await;
            return None;
        }
        // rustls's send buffer stays at its default (64 KiB, four records
        // per `writev`): 1 MiB cut the syscalls 8× but not the CPU per GiB
        // (issue #19 measurements in BENCHMARKS.md).
        match acceptor.accept(ReadAhead::new(stream)).await {
            Ok(tls) => Some(Stream::Tls(Box::new(tls))),
            Err(e) => {
                tracing::debug!(listener = name, error = %e, "TLS handshake failed");
                None
            }
        }
    };
    match tokio::time::timeout(deadline, work).await {
        Ok(s) => s,
        Err(_) => {
            tracing::debug!(listener = name, "TLS handshake deadline passed");
            None
        }
    }
}

/// A connection's byte stream: plain TCP, or TLS over it.
pub enum Stream {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS (boxed: the session state is large), reading the socket in
    /// large gulps ([`ReadAhead`]).
    Tls(Box<TlsStream<ReadAhead<TcpStream>>>),
}

impl Stream {
    /// The client certificate of a TLS connection that presented one.
    fn peer_cert(&self) -> Option<liuma_cluster::PeerCert> {
        let Stream::Tls(tls) = self else { return None };
        let der = tls.get_ref().1.peer_certificates()?.first()?;
        let id = liuma_cluster::CertIdentity::parse(der.as_ref())?;
        Some(liuma_cluster::PeerCert(Arc::new(id)))
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// An accept that failed: per-connection errors are ignored; running out of
/// file descriptors or memory pauses accepting briefly instead of spinning.
async fn accept_error(name: &str, e: &io::Error) {
    use io::ErrorKind as K;
    if matches!(
        e.kind(),
        K::ConnectionAborted | K::ConnectionReset | K::ConnectionRefused | K::Interrupted
    ) {
        return;
    }
    tracing::warn!(listener = name, error = %e, "accept failed; pausing 100 ms");
    tokio::time::sleep(Duration::from_millis(100)).await;
}

/// The answer to a connection over the limit.
const REFUSAL: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
Retry-After: 1\r\n\
Content-Type: text/plain\r\n\
Connection: close\r\n\
Content-Length: 44\r\n\
\r\n\
too many connections to this listener; retry";

/// Write a canned answer, then close once the client is done sending.
async fn refuse(mut stream: TcpStream, answer: &[u8]) {
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        stream.write_all(answer).await?;
        stream.shutdown().await?;
        // Drain what the client sent, so closing does not reset the
        // connection before it read the answer.
        let mut sink = [0u8; 4096];
        while tokio::io::AsyncReadExt::read(&mut stream, &mut sink).await? > 0 {}
        io::Result::Ok(())
    })
    .await;
}

/// What the service tells the I/O wrapper about a connection.
struct ConnState {
    /// Requests in flight (from head parsed to response body finished).
    active: AtomicUsize,
    /// Requests started so far: a request head that began before the last
    /// start belongs to a request that is no longer waiting for its head.
    started: AtomicU64,
    /// When the last request finished, in ms since `epoch`.
    idle_since_ms: AtomicU64,
    epoch: Instant,
}

impl ConnState {
    fn new() -> Self {
        ConnState {
            active: AtomicUsize::new(0),
            started: AtomicU64::new(0),
            idle_since_ms: AtomicU64::new(0),
            epoch: Instant::now(),
        }
    }

    fn since_epoch_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

/// Marks a request in flight until its response body is done or dropped.
struct InFlight(Arc<ConnState>);

impl InFlight {
    fn new(state: Arc<ConnState>) -> Self {
        state.started.fetch_add(1, Ordering::SeqCst);
        state.active.fetch_add(1, Ordering::SeqCst);
        InFlight(state)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0
            .idle_since_ms
            .store(self.0.since_epoch_ms(), Ordering::SeqCst);
        self.0.active.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The per-connection service: the app, with timed request bodies and
/// responses that mark the request in flight until they are sent.
#[derive(Clone)]
struct ConnService {
    app: axum::Router,
    conn: liuma_s3::ClientConn,
    /// The client certificate of the connection (mutual TLS only).
    peer: Option<liuma_cluster::PeerCert>,
    state: Arc<ConnState>,
    body_timeout: Duration,
    stats: Arc<ConnStats>,
}

impl hyper::service::Service<http::Request<Incoming>> for ConnService {
    type Response = http::Response<Body>;
    type Error = std::convert::Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn call(&self, req: http::Request<Incoming>) -> Self::Future {
        let in_flight = InFlight::new(self.state.clone());
        let timeout = self.body_timeout;
        let stats = self.stats.clone();
        let mut req = req.map(|b| Body::new(TimedBody::new(b, timeout, stats)));
        req.extensions_mut().insert(self.conn);
        if let Some(peer) = &self.peer {
            req.extensions_mut().insert(peer.clone());
        }
        let mut app = self.app.clone();
        Box::pin(async move {
            let resp = app.call(req).await?;
            Ok(resp.map(|b| {
                Body::new(Tracked {
                    inner: b,
                    _in_flight: in_flight,
                })
            }))
        })
    }
}

/// A response body that keeps its request marked in flight.
struct Tracked {
    inner: Body,
    _in_flight: InFlight,
}

impl http_body::Body for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Why a request body was cut off here.
#[derive(Debug, thiserror::Error)]
pub enum BodyTimeout {
    /// The client sent no byte for too long.
    #[error("the client sent no byte of the request body for {0:?}")]
    Stalled(Duration),
    /// The connection failed.
    #[error(transparent)]
    Hyper(#[from] hyper::Error),
}

/// A request body that fails when the client pauses longer than allowed
/// while the handler is waiting for bytes.
pub struct TimedBody {
    inner: Incoming,
    timeout: Duration,
    sleep: Option<Pin<Box<Sleep>>>,
    stats: Arc<ConnStats>,
}

impl TimedBody {
    fn new(inner: Incoming, timeout: Duration, stats: Arc<ConnStats>) -> Self {
        TimedBody {
            inner,
            timeout,
            sleep: None,
            stats,
        }
    }
}

impl http_body::Body for TimedBody {
    type Data = Bytes;
    type Error = BodyTimeout;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyTimeout>>> {
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(r) => {
                self.sleep = None;
                Poll::Ready(r.map(|f| f.map_err(BodyTimeout::from)))
            }
            Poll::Pending => {
                let timeout = self.timeout;
                let sleep = self
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                ready!(sleep.as_mut().poll(cx));
                self.stats.timed_out.fetch_add(1, Ordering::Relaxed);
                Poll::Ready(Some(Err(BodyTimeout::Stalled(timeout))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// A connection's socket with the head, idle and write deadlines.
pub struct ConnIo<T> {
    io: T,
    state: Arc<ConnState>,
    limits: Limits,
    stats: Arc<ConnStats>,
    /// A request head began arriving at this time, when `started` was this.
    head: Option<(Instant, u64)>,
    /// (deadline, hard: a deadline, not a re-check, its timer)
    read_timer: Option<(Instant, bool, Pin<Box<Sleep>>)>,
    write_timer: Option<Pin<Box<Sleep>>>,
    /// No request yet: the first head is due `header_timeout` after accept.
    fresh: bool,
}

impl<T> ConnIo<T> {
    fn new(io: T, state: Arc<ConnState>, limits: Limits, stats: Arc<ConnStats>) -> Self {
        ConnIo {
            io,
            state,
            limits,
            stats,
            head: None,
            read_timer: None,
            write_timer: None,
            fresh: true,
        }
    }

    /// When a pending read must have made progress, or `None` while a
    /// request is in flight (its body has its own deadline).
    fn read_deadline(&mut self) -> Option<Instant> {
        let started = self.state.started.load(Ordering::SeqCst);
        if started > 0 {
            self.fresh = false;
        }
        if self.state.active.load(Ordering::SeqCst) > 0 {
            self.head = None;
            return None;
        }
        if self.head.is_some_and(|(_, n)| n != started) {
            self.head = None; // that head's request has come and gone
        }
        Some(match self.head {
            Some((t, _)) => t + self.limits.header_timeout,
            None if self.fresh => self.state.epoch + self.limits.header_timeout,
            None => {
                let idle = self.state.idle_since_ms.load(Ordering::SeqCst);
                self.state.epoch + Duration::from_millis(idle) + self.limits.idle_timeout
            }
        })
    }

    fn timed_out(&self, what: &str) -> io::Error {
        self.stats.timed_out.fetch_add(1, Ordering::Relaxed);
        io::Error::new(io::ErrorKind::TimedOut, format!("{what} deadline passed"))
    }

    /// Poll the write deadline after the socket said "not now".
    fn poll_write_timer(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        let timeout = self.limits.write_timeout;
        let t = self
            .write_timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        ready!(t.as_mut().poll(cx));
        Poll::Ready(self.timed_out("response write"))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for ConnIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Ready(r) => {
                this.read_timer = None;
                if r.is_ok()
                    && buf.filled().len() > before
                    && this.head.is_none()
                    && this.state.active.load(Ordering::SeqCst) == 0
                {
                    let started = this.state.started.load(Ordering::SeqCst);
                    this.head = Some((Instant::now(), started));
                }
                Poll::Ready(r)
            }
            Poll::Pending => loop {
                // While a request is in flight there is no read deadline,
                // but a timer still runs: hyper may not read again after
                // the response, so the timer is what notices the
                // connection went idle and starts its idle deadline.
                let (deadline, hard) = match this.read_deadline() {
                    Some(d) => (d, true),
                    None => (Instant::now() + this.limits.idle_timeout, false),
                };
                let keep = match &this.read_timer {
                    Some((d, h, _)) if *h == hard => !hard || *d == deadline,
                    _ => false,
                };
                if !keep {
                    let sleep = Box::pin(tokio::time::sleep_until(deadline));
                    this.read_timer = Some((deadline, hard, sleep));
                }
                let (_, _, sleep) = this.read_timer.as_mut().expect("set above");
                ready!(sleep.as_mut().poll(cx));
                this.read_timer = None;
                if hard {
                    let what = if this.head.is_some() || this.fresh {
                        "request head"
                    } else {
                        "idle keep-alive"
                    };
                    return Poll::Ready(Err(this.timed_out(what)));
                }
            },
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for ConnIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        match Pin::new(&mut this.io).poll_write(cx, buf) {
            Poll::Ready(r) => {
                this.write_timer = None;
                Poll::Ready(r)
            }
            Poll::Pending => this.poll_write_timer(cx).map(Err),
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        match Pin::new(&mut this.io).poll_write_vectored(cx, bufs) {
            Poll::Ready(r) => {
                this.write_timer = None;
                Poll::Ready(r)
            }
            Poll::Pending => this.poll_write_timer(cx).map(Err),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        match Pin::new(&mut this.io).poll_flush(cx) {
            Poll::Ready(r) => {
                this.write_timer = None;
                Poll::Ready(r)
            }
            Poll::Pending => this.poll_write_timer(cx).map(Err),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// Raise the soft limit of open files to the hard limit, so the connection
/// limits can be reached; say so when they cannot.
pub fn raise_fd_limit(wanted: u64) {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut lim = getrlimit(Resource::Nofile);
    let (Some(cur), hard) = (lim.current, lim.maximum) else {
        return; // unlimited
    };
    let target = hard.unwrap_or(u64::MAX);
    if cur < target {
        lim.current = Some(target);
        if let Err(e) = setrlimit(Resource::Nofile, lim) {
            tracing::warn!(error = %e, "cannot raise the open-files limit");
        }
    }
    let now = getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX);
    if now < wanted {
        tracing::warn!(
            limit = now,
            wanted,
            "the open-files limit is below what the connection limits need: \
             connections beyond it are refused by the OS (raise `ulimit -n`)"
        );
    } else {
        tracing::debug!(limit = now, "open-files limit");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    fn limits() -> Limits {
        Limits {
            max_connections: 2,
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            body_timeout: Duration::from_secs(30),
            write_timeout: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(1),
            max_headers: None,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_tls_handshake_that_never_finishes_is_cut_at_the_header_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let g = crate::tls_gen::self_signed(dir.path(), &["localhost".into()], 1).unwrap();
        let cert = crate::tls::ReloadingCert::open(crate::tls::TlsFiles {
            cert: g.cert,
            key: g.key,
        })
        .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let stats = Arc::new(ConnStats::default());
        let server = tokio::spawn(serve(
            "t",
            listener,
            axum::Router::new(),
            limits(),
            stats.clone(),
            Some(cert.acceptor().unwrap()),
            async {
                let _ = rx.await;
            },
        ));
        let mut c = TcpStream::connect(addr).await.unwrap();
        // the start of a TLS record, and then nothing
        c.write_all(&[0x16, 3, 1]).await.unwrap();
        let started = Instant::now();
        let mut buf = [0u8; 16];
        let n = c.read(&mut buf).await.unwrap_or(0);
        assert_eq!(n, 0, "closed without an answer");
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_secs(10) && waited < Duration::from_secs(11),
            "{waited:?}"
        );
        tx.send(()).unwrap();
        server.await.unwrap().unwrap();
        assert_eq!(stats.open.load(Ordering::Relaxed), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_new_connection_times_out_after_the_header_timeout() {
        let (client, server) = tokio::io::duplex(64);
        let stats = Arc::new(ConnStats::default());
        let mut io = ConnIo::new(server, Arc::new(ConnState::new()), limits(), stats.clone());
        let started = Instant::now();
        let mut buf = [0u8; 8];
        let err = io.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed(), Duration::from_secs(10));
        assert_eq!(stats.timed_out.load(Ordering::Relaxed), 1);
        drop(client);
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_keep_alive_connection_gets_the_idle_timeout() {
        let (client, server) = tokio::io::duplex(64);
        let state = Arc::new(ConnState::new());
        let mut io = ConnIo::new(server, state.clone(), limits(), Arc::default());
        // one request came and went
        drop(InFlight::new(state.clone()));
        let started = Instant::now();
        let mut buf = [0u8; 8];
        let err = io.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed(), Duration::from_secs(60));
        drop(client);
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_head_is_cut_at_the_header_timeout_from_its_first_byte() {
        let (mut client, server) = tokio::io::duplex(64);
        let state = Arc::new(ConnState::new());
        let mut io = ConnIo::new(server, state.clone(), limits(), Arc::default());
        drop(InFlight::new(state.clone()));
        tokio::time::sleep(Duration::from_secs(50)).await;
        client.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
        let mut buf = [0u8; 64];
        assert!(io.read(&mut buf).await.unwrap() > 0);
        let started = Instant::now();
        let err = io.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        // 10 s from the head's first byte, not the 60 s idle timeout
        assert_eq!(started.elapsed(), Duration::from_secs(10));
    }

    #[tokio::test(start_paused = true)]
    async fn no_read_deadline_while_a_request_is_in_flight() {
        let (client, server) = tokio::io::duplex(64);
        let state = Arc::new(ConnState::new());
        let mut io = ConnIo::new(server, state.clone(), limits(), Arc::default());
        let req = InFlight::new(state.clone());
        let mut buf = [0u8; 8];
        let r = tokio::time::timeout(Duration::from_secs(3600), io.read(&mut buf)).await;
        assert!(r.is_err(), "the read must still be pending after an hour");
        drop(req);
        drop(client);
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_that_goes_idle_during_a_pending_read_is_closed() {
        // hyper reads (pending) while a request runs and does not read
        // again after the response: the idle deadline must still apply.
        let (client, server) = tokio::io::duplex(64);
        let state = Arc::new(ConnState::new());
        let mut io = ConnIo::new(server, state.clone(), limits(), Arc::default());
        let req = InFlight::new(state.clone());
        let ender = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(5)).await;
            drop(req);
        });
        let started = Instant::now();
        let mut buf = [0u8; 8];
        let err = io.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        // request ended at 5 s, idle timeout 60 s
        assert_eq!(started.elapsed(), Duration::from_secs(65));
        ender.await.unwrap();
        drop(client);
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_that_stops_reading_is_cut_at_the_write_timeout() {
        let (client, server) = tokio::io::duplex(1024);
        let state = Arc::new(ConnState::new());
        let mut io = ConnIo::new(server, state.clone(), limits(), Arc::default());
        let _req = InFlight::new(state);
        let started = Instant::now();
        let chunk = [7u8; 512];
        let err = loop {
            if let Err(e) = io.write_all(&chunk).await {
                break e;
            }
        };
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed(), Duration::from_secs(30));
        drop(client);
    }
}
