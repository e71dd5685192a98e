//! A connection to another kapacitord process, usable from many tokio tasks at once.
//!
//! [`handshake`] exchanges [`Hello`]s and then splits the stream between two background
//! tasks: a writer that drains a bounded queue of encoded frames, and a reader that routes
//! replies to the waiting [`Peer::request`] (matched by id through oneshots) and everything
//! else to the [`Inbox`]. Anything the reader cannot accept (an oversized frame, garbage, an
//! unknown message) is logged and closes this connection only.
//!
//! The connection lives as long as any `Peer` clone (an [`Incoming`] holds one too). Do not
//! await a `request` on a peer from the code that drains that same peer's inbox while the
//! inbox may be full: the reader would be stuck delivering to the inbox and never see the reply.

use crate::codec::{self, MAX_FRAME_LEN, decode_envelope, decode_hello, frame_codec};
use crate::error::{CloseReason, IpcError, ProtocolError};
use crate::message::{Envelope, Hello, Message};
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::codec::{FramedRead, FramedWrite, LengthDelimitedCodec, LengthDelimitedCodecError};
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

/// Tunables of one connection.
#[derive(Debug, Clone)]
pub struct PeerOptions {
    /// Largest frame accepted or sent.
    pub max_frame_len: usize,
    /// Default timeout of [`Peer::request`].
    pub request_timeout: Duration,
    /// How long to wait for the other side's hello.
    pub handshake_timeout: Duration,
    /// Unsolicited messages buffered before the reader stops reading (backpressure).
    pub inbox_capacity: usize,
    /// Encoded frames buffered before `send` waits for the socket.
    pub outbox_capacity: usize,
}

impl Default for PeerOptions {
    fn default() -> Self {
        PeerOptions {
            max_frame_len: MAX_FRAME_LEN,
            request_timeout: Duration::from_secs(10),
            handshake_timeout: Duration::from_secs(10),
            inbox_capacity: 256,
            outbox_capacity: 256,
        }
    }
}

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Message>>>>;

struct Inner {
    remote: Hello,
    out: mpsc::Sender<Bytes>,
    /// Bytes handed to `out` and not yet written to the socket.
    out_bytes: Arc<AtomicUsize>,
    pending: Pending,
    next_id: AtomicU64,
    closed: watch::Receiver<Option<CloseReason>>,
    cancel: CancellationToken,
    opts: PeerOptions,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// A handle on one connection; cheap to clone.
#[derive(Clone)]
pub struct Peer {
    inner: Arc<Inner>,
}

/// Messages the other side sent on its own (requests and notifications), in order.
pub struct Inbox {
    rx: mpsc::Receiver<Incoming>,
}

impl Inbox {
    /// The next message; `None` once the connection is closed and drained.
    pub async fn recv(&mut self) -> Option<Incoming> {
        self.rx.recv().await
    }
}

/// One unsolicited message, with what is needed to answer it.
pub struct Incoming {
    /// Non-zero when the sender waits for a reply.
    pub id: u64,
    pub msg: Message,
    peer: Peer,
}

impl Incoming {
    pub fn is_request(&self) -> bool {
        self.id != 0
    }

    /// The connection the message came from.
    pub fn peer(&self) -> &Peer {
        &self.peer
    }

    /// Answers the request. Answering a notification is an error.
    pub async fn reply(&self, msg: Message) -> Result<(), IpcError> {
        if self.id == 0 {
            return Err(IpcError::NotARequest);
        }
        self.peer.send_envelope(0, self.id, msg).await
    }
}

impl std::fmt::Debug for Incoming {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Incoming")
            .field("id", &self.id)
            .field("msg", &self.msg.name())
            .finish()
    }
}

impl Peer {
    /// The other side's hello.
    pub fn remote(&self) -> &Hello {
        &self.inner.remote
    }

    /// Sends a notification (no reply expected).
    pub async fn send(&self, msg: Message) -> Result<(), IpcError> {
        self.send_envelope(0, 0, msg).await
    }

