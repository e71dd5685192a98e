//! Cluster alerting in gossipd: the replicated handler set ([`HandlerSet`]), the recent
//! completion notices, event forwarding, and their way to apid.
//!
//! Everything between members goes over RPC peer services (TCP, the same envelope and
//! encryption as membership RPC), not over UDP gossip: a "done" notice or a handler change
//! must reach the owners even when a best-effort gossip round would miss them (Alertmanager
//! #1387). A change is pushed at once to every alive member; anti-entropy (a full exchange
//! of handlers and recent notices with one random member every `[alert] full-sync-interval`,
//! and at once with any member that became alive, after a join, a restart or a healed
//! partition) repairs what a push missed.
//!
//! Notices are opaque JSON here (apid's `kapacitor_alert::cluster::Notice`): gossipd only
//! stores, forwards and exchanges them, so it stays free of alert code.
//!
//! Peer services: `alert.handlers` (entries pushed), `alert.sync` (full exchange),
//! `alert.forward` (an event for an owner), `alert.notices` (completion notices),
//! `alert.claim` (a later owner claims events; relayed to this member's apid, which holds the
//! dedup state, and its answer returned).

use crate::handlers::{Entry, HandlerSet};
use crate::member::Status;
use crate::node::Handle;
use crate::ops::OpError;
use crate::rpc::{self, PeerFn, Request, Response};
use kapacitor_ipc::{ClaimAnswers, Message, Peer};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{broadcast, mpsc};
use tracing::{debug, error, info, warn};
use uuid::Uuid;

/// Limit of one push to a peer.
const PUSH_TIMEOUT: Duration = Duration::from_secs(2);
/// How often membership is checked for members that became alive.
const WATCH_EVERY: Duration = Duration::from_millis(500);
/// Notices older than this are not exchanged any more (the longest delay chain is far
/// shorter; apid's own log has the same retention).
const NOTICE_RETENTION_MS: u64 = 15 * 60 * 1000;
const NOTICE_CAPACITY: usize = 100_000;

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Recent completion notices (opaque JSON), bounded, oldest dropped first.
#[derive(Debug, Default)]
struct Notices {
    seen: HashSet<String>,
    order: VecDeque<(u64, String)>,
}

impl Notices {
    /// Returns the notices that were new.
    fn merge(&mut self, notices: Vec<String>, now_ms: u64) -> Vec<String> {
        self.expire(now_ms);
        let mut fresh = Vec::new();
        for n in notices {
            if self.seen.insert(n.clone()) {
                self.order.push_back((now_ms, n.clone()));
                fresh.push(n);
            }
        }
        while self.order.len() > NOTICE_CAPACITY {
            if let Some((_, n)) = self.order.pop_front() {
                self.seen.remove(&n);
            }
        }
        fresh
    }

    fn expire(&mut self, now_ms: u64) {
        while let Some((at, _)) = self.order.front() {
            if at.saturating_add(NOTICE_RETENTION_MS) > now_ms {
                break;
            }
            if let Some((_, n)) = self.order.pop_front() {
                self.seen.remove(&n);
            }
        }
    }

    fn all(&self) -> Vec<String> {
        self.order.iter().map(|(_, n)| n.clone()).collect()
    }
}

/// The body of an `alert.sync` exchange, both ways.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SyncBody {
    pub handlers: Vec<Entry>,
    pub notices: Vec<String>,
}

struct State {
    handlers: HandlerSet,
    notices: Notices,
    /// The last write of `alert_handlers.json` failed; retried every `WATCH_EVERY`.
    unsaved: bool,
}

