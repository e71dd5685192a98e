//! apid's HTTP server: our own accept loop serving the axum [`Router`] with hyper, so that a
//! connection flood or a slow client cannot take the API down.
//!
//! - **Header-read timeout** (`[http] read-header-timeout`): a connection must deliver a
//!   request's headers within it, counted from the connection (first request) or from the
//!   first byte of a later request; otherwise it is closed.
//! - **Idle timeout** (`[http] idle-timeout`): a keep-alive connection with no request in
//!   progress is closed after it.
//! - **Connection limit** (`[http] max-connections`, automatic below `RLIMIT_NOFILE`): at
//!   the limit the connection idle longest (no request in progress) is closed to make room;
//!   when every connection has a request in progress the new one gets a 503 with Kapacitor's
//!   JSON error body and is closed (rate-limited log line).
//! - **Accept errors** (EMFILE, ENFILE, ...) never spin: the loop closes an idle connection
//!   if it can, backs off (10 ms doubling to 1 s) and goes on.
//!
//! The loop is generic over an [`Acceptor`] that turns each accepted TCP stream into the
//! stream HTTP is spoken on, so TLS can be added as another acceptor; its handshake runs
//! under the header-read timeout.

mod conns;
mod refuse;
mod service;
mod tracked_io;

use axum::Router;
use conns::{Admission, ConnState, ConnTable, Deadline};
use hyper_util::rt::TokioIo;
use kapacitor_config::{ConfigError, ConnectionLimit, HttpConfig};
use std::future::Future;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

/// Turns an accepted TCP connection into the stream HTTP is served on (plain TCP today; a
/// TLS acceptor would run its handshake here).
pub trait Acceptor: Send + Sync + 'static {
    type Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    fn accept(&self, tcp: TcpStream) -> impl Future<Output = io::Result<Self::Stream>> + Send;
}

/// Plain HTTP.
pub struct PlainTcp;

impl Acceptor for PlainTcp {
    type Stream = TcpStream;
    async fn accept(&self, tcp: TcpStream) -> io::Result<TcpStream> {
        Ok(tcp)
    }
}

/// The connection settings of `[http]`, resolved.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub read_header_timeout: Duration,
    pub idle_timeout: Duration,
    pub connections: ConnectionLimit,
}

impl Limits {
    /// From the configuration and this process's `RLIMIT_NOFILE`.
    pub fn from_config(http: &HttpConfig) -> Result<Limits, ConfigError> {
        Ok(Limits {
            read_header_timeout: http.read_header_timeout.as_duration(),
            idle_timeout: http.idle_timeout.as_duration(),
            connections: http.connection_limit(nofile_soft_limit())?,
        })
    }
}

/// The process's `RLIMIT_NOFILE` soft limit.
pub fn nofile_soft_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes only into the struct it is given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0 {
        lim.rlim_cur
    } else {
        1024
    }
}

/// At most one line per this interval for each kind of trouble, with how many were not logged.
const LOG_EVERY: Duration = Duration::from_secs(10);

struct RateLimited {
    last: std::sync::Mutex<Option<Instant>>,
    suppressed: AtomicU64,
}

impl RateLimited {
    const fn new() -> Self {
        RateLimited {
            last: std::sync::Mutex::new(None),
            suppressed: AtomicU64::new(0),
        }
    }