    /// Sends an envelope encoded beforehand (a notification, e.g. from
    /// [`crate::encode_points`]), so that one encoding can go to many peers.
    pub async fn send_frame(&self, frame: Bytes) -> Result<(), IpcError> {
        self.enqueue(frame).await
    }

    /// Bytes queued for this connection and not yet written to its socket.
    pub fn queued_bytes(&self) -> usize {
        self.inner.out_bytes.load(Ordering::Relaxed)
    }

    /// Sends a request and waits for its reply for the default request timeout.
    pub async fn request(&self, msg: Message) -> Result<Message, IpcError> {
        self.request_timeout(msg, self.inner.opts.request_timeout)
            .await
    }

    /// Sends a request and waits up to `timeout` for its reply. The timeout covers the whole
    /// round trip: waiting for room in the outbox (behind every frame queued before it) as
    /// well as waiting for the answer, so a peer that stopped reading cannot hold the caller
    /// longer than `timeout`.
    pub async fn request_timeout(
        &self,
        msg: Message,
        timeout: Duration,
    ) -> Result<Message, IpcError> {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.lock_pending().insert(id, tx);
        let round_trip = async {
            self.send_envelope(id, 0, msg).await?;
            rx.await.map_err(|_| IpcError::Closed(self.close_reason()))
        };
        let result = match tokio::time::timeout(timeout, round_trip).await {
            Ok(r) => r,
            Err(_) => Err(IpcError::Timeout(timeout)),
        };
        if result.is_err() {
            self.lock_pending().remove(&id);
        }
        result
    }

    /// Closes the connection; pending requests fail with `Closed(Local)`.
    pub fn close(&self) {
        self.inner.cancel.cancel();
    }

    pub fn is_closed(&self) -> bool {
        self.inner.closed.borrow().is_some()
    }

    /// Resolves when the connection is closed, with the reason.
    pub async fn closed(&self) -> CloseReason {
        let mut rx = self.inner.closed.clone();
        match rx.wait_for(|r| r.is_some()).await {
            Ok(r) => r.clone().unwrap_or(CloseReason::Local),
            Err(_) => CloseReason::Local,
        }
    }

    fn close_reason(&self) -> CloseReason {
        self.inner
            .closed
            .borrow()
            .clone()
            .unwrap_or(CloseReason::Local)
    }

    fn lock_pending(&self) -> std::sync::MutexGuard<'_, HashMap<u64, oneshot::Sender<Message>>> {
        // A poisoned map only means another task panicked mid-insert; the map itself is fine.
        self.inner.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn send_envelope(&self, id: u64, reply_to: u64, msg: Message) -> Result<(), IpcError> {
        let bytes = codec::encode(&Envelope { id, reply_to, msg })?;
        self.enqueue(bytes).await
    }

    async fn enqueue(&self, bytes: Bytes) -> Result<(), IpcError> {
        if bytes.len() > self.inner.opts.max_frame_len {
            return Err(ProtocolError::FrameTooLarge {
                limit: self.inner.opts.max_frame_len,
            }
            .into());
        }
        if self.inner.cancel.is_cancelled() {
            return Err(IpcError::Closed(self.close_reason()));
        }
        // Reserve first: a caller that gives up while waiting for room (a request's timeout)
        // leaves neither a frame nor a byte count behind.
        let permit = self
            .inner
            .out
            .reserve()
            .await
            .map_err(|_| IpcError::Closed(self.close_reason()))?;
        self.inner
            .out_bytes
            .fetch_add(bytes.len(), Ordering::Relaxed);
        permit.send(bytes);
        Ok(())
    }
}

