//! The local stack's HTTP server: the accept loop `platefull dev` serves its router with,
//! instead of `axum::serve`, because a single-machine deployment faces clients directly and
//! `axum::serve` can't bound them. Here:
//!
//! - **header-read timeout** (hyper's, `Limits::header_read_timeout`): a request's headers
//!   must arrive complete within it, so a client trickling them a byte at a time (slowloris)
//!   is cut off. hyper arms the same timer while a keep-alive connection waits for its next
//!   request, so it also bounds how long an idle keep-alive connection is kept.
//! - **idle timeout** (`Limits::idle_timeout`): a connection on which no byte moves either
//!   way for that long is dropped — a stalled request body, a client that stops reading the
//!   response. No handler of ours waits that long without I/O (the longest wait is a session
//!   start's, a few seconds).
//! - **connection cap** (`Limits::max_connections`): a semaphore permit is taken before each
//!   accept and held by the connection's task, so beyond the cap new connections wait in
//!   the kernel's listen backlog until one closes; together with the timeouts, slow clients
//!   can hold the server for at most one timeout each.
//! - **`TCP_NODELAY`** on every accepted socket ([`accept`]): without it Nagle's algorithm
//!   holds a response's last partial segment until the client's delayed ACK (~40 ms), which
//!   every streamed console asset after the first on a keep-alive connection paid.
//! - **graceful shutdown** as before: when `shutdown` resolves the listener closes, every
//!   connection is asked to finish its in-flight request and close, and [`serve`] returns
//!   once all have.
//!
//! Costs: one atomic store per read or write that moves bytes, one timer per connection
//! that wakes at most once per idle timeout.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

/// How long a client may take and how many may be connected at once.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

/// After a listener error that isn't about one connection (e.g. out of file descriptors),
/// wait before accepting again rather than spinning.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_secs(1);

/// Serves `app` on `listener` within `limits` until `shutdown` resolves, then drains.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    // HTTP/1.1 only: what browsers and clients speak to a plaintext local server; the
    // header-read timeout is HTTP/1's.
    let mut builder = auto::Builder::new(TokioExecutor::new()).http1_only();
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    let graceful = GracefulShutdown::new();
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let accepted = tokio::select! {
            accepted = accept(&listener) => accepted,
            () = &mut shutdown => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(err) if is_per_connection(&err) => continue,
            Err(err) => {
                tracing::warn!(error = %err, "accept failed; pausing");
                tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                continue;
            }
        };
        let activity = Arc::new(Activity::new());
        let io = TokioIo::new(Watched {
            inner: stream,
            activity: activity.clone(),
        });
        let connection = builder
            .serve_connection(io, TowerToHyperService::new(app.clone()))
            .into_owned();
        let connection = graceful.watch(connection);
        let idle_timeout = limits.idle_timeout;
        tokio::spawn(async move {
            tokio::select! {
                result = connection => {
                    if let Err(err) = result {
                        tracing::debug!(%peer, error = %err, "connection closed with an error");
                    }
                }
                () = activity.idle_for(idle_timeout) => {
                    tracing::debug!(%peer, "connection closed: idle");
                }
            }
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// Accepts one connection and turns Nagle's algorithm off on it (see the module doc).
pub async fn accept(listener: &TcpListener) -> io::Result<(TcpStream, SocketAddr)> {
    let (stream, peer) = listener.accept().await?;
    stream.set_nodelay(true)?;
    Ok((stream, peer))
}

/// An error that concerns the one connection being accepted, not the listener.
fn is_per_connection(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::InvalidInput
    )
}

/// When bytes last moved on a connection, in milliseconds since it opened.
struct Activity {
    opened: Instant,
    last_ms: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Self {
            opened: Instant::now(),
            last_ms: AtomicU64::new(0),
        }
    }

    fn touch(&self) {
        let now = self.opened.elapsed().as_millis() as u64;
        self.last_ms.store(now, Ordering::Relaxed);
    }

    /// Resolves once no byte has moved for `limit`.
    async fn idle_for(&self, limit: Duration) {
        loop {
            let last = Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
            let quiet = self.opened.elapsed().saturating_sub(last);
            if quiet >= limit {
                return;
            }
            tokio::time::sleep(limit - quiet).await;
        }
    }
}

