//! The listener: accepts connections up to a limit, keeping headroom for health checks; bounds
//! the time a client may take to send a request head (which also closes idle keep-alive
//! connections); and gives hyper's own refusals (400, 414, 431) the API's error shape.
//!
//! Slow clients are the reason this is not `axum::serve`: that has no header-read timeout and
//! no connection limit, so a thousand idle sockets could make the server unreachable.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

use crate::error::ApiError;

/// The headers hyper's HTTP/1 server accepts by default.
const HYPER_HEADERS_MAX: usize = 100;
/// How long shutdown waits for open connections to finish before it returns anyway.
const DRAIN_MAX: Duration = Duration::from_secs(10);
/// How long a connection in the health-check headroom may take to send its request.
const HEADROOM_HEADER_READ: Duration = Duration::from_secs(2);

/// The bounds of the listener (`[http]` in `purser.toml`).
#[derive(Clone, Debug, PartialEq)]
pub struct ListenLimits {
    /// From a connection's opening, or from its last answer, to a whole request head: a slow
    /// or idle client is disconnected after this.
    pub header_read_timeout: Duration,
    /// Connections open at once, the health-check headroom included.
    pub connections_max: usize,
    /// The last connections of `connections_max`: they only answer `/healthz` (and 503 to
    /// everything else), so that a probe gets through when clients hold every other one.
    pub health_headroom: usize,
    /// The request head (line and headers) at most, in bytes; beyond it, 431.
    pub header_bytes_max: usize,
    /// Headers at most; beyond it, 431.
    pub headers_max: usize,
}