/// Exchanges hellos over `stream` (both sides send first, so neither waits on the other)
/// and starts the connection's reader and writer tasks. Must run inside a tokio runtime.
///
/// A bad hello (garbage, wrong version, timeout) is logged and the stream is dropped.
pub async fn handshake<S>(
    stream: S,
    local: Hello,
    opts: PeerOptions,
) -> Result<(Peer, Inbox), IpcError>
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (r, w) = tokio::io::split(stream);
    let mut reader = FramedRead::new(r, frame_codec(opts.max_frame_len));
    let mut writer = FramedWrite::new(w, frame_codec(opts.max_frame_len));
    let local_role = local.role.clone();

    let exchange = async {
        SinkExt::<Bytes>::send(&mut writer, codec::encode(&local)?).await?;
        match reader.next().await {
            None => Err(IpcError::Closed(CloseReason::Eof)),
            Some(Err(e)) => Err(match read_error(e, opts.max_frame_len) {
                CloseReason::Protocol(p) => IpcError::Protocol(p),
                other => IpcError::Closed(other),
            }),
            Some(Ok(frame)) => Ok(decode_hello(&frame)?),
        }
    };
    let remote = match tokio::time::timeout(opts.handshake_timeout, exchange).await {
        Ok(Ok(remote)) => remote,
        Ok(Err(e)) => {
            warn!(role = %local_role, error = %e, "IPC handshake failed, closing connection");
            return Err(e);
        }
        Err(_) => {
            let e = IpcError::Handshake(format!("no hello within {:?}", opts.handshake_timeout));
            warn!(role = %local_role, error = %e, "IPC handshake failed, closing connection");
            return Err(e);
        }
    };
    debug!(role = %local_role, peer = %remote.role, peer_pid = remote.pid, "IPC connection up");

    let (out_tx, out_rx) = mpsc::channel(opts.outbox_capacity.max(1));
    let (in_tx, in_rx) = mpsc::channel(opts.inbox_capacity.max(1));
    let (closed_tx, closed_rx) = watch::channel(None);
    let cancel = CancellationToken::new();
    let pending: Pending = Arc::default();
    let out_bytes = Arc::new(AtomicUsize::new(0));
    let inner = Arc::new(Inner {
        remote,
        out: out_tx,
        out_bytes: out_bytes.clone(),
        pending: pending.clone(),
        next_id: AtomicU64::new(1),
        closed: closed_rx,
        cancel: cancel.clone(),
        opts,
    });
    let closed_tx = Arc::new(closed_tx);
    tokio::spawn(write_loop(
        writer,
        Outbox {
            rx: out_rx,
            bytes: out_bytes,
        },
        cancel.clone(),
        closed_tx.clone(),
    ));
    let limit = inner.opts.max_frame_len;
    let peer_role = inner.remote.role.to_string();
    tokio::spawn(read_loop(
        reader,
        ReadCtx {
            limit,
            peer_role,
            inner: Arc::downgrade(&inner),
            pending,
            inbox: in_tx,
            cancel,
            closed: closed_tx,
        },
    ));
    Ok((Peer { inner }, Inbox { rx: in_rx }))
}

fn read_error(e: std::io::Error, limit: usize) -> CloseReason {
    let too_big = e
        .get_ref()
        .is_some_and(|inner| inner.is::<LengthDelimitedCodecError>());
    if too_big {
        CloseReason::Protocol(ProtocolError::FrameTooLarge { limit })
    } else {
        CloseReason::Io(e.to_string())
    }
}

fn set_closed(closed: &watch::Sender<Option<CloseReason>>, reason: CloseReason) {
    closed.send_if_modified(|cur| {
        if cur.is_none() {
            *cur = Some(reason);
            true
        } else {
            false
        }
    });
}

/// The receiving end of a connection's queue of encoded frames, with its byte count.
struct Outbox {
    rx: mpsc::Receiver<Bytes>,
    bytes: Arc<AtomicUsize>,
}

impl Outbox {
    fn take(&self, frame: Bytes) -> Bytes {
        self.bytes.fetch_sub(frame.len(), Ordering::Relaxed);
        frame
    }
}

