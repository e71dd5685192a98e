//! The driver: owns the [`Membership`] and the gossip sockets (UDP for SWIM, TCP on the same
//! port for the full-state push-pull), fires foca's timers in order, and serves commands from
//! the RPC server and apid's socket through a [`Handle`].

use crate::member::Ident;
use crate::membership::{Effect, JoinOffer, Membership, RemoveError, RemovePlan, SyncState, View};
use crate::wire::{Header, Kind, Sealer, frame};
use foca::Timer;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::{Instant, sleep_until, timeout};
use tracing::{debug, warn};
use uuid::Uuid;

/// memberlist's TCPTimeout: how long one push-pull exchange may take.
pub const TCP_TIMEOUT: Duration = Duration::from_secs(10);
/// Gossip bytes this process sent (UDP datagrams, envelope included), for benchmarks and
/// stats.
static GOSSIP_BYTES_SENT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

pub fn gossip_bytes_sent() -> u64 {
    GOSSIP_BYTES_SENT.load(std::sync::atomic::Ordering::Relaxed)
}

/// How often the same source may cause a "dropped" log line.
const LOG_EVERY: Duration = Duration::from_secs(60);

pub enum Cmd {
    View(oneshot::Sender<View>),
    Offer(oneshot::Sender<JoinOffer>),
    AcceptJoin(JoinOffer, oneshot::Sender<Result<Ident, String>>),
    Admit(Ident, oneshot::Sender<()>),
    Remove(String, oneshot::Sender<Result<RemovePlan, RemoveError>>),
    Forget {
        id: Uuid,
        token: u64,
    },
    ResetAlone(oneshot::Sender<()>),
    /// A peer's state from a push-pull it started; the reply is our state.
    SyncIn(SyncState, oneshot::Sender<SyncState>),
    /// The peer's answer to a push-pull we started.
    SyncDone(SyncState),
    Shutdown(oneshot::Sender<()>),
}

/// The current cluster id and join token, for checks outside the driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ids {
    pub cluster_id: Uuid,
    pub server_id: Uuid,
    pub token: u64,
}

#[derive(Clone)]
pub struct Handle {
    tx: mpsc::Sender<Cmd>,
    ids: watch::Receiver<Ids>,
    pub sealer: Arc<Sealer>,
}

#[derive(Debug, thiserror::Error)]
#[error("the gossip driver has stopped")]
pub struct Stopped;

impl Handle {
    pub fn ids(&self) -> Ids {
        *self.ids.borrow()
    }

    pub fn header(&self, kind: Kind) -> Header {
        let ids = self.ids();
        Header {
            kind,
            cluster_id: ids.cluster_id,
            sender: ids.server_id,
            token: ids.token,
        }
    }

    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Cmd) -> Result<T, Stopped> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(make(tx)).await.map_err(|_| Stopped)?;
        rx.await.map_err(|_| Stopped)
    }

    pub async fn view(&self) -> Result<View, Stopped> {
        self.ask(Cmd::View).await
    }

    pub async fn offer(&self) -> Result<JoinOffer, Stopped> {
        self.ask(Cmd::Offer).await
    }

    pub async fn accept_join(&self, offer: JoinOffer) -> Result<Result<Ident, String>, Stopped> {
        self.ask(|tx| Cmd::AcceptJoin(offer, tx)).await
    }

    pub async fn admit(&self, newcomer: Ident) -> Result<(), Stopped> {
        self.ask(|tx| Cmd::Admit(newcomer, tx)).await
    }

    pub async fn remove(&self, id: String) -> Result<Result<RemovePlan, RemoveError>, Stopped> {
        self.ask(|tx| Cmd::Remove(id, tx)).await
    }

    pub async fn forget(&self, id: Uuid, token: u64) -> Result<(), Stopped> {
        self.tx
            .send(Cmd::Forget { id, token })
            .await
            .map_err(|_| Stopped)
    }

    pub async fn reset_alone(&self) -> Result<(), Stopped> {
        self.ask(Cmd::ResetAlone).await
    }

    pub async fn sync_in(&self, state: SyncState) -> Result<SyncState, Stopped> {
        self.ask(|tx| Cmd::SyncIn(state, tx)).await
    }

    /// Says goodbye to the peers and stops the driver.
    pub async fn shutdown(&self) -> Result<(), Stopped> {
        self.ask(Cmd::Shutdown).await
    }
}

/// Timers in firing order; `seq` keeps equal deadlines in submission order.
#[derive(Default)]
struct Timers {
    heap: BinaryHeap<Reverse<(Instant, u64)>>,
    pending: HashMap<u64, (u64, Timer<Ident>)>,
    seq: u64,
}

