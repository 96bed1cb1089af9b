//! Serving connections: the accept loop, and what keeps slow, idle and
//! too many clients from holding the server.
//!
//! - **Header timeout.** A request head must arrive whole within
//!   `header_timeout` of the connection opening, or of the first byte of a
//!   later request on it; otherwise the connection is closed.
//! - **Idle timeout.** A kept-alive connection with no request for
//!   `idle_timeout` is closed.
//! - **Body timeout.** A request body not received whole within
//!   `body_timeout` of its head gets a 408 (`TIMEOUT`) and the connection is
//!   closed ([`body_deadline`]).
//! - **Connection cap.** At most `max_connections` are open at once,
//!   WebSockets included (the slot goes with the socket through the
//!   upgrade). At the cap, a new connection takes the place of the one that
//!   has waited longest for a request (a stalled head or an idle kept-alive
//!   connection), so that health checks get through stalled clients; when
//!   every connection is busy with a request, it waits for one to close.
//! - **Shutdown.** When [`Shutdown::begin`] is called, no more connections
//!   are accepted, idle ones close, running requests finish and WebSockets
//!   are closed 1001; after `shutdown_timeout` whatever is still open is
//!   dropped.
//!
//! `axum::serve` has none of these settings, hence the loop here over
//! hyper's HTTP/1 connection.

use std::collections::HashMap;
use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use http_body::{Frame, SizeHint};
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify, OwnedSemaphorePermit, Semaphore};

use super::rate_limit::ClientAddr;
use crate::config::ConnectionSettings;

/// Tells the server, and the WebSockets it serves, to stop.
#[derive(Clone, Debug)]
pub struct Shutdown(Arc<watch::Sender<bool>>);

impl Default for Shutdown {
    fn default() -> Self {
        Shutdown(Arc::new(watch::channel(false).0))
    }
}

impl Shutdown {
    pub fn begin(&self) {
        self.0.send_replace(true);
    }

    /// Resolves once the shutdown has begun.
    pub async fn begun(&self) {
        let mut receiver = self.0.subscribe();
        // The sender lives in `self`: this never fails.
        let _ = receiver.wait_for(|begun| *begun).await;
    }
}

/// Serves `router` on `listener` until `shutdown` begins and the open
/// connections have closed, or `shutdown_timeout` has passed after it.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    settings: ConnectionSettings,
    shutdown: Shutdown,
) {
    let cap = settings.connection_cap();
    let slots = Arc::new(Semaphore::new(cap));
    let (force, forced) = watch::channel(false);
    let waiting = Arc::new(Waiting::default());
    let mut next_id = 0u64;
    loop {
        let (stream, peer) = tokio::select! {
            biased;
            () = shutdown.begun() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    if !is_connection_error(&e) {
                        // Out of file descriptors, most likely: wait for some to close.
                        tracing::error!(error = %e, "cannot accept connections");
                        tokio::select! {
                            () = shutdown.begun() => break,
                            () = tokio::time::sleep(Duration::from_secs(1)) => {}
                        }
                    }
                    continue;
                }
            },
        };
        let slot = match slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                waiting.evict_longest();
                tokio::select! {
                    biased;
                    () = shutdown.begun() => break,
                    slot = slots.clone().acquire_owned() => match slot {
                        Ok(slot) => slot,
                        Err(_) => break,
                    },
                }
            }
        };
        next_id += 1;
        let connection = Connection {
            router: router.clone(),
            settings,
            shutdown: shutdown.clone(),
            forced: forced.clone(),
            id: next_id,
            waiting: waiting.clone(),
        };
        tokio::spawn(connection.run(stream, peer, slot));
    }
    drop(listener);
    let all = u32::try_from(cap).unwrap_or(u32::MAX);
    let closed = tokio::time::timeout(settings.shutdown_timeout, slots.acquire_many(all)).await;
    if closed.is_err() {
        let open = cap - slots.available_permits();
        tracing::warn!(
            open,
            "connections still open at the shutdown deadline; dropping them"
        );
        force.send_replace(true);
        // Dropped connections close at once; give them a moment.
        let _ = tokio::time::timeout(Duration::from_secs(1), slots.acquire_many(all)).await;
    }
}