pub struct Replication {
    state: Mutex<State>,
    data_dir: PathBuf,
    me: String,
    /// Messages for every connected apid.
    to_apid: broadcast::Sender<Message>,
    /// Events other members forwarded here, one queue per apid link. Not on the broadcast:
    /// a lagging broadcast receiver loses the oldest messages, fine for handler sets (each
    /// carries the whole set) and notices (a lost one costs a duplicate), but a lost forward
    /// is a lost alert.
    forwards: Mutex<Vec<mpsc::Sender<Message>>>,
    /// Events apid asked to forward, by owner list, not yet sent: one RPC call carries all
    /// that piled up while the previous one was in flight (one call per event overwhelmed
    /// the owners under a burst, and a failed call is a lost alert).
    outgoing: Mutex<HashMap<Vec<String>, Vec<String>>>,
    sending: std::sync::atomic::AtomicBool,
    /// apid's long-lived link, to relay claims from other members to it.
    apid: Mutex<Option<Peer>>,
    /// Members a full exchange (`alert.sync`, either way) completed with since this gossipd
    /// started: apid holds events at its start until every alive member is among them.
    synced: Mutex<HashSet<String>>,
}

/// How long an owner's gossipd waits for its apid to answer a claim. An apid that is alive
/// but slower than this (a burst queued ahead of the claim) answers `mine` for every key:
/// it may well hold the events, so the claimant waits another turn rather than duplicate.
const CLAIM_RELAY_TIMEOUT: Duration = Duration::from_secs(1);
/// How long a claimant waits for an earlier owner's gossipd. An owner that is down refuses
/// the connection at once (the claimant delivers); one that does not answer in time (a
/// partition, an overload) counts as `mine`, so the claimant waits another turn, at most
/// `MAX_REPARKS` times, before it delivers anyway (or the membership drops the owner).
const CLAIM_TIMEOUT: Duration = Duration::from_secs(3);

/// A claim's answers when the owner is alive but did not say: `mine` for every key.
fn all_mine(claim_json: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(claim_json).ok()?;
    let n = v.get("keys")?.as_array()?.len();
    serde_json::to_string(&vec!["mine"; n]).ok()
}

/// Events per forward call at most.
const FORWARD_BATCH: usize = 1000;

/// Forwarded events queued for one apid link before new ones are refused (and logged).
const FORWARD_QUEUE: usize = 65_536;