impl Timers {
    fn push(&mut self, at: Instant, generation: u64, timer: Timer<Ident>) {
        self.seq += 1;
        self.heap.push(Reverse((at, self.seq)));
        self.pending.insert(self.seq, (generation, timer));
    }

    fn next(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _))| *at)
    }

    fn pop_due(&mut self, now: Instant) -> Option<(u64, Timer<Ident>)> {
        let Reverse((at, _)) = self.heap.peek()?;
        if *at > now {
            return None;
        }
        let Reverse((_, seq)) = self.heap.pop()?;
        self.pending.remove(&seq)
    }
}

/// Rate-limits log lines per source address.
#[derive(Default)]
struct LogLimiter(HashMap<SocketAddr, std::time::Instant>);

impl LogLimiter {
    fn allow(&mut self, from: SocketAddr) -> bool {
        let now = std::time::Instant::now();
        if self.0.len() > 4096 {
            self.0.retain(|_, t| now.duration_since(*t) < LOG_EVERY);
        }
        match self.0.get(&from) {
            Some(t) if now.duration_since(*t) < LOG_EVERY => false,
            _ => {
                self.0.insert(from, now);
                true
            }
        }
    }
}

pub struct Node {
    m: Membership,
    udp: Arc<UdpSocket>,
    tcp: TcpListener,
    sealer: Arc<Sealer>,
    rx: mpsc::Receiver<Cmd>,
    ids_tx: watch::Sender<Ids>,
    handle: Handle,
    sync_interval: Duration,
    timers: Timers,
    limiter: LogLimiter,
}

impl Node {
    pub fn new(
        m: Membership,
        udp: UdpSocket,
        tcp: TcpListener,
        sealer: Arc<Sealer>,
        sync_interval: Duration,
    ) -> (Node, Handle) {
        let (tx, rx) = mpsc::channel(256);
        let (ids_tx, ids) = watch::channel(Ids {
            cluster_id: m.cluster_id(),
            server_id: m.server_id(),
            token: m.token(),
        });
        let handle = Handle {
            tx,
            ids,
            sealer: sealer.clone(),
        };
        let node = Node {
            m,
            udp: Arc::new(udp),
            tcp,
            sealer,
            rx,
            ids_tx,
            handle: handle.clone(),
            sync_interval,
            timers: Timers::default(),
            limiter: LogLimiter::default(),
        };
        (node, handle)
    }

    pub async fn run(mut self) {
        let mut buf = vec![0u8; 65536];
        // The first tick fires at once: a restarted member syncs with a peer right away.
        let mut sync_tick = tokio::time::interval(self.sync_interval);
        sync_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        self.flush().await;
        loop {
            let next_timer = self.timers.next();
            tokio::select! {
                r = self.udp.recv_from(&mut buf) => match r {
                    Ok((n, from)) => self.packet(from, &buf[..n]),
                    Err(e) => {
                        debug!(error = %e, "gossip receive failed");
                    }
                },
                _ = sleep_until(next_timer.unwrap_or_else(Instant::now)), if next_timer.is_some() => {
                    let now = Instant::now();
                    while let Some((generation, timer)) = self.timers.pop_due(now) {
                        self.m.handle_timer(generation, timer);
                    }
                }
                acc = self.tcp.accept() => match acc {
                    Ok((stream, from)) => {
                        tokio::spawn(serve_sync(stream, from, self.handle.clone()));
                    }
                    Err(e) => debug!(error = %e, "gossip accept failed"),
                },
                _ = sync_tick.tick() => {
                    // Writes cluster.json if a change could not be written before.
                    self.m.persist();
                    if let Some(to) = self.m.sync_target() {
                        let state = self.m.sync_state();
                        let header = self.m.header(Kind::Sync);
                        tokio::spawn(push_pull(to, header, state, self.sealer.clone(), self.handle.tx.clone()));
                    }
                }
                cmd = self.rx.recv() => {
                    let Some(cmd) = cmd else { return };
                    if let Some(done) = self.command(cmd) {
                        self.m.shutdown();
                        self.flush().await;
                        let _ = done.send(());
                        return;
                    }
                }
            }
            self.flush().await;
        }
    }

    fn packet(&mut self, from: SocketAddr, data: &[u8]) {
        match self.sealer.open(data) {
            Ok((h, payload)) => {
                if !self.m.handle_packet(from, h, &payload) && self.limiter.allow(from) {
                    warn!(from = %from, cluster = %h.cluster_id, "ignoring gossip from a member of another cluster");
                }
            }
            Err(e) => {
                if self.limiter.allow(from) {
                    warn!(from = %from, error = %e, "dropped a gossip packet");
                }
            }
        }
    }