/// Errors of one connection, not of the listener: accept the next one.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

struct Connection {
    router: Router,
    settings: ConnectionSettings,
    shutdown: Shutdown,
    forced: watch::Receiver<bool>,
    id: u64,
    waiting: Arc<Waiting>,
}

/// The HTTP connections being served (not the upgraded ones), of which the
/// one waiting longest for a request gives way at the cap.
#[derive(Default)]
struct Waiting(Mutex<HashMap<u64, Arc<Activity>>>);

impl Waiting {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Activity>>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Closes the connection that has waited longest for a request, if
    /// any has none running.
    fn evict_longest(&self) {
        let mut connections = self.lock();
        let longest = connections
            .iter()
            .filter_map(|(id, activity)| activity.waiting_since().map(|since| (since, *id)))
            .min();
        if let Some((_, id)) = longest {
            if let Some(activity) = connections.remove(&id) {
                tracing::debug!("connection cap reached: closing the longest waiting connection");
                activity.evicted.notify_one();
            }
        }
    }
}

/// Keeps a connection among the [`Waiting`] while it is served.
struct Registration<'a> {
    waiting: &'a Waiting,
    id: u64,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        self.waiting.lock().remove(&self.id);
    }
}

/// Why a connection is closed by the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expired {
    /// The request head did not arrive in time.
    Head,
    /// No request for the idle timeout.
    Idle,
}

impl Connection {
    async fn run(mut self, stream: TcpStream, peer: SocketAddr, slot: OwnedSemaphorePermit) {
        let activity = Arc::new(Activity::new());
        let io = TokioIo::new(Tracked {
            stream,
            activity: activity.clone(),
            _slot: slot,
        });
        let router = self.router.clone();
        let requests = activity.clone();
        let service = hyper::service::service_fn(move |mut request: Request<_>| {
            request.extensions_mut().insert(ClientAddr(peer.ip()));
            let guard = requests.request_started();
            let response = tower::ServiceExt::oneshot(router.clone(), request);
            async move {
                let response = response.await?;
                Ok::<_, Infallible>(response.map(|body| InFlight {
                    body,
                    _guard: guard,
                }))
            }
        });
        let connection = hyper::server::conn::http1::Builder::new()
            .serve_connection(io, service)
            .with_upgrades();
        tokio::pin!(connection);
        self.waiting.lock().insert(self.id, activity.clone());
        let _registration = Registration {
            waiting: &self.waiting,
            id: self.id,
        };
        // The connection first: a head that has arrived is read before a
        // deadline that passed meanwhile is looked at (a busy server is no
        // client's fault).
        tokio::select! {
            biased;
            _ = connection.as_mut() => return,
            // Another connection takes its place.
            () = activity.evicted.notified() => return,
            () = self.shutdown.begun() => connection.as_mut().graceful_shutdown(),
            expired = activity.expired(&self.settings) => match expired {
                // Nothing is in flight: close without a word.
                Expired::Idle => connection.as_mut().graceful_shutdown(),
                Expired::Head => return,
            },
        }
        // Closing: let a running request finish, within the limits.
        tokio::select! {
            biased;
            _ = connection.as_mut() => {}
            () = activity.evicted.notified() => {}
            _ = activity.expired(&self.settings) => {}
            _ = self.forced.wait_for(|forced| *forced) => {}
        }
    }
}

/// Where a connection stands, for its timeouts.
struct Activity {
    state: Mutex<ActivityState>,
    /// A request started or ended, or a head began to arrive.
    changed: Notify,
    /// The connection is to close: a new one takes its place.
    evicted: Notify,
}

struct ActivityState {
    /// Requests being answered (their responses not yet sent whole).
    in_flight: usize,
    /// When the connection last became idle.
    idle_since: Instant,
    /// When the head of the next request began to arrive (for the first
    /// request: when the connection opened).
    head_since: Option<Instant>,
}

