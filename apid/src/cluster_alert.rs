//! Cluster alerting in apid: replicated topic handlers applied to the local alert service,
//! and deduplicated delivery of events on named topics.
//!
//! apid keeps one long-lived connection to gossipd (`<data_dir>/run/gossipd.sock`, redialled
//! when it drops). Over it gossipd pushes the replicated handler set, events other members
//! forwarded to this owner, and completion notices; apid sends handler changes made through
//! its API, forwards, and its own completion notices. The decisions (owners, waits,
//! notices) are `kapacitor_alert::cluster::DedupScheduler`'s; this module is the plumbing.
//!
//! Only events on named topics are deduplicated: anonymous topics (`main:<task>:...`) carry
//! the inline handlers of a TICKscript, which keep Kapacitor's behaviour (every member
//! running the task sends). Until gossipd has told apid the membership, and always with
//! `[alert] redundancy = 0`, events are published locally as without clustering.

use crate::alert_host::AlertHost;
use kapacitor_alert::cluster::scheduler::Origin;
use kapacitor_alert::cluster::{
    ClaimAnswer, Counters, DedupScheduler, Due, Notice, NoticeKey, Submitted,
};
use kapacitor_alert::{Event, EventState, HandlerSpec, Level, TASK_MASTER};
use kapacitor_config::Config;
use kapacitor_ipc::{ClusterHandler, Hello, Message, Peer, PeerOptions, Role, handshake};
use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::net::UnixStream;
use tokio::sync::Notify;
use tracing::{debug, error, info, warn};

/// (topic, handler id).
type HandlerKey = (String, String);
/// A change made through this member's API: the spec JSON (None for a delete) and when.
type LocalChange = (Option<String>, std::time::Instant);

const REDIAL: Duration = Duration::from_millis(500);
const MEMBERS_EVERY: Duration = Duration::from_millis(250);
const GOSSIPD_LIMIT: Duration = Duration::from_secs(5);
/// How long a change made through this member's API outranks a replicated set that does not
/// reflect it yet: a set gossipd computed before it took the change must not undo it.
const LOCAL_CHANGE_GRACE: Duration = Duration::from_secs(10);
/// How long events on named topics are held at apid's start while the membership is not
/// known yet (gossipd not linked, or persisted peers not heard from): delivering them as a
/// cluster of one would duplicate what the other members deliver. After this, fail open.
const SETTLE_LIMIT: Duration = Duration::from_secs(10);
/// Events held while settling, at most (beyond: delivered here at once).
const HOLD_MAX: usize = 100_000;
/// Event states per message when a member that became alive gets this member's topics.
const SNAPSHOT_CHUNK: usize = 1000;
/// How long an API change waits for gossipd to persist it before answering anyway.
const ACK_WAIT: Duration = Duration::from_secs(2);

static CLUSTER: OnceLock<ClusterAlert> = OnceLock::new();

/// The running cluster alerting, once [`start`]ed.
pub fn get() -> Option<&'static ClusterAlert> {
    CLUSTER.get()
}

pub struct ClusterAlert {
    host: AlertHost,
    redundancy: usize,
    delay: Duration,
    socket: PathBuf,
    link: Mutex<Option<Peer>>,
    /// Created once gossipd told this member its id.
    sched: Mutex<Option<DedupScheduler<Event>>>,
    wake: Notify,
    /// The replicated handlers applied here, (topic, id) → spec JSON.
    applied: Mutex<HashMap<(String, String), String>>,
    /// Whether a handler set from gossipd was applied since apid started.
    synced: AtomicBool,
    /// Handler changes made through this member's API that gossipd has not taken yet (the
    /// link was down or busy): sent in order once it is up, before the set is asked for, so
    /// a change made while gossipd restarts is neither lost nor undone by the older set.
    outbox: Mutex<VecDeque<Message>>,
    /// One flush at a time, so changes reach gossipd in the order they were made.
    flushing: tokio::sync::Mutex<()>,
    /// When apid started, for the settle window.
    started: std::time::Instant,
    /// Whether the membership is known (every persisted peer heard from), or the settle
    /// window is over; until then events on named topics are held.
    settled: AtomicBool,
    held: Mutex<Vec<Event>>,
    /// Completion notices that arrived before the scheduler existed (gossipd linked, the
    /// membership not known yet): applied when it is created, so an event another member
    /// delivered meanwhile is not delivered again here.
    early_notices: Mutex<Vec<Notice>>,
    /// Members gossipd has exchanged the alert state (handlers, recent notices) with since
    /// it started: settling waits for every alive member to be among them.
    synced_with: Mutex<HashSet<String>>,
    /// Handlers changed through this member's API and not yet seen in a replicated set:
    /// (topic, id) → (spec JSON, or None for a delete; when the change was made).
    local: Mutex<HashMap<HandlerKey, LocalChange>>,
}