impl Replication {
    pub fn load(data_dir: PathBuf, me: Uuid) -> Result<Arc<Replication>, String> {
        let handlers = HandlerSet::load(&data_dir).map_err(|e| e.to_string())?;
        let (to_apid, _) = broadcast::channel(4096);
        Ok(Arc::new(Replication {
            state: Mutex::new(State {
                handlers,
                notices: Notices::default(),
                unsaved: false,
            }),
            data_dir,
            me: me.to_string(),
            to_apid,
            forwards: Mutex::new(Vec::new()),
            outgoing: Mutex::new(HashMap::new()),
            sending: std::sync::atomic::AtomicBool::new(false),
            apid: Mutex::new(None),
            synced: Mutex::new(HashSet::new()),
        }))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data; keep serving it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Messages gossipd sends apid without being asked.
    pub fn subscribe(&self) -> broadcast::Receiver<Message> {
        self.to_apid.subscribe()
    }

    /// Events forwarded to this member, for one apid link.
    pub fn subscribe_forwards(&self) -> mpsc::Receiver<Message> {
        let (tx, rx) = mpsc::channel(FORWARD_QUEUE);
        self.forwards
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(tx);
        rx
    }

    /// Hands a forwarded event to every apid link (normally one).
    pub(crate) fn forwarded(&self, msg: Message) {
        let mut subs = self.forwards.lock().unwrap_or_else(|e| e.into_inner());
        subs.retain(|tx| !tx.is_closed());
        if subs.is_empty() {
            warn!("forwarded alert event dropped: apid is not connected");
        }
        for tx in subs.iter() {
            if let Err(mpsc::error::TrySendError::Full(_)) = tx.try_send(msg.clone()) {
                error!(
                    queue = FORWARD_QUEUE,
                    "forwarded alert event dropped: apid is not keeping up"
                );
            }
        }
    }

    /// Every completion notice kept here: what a newly linked apid missed while it was not
    /// connected (it starts, or restarts, after gossipd took them).
    pub fn notices_message(&self) -> Message {
        Message::ClusterAlertNotices {
            notices_json: self.lock().notices.all(),
        }
    }

    /// The members a full exchange completed with, as apid receives them.
    pub fn synced_message(&self) -> Message {
        let synced = self.synced.lock().unwrap_or_else(|e| e.into_inner());
        Message::ClusterAlertSynced {
            members: synced.iter().cloned().collect(),
        }
    }

    fn mark_synced(&self, member: Uuid) {
        let new = self
            .synced
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(member.to_string());
        if new {
            let _ = self.to_apid.send(self.synced_message());
        }
    }

    /// apid's long-lived link is up (`None`: it went).
    pub fn set_apid_link(&self, peer: Option<Peer>) {
        *self.apid.lock().unwrap_or_else(|e| e.into_inner()) = peer;
    }

    /// apid claims events from earlier owners: ask them all at once; an owner that is not
    /// alive or does not answer in time gets `None`.
    pub async fn claim(&self, handle: &Handle, owners: &[String], claim_json: String) -> Message {
        let view = handle.view().await.ok();
        let asks = owners.iter().map(|o| {
            let addr = view.as_ref().and_then(|v| {
                v.members
                    .iter()
                    .find(|m| m.id.to_string() == *o && m.status == Status::Alive)
                    .map(|m| m.rpc_address.clone())
            });
            let req = Request::Peer {
                service: "alert.claim".into(),
                body: encode(&claim_json),
            };
            let claim_json = &claim_json;
            async move {
                let answers_json = match addr {
                    None => None,
                    Some(addr) => match rpc::call(&addr, handle, &req, CLAIM_TIMEOUT).await {
                        Ok(Response::Peer(body)) => decode::<String>(&body).ok(),
                        Ok(other) => {
                            debug!(peer = %o, answer = ?other, "claim refused");
                            None
                        }
                        Err(e @ rpc::RpcError::Timeout { .. }) => {
                            debug!(peer = %o, error = %e, "claim not answered in time; waiting");
                            all_mine(claim_json)
                        }
                        Err(e) => {
                            debug!(peer = %o, error = %e, "claim not answered");
                            None
                        }
                    },
                };
                ClaimAnswers {
                    member: o.clone(),
                    answers_json,
                }
            }
        });
        Message::ClusterAlertClaimed {
            answers: futures::future::join_all(asks).await,
        }
    }

    /// Another member's claim: this member's apid answers it.
    async fn answer_claim(&self, claim_json: String) -> Result<Vec<u8>, String> {
        let peer = self
            .apid
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .filter(|p| !p.is_closed())
            .ok_or("apid is not connected")?;
        let msg = Message::ClusterAlertClaim {
            owners: Vec::new(),
            claim_json: claim_json.clone(),
        };
        match peer.request_timeout(msg, CLAIM_RELAY_TIMEOUT).await {
            Ok(Message::ClusterAlertClaimed { answers }) => answers
                .into_iter()
                .next()
                .and_then(|a| a.answers_json)
                .map(|j| encode(&j))
                .ok_or_else(|| "apid gave no answer".to_string()),
            Ok(other) => Err(format!("unexpected answer {} from apid", other.name())),
            Err(kapacitor_ipc::IpcError::Timeout(_)) => all_mine(&claim_json)
                .map(|j| encode(&j))
                .ok_or_else(|| "unreadable claim".to_string()),
            Err(e) => Err(format!("apid: {e}")),
        }
    }

    /// The live handler set as apid receives it.
    pub fn handlers_message(&self) -> Message {
        let st = self.lock();
        Message::ClusterHandlers {
            revision: st.handlers.revision(),
            handlers: st.handlers.live(),
            deleted: st.handlers.deleted(),
        }
    }

    fn persist(&self, st: &mut State) {
        match st.handlers.save(&self.data_dir) {
            Ok(()) if st.unsaved => {
                st.unsaved = false;
                info!("replicated alert handlers saved after an earlier failure");
            }
            Ok(()) => {}
            Err(e) => {
                if !st.unsaved {
                    warn!(error = %e, "cannot save the replicated alert handlers; retrying");
                }
                st.unsaved = true;
            }
        }
    }

    /// Writes the handler set again if its last write failed (a full disk that got space).
    fn retry_persist(&self) {
        let mut st = self.lock();
        if st.unsaved {
            self.persist(&mut st);
        }
    }

    fn announce_handlers(&self) {
        let _ = self.to_apid.send(self.handlers_message());
    }

    /// Merges entries from a peer; persists and tells apid when something changed.
    pub fn merge_handlers(&self, entries: Vec<Entry>) -> bool {
        let changed = {
            let mut st = self.lock();
            let changed = st.handlers.merge(entries);
            if changed {
                st.handlers.expire_tombstones(now_ms());
                self.persist(&mut st);
            }
            changed
        };
        if changed {
            self.announce_handlers();
        }
        changed
    }

    /// Records notices; the new ones go to apid.
    pub fn merge_notices(&self, notices: Vec<String>) -> Vec<String> {
        let fresh = self.lock().notices.merge(notices, now_ms());
        if !fresh.is_empty() {
            let _ = self.to_apid.send(Message::ClusterAlertNotices {
                notices_json: fresh.clone(),
            });
        }
        fresh
    }

    pub fn sync_body(&self) -> SyncBody {
        let st = self.lock();
        SyncBody {
            handlers: st.handlers.entries(),
            notices: st.notices.all(),
        }
    }

    /// A full exchange received from a peer.
    pub fn merge_sync(&self, body: SyncBody) {
        self.merge_handlers(body.handlers);
        self.merge_notices(body.notices);
    }

    /// apid defines or replaces a handler here.
    pub async fn put(
        &self,
        handle: &Handle,
        topic: &str,
        id: &str,
        spec_json: &str,
    ) -> Result<Message, OpError> {
        if serde_json::from_str::<serde_json::Value>(spec_json)
            .map(|v| !v.is_object())
            .unwrap_or(true)
        {
            return Err(OpError {
                status: 400,
                message: "handler spec must be a JSON object".into(),
            });
        }
        let entry = {
            let mut st = self.lock();
            let e = st.handlers.put(topic, id, spec_json, &self.me, now_ms());
            self.persist(&mut st);
            e
        };
        self.announce_handlers();
        self.push_entry(handle, entry);
        Ok(self.handlers_message())
    }

    /// apid deletes a handler here.
    pub async fn delete(&self, handle: &Handle, topic: &str, id: &str) -> Result<Message, OpError> {
        let entry = {
            let mut st = self.lock();
            let e = st.handlers.delete(topic, id, &self.me, now_ms());
            if e.is_some() {
                self.persist(&mut st);
            }
            e
        };
        let Some(entry) = entry else {
            return Err(OpError {
                status: 404,
                message: format!("handler {id:?} of topic {topic:?} does not exist"),
            });
        };
        self.announce_handlers();
        self.push_entry(handle, entry);
        Ok(self.handlers_message())
    }

    /// Sends a local change to every alive member in the background: apid's answer (and so
    /// the API's) waits only for the change being persisted here, not for the slowest peer;
    /// a push that fails is repaired by anti-entropy.
    fn push_entry(&self, handle: &Handle, entry: Entry) {
        let handle = handle.clone();
        tokio::spawn(async move {
            push(&handle, "alert.handlers", encode(&vec![entry]), None).await;
        });
    }

    /// apid delivered events: keep the notices and send them straight to the other owners.
    /// apid delivered events: keep the notices and send them straight to `peers`, or to
    /// every member alive now when `peers` is empty. gossipd's view is the freshest: a member
    /// that becomes alive after this gets the notices in the full exchange that follows.
    pub async fn done(&self, handle: &Handle, peers: &[String], notices: Vec<String>) {
        self.lock().notices.merge(notices.clone(), now_ms());
        let to = (!peers.is_empty()).then_some(peers);
        push(handle, "alert.notices", encode(&notices), to).await;
    }

    /// apid does not own an event's topic: send it to the owners.
    pub async fn forward(&self, handle: &Handle, owners: &[String], event_json: String) {
        use std::sync::atomic::Ordering;
        self.outgoing
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(owners.to_vec())
            .or_default()
            .push(event_json);
        // One sender at a time; whoever finds it idle drains everything, including what
        // arrives meanwhile.
        while !self.sending.swap(true, Ordering::AcqRel) {
            loop {
                let batch: Vec<(Vec<String>, Vec<String>)> = {
                    let mut out = self.outgoing.lock().unwrap_or_else(|e| e.into_inner());
                    out.drain().collect()
                };
                if batch.is_empty() {
                    break;
                }
                let sends = batch.into_iter().flat_map(|(owners, events)| {
                    events
                        .chunks(FORWARD_BATCH)
                        .map(|c| (owners.clone(), c.to_vec()))
                        .collect::<Vec<_>>()
                });
                let sends = sends.map(|(owners, events)| async move {
                    push(
                        handle,
                        "alert.forward_batch",
                        encode(&events),
                        Some(&owners),
                    )
                    .await
                });
                futures::future::join_all(sends).await;
            }
            self.sending.store(false, Ordering::Release);
            // Something queued after the last drain but before the flag was cleared.
            if self
                .outgoing
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .is_empty()
            {
                break;
            }
        }
    }

    /// The peer services this module serves.
    pub fn services(self: &Arc<Self>) -> Vec<(String, PeerFn)> {
        let handlers = self.clone();
        let sync = self.clone();
        let forward = self.clone();
        let forward_batch = self.clone();
        let notices = self.clone();
        let claims = self.clone();
        let claim: PeerFn = Arc::new(move |_, body| {
            let claims = claims.clone();
            Box::pin(async move {
                let claim_json: String = decode(&body)?;
                claims.answer_claim(claim_json).await
            })
        });
        vec![
            ("alert.claim".to_string(), claim),
            service("alert.handlers", move |_, body| {
                let entries: Vec<Entry> = decode(&body)?;
                handlers.merge_handlers(entries);
                Ok(Vec::new())
            }),
            service("alert.sync", move |from, body| {
                let theirs: SyncBody = decode(&body)?;
                let ours = sync.sync_body();
                sync.merge_sync(theirs);
                sync.mark_synced(from);
                Ok(encode(&ours))
            }),
            service("alert.forward", move |from, body| {
                let event_json: String = decode(&body)?;
                forward.forwarded(Message::ClusterAlertForwarded {
                    from: from.to_string(),
                    event_json,
                });
                Ok(Vec::new())
            }),
            service("alert.forward_batch", move |from, body| {
                let events: Vec<String> = decode(&body)?;
                for event_json in events {
                    forward_batch.forwarded(Message::ClusterAlertForwarded {
                        from: from.to_string(),
                        event_json,
                    });
                }
                Ok(Vec::new())
            }),
            service("alert.notices", move |_, body| {
                let n: Vec<String> = decode(&body)?;
                notices.merge_notices(n);
                Ok(Vec::new())
            }),
        ]
    }

    /// Anti-entropy: a full exchange with one random alive member every `interval`, and at
    /// once with every member that became alive since the last look.
    pub async fn run_sync(self: Arc<Self>, handle: Handle, interval: Duration) {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut watch = tokio::time::interval(WATCH_EVERY);
        let mut alive_before: HashSet<Uuid> = HashSet::new();
        loop {
            let full = tokio::select! {
                _ = tick.tick() => true,
                _ = watch.tick() => false,
            };
            self.retry_persist();
            let Ok(view) = handle.view().await else {
                return;
            };
            let alive: HashMap<Uuid, String> = view
                .members
                .iter()
                .filter(|m| m.status == Status::Alive && m.id != view.local_id)
                .map(|m| (m.id, m.rpc_address.clone()))
                .collect();
            let mut targets: Vec<(Uuid, String)> = alive
                .iter()
                .filter(|(id, _)| !alive_before.contains(id))
                .map(|(id, a)| (*id, a.clone()))
                .collect();
            if full && targets.is_empty() {
                let all: Vec<(&Uuid, &String)> = alive.iter().collect();
                if !all.is_empty() {
                    let (id, a) = all[rand::random_range(0..all.len())];
                    targets.push((*id, a.clone()));
                }
            }
            alive_before = alive.keys().copied().collect();
            for (id, addr) in targets {
                let me = self.clone();
                let handle = handle.clone();
                tokio::spawn(async move { me.sync_with(&handle, id, &addr).await });
            }
        }
    }

    async fn sync_with(&self, handle: &Handle, id: Uuid, addr: &str) {
        let req = Request::Peer {
            service: "alert.sync".into(),
            body: encode(&self.sync_body()),
        };
        match rpc::call(addr, handle, &req, PUSH_TIMEOUT).await {
            Ok(Response::Peer(body)) => match decode::<SyncBody>(&body) {
                Ok(theirs) => {
                    self.merge_sync(theirs);
                    self.mark_synced(id);
                }
                Err(e) => warn!(peer = %addr, error = %e, "bad alert sync answer"),
            },
            Ok(other) => debug!(peer = %addr, answer = ?other, "alert sync refused"),
            Err(e) => debug!(peer = %addr, error = %e, "alert sync failed"),
        }
    }
}

fn service(
    name: &str,
    f: impl Fn(Uuid, Vec<u8>) -> Result<Vec<u8>, String> + Send + Sync + 'static,
) -> (String, PeerFn) {
    let f = Arc::new(f);
    let pf: PeerFn = Arc::new(move |from, body| {
        let f = f.clone();
        Box::pin(async move { f(from, body) })
    });
    (name.to_string(), pf)
}

fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    postcard::to_allocvec(v).unwrap_or_default()
}