impl Default for ListenLimits {
    fn default() -> Self {
        ListenLimits {
            header_read_timeout: Duration::from_secs(10),
            connections_max: 4_096,
            health_headroom: 32,
            header_bytes_max: 64 << 10,
            headers_max: HYPER_HEADERS_MAX,
        }
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, then lets open connections finish
/// (at most `DRAIN_MAX`).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: &ListenLimits,
    shutdown: impl Future<Output = ()>,
) {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_header_size(limits.header_bytes_max);
    // Setting a header count moves hyper's header storage to the heap: only when it differs
    // from hyper's own (100).
    if limits.headers_max != HYPER_HEADERS_MAX {
        http.max_headers(limits.headers_max);
    }
    let mut headroom_http = http.clone();
    headroom_http
        .keep_alive(false)
        .header_read_timeout(limits.header_read_timeout.min(HEADROOM_HEADER_READ));
    let headroom_router = Router::new()
        .route(
            "/healthz",
            axum::routing::get(crate::routes::health::healthz),
        )
        .fallback(|| async { overloaded() });
    let n_regular = limits.connections_max - limits.health_headroom;
    let regular = Arc::new(Semaphore::new(n_regular));
    let headroom = Arc::new(Semaphore::new(limits.health_headroom));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    let mut accept_failing = false;
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let tcp = match accepted {
            Ok((tcp, _)) => {
                accept_failing = false;
                tcp
            }
            Err(err) => {
                // Out of file descriptors, most likely: wait for connections to close.
                if !accept_failing {
                    eprintln!("purser: accepting connections fails: {err}");
                    accept_failing = true;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        if let Ok(permit) = regular.clone().try_acquire_owned() {
            let connection = Connection::new(&http, &router, &stop_rx);
            tokio::spawn(connection.run(tcp, permit));
        } else if let Ok(permit) = headroom.clone().try_acquire_owned() {
            let connection = Connection::new(&headroom_http, &headroom_router, &stop_rx);
            tokio::spawn(connection.run(tcp, permit));
        }
        // Otherwise every slot is taken: the socket closes at once rather than wait unseen.
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let drained = async {
        let _ = regular.acquire_many(n_regular as u32).await;
        let _ = headroom.acquire_many(limits.health_headroom as u32).await;
    };
    if tokio::time::timeout(DRAIN_MAX, drained).await.is_err() {
        eprintln!("purser: connections still open after {DRAIN_MAX:?}; stopping anyway");
    }
}

/// The answer of a connection in the headroom to anything but `/healthz`.
fn overloaded() -> Response {
    let mut response = ApiError::new(
        503,
        "overloaded",
        "the server is at its connection limit; retry shortly",
    )
    .into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    response
}

/// One accepted connection, served until it ends or the server stops.
struct Connection {
    http: http1::Builder,
    router: Router,
    stop: watch::Receiver<bool>,
}

impl Connection {
    fn new(http: &http1::Builder, router: &Router, stop: &watch::Receiver<bool>) -> Connection {
        Connection {
            http: http.clone(),
            router: router.clone(),
            stop: stop.clone(),
        }
    }

    async fn run(mut self, tcp: TcpStream, permit: OwnedSemaphorePermit) {
        let _permit = permit;
        let io = TokioIo::new(JsonRefusals::new(tcp));
        let service = TowerToHyperService::new(self.router);
        let connection = self.http.serve_connection(io, service);
        let mut connection = std::pin::pin!(connection);
        tokio::select! {
            _ = connection.as_mut() => return,
            _ = self.stop.wait_for(|stop| *stop) => {}
        }
        // In-flight requests finish; an idle connection closes now.
        connection.as_mut().graceful_shutdown();
        let _ = connection.await;
    }
}

/// A socket whose writes are watched for hyper's own answers to requests it could not parse
/// (400, 414, 431: a bare head with `content-length: 0`), which are rewritten with the API's
/// JSON error body. Every other byte passes through unchanged.
struct JsonRefusals<T> {
    inner: T,
    /// A rewritten answer and how much of it is written.
    pending: Option<(Vec<u8>, usize)>,
}

impl<T> JsonRefusals<T> {
    fn new(inner: T) -> JsonRefusals<T> {
        JsonRefusals {
            inner,
            pending: None,
        }
    }
}

/// hyper's answer with a JSON body, if `head` is exactly one of hyper's refusals. The API's
/// own errors always carry a body and a content type, so they never match.
fn rewrite_refusal(head: &[u8]) -> Option<Vec<u8>> {
    if head.len() > 256 || !head.starts_with(b"HTTP/1.") || !head.ends_with(b"\r\n\r\n") {
        return None;
    }
    let text = std::str::from_utf8(&head[..head.len() - 4]).ok()?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next()?;
    let (code, message) = match status_line.get(9..)? {
        "400 Bad Request" => (
            "bad_request",
            "the request is not valid HTTP/1.1 (a malformed line or header, or a duplicate or invalid Content-Length)",
        ),
        "414 URI Too Long" => ("uri_too_long", "the request target is too long"),
        "431 Request Header Fields Too Large" => (
            "headers_too_large",
            "the request's headers are too many or too large",
        ),
        _ => return None,
    };
    let mut bodiless = false;
    let mut date = None;
    for line in lines {
        match line.split_once(": ")? {
            ("connection", "close") => {}
            ("content-length", "0") => bodiless = true,
            ("date", value) => date = Some(value),
            _ => return None,
        }
    }
    if !bodiless {
        return None;
    }
    let body = format!(r#"{{"error":{{"code":"{code}","message":"{message}"}}}}"#);
    let date = date
        .map(|value| format!("date: {value}\r\n"))
        .unwrap_or_default();
    let answer = format!(
        "{status_line}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n{date}\r\n{body}",
        body.len()
    );
    Some(answer.into_bytes())
}

impl<T: AsyncWrite + Unpin> JsonRefusals<T> {
    /// Writes what is left of a rewritten answer.
    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some((answer, written)) = &mut self.pending {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &answer[*written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *written += n;
            if *written == answer.len() {
                self.pending = None;
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for JsonRefusals<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for JsonRefusals<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.drain(cx))?;
        if let Some(answer) = rewrite_refusal(buf) {
            this.pending = Some((answer, 0));
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.drain(cx))?;
        let mut filled = bufs.iter().filter(|buf| !buf.is_empty());
        if let (Some(only), None) = (filled.next(), filled.next())
            && let Some(answer) = rewrite_refusal(only)
        {
            this.pending = Some((answer, 0));
            return Poll::Ready(Ok(only.len()));
        }
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.drain(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.drain(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::rewrite_refusal;

    #[test]
    fn only_hypers_bare_refusals_are_rewritten() {
        let head = b"HTTP/1.1 431 Request Header Fields Too Large\r\nconnection: close\r\ncontent-length: 0\r\ndate: Fri, 04 Dec 2026 18:14:34 GMT\r\n\r\n";
        let answer = String::from_utf8(rewrite_refusal(head).unwrap()).unwrap();
        assert!(answer.starts_with("HTTP/1.1 431 "), "{answer}");
        assert!(answer.contains("content-type: application/json\r\n"));
        let body = answer.split("\r\n\r\n").nth(1).unwrap();
        let value: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(value["error"]["code"], "headers_too_large");
        assert!(answer.contains(&format!("content-length: {}\r\n", body.len())));
        let bad = b"HTTP/1.0 400 Bad Request\r\ncontent-length: 0\r\ndate: x\r\n\r\n";
        assert!(rewrite_refusal(bad).is_some());
        // The API's own answers have a content type and a body: never touched.
        for untouched in [
            &b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n",
            b"{\"error\":1}",
        ] {
            assert!(rewrite_refusal(untouched).is_none());
        }
    }
}