/// A socket that records its activity on every read or write that moves bytes.
struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.touch();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    //! Each limit against a real socket on loopback. The timeouts are short and every wait
    //! is bounded; a test asserts what happened, never how fast.

    use super::*;
    use axum::routing::{get, post};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// How long a test waits for something that must happen before failing.
    const PATIENCE: Duration = Duration::from_secs(5);

    fn limits(header_read_ms: u64, idle_ms: u64, max_connections: usize) -> Limits {
        Limits {
            header_read_timeout: Duration::from_millis(header_read_ms),
            idle_timeout: Duration::from_millis(idle_ms),
            max_connections,
        }
    }

    fn app() -> Router {
        Router::new()
            .route("/", get(|| async { "hello" }))
            .route("/echo", post(|body: String| async move { body }))
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    "slow"
                }),
            )
    }

    /// A server on a free loopback port; resolving `stop` shuts it down gracefully.
    async fn start(
        limits: Limits,
    ) -> (
        SocketAddr,
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<()>,
    ) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, app(), limits, async {
            let _ = stopped.await;
        }));
        (addr, stop, server)
    }

    /// Reads until the server closes the connection (or errors), within [`PATIENCE`];
    /// returns what was read.
    async fn read_to_close(stream: &mut TcpStream) -> String {
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, stream.read(&mut buf)).await {
                Err(_) => panic!(
                    "the connection is still open after {PATIENCE:?}; read {:?}",
                    String::from_utf8_lossy(&seen)
                ),
                Ok(Ok(0)) | Ok(Err(_)) => return String::from_utf8_lossy(&seen).into_owned(),
                Ok(Ok(n)) => seen.extend_from_slice(&buf[..n]),
            }
        }
    }

    /// One request on `stream` (kept alive); returns the response's head and body.
    async fn get_on(stream: &mut TcpStream, path: &str) -> String {
        let request = format!("GET {path} HTTP/1.1\r\nhost: test\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut buf = [0u8; 4096];
        let n = tokio::time::timeout(PATIENCE, stream.read(&mut buf))
            .await
            .expect("a response")
            .unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    #[tokio::test]
    async fn accepted_sockets_have_nagle_off() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = tokio::spawn(TcpStream::connect(addr));
        let (stream, _) = accept(&listener).await.unwrap();
        assert!(
            stream.nodelay().unwrap(),
            "TCP_NODELAY set on the accepted socket"
        );
        client.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn a_client_trickling_its_headers_is_cut_off_after_the_header_timeout() {
        let (addr, _stop, _server) = start(limits(300, 60_000, 8)).await;
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let opened = Instant::now();
        stream.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
        // A header line every 50 ms, never the blank line that ends them. Each write moves
        // bytes, so only the header timeout can end this.
        let mut buf = [0u8; 1024];
        let cut_after = loop {
            assert!(
                opened.elapsed() < PATIENCE,
                "still open after {PATIENCE:?} of trickling"
            );
            if stream.write_all(b"x-trickle: 1\r\n").await.is_err() {
                break opened.elapsed();
            }
            match tokio::time::timeout(Duration::from_millis(50), stream.read(&mut buf)).await {
                Err(_) => continue,
                Ok(Ok(0)) | Ok(Err(_)) => break opened.elapsed(),
                Ok(Ok(n)) => {
                    let text = String::from_utf8_lossy(&buf[..n]);
                    assert!(!text.contains(" 200 "), "never served: {text}");
                }
            }
        };
        assert!(
            cut_after >= Duration::from_millis(300),
            "not before the timeout: {cut_after:?}"
        );
    }

    #[tokio::test]
    async fn an_idle_keep_alive_connection_is_closed_after_the_header_timeout() {
        let (addr, _stop, _server) = start(limits(300, 60_000, 8)).await;
        let mut stream = TcpStream::connect(addr).await.unwrap();
        assert!(get_on(&mut stream, "/").await.starts_with("HTTP/1.1 200"));
        let served = Instant::now();
        assert_eq!(read_to_close(&mut stream).await, "");
        assert!(served.elapsed() >= Duration::from_millis(300));
    }

    #[tokio::test]
    async fn a_stalled_body_is_cut_off_after_the_idle_timeout() {
        let (addr, _stop, _server) = start(limits(60_000, 300, 8)).await;
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let opened = Instant::now();
        // Complete headers, then 5 of the 100 body bytes announced, then nothing.
        stream
            .write_all(b"POST /echo HTTP/1.1\r\nhost: test\r\ncontent-length: 100\r\n\r\nhello")
            .await
            .unwrap();
        let read = read_to_close(&mut stream).await;
        assert!(!read.contains(" 200 "), "never served: {read}");
        assert!(opened.elapsed() >= Duration::from_millis(300));
    }

    #[tokio::test]
    async fn connections_beyond_the_cap_wait_until_one_closes() {
        let (addr, _stop, _server) = start(limits(60_000, 60_000, 2)).await;
        // Two connections take both permits (each served once, then kept alive).
        let mut first = TcpStream::connect(addr).await.unwrap();
        assert!(get_on(&mut first, "/").await.starts_with("HTTP/1.1 200"));
        let mut second = TcpStream::connect(addr).await.unwrap();
        assert!(get_on(&mut second, "/").await.starts_with("HTTP/1.1 200"));
        // A third connects (the kernel queues it) but is not served while both are open.
        let mut third = TcpStream::connect(addr).await.unwrap();
        third
            .write_all(b"GET / HTTP/1.1\r\nhost: test\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 1024];
        assert!(
            tokio::time::timeout(Duration::from_millis(300), third.read(&mut buf))
                .await
                .is_err(),
            "a connection beyond the cap is not served"
        );
        // One closes: the third is accepted and answered.
        drop(first);
        let n = tokio::time::timeout(PATIENCE, third.read(&mut buf))
            .await
            .expect("served once a permit is free")
            .unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
        assert!(get_on(&mut second, "/").await.starts_with("HTTP/1.1 200"));
    }

    #[tokio::test]
    async fn shutdown_finishes_the_request_in_flight_then_returns() {
        let (addr, stop, server) = start(limits(60_000, 60_000, 8)).await;
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"GET /slow HTTP/1.1\r\nhost: test\r\n\r\n")
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        stop.send(()).unwrap();
        let response = read_to_close(&mut stream).await;
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        assert!(response.ends_with("slow"), "{response}");
        tokio::time::timeout(PATIENCE, server)
            .await
            .expect("serve returns once drained")
            .unwrap();
        assert!(
            TcpStream::connect(addr).await.is_err(),
            "no longer listening"
        );
    }
}