fn decode<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, String> {
    postcard::from_bytes(body).map_err(|e| format!("undecodable alert message: {e}"))
}

/// Sends one peer-service call to `to` (member ids), or to every alive member when `None`,
/// concurrently; failures are logged (anti-entropy repairs them).
async fn push(handle: &Handle, service: &str, body: Vec<u8>, to: Option<&[String]>) {
    let Ok(view) = handle.view().await else {
        return;
    };
    let targets: Vec<(Uuid, String)> = view
        .members
        .iter()
        .filter(|m| m.id != view.local_id)
        .filter(|m| match to {
            Some(ids) => ids.iter().any(|i| *i == m.id.to_string()),
            None => m.status == Status::Alive,
        })
        .map(|m| (m.id, m.rpc_address.clone()))
        .collect();
    let calls = targets.into_iter().map(|(id, addr)| {
        let req = Request::Peer {
            service: service.to_string(),
            body: body.clone(),
        };
        async move {
            match rpc::call(&addr, handle, &req, PUSH_TIMEOUT).await {
                Ok(Response::Peer(_)) => {}
                Ok(other) => info!(peer = %id, service, answer = ?other, "peer refused"),
                // A forward that does not arrive is an alert that is not delivered.
                Err(e) if service.starts_with("alert.forward") => {
                    warn!(peer = %id, error = %e, "forwarded alert event not delivered to the owner")
                }
                Err(e) => debug!(peer = %id, service, error = %e, "push failed"),
            }
        }
    });
    futures::future::join_all(calls).await;
}

#[cfg(test)]
mod all_mine_tests {
    use super::all_mine;

    #[test]
    fn an_owner_that_did_not_say_answers_mine_for_every_key() {
        assert_eq!(
            all_mine(r#"{"by":"m1","keys":[{"topic":"cpu"},{"topic":"cpu"}]}"#).as_deref(),
            Some(r#"["mine","mine"]"#)
        );
        assert_eq!(all_mine("not json"), None);
    }
}