    /// `Some(suppressed since the last line)` when a line may be written now.
    fn allow(&self) -> Option<u64> {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if last.is_some_and(|t| t.elapsed() < LOG_EVERY) {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        *last = Some(Instant::now());
        Some(self.suppressed.swap(0, Ordering::Relaxed))
    }
}

/// Serves `router` on `listener` until `shutdown`, then lets the connections finish their
/// requests (closing idle ones at once) and returns when all are closed; the caller bounds
/// that wait with `[http] shutdown-timeout`.
pub async fn serve<A: Acceptor>(
    listener: TcpListener,
    acceptor: A,
    router: Router,
    limits: Limits,
    shutdown: CancellationToken,
) {
    let acceptor = Arc::new(acceptor);
    let table = Arc::new(ConnTable::new(limits.connections.max as usize));
    let emptied = Arc::new(Notify::new());
    let refusals = Arc::new(tokio::sync::Semaphore::new(refuse::MAX_IN_FLIGHT));
    static ACCEPT_ERRORS: RateLimited = RateLimited::new();
    static REFUSED: RateLimited = RateLimited::new();
    let mut backoff = BACKOFF_MIN;
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = shutdown.cancelled() => break,
        };
        let tcp = match accepted {
            Ok((tcp, _peer)) => {
                backoff = BACKOFF_MIN;
                tcp
            }
            Err(e) if per_connection_error(&e) => continue,
            Err(e) => {
                // Out of descriptors (or memory): give one back if a connection is idle, and
                // never retry in a tight loop.
                let freed = table.evict_idlest();
                if let Some(suppressed) = ACCEPT_ERRORS.allow() {
                    warn!(
                        error = %e,
                        connections = table.len(),
                        closed_idle = freed,
                        retry_in = ?backoff,
                        suppressed,
                        "HTTP accept failed"
                    );
                }
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = shutdown.cancelled() => break,
                }
                backoff = (backoff * 2).min(BACKOFF_MAX);
                continue;
            }
        };
        let state = match table.admit() {
            Admission::Admitted(s) => s,
            Admission::MadeRoom(s) => {
                debug!(
                    limit = limits.connections.max,
                    "HTTP connection limit reached: closing the longest-idle connection"
                );
                s
            }
            Admission::Full => {
                if let Some(suppressed) = REFUSED.allow() {
                    warn!(
                        limit = limits.connections.max,
                        suppressed,
                        "HTTP connection refused with 503: every connection has a request in \
                         progress ([http] max-connections)"
                    );
                }
                match refusals.clone().try_acquire_owned() {
                    Ok(permit) => {
                        let limit = limits.connections.max;
                        tokio::spawn(async move {
                            refuse::refuse(tcp, limit).await;
                            drop(permit);
                        });
                    }
                    // Refusals already in flight: close without an answer.
                    Err(_) => drop(tcp),
                }
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        tokio::spawn(connection(
            acceptor.clone(),
            tcp,
            state,
            table.clone(),
            emptied.clone(),
            router.clone(),
            limits,
            shutdown.clone(),
        ));
    }
    drop(listener);
    loop {
        let notified = emptied.notified();
        if table.len() == 0 {
            break;
        }
        notified.await;
    }
}

const BACKOFF_MIN: Duration = Duration::from_millis(10);
const BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Errors that concern only the connection being accepted; the next accept may succeed.
fn per_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted
    ) || matches!(e.raw_os_error(), Some(libc::EPROTO) | Some(libc::EPERM))
}

/// Removes the connection from the table when its task ends, however it ends.
struct Leave {
    table: Arc<ConnTable>,
    state: Arc<ConnState>,
    emptied: Arc<Notify>,
}

impl Drop for Leave {
    fn drop(&mut self) {
        self.table.remove(&self.state);
        if self.table.len() == 0 {
            self.emptied.notify_waiters();
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn connection<A: Acceptor>(
    acceptor: Arc<A>,
    tcp: TcpStream,
    state: Arc<ConnState>,
    table: Arc<ConnTable>,
    emptied: Arc<Notify>,
    router: Router,
    limits: Limits,
    shutdown: CancellationToken,
) {
    let _leave = Leave {
        table,
        state: state.clone(),
        emptied,
    };
    let stream = match tokio::time::timeout(limits.read_header_timeout, acceptor.accept(tcp)).await
    {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            debug!(error = %e, "HTTP connection setup failed");
            return;
        }
        Err(_) => {
            debug!("HTTP connection setup timed out");
            return;
        }
    };
    let io = TokioIo::new(tracked_io::TrackedIo::new(stream, state.clone()));
    let svc = service::ConnService {
        router,
        state: state.clone(),
    };
    // No hyper timer: the timeouts are ours (hyper's header timer would also close idle
    // keep-alive connections at the header timeout).
    let conn = hyper::server::conn::http1::Builder::new().serve_connection(io, svc);
    tokio::pin!(conn);
    let mut closing = false;
    loop {
        if !closing && state.is_evicting() {
            conn.as_mut().graceful_shutdown();
            closing = true;
        }
        let wake = match state.deadline(limits.read_header_timeout, limits.idle_timeout) {
            Deadline::Header(t) => Some(t),
            Deadline::Idle(t) if !closing => Some(t),
            _ => None,
        };
        let sleep = async {
            match wake {
                Some(t) => tokio::time::sleep_until(tokio::time::Instant::from_std(t)).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    debug!(error = %e, "HTTP connection ended with an error");
                }
                return;
            }
            _ = state.changed.notified() => {}
            _ = shutdown.cancelled(), if !closing => {
                conn.as_mut().graceful_shutdown();
                closing = true;
            }
            _ = sleep => {
                let now = Instant::now();
                match state.deadline(limits.read_header_timeout, limits.idle_timeout) {
                    Deadline::Header(t) if t <= now => {
                        debug!(
                            timeout = ?limits.read_header_timeout,
                            "HTTP connection closed: request headers not received in time"
                        );
                        return;
                    }
                    Deadline::Idle(t) if t <= now && !closing => {
                        conn.as_mut().graceful_shutdown();
                        closing = true;
                    }
                    _ => {}
                }
            }
        }
    }
}