impl Activity {
    fn new() -> Activity {
        let now = Instant::now();
        Activity {
            state: Mutex::new(ActivityState {
                in_flight: 0,
                idle_since: now,
                head_since: Some(now),
            }),
            changed: Notify::new(),
            evicted: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ActivityState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn bytes_read(&self) {
        let mut state = self.lock();
        if state.in_flight == 0 && state.head_since.is_none() {
            state.head_since = Some(Instant::now());
            drop(state);
            self.changed.notify_one();
        }
    }

    fn request_started(self: &Arc<Self>) -> RequestGuard {
        {
            let mut state = self.lock();
            state.in_flight += 1;
            state.head_since = None;
        }
        self.changed.notify_one();
        RequestGuard(self.clone())
    }

    fn request_ended(&self) {
        {
            let mut state = self.lock();
            state.in_flight = state.in_flight.saturating_sub(1);
            if state.in_flight == 0 {
                state.idle_since = Instant::now();
                state.head_since = None;
            }
        }
        self.changed.notify_one();
    }

    /// Since when the connection has waited for a request (`None`: one runs).
    fn waiting_since(&self) -> Option<Instant> {
        let state = self.lock();
        (state.in_flight == 0).then(|| state.head_since.unwrap_or(state.idle_since))
    }

    /// When the connection expires, and why; `None` while a request runs
    /// (its body has its own deadline).
    fn deadline(&self, settings: &ConnectionSettings) -> Option<(Instant, Expired)> {
        let state = self.lock();
        if state.in_flight > 0 {
            return None;
        }
        Some(match state.head_since {
            Some(since) => (since + settings.header_timeout, Expired::Head),
            None => (state.idle_since + settings.idle_timeout, Expired::Idle),
        })
    }

    /// Resolves when the connection has expired.
    async fn expired(&self, settings: &ConnectionSettings) -> Expired {
        loop {
            match self.deadline(settings) {
                Some((at, why)) if Instant::now() >= at => return why,
                Some((at, _)) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(at.into()) => {}
                        () = self.changed.notified() => {}
                    }
                }
                None => self.changed.notified().await,
            }
        }
    }
}

/// Counts a request in flight until its response has been sent.
struct RequestGuard(Arc<Activity>);

impl Drop for RequestGuard {
    fn drop(&mut self) {
        self.0.request_ended();
    }
}

/// A response body that holds its request's place until sent.
struct InFlight {
    body: Body,
    _guard: RequestGuard,
}

impl http_body::Body for InFlight {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// The TCP stream of a connection: notes when bytes arrive, and holds the
/// connection's slot (through a WebSocket upgrade too) until it closes.
struct Tracked {
    stream: TcpStream,
    activity: Arc<Activity>,
    _slot: OwnedSemaphorePermit,
}

impl AsyncRead for Tracked {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let read = Pin::new(&mut this.stream).poll_read(cx, buf);
        if matches!(read, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.activity.bytes_read();
        }
        read
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// Middleware: a request whose body has not arrived whole within the body
/// timeout gets a 408 and its connection is closed.
pub async fn body_deadline(
    State(limit): State<Duration>,
    request: Request,
    next: Next,
) -> Response {
    use http_body::Body as _;
    if request.body().is_end_stream() {
        return next.run(request).await;
    }
    let received = Arc::new(AtomicBool::new(false));
    let watched = received.clone();
    let request = request.map(|body| {
        Body::new(Watched {
            body,
            received: watched,
        })
    });
    let response = next.run(request);
    tokio::pin!(response);
    tokio::select! {
        response = response.as_mut() => return response,
        () = tokio::time::sleep(limit) => {}
    }
    if received.load(Ordering::Acquire) {
        return response.await;
    }
    let message = format!(
        "the request body did not arrive within {}",
        humantime::format_duration(limit)
    );
    let body = json!({ "errors": [{ "message": message, "extensions": { "code": "TIMEOUT" } }] });
    let mut response = (StatusCode::REQUEST_TIMEOUT, axum::Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// A request body that says when it has been read to its end.
struct Watched {
    body: Body,
    received: Arc<AtomicBool>,
}

impl http_body::Body for Watched {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        let frame = Pin::new(&mut this.body).poll_frame(cx);
        let over = match &frame {
            Poll::Ready(None | Some(Err(_))) => true,
            Poll::Ready(Some(Ok(_))) => this.body.is_end_stream(),
            Poll::Pending => false,
        };
        if over {
            this.received.store(true, Ordering::Release);
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