    /// Runs one command; returns the reply channel of `Shutdown`.
    fn command(&mut self, cmd: Cmd) -> Option<oneshot::Sender<()>> {
        match cmd {
            Cmd::View(tx) => {
                let _ = tx.send(self.m.view());
            }
            Cmd::Offer(tx) => {
                let _ = tx.send(self.m.join_offer());
            }
            Cmd::AcceptJoin(offer, tx) => {
                let _ = tx.send(self.m.accept_join(offer));
            }
            Cmd::Admit(ident, tx) => {
                self.m.admit(ident);
                let _ = tx.send(());
            }
            Cmd::Remove(id, tx) => {
                let _ = tx.send(self.m.remove(&id));
            }
            Cmd::Forget { id, token } => self.m.forget(id, token),
            Cmd::ResetAlone(tx) => {
                self.m.reset_alone();
                let _ = tx.send(());
            }
            Cmd::SyncIn(state, tx) => {
                let _ = tx.send(self.m.sync_state());
                self.m.apply_sync(state);
            }
            Cmd::SyncDone(state) => self.m.apply_sync(state),
            Cmd::Shutdown(tx) => return Some(tx),
        }
        None
    }

    async fn flush(&mut self) {
        let now = Instant::now();
        for e in self.m.take_effects() {
            match e {
                Effect::Send {
                    to,
                    header,
                    payload,
                } => {
                    let packet = self.sealer.seal(&header, &payload);
                    GOSSIP_BYTES_SENT
                        .fetch_add(packet.len() as u64, std::sync::atomic::Ordering::Relaxed);
                    if let Err(e) = self.udp.send_to(&packet, to).await {
                        debug!(to = %to, error = %e, "gossip send failed");
                    }
                }
                Effect::Schedule {
                    after,
                    generation,
                    timer,
                } => self.timers.push(now + after, generation, timer),
            }
        }
        let ids = Ids {
            cluster_id: self.m.cluster_id(),
            server_id: self.m.server_id(),
            token: self.m.token(),
        };
        self.ids_tx.send_if_modified(|cur| {
            let changed = *cur != ids;
            *cur = ids;
            changed
        });
    }
}

fn encode_state(state: &SyncState) -> Vec<u8> {
    postcard::to_allocvec(state).unwrap_or_default()
}

/// Our side of a push-pull we start: send our state, merge the answer.
async fn push_pull(
    to: SocketAddr,
    header: Header,
    state: SyncState,
    sealer: Arc<Sealer>,
    tx: mpsc::Sender<Cmd>,
) {
    let exchange = async {
        let mut s = TcpStream::connect(to).await?;
        frame::write(&mut s, &sealer.seal(&header, &encode_state(&state))).await?;
        frame::read(&mut s).await
    };
    let reply = match timeout(TCP_TIMEOUT, exchange).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            debug!(to = %to, error = %e, "state sync failed");
            return;
        }
        Err(_) => {
            debug!(to = %to, "state sync timed out");
            return;
        }
    };
    match sealer.open(&reply) {
        Ok((h, payload)) if h.kind == Kind::Sync && h.cluster_id == header.cluster_id => {
            match postcard::from_bytes::<SyncState>(&payload) {
                Ok(peer) => {
                    let _ = tx.send(Cmd::SyncDone(peer)).await;
                }
                Err(e) => warn!(peer = %to, error = %e, "undecodable state sync answer"),
            }
        }
        Ok((h, _)) => {
            debug!(peer = %to, cluster = %h.cluster_id, kind = ?h.kind, "state sync answer from another cluster ignored")
        }
        Err(e) => warn!(peer = %to, error = %e, "state sync answer dropped"),
    }
}

/// The other side: a peer's push-pull on our gossip TCP port.
async fn serve_sync(mut s: TcpStream, from: SocketAddr, handle: Handle) {
    let exchange = async {
        let data = frame::read(&mut s).await?;
        let (h, payload) = match handle.sealer.open(&data) {
            Ok(x) => x,
            Err(e) => {
                warn!(from = %from, error = %e, "refusing a state sync connection");
                return Ok(());
            }
        };
        let mine = handle.header(Kind::Sync);
        if h.kind != Kind::Sync || h.cluster_id != mine.cluster_id {
            warn!(from = %from, cluster = %h.cluster_id, "refusing a state sync from a member of another cluster");
            return Ok(());
        }
        let peer = match postcard::from_bytes::<SyncState>(&payload) {
            Ok(p) => p,
            Err(e) => {
                warn!(from = %from, error = %e, "refusing an undecodable state sync");
                return Ok(());
            }
        };
        let Ok(ours) = handle.sync_in(peer).await else {
            return Ok(());
        };
        frame::write(&mut s, &handle.sealer.seal(&mine, &encode_state(&ours))).await
    };
    match timeout(TCP_TIMEOUT, exchange).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => debug!(from = %from, error = %e, "state sync connection failed"),
        Err(_) => debug!(from = %from, "state sync connection timed out"),
    }
}