async fn write_loop<W: AsyncWrite + Unpin>(
    mut w: FramedWrite<W, LengthDelimitedCodec>,
    mut out: Outbox,
    cancel: CancellationToken,
    closed: Arc<watch::Sender<Option<CloseReason>>>,
) {
    loop {
        let frame = tokio::select! {
            _ = cancel.cancelled() => break,
            f = out.rx.recv() => f,
        };
        let Some(frame) = frame else { break };
        // Feed whatever is already queued before one flush: fewer syscalls under load.
        let mut result = w.feed(out.take(frame)).await;
        while result.is_ok() {
            match out.rx.try_recv() {
                Ok(f) => result = w.feed(out.take(f)).await,
                Err(_) => break,
            }
        }
        if result.is_ok() {
            result = SinkExt::<Bytes>::flush(&mut w).await;
        }
        if let Err(e) = result {
            debug!(error = %e, "IPC write failed");
            set_closed(&closed, CloseReason::Io(e.to_string()));
            break;
        }
    }
    // Frames queued before a local close still go out (e.g. a Shutdown just before close).
    while let Ok(f) = out.rx.try_recv() {
        if w.feed(out.take(f)).await.is_err() {
            break;
        }
    }
    let _ = SinkExt::<Bytes>::flush(&mut w).await;
    cancel.cancel();
}

/// What the reader task needs besides the stream.
struct ReadCtx {
    limit: usize,
    peer_role: String,
    /// Weak, so that the reader alone does not keep the connection open.
    inner: Weak<Inner>,
    pending: Pending,
    inbox: mpsc::Sender<Incoming>,
    cancel: CancellationToken,
    closed: Arc<watch::Sender<Option<CloseReason>>>,
}

async fn read_loop<R: AsyncRead + Unpin>(mut r: FramedRead<R, LengthDelimitedCodec>, ctx: ReadCtx) {
    let ReadCtx {
        limit,
        peer_role,
        inner,
        pending,
        inbox,
        cancel,
        closed,
    } = ctx;
    let reason = loop {
        let frame = tokio::select! {
            _ = cancel.cancelled() => break CloseReason::Local,
            f = r.next() => f,
        };
        let bytes = match frame {
            None => break CloseReason::Eof,
            Some(Err(e)) => break read_error(e, limit),
            Some(Ok(bytes)) => bytes,
        };
        let env = match decode_envelope(&bytes) {
            Ok(env) => env,
            Err(e) => break CloseReason::Protocol(e),
        };
        if env.reply_to != 0 {
            let waiter = pending
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&env.reply_to);
            match waiter {
                Some(tx) => {
                    let _ = tx.send(env.msg);
                }
                None => {
                    debug!(peer = %peer_role, reply_to = env.reply_to, "reply to no pending request (timed out?)")
                }
            }
            continue;
        }
        let Some(inner) = inner.upgrade() else {
            break CloseReason::Local;
        };
        let incoming = Incoming {
            id: env.id,
            msg: env.msg,
            peer: Peer { inner },
        };
        tokio::select! {
            _ = cancel.cancelled() => break CloseReason::Local,
            sent = inbox.send(incoming) => if let Err(lost) = sent {
                debug!(peer = %peer_role, msg = lost.0.msg.name(), "no inbox reader, message dropped");
            },
        }
    };
    match &reason {
        CloseReason::Protocol(e) => {
            warn!(peer = %peer_role, error = %e, "IPC protocol error, closing connection")
        }
        CloseReason::Io(e) => {
            warn!(peer = %peer_role, error = %e, "IPC read error, closing connection")
        }
        CloseReason::Eof | CloseReason::Local => {
            debug!(peer = %peer_role, reason = %reason, "IPC connection closed")
        }
    }
    set_closed(&closed, reason);
    cancel.cancel();
    // Waiters see their oneshot dropped and report `Closed`.
    pending.lock().unwrap_or_else(|p| p.into_inner()).clear();
}