/// At apid's first replicated set: which of the named-topic handlers it loaded from its own
/// store the cluster deleted (`.0`), and which gossipd has never heard of (`.1`).
fn first_sync_split(
    stored: Vec<HandlerKey>,
    live: &HashSet<HandlerKey>,
    deleted: &[(String, String)],
) -> (Vec<HandlerKey>, Vec<HandlerKey>) {
    let deleted: HashSet<&HandlerKey> = deleted.iter().collect();
    let (gone, rest): (Vec<_>, Vec<_>) = stored.into_iter().partition(|k| deleted.contains(k));
    let unknown = rest.into_iter().filter(|k| !live.contains(k)).collect();
    (gone, unknown)
}

/// A replicated set as this member should apply it: a handler put or deleted through this
/// member's API within [`LOCAL_CHANGE_GRACE`] stays as this member made it until a set reflects
/// it (gossipd may have computed the set before it took the change). Local changes the set
/// reflects, or older than the grace period, are forgotten.
fn prefer_local_changes(
    local: &mut HashMap<HandlerKey, LocalChange>,
    handlers: Vec<ClusterHandler>,
) -> Vec<ClusterHandler> {
    local.retain(|_, (_, at)| at.elapsed() < LOCAL_CHANGE_GRACE);
    if local.is_empty() {
        return handlers;
    }
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(handlers.len());
    for h in handlers {
        let key = (h.topic.clone(), h.id.clone());
        seen.insert(key.clone());
        match local.get(&key) {
            Some((Some(mine), _)) if *mine == h.spec_json => {
                local.remove(&key);
                out.push(h);
            }
            Some((Some(mine), _)) => out.push(ClusterHandler {
                spec_json: mine.clone(),
                ..h
            }),
            Some((None, _)) => {} // deleted here; the set has not caught up
            None => out.push(h),
        }
    }
    local.retain(|key, (spec, _)| match spec {
        // A put the set does not contain yet stays in force.
        Some(_) => true,
        // A delete the set no longer shows is reflected.
        None => seen.contains(key),
    });
    for (key, (spec, _)) in local.iter() {
        if let Some(spec_json) = spec
            && !seen.contains(key)
        {
            out.push(ClusterHandler {
                topic: key.0.clone(),
                id: key.1.clone(),
                spec_json: spec_json.clone(),
            });
        }
    }
    out
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Starts the gossipd link, the membership watch and the delivery timer.
pub fn start(cfg: &Config, host: AlertHost) {
    let c = ClusterAlert {
        host,
        redundancy: cfg.alert.redundancy as usize,
        delay: cfg.alert.delay_per_member.as_duration(),
        socket: cfg.data_dir.join("run").join("gossipd.sock"),
        link: Mutex::new(None),
        sched: Mutex::new(None),
        wake: Notify::new(),
        applied: Mutex::new(HashMap::new()),
        synced: AtomicBool::new(false),
        outbox: Mutex::new(VecDeque::new()),
        flushing: tokio::sync::Mutex::new(()),
        local: Mutex::new(HashMap::new()),
        started: std::time::Instant::now(),
        settled: AtomicBool::new(false),
        held: Mutex::new(Vec::new()),
        early_notices: Mutex::new(Vec::new()),
        synced_with: Mutex::new(HashSet::new()),
    };
    if CLUSTER.set(c).is_err() {
        return;
    }
    let Some(c) = get() else { return };
    tokio::spawn(c.link_loop());
    tokio::spawn(c.members_loop());
    tokio::spawn(c.deliver_loop());
}

/// The `alert` entry of the `kapacitor` map of `/debug/vars`: Kapacitor Enterprise's
/// cluster alerting counters (`primary-handle-count`, `secondary-handle-count`,
/// `notification-dropped`) plus what this member suppressed or forwarded. Present with zeros
/// before the cluster link is up so monitoring sees the same keys on every member.
pub fn debug_vars(
    m: &mut serde_json::Map<String, serde_json::Value>,
    base_tags: &serde_json::Value,
) {
    let c = get().map(|c| c.counters()).unwrap_or_default();
    // `members`: the alive members this apid deduplicates over (0 until gossipd told it);
    // events are deduplicated only once it is above 1. `held`: events kept back at start
    // until the membership is known.
    let (pending, members) = get()
        .and_then(|c| {
            lock(&c.sched)
                .as_ref()
                .map(|s| (s.pending(), s.members().len()))
        })
        .unwrap_or((0, 0));
    m.insert(
        "alert".into(),
        serde_json::json!({
            "name": "alert",
            "tags": base_tags,
            "values": {
                "primary-handle-count": c.primary_handle_count,
                "secondary-handle-count": c.secondary_handle_count,
                "notification-dropped": c.notification_dropped,
                "suppressed": c.suppressed,
                "forwarded": c.forwarded,
                "claimed": c.claimed,
                "claims-unanswered": c.claims_unanswered,
                "pending": pending,
                "members": members,
                "held": get().map(|c| lock(&c.held).len()).unwrap_or(0),
            },
        }),
    );
}

impl ClusterAlert {
    pub fn counters(&self) -> Counters {
        lock(&self.sched)
            .as_ref()
            .map(|s| s.counters())
            .unwrap_or_default()
    }

    fn peer(&self) -> Option<Peer> {
        lock(&self.link).clone().filter(|p| !p.is_closed())
    }

    /// Takes over `ev` when it is to be deduplicated; `false`: publish it here as usual.
    pub fn intercept(&self, ev: &Event) -> bool {
        if self.redundancy == 0 || ev.topic.starts_with(&format!("{TASK_MASTER}:")) {
            return false;
        }
        if self.hold(ev) {
            return true;
        }
        let Some(peer) = self.peer() else {
            return false;
        };
        let submitted = {
            let mut s = lock(&self.sched);
            let Some(s) = s.as_mut() else { return false };
            s.submit(
                NoticeKey::of(ev),
                ev.clone(),
                Origin::Local,
                std::time::Instant::now(),
            )
        };
        match submitted {
            Submitted::Local => false,
            Submitted::Forward(owners) => {
                let msg = Message::ClusterAlertForward {
                    owners,
                    event_json: ev.to_ipc_json(),
                };
                tokio::spawn(async move {
                    if let Err(e) = peer.send(msg).await {
                        warn!(error = %e, "cannot forward an alert event to its owners");
                    }
                });
                true
            }
            Submitted::Scheduled { .. } => {
                self.wake.notify_one();
                true
            }
            Submitted::Duplicate | Submitted::AlreadyDelivered => true,
        }
    }

    /// Keeps `ev` until this member is [`settle`](Self::settle)d; `false` once it is.
    fn hold(&self, ev: &Event) -> bool {
        if self.settled.load(Ordering::Acquire) {
            return false;
        }
        let mut held = lock(&self.held);
        // Checked under the lock `settle` drains it with: nothing is held after.
        if !self.settled.load(Ordering::Acquire)
            && self.started.elapsed() < SETTLE_LIMIT
            && held.len() < HOLD_MAX
        {
            held.push(ev.clone());
            return true;
        }
        false
    }

    /// A handler was defined or replaced through this member's API. Returns once gossipd
    /// has persisted the change, or after [`ACK_WAIT`] (the change stays queued and is sent
    /// when gossipd is back).
    pub async fn handler_put(&'static self, spec: &HandlerSpec, previous_id: Option<&str>) {
        let mut msgs = self.record_put(spec);
        if let Some(prev) = previous_id.filter(|p| *p != spec.id) {
            msgs.extend(self.record_delete(&spec.topic, prev));
        }
        self.send_changes(msgs).await;
    }

    /// A handler was deleted through this member's API; returns as [`Self::handler_put`].
    pub async fn handler_deleted(&'static self, topic: &str, id: &str) {
        let msgs = self.record_delete(topic, id);
        self.send_changes(msgs).await;
    }

    /// Notes a put made here (so an older replicated set does not undo it) and returns the
    /// message that replicates it.
    fn record_put(&self, spec: &HandlerSpec) -> Vec<Message> {
        let Ok(spec_json) = serde_json::to_string(spec) else {
            return Vec::new();
        };
        let key = (spec.topic.clone(), spec.id.clone());
        lock(&self.applied).insert(key.clone(), spec_json.clone());
        lock(&self.local).insert(key, (Some(spec_json.clone()), std::time::Instant::now()));
        vec![Message::ClusterHandlerPut {
            topic: spec.topic.clone(),
            id: spec.id.clone(),
            spec_json,
        }]
    }

    fn record_delete(&self, topic: &str, id: &str) -> Vec<Message> {
        let key = (topic.to_string(), id.to_string());
        lock(&self.applied).remove(&key);
        lock(&self.local).insert(key, (None, std::time::Instant::now()));
        vec![Message::ClusterHandlerDelete {
            topic: topic.to_string(),
            id: id.to_string(),
        }]
    }

    async fn send_changes(&'static self, msgs: Vec<Message>) {
        lock(&self.outbox).extend(msgs);
        let Some(peer) = self.peer() else {
            warn!("gossip process unavailable: the handler change is replicated once it is back");
            return;
        };
        // Spawned, not awaited in place: a flush cut off by the wait would leave the change
        // queued with nobody sending it.
        let flush = tokio::spawn(async move { self.flush(&peer).await });
        if tokio::time::timeout(ACK_WAIT, flush).await.is_err() {
            warn!("gossip process slow to take a handler change; it stays queued");
        }
    }

    /// Sends the queued handler changes in order; stops at the first that gossipd did not
    /// take (it stays queued for the next link). Returns whether the queue is empty.
    async fn flush(&self, peer: &Peer) -> bool {
        let _one = self.flushing.lock().await;
        loop {
            let Some(m) = lock(&self.outbox).front().cloned() else {
                return true;
            };
            match peer.request_timeout(m, GOSSIPD_LIMIT).await {
                Ok(Message::ClusterHandlers { .. }) => {}
                Ok(Message::ClusterError { message, .. }) => {
                    // gossipd refused it for good (bad input): retrying cannot help.
                    warn!(error = %message, "handler change not replicated")
                }
                Ok(other) => debug!(answer = other.name(), "unexpected answer"),
                Err(e) => {
                    warn!(error = %e, "handler change not replicated yet; kept for the next link");
                    return false;
                }
            }
            lock(&self.outbox).pop_front();
        }
    }

    /// The replicated set from gossipd: apply what changed, remove what went.
    async fn apply_handlers(&self, handlers: Vec<ClusterHandler>, deleted: Vec<(String, String)>) {
        let svc = self.host.service();
        if !self.synced.swap(true, Ordering::SeqCst) {
            let stored: Vec<HandlerKey> = svc
                .stats()
                .handlers
                .into_iter()
                .filter(|h| !h.topic.starts_with(&format!("{TASK_MASTER}:")))
                .map(|h| (h.topic, h.id))
                .collect();
            let live: HashSet<HandlerKey> = handlers
                .iter()
                .map(|h| (h.topic.clone(), h.id.clone()))
                .collect();
            let (gone, unknown) = first_sync_split(stored, &live, &deleted);
            // Deleted elsewhere (while this member was down): removed below as replicated
            // handlers that left the set.
            lock(&self.applied).extend(gone.into_iter().map(|k| (k, String::new())));
            // Never heard of by gossipd: a change made here that did not reach it before
            // apid or gossipd stopped. Replicated now rather than dropped.
            for (topic, id) in unknown {
                if let Some(spec) = svc.handler(&topic, &id) {
                    info!(topic = %topic, handler = %id, "stored handler not replicated yet; sending it");
                    let msgs = self.record_put(&spec);
                    lock(&self.outbox).extend(msgs);
                }
            }
        }
        let handlers = self.without_stale_views(handlers);
        let mut next = HashMap::new();
        let mut stores = Vec::new();
        for h in handlers {
            let spec: HandlerSpec = match serde_json::from_str(&h.spec_json) {
                Ok(s) => s,
                Err(e) => {
                    error!(topic = %h.topic, handler = %h.id, error = %e, "unreadable replicated handler");
                    continue;
                }
            };
            if svc.handler(&h.topic, &h.id).as_ref() != Some(&spec) {
                match svc.set_handler(spec) {
                    Ok(()) => {
                        info!(topic = %h.topic, handler = %h.id, "replicated handler applied");
                        stores.push(Message::AlertHandlerPut {
                            topic: h.topic.clone(),
                            id: h.id.clone(),
                            spec_json: h.spec_json.clone(),
                            previous_id: None,
                        });
                    }
                    Err(e) => {
                        error!(topic = %h.topic, handler = %h.id, error = %e, "replicated handler refused")
                    }
                }
            }
            next.insert((h.topic, h.id), h.spec_json);
        }
        let gone: Vec<(String, String)> = {
            let mut applied = lock(&self.applied);
            let gone = applied
                .keys()
                .filter(|k| !next.contains_key(*k))
                .cloned()
                .collect();
            *applied = next;
            gone
        };
        for (topic, id) in gone {
            if svc.remove_handler(&topic, &id) {
                info!(topic = %topic, handler = %id, "replicated handler deleted");
            }
            stores.push(Message::AlertHandlerDelete { topic, id });
        }
        // Stored locally too, so this member keeps them across a restart without gossipd.
        for m in stores {
            if let Err(e) = self.host.store_message(m).await {
                warn!(error = %e, "cannot store a replicated handler change");
            }
        }
    }

    /// Replaces, in a replicated set, what contradicts a recent change made through this
    /// member's API (the set predates gossipd taking it); see [`prefer_local_changes`].
    fn without_stale_views(&self, handlers: Vec<ClusterHandler>) -> Vec<ClusterHandler> {
        prefer_local_changes(&mut lock(&self.local), handlers)
    }

    fn notices(&self, notices_json: Vec<String>) {
        let ms = now_ms();
        let mut states = Vec::new();
        {
            let mut s = lock(&self.sched);
            for j in notices_json {
                match serde_json::from_str::<Notice>(&j) {
                    Ok(mut n) => {
                        if let Some(st) = n.state.take() {
                            states.push((n.key.topic.clone(), n.key.event_id.clone(), st));
                        }
                        match s.as_mut() {
                            Some(s) => {
                                s.notice(n, ms);
                            }
                            None => {
                                let mut early = lock(&self.early_notices);
                                if early.len() < HOLD_MAX {
                                    early.push(n);
                                }
                            }
                        }
                    }
                    Err(e) => warn!(error = %e, "unreadable completion notice"),
                }
            }
        }
        let svc = self.host.service();
        for (topic, id, st) in states {
            match EventState::from_persisted_json(&st) {
                Ok(state) => {
                    svc.record_state(&topic, &id, state);
                }
                Err(e) => {
                    warn!(topic = %topic, event = %id, error = %e, "unreadable event state in a notice")
                }
            }
        }
    }

    fn forwarded(&self, from: &str, event_json: &str) {
        let ev = match Event::from_ipc_json(event_json) {
            Ok(ev) => ev,
            Err(e) => {
                warn!(from = %from, error = %e, "unreadable forwarded event");
                return;
            }
        };
        // Before this member knows the membership its view of the owners may be its own
        // alone: held like its own events (and then handled as one of them).
        if self.hold(&ev) {
            return;
        }
        let submitted = {
            let mut s = lock(&self.sched);
            match s.as_mut() {
                Some(s) => s.submit(
                    NoticeKey::of(&ev),
                    ev.clone(),
                    Origin::Forwarded,
                    std::time::Instant::now(),
                ),
                None => Submitted::Local,
            }
        };
        match submitted {
            Submitted::Local => self.host.service().publish(ev),
            Submitted::Scheduled { .. } => self.wake.notify_one(),
            _ => {}
        }
    }

    async fn link_loop(&'static self) {
        loop {
            match UnixStream::connect(&self.socket).await {
                Ok(stream) => {
                    match handshake(stream, Hello::new(Role::Apid), PeerOptions::default()).await {
                        Ok((peer, mut inbox)) => {
                            if !self.flush(&peer).await {
                                peer.close();
                                tokio::time::sleep(REDIAL).await;
                                continue;
                            }
                            // Asking for the set once subscribes this link to the pushes.
                            match peer
                                .request_timeout(Message::ClusterHandlersRequest, GOSSIPD_LIMIT)
                                .await
                            {
                                Ok(Message::ClusterHandlers {
                                    handlers, deleted, ..
                                }) => self.apply_handlers(handlers, deleted).await,
                                other => {
                                    debug!(answer = ?other.map(|m| m.name()), "no handler set from gossipd");
                                    peer.close();
                                    tokio::time::sleep(REDIAL).await;
                                    continue;
                                }
                            }
                            *lock(&self.link) = Some(peer.clone());
                            // Changes made while the first flush ran found no link.
                            if !lock(&self.outbox).is_empty() {
                                let p = peer.clone();
                                tokio::spawn(async move { self.flush(&p).await });
                            }
                            while let Some(inc) = inbox.recv().await {
                                if let Message::ClusterAlertClaim { claim_json, .. } = &inc.msg {
                                    let reply = self.answer_claim(claim_json);
                                    if let Err(e) = inc.reply(reply).await {
                                        debug!(error = %e, "claim answer not sent");
                                    }
                                    continue;
                                }
                                match inc.msg {
                                    Message::ClusterHandlers {
                                        handlers, deleted, ..
                                    } => self.apply_handlers(handlers, deleted).await,
                                    Message::ClusterAlertForwarded { from, event_json } => {
                                        self.forwarded(&from, &event_json)
                                    }
                                    Message::ClusterAlertNotices { notices_json } => {
                                        self.notices(notices_json)
                                    }
                                    Message::ClusterAlertSynced { members } => {
                                        lock(&self.synced_with).extend(members)
                                    }
                                    other => debug!(msg = other.name(), "ignored from gossipd"),
                                }
                            }
                            *lock(&self.link) = None;
                        }
                        Err(e) => debug!(error = %e, "gossipd handshake failed"),
                    }
                }
                Err(e) => debug!(error = %e, "gossipd not reachable yet"),
            }
            tokio::time::sleep(REDIAL).await;
        }
    }

    /// The membership is known (or the settle window is over): events held until now go
    /// through dedup, or are delivered here when there is no cluster to dedup over.
    fn settle(&self) {
        let held = {
            let mut held = lock(&self.held);
            if self.settled.swap(true, Ordering::AcqRel) {
                return;
            }
            std::mem::take(&mut *held)
        };
        if !held.is_empty() {
            info!(
                events = held.len(),
                "membership known: delivering the events held at start"
            );
        }
        for ev in held {
            if !self.intercept(&ev) {
                self.host.service().publish(ev);
            }
        }
    }

    /// Every named-topic event state this member holds, as completion notices carrying the
    /// state: sent to a member that became alive (joined, restarted, back from a partition),
    /// so its topics converge also on states older than the notices gossipd keeps.
    fn state_snapshot(&self) -> Vec<String> {
        let me = lock(&self.sched)
            .as_ref()
            .map(|s| s.me().to_string())
            .unwrap_or_default();
        let svc = self.host.service();
        let ms = now_ms();
        let mut out = Vec::new();
        let anonymous = format!("{TASK_MASTER}:");
        for t in svc.topics("*", Level::Ok).unwrap_or_default() {
            if t.id.starts_with(&anonymous) {
                continue;
            }
            for (id, st) in svc.events(&t.id, Level::Ok).unwrap_or_default() {
                let n = Notice {
                    key: NoticeKey {
                        topic: t.id.clone(),
                        event_id: id,
                        level: st.level,
                        time: st.time,
                    },
                    by: me.clone(),
                    at_ms: ms,
                    state: Some(st.to_persisted_json()),
                };
                out.extend(serde_json::to_string(&n).ok());
            }
        }
        out
    }

    async fn send_snapshot(&self, to: Vec<String>) {
        let notices = self.state_snapshot();
        let Some(peer) = self.peer() else { return };
        info!(members = ?to, states = notices.len(), "sending topic states to members that became alive");
        for chunk in notices.chunks(SNAPSHOT_CHUNK) {
            let msg = Message::ClusterAlertDone {
                peers: to.clone(),
                notices_json: chunk.to_vec(),
            };
            if let Err(e) = peer.send(msg).await {
                warn!(error = %e, "cannot send topic states");
                return;
            }
        }
    }

    async fn members_loop(&'static self) {
        // The alive members of the previous view; `None` before the first.
        let mut seen: Option<HashSet<String>> = None;
        loop {
            tokio::time::sleep(MEMBERS_EVERY).await;
            if self.started.elapsed() >= SETTLE_LIMIT {
                self.settle();
            }
            let Some(peer) = self.peer() else { continue };
            let Ok(Message::ClusterMembers(view)) = peer
                .request_timeout(Message::ClusterMembersRequest, GOSSIPD_LIMIT)
                .await
            else {
                continue;
            };
            // Settled once every persisted peer has been heard from (else the owners computed
            // now could differ from everyone else's) and gossipd has exchanged the recent
            // notices with every alive member (else this member does not know what the
            // others delivered while it was away).
            let known = view.members.iter().all(|m| m.status != "unknown") && {
                let synced = lock(&self.synced_with);
                view.members.iter().all(|m| {
                    m.status != "alive" || m.id == view.local_member_id || synced.contains(&m.id)
                })
            };
            let alive: Vec<String> = view
                .members
                .iter()
                .filter(|m| m.status == "alive")
                .map(|m| m.id.clone())
                .collect();
            let now_alive: HashSet<String> = alive.iter().cloned().collect();
            if let Some(before) = &seen {
                let new: Vec<String> = now_alive
                    .iter()
                    .filter(|m| !before.contains(*m) && **m != view.local_member_id)
                    .cloned()
                    .collect();
                if !new.is_empty() && self.redundancy > 0 {
                    tokio::spawn(async move { self.send_snapshot(new).await });
                }
            }
            seen = Some(now_alive);
            let mut s = lock(&self.sched);
            let sched = s.get_or_insert_with(|| {
                let mut sched =
                    DedupScheduler::new(view.local_member_id.clone(), self.redundancy, self.delay);
                let ms = now_ms();
                for n in std::mem::take(&mut *lock(&self.early_notices)) {
                    sched.notice(n, ms);
                }
                sched
            });
            sched.set_members(alive);
            sched.expire(now_ms());
            drop(s);
            if known {
                self.settle();
            }
            self.wake.notify_one();
        }
    }

    async fn deliver_loop(&'static self) {
        loop {
            let next = lock(&self.sched).as_ref().and_then(|s| s.next_deadline());
            let sleep = match next {
                Some(at) => at.saturating_duration_since(std::time::Instant::now()),
                None => Duration::from_secs(3600),
            };
            tokio::select! {
                _ = tokio::time::sleep(sleep) => {}
                _ = self.wake.notified() => {}
            }
            let mut direct = Vec::new();
            let mut claims: HashMap<Vec<String>, Vec<Due<Event>>> = HashMap::new();
            {
                let mut s = lock(&self.sched);
                let Some(s) = s.as_mut() else { continue };
                for d in s.due(std::time::Instant::now()) {
                    if d.ask.is_empty() {
                        direct.push(d);
                    } else {
                        claims.entry(d.ask.clone()).or_default().push(d);
                    }
                }
            }
            // Claims wait for answers from other members: off this loop, so the primary's
            // own deliveries are not held up behind them.
            for (owners, dues) in claims {
                tokio::spawn(async move { self.claim(owners, dues).await });
            }
            let events = direct.into_iter().map(|d| (d.key, d.item)).collect();
            self.deliver(events).await;
        }
    }

    /// Publishes events this member is to deliver and sends their completion notices.
    async fn deliver(&self, events: Vec<(NoticeKey, Event)>) {
        if events.is_empty() {
            return;
        }
        let ms = now_ms();
        let mut done: HashMap<Vec<String>, Vec<String>> = HashMap::new();
        {
            let mut s = lock(&self.sched);
            if let Some(s) = s.as_mut() {
                // Every other member gets the notice, not only the other owners: it carries
                // the event's state, so any member's topics answer for the cluster (and a
                // member that becomes an owner later already knows the event is done).
                let others: Vec<String> = s
                    .members()
                    .iter()
                    .filter(|m| *m != s.me())
                    .cloned()
                    .collect();
                for (key, ev) in &events {
                    let mut notice = s.completed(key.clone(), ms);
                    if others.is_empty() {
                        continue;
                    }
                    notice.state = Some(ev.state().to_persisted_json());
                    let j = serde_json::to_string(&notice).unwrap_or_default();
                    // No peers named: gossipd sends to every member alive in its own view,
                    // which is fresher than this one.
                    done.entry(Vec::new()).or_default().push(j);
                }
            }
        }
        for (_, ev) in events {
            self.host.service().publish(ev);
        }
        if let Some(peer) = self.peer() {
            for (peers, notices_json) in done {
                let msg = Message::ClusterAlertDone {
                    peers,
                    notices_json,
                };
                if let Err(e) = peer.send(msg).await {
                    warn!(error = %e, "cannot send completion notices");
                }
            }
        }
    }

    /// Claims events from `owners` (their [`Due::ask`]: the earlier owners when this member's
    /// wait ran out, the later ones when it verifies as a primary), then delivers those no
    /// other owner has (see `kapacitor_alert::cluster::scheduler`). Without an answer (no
    /// gossipd, an owner down) the events are delivered: fail open.
    async fn claim(&'static self, owners: Vec<String>, dues: Vec<Due<Event>>) {
        let me = lock(&self.sched)
            .as_ref()
            .map(|s| s.me().to_string())
            .unwrap_or_default();
        let keys: Vec<&NoticeKey> = dues.iter().map(|d| &d.key).collect();
        let claim_json = serde_json::json!({ "by": me, "keys": keys }).to_string();
        let mut answers: HashMap<String, Vec<ClaimAnswer>> = HashMap::new();
        if let Some(peer) = self.peer() {
            let msg = Message::ClusterAlertClaim {
                owners: owners.clone(),
                claim_json,
            };
            match peer.request_timeout(msg, GOSSIPD_LIMIT).await {
                Ok(Message::ClusterAlertClaimed { answers: got }) => {
                    for a in got {
                        let Some(j) = a.answers_json else { continue };
                        match serde_json::from_str::<Vec<ClaimAnswer>>(&j) {
                            Ok(v) if v.len() == dues.len() => {
                                answers.insert(a.member, v);
                            }
                            Ok(_) => {
                                warn!(member = %a.member, "claim answers do not match the keys")
                            }
                            Err(e) => {
                                warn!(member = %a.member, error = %e, "unreadable claim answers")
                            }
                        }
                    }
                }
                Ok(other) => debug!(answer = other.name(), "unexpected claim answer"),
                Err(e) => warn!(error = %e, "claim not answered by gossipd; delivering"),
            }
        }
        let now = std::time::Instant::now();
        let deliver: Vec<(NoticeKey, Event)> = {
            let mut s = lock(&self.sched);
            let Some(s) = s.as_mut() else { return };
            dues.into_iter()
                .enumerate()
                .filter_map(|(i, d)| {
                    let per_owner: Vec<Option<ClaimAnswer>> = owners
                        .iter()
                        .map(|o| answers.get(o).map(|v| v[i]))
                        .collect();
                    let key = d.key.clone();
                    s.resolve(d, &per_owner, now).map(|ev| (key, ev))
                })
                .collect()
        };
        // Events that wait another turn are back in the queue.
        self.wake.notify_one();
        self.deliver(deliver).await;
    }

    /// Another owner claims events from this member (answered through gossipd).
    fn answer_claim(&self, claim_json: &str) -> Message {
        #[derive(serde::Deserialize)]
        struct Claim {
            by: String,
            keys: Vec<NoticeKey>,
        }
        // Events held while this member settles are its own to deliver (or claim) once it
        // knows the membership: to a claimant they count as held here.
        let held: HashSet<NoticeKey> = if self.settled.load(Ordering::Acquire) {
            HashSet::new()
        } else {
            lock(&self.held).iter().map(NoticeKey::of).collect()
        };
        let mut s = lock(&self.sched);
        let (me, answers_json) = match (serde_json::from_str::<Claim>(claim_json), s.as_mut()) {
            (Ok(c), Some(s)) => {
                let ms = now_ms();
                let answers: Vec<ClaimAnswer> = c
                    .keys
                    .iter()
                    .map(|k| {
                        // A held event is yielded to an earlier owner like a pending one
                        // (the grant is in the log when the held copy is submitted).
                        if held.contains(k) && !s.precedes_me(&k.topic, &c.by) {
                            ClaimAnswer::Mine
                        } else {
                            s.answer_claim(k, &c.by, ms)
                        }
                    })
                    .collect();
                (s.me().to_string(), serde_json::to_string(&answers).ok())
            }
            (Err(e), _) => {
                warn!(error = %e, "unreadable claim");
                (String::new(), None)
            }
            // Membership not known yet: nothing to record a grant in. Held events are still
            // this member's; about anything else it cannot answer (the claimant fails open).
            (Ok(c), None) => {
                let all_held = c.keys.iter().all(|k| held.contains(k));
                let answers = vec![ClaimAnswer::Mine; c.keys.len()];
                let json = all_held
                    .then(|| serde_json::to_string(&answers).ok())
                    .flatten();
                (String::new(), json)
            }
        };
        Message::ClusterAlertClaimed {
            answers: vec![kapacitor_ipc::ClaimAnswers {
                member: me,
                answers_json,
            }],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(topic: &str, id: &str, spec: &str) -> ClusterHandler {
        ClusterHandler {
            topic: topic.into(),
            id: id.into(),
            spec_json: spec.into(),
        }
    }

    fn key(id: &str) -> HandlerKey {
        ("cpu".to_string(), id.to_string())
    }

    #[test]
    fn a_set_that_predates_a_local_put_or_delete_does_not_undo_it() {
        let now = std::time::Instant::now();
        let mut local = HashMap::from([
            (key("new"), (Some("N".to_string()), now)),
            (key("changed"), (Some("C2".to_string()), now)),
            (key("gone"), (None, now)),
        ]);
        let set = vec![
            h("cpu", "changed", "C1"),
            h("cpu", "gone", "G"),
            h("cpu", "other", "O"),
        ];
        let mut out: Vec<_> = prefer_local_changes(&mut local, set)
            .into_iter()
            .map(|h| (h.id, h.spec_json))
            .collect();
        out.sort();
        assert_eq!(
            out,
            vec![
                ("changed".to_string(), "C2".to_string()),
                ("new".to_string(), "N".to_string()),
                ("other".to_string(), "O".to_string()),
            ]
        );
        // Nothing was reflected yet: every local change stays in force.
        assert_eq!(local.len(), 3);
    }

    #[test]
    fn first_sync_removes_only_cluster_deletions_and_resends_unknown_handlers() {
        let live = HashSet::from([key("both")]);
        let deleted = vec![key("deleted")];
        let (gone, unknown) = first_sync_split(
            vec![key("both"), key("deleted"), key("mine")],
            &live,
            &deleted,
        );
        assert_eq!(gone, vec![key("deleted")]);
        assert_eq!(
            unknown,
            vec![key("mine")],
            "a handler gossipd never saw is kept"
        );
    }

    #[test]
    fn local_changes_are_forgotten_once_reflected_or_expired() {
        let now = std::time::Instant::now();
        let old = now - LOCAL_CHANGE_GRACE - Duration::from_secs(1);
        let mut local = HashMap::from([
            (key("put"), (Some("P".to_string()), now)),
            (key("del"), (None, now)),
            (key("stale"), (Some("S".to_string()), old)),
        ]);
        let out = prefer_local_changes(&mut local, vec![h("cpu", "put", "P")]);
        assert_eq!(
            out.len(),
            1,
            "the expired local put is not re-added: {out:?}"
        );
        assert!(
            local.is_empty(),
            "reflected put and delete, expired stale: {local:?}"
        );
    }
}
