//! InfluxDB subscriptions, hosted in apid because apid receives `/write`, where InfluxDB's
//! subscription posts arrive (and routes the points of `subscription-protocol = "udp"`
//! listeners the same way).
//!
//! * One sync loop per enabled `[[influxdb]]` cluster (without `disable-subscriptions`): it
//!   waits for InfluxDB (`startup-timeout`, with backoff) on its own task, so a down InfluxDB
//!   delays nothing else, then syncs every `subscriptions-sync-interval`, whenever this
//!   member's identity or peers change, and on `POST /kapacitor/v1/subscriptions` (204, or
//!   500 with the error).
//! * Who this member is ([`Member`]) is polled every [`MEMBER_POLL`]: `cluster.id` and
//!   `server.id` are read from `data_dir` each time (gossipd rewrites `cluster.id` when the
//!   member joins or is removed), and gossipd's membership gives the peers.
//!
//! # Which old subscriptions are ours to drop
//!
//! On top of the crate's ownership rule (a `kapacitor-*` subscription whose only destination
//! is this member's own address is a leftover of this member under an earlier ID), this
//! module keeps `data_dir/subscription-ids.json`, a small versioned history of this member's
//! IDs, and passes as stale:
//!
//! * every earlier `server.id` of this member (`subscription-mode = "server"` names the
//!   subscription after it, and nobody else uses that name);
//! * earlier `cluster.id`s of clusters this member was **alone** in (its own one-member
//!   cluster before it joined another one). A cluster this member shared with others is
//!   left alone when the member is removed from it: the remaining members still use that
//!   subscription, and they take the removed member's address out of it at their next sync.
//!
//! In `"cluster"` mode with several members, the one subscription lists every live member
//! (InfluxDB's `ANY` mode sends each write to one of them). Peers' destinations are built
//! from the API addresses gossipd advertises, so this member's own destination is built the
//! same way when `kapacitor-hostname` is not set: the host of `[http] bind-address`, or
//! `hostname` when it binds all interfaces (Kapacitor always uses `hostname`).

use crate::http::error_response;
use crate::registry::Registry;
use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use kapacitor_config::{Config, SubscriptionMode};
use kapacitor_influxdb::{
    Client, ClientConfig, Member, PointSink, Protocol, SubscriptionConfig, Subscriptions,
};
use kapacitor_ipc::{ClusterView, Hello, Message, PeerOptions, Role, handshake};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::net::UnixStream;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

/// How often the member's IDs and peers are read.
pub const MEMBER_POLL: Duration = Duration::from_secs(2);
/// Longest `POST /kapacitor/v1/subscriptions` waits for one cluster's sync.
const POST_SYNC_LIMIT: Duration = Duration::from_secs(30);
const GOSSIP_LIMIT: Duration = Duration::from_secs(2);
pub const HISTORY_FILE: &str = "subscription-ids.json";
const HISTORY_VERSION: u32 = 1;
/// Earlier IDs remembered per kind; older ones are forgotten.
const HISTORY_MAX: usize = 32;

struct ClusterSubs {
    subs: Arc<Subscriptions>,
    /// Subscriptions of ours after the last successful sync.
    count: AtomicUsize,
}

impl ClusterSubs {
    fn name(&self) -> &str {
        &self.subs.config().cluster_name
    }

    /// One sync, logged and counted. `Err` is the text for the HTTP answer.
    async fn sync(&self, member: &Member) -> Result<(), String> {
        let r = self
            .subs
            .sync(member)
            .await
            .map_err(|e| format!("cluster {}: {e}", self.name()))?;
        for e in &r.errors {
            error!(cluster = %self.name(), error = %e, "subscription statement failed");
        }
        self.count.store(
            r.kept.len() + r.created.len() + r.renamed.len(),
            Ordering::Relaxed,
        );
        if !r.created.is_empty() || !r.dropped.is_empty() || !r.renamed.is_empty() {
            info!(cluster = %self.name(), name = %r.name, created = r.created.len(),
                dropped = r.dropped.len(), renamed = r.renamed.len(), "subscriptions synced");
        }
        match r.errors.first() {
            Some(e) => Err(format!("cluster {}: {e}", self.name())),
            None => Ok(()),
        }
    }
}

/// Queues the points of a UDP datagram. UDP cannot be refused: the listener's parser waits
/// here (up to `[queue] write-timeout`) while a target queue is full, so its bounded
/// datagram buffer fills and further datagrams are dropped and counted by the listener;
/// points still not queued after the wait are counted in the targets' `points_dropped`
/// and logged. Nothing else in ingest drops.
fn udp_write(registry: &Registry, db: &str, rp: &str, points: Vec<kapacitor_models::Point>) {
    let Ok(rt) = tokio::runtime::Handle::try_current() else {
        return;
    };
    if rt.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread {
        let result =
            tokio::task::block_in_place(|| rt.block_on(registry.route_write(db, rp, &points)));
        udp_result(registry, db, rp, &points, result);
    } else {
        // Not on apid's runtime (unit tests): queued on a task of its own.
        let (registry, db, rp) = (registry.clone(), db.to_string(), rp.to_string());
        rt.spawn(async move {
            let result = registry.route_write(&db, &rp, &points).await;
            udp_result(&registry, &db, &rp, &points, result);
        });
    }
}

fn udp_result(
    registry: &Registry,
    db: &str,
    rp: &str,
    points: &[kapacitor_models::Point],
    result: Result<(), crate::enqueue::WriteError>,
) {
    if let Err(e) = result {
        registry.count_udp_drop(db, rp, points);
        warn!(db, rp, points = points.len(), error = %e, "UDP subscription points dropped: the tasks' queues did not take them");
    }
}

struct Service {
    clusters: Vec<Arc<ClusterSubs>>,
    member: watch::Receiver<Member>,
}

static SERVICE: OnceLock<Service> = OnceLock::new();

/// Starts the member poller and one sync loop per cluster. Returns at once; configuration
/// errors of a cluster are logged and that cluster is skipped (the rest of apid runs).
pub fn start(cfg: &Config, registry: Registry, cancel: CancellationToken) {
    let http_port = match cfg.http_listen_addr() {
        Ok(a) => a.port(),
        Err(e) => {
            error!(error = %e, "InfluxDB subscriptions disabled");
            return;
        }
    };
    let hostname = own_host(cfg);
    let sink: PointSink = Arc::new(move |db: &str, rp: &str, points| {
        udp_write(&registry, db, rp, points);
    });
    let mut clusters = Vec::new();
    for c in cfg
        .influxdb
        .iter()
        .filter(|c| c.enabled && !c.disable_subscriptions)
    {
        let built = ClientConfig::from_config(c)
            .and_then(|cc| Client::new(&cc))
            .and_then(|client| {
                SubscriptionConfig::from_config(c, &hostname, http_port)
                    .map(|sc| Subscriptions::new(client, sc).with_udp_sink(sink.clone()))
            });
        match built {
            Ok(s) => clusters.push(Arc::new(ClusterSubs {
                subs: Arc::new(s),
                count: AtomicUsize::new(0),
            })),
            Err(e) => {
                error!(cluster = %c.name, error = %e, "InfluxDB subscriptions disabled for this cluster")
            }
        }
    }
    let (tx, rx) = watch::channel(Member::default());
    let poller = MemberPoller {
        data_dir: cfg.data_dir.clone(),
        clusters: clusters.iter().map(|c| c.subs.clone()).collect(),
        history: IdHistory::load(&cfg.data_dir.join(HISTORY_FILE)),
        history_unsaved: false,
    };
    if SERVICE
        .set(Service {
            clusters: clusters.clone(),
            member: rx.clone(),
        })
        .is_err()
    {
        warn!("InfluxDB subscriptions started twice; the second start is ignored");
        return;
    }
    if clusters.is_empty() {
        return;
    }
    tokio::spawn(poller.run(tx, cancel.clone()));
    for c in clusters {
        tokio::spawn(sync_loop(c, rx.clone(), cancel.clone()));
    }
}

/// The routes, to be merged under `/kapacitor/v1`.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new().route("/subscriptions", post(post_sync))
}

/// Subscriptions of this member after the last sync, all clusters (`num_subscriptions`).
pub fn count() -> usize {
    SERVICE.get().map_or(0, |s| {
        s.clusters
            .iter()
            .map(|c| c.count.load(Ordering::Relaxed))
            .sum()
    })
}

async fn post_sync() -> Response {
    let Some(svc) = SERVICE.get() else {
        return StatusCode::NO_CONTENT.into_response();
    };
    let member = svc.member.borrow().clone();
    if member.cluster_id.is_empty() {
        return error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "the member's IDs are not known yet; try again",
        );
    }
    let mut errors = Vec::new();
    for c in &svc.clusters {
        match tokio::time::timeout(POST_SYNC_LIMIT, c.sync(&member)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => errors.push(e),
            Err(_) => errors.push(format!(
                "cluster {}: no answer from InfluxDB within {POST_SYNC_LIMIT:?}",
                c.name()
            )),
        }
    }
    if errors.is_empty() {
        StatusCode::NO_CONTENT.into_response()
    } else {
        error_response(StatusCode::INTERNAL_SERVER_ERROR, &errors.join("; "))
    }
}

/// The host InfluxDB is told to send to when `kapacitor-hostname` is empty: the host of
/// `[http] bind-address`, or `hostname` when that binds every interface (the same rule as
/// the API address gossipd advertises to peers).
fn own_host(cfg: &Config) -> String {
    let bind = &cfg.http.bind_address;
    let host = bind.rsplit_once(':').map_or("", |(h, _)| h);
    let h = host.trim_start_matches('[').trim_end_matches(']');
    let unspecified = h
        .parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_unspecified());
    if h.is_empty() || unspecified {
        cfg.hostname.clone()
    } else {
        h.to_string()
    }
}

/// Waits for InfluxDB, then syncs on every interval and member change until `cancel`.
async fn sync_loop(
    c: Arc<ClusterSubs>,
    mut member: watch::Receiver<Member>,
    cancel: CancellationToken,
) {
    let cfg = c.subs.config().clone();
    tokio::select! {
        _ = cancel.cancelled() => return,
        r = c.subs.client().ping_with_backoff(cfg.startup_timeout) => {
            if let Err(e) = r {
                error!(cluster = %cfg.cluster_name, error = %e, "InfluxDB did not answer at startup; trying again at each sync");
            }
        }
    }
    // The first sync needs the member's IDs.
    tokio::select! {
        _ = cancel.cancelled() => return,
        r = member.wait_for(|m| !m.cluster_id.is_empty()) => if r.is_err() { return },
    }
    loop {
        let m = member.borrow_and_update().clone();
        let cc = c.clone();
        // A panic inside one sync must not end the loop (nor apid).
        match tokio::spawn(async move { cc.sync(&m).await }).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                error!(error = %e, "failed to sync subscriptions; retrying at the next sync")
            }
            Err(e) => error!(cluster = %cfg.cluster_name, error = %e, "subscription sync panicked"),
        }
        let tick = async {
            if cfg.sync_interval.is_zero() {
                std::future::pending::<()>().await
            } else {
                tokio::time::sleep(cfg.sync_interval).await
            }
        };
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick => {}
            r = member.changed() => if r.is_err() { return },
        }
    }
}

/// Reads the member's IDs and peers, keeps the ID history, publishes [`Member`].
struct MemberPoller {
    data_dir: PathBuf,
    clusters: Vec<Arc<Subscriptions>>,
    history: IdHistory,
    /// The last write of the history failed: the next poll writes it again.
    history_unsaved: bool,
}

impl MemberPoller {
    async fn run(mut self, tx: watch::Sender<Member>, cancel: CancellationToken) {
        let gossipd = self.data_dir.join("run").join("gossipd.sock");
        let history_path = self.data_dir.join(HISTORY_FILE);
        loop {
            match read_ids(&self.data_dir) {
                Ok((cluster_id, server_id)) => {
                    let view = cluster_view(&gossipd).await;
                    let others = view.as_ref().is_some_and(|v| {
                        v.cluster_id == cluster_id
                            && (v.state == "initialized"
                                || v.members.iter().any(|m| m.id != v.local_member_id))
                    });
                    let changed = self.history.observe(&cluster_id, &server_id, others);
                    if changed || self.history_unsaved {
                        let saved = self.history.save(&history_path);
                        if let Err(e) = &saved
                            && !self.history_unsaved
                        {
                            warn!(path = %history_path.display(), error = %e, "cannot save the subscription ID history; retrying");
                        }
                        self.history_unsaved = saved.is_err();
                    }
                    let member = Member {
                        stale_ids: self.history.stale_ids(),
                        peer_destinations: self.peer_destinations(view.as_ref(), &cluster_id),
                        cluster_id,
                        server_id,
                    };
                    tx.send_if_modified(|m| {
                        if *m == member {
                            false
                        } else {
                            debug!(cluster_id = %member.cluster_id, server_id = %member.server_id,
                                stale = ?member.stale_ids, peers = ?member.peer_destinations, "subscription member changed");
                            *m = member;
                            true
                        }
                    });
                }
                Err(e) => warn!(error = %e, "cannot read the member's IDs for subscriptions"),
            }
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(MEMBER_POLL) => {}
            }
        }
    }

    /// In `"cluster"` mode over HTTP(S): the destinations of the other live members of this
    /// member's cluster, from their API addresses.
    fn peer_destinations(&self, view: Option<&ClusterView>, cluster_id: &str) -> Vec<String> {
        let Some(v) = view.filter(|v| v.cluster_id == cluster_id) else {
            return Vec::new();
        };
        // Every cluster section shares the member list; the first one in cluster mode over
        // HTTP(S) decides the scheme and path (sections differing there is not supported).
        let Some(cfg) = self
            .clusters
            .iter()
            .map(|s| s.config())
            .find(|c| c.mode == SubscriptionMode::Cluster && c.protocol != Protocol::Udp)
        else {
            return Vec::new();
        };
        let mut out: Vec<String> = v
            .members
            .iter()
            .filter(|m| m.id != v.local_member_id && (m.status == "alive" || m.status == "suspect"))
            .map(|m| format!("{}://{}{}", cfg.protocol.as_str(), m.api_address, cfg.path))
            .collect();
        out.sort();
        out
    }
}

fn read_ids(data_dir: &Path) -> Result<(String, String), String> {
    let read = |f: &str| -> Result<String, String> {
        let p = data_dir.join(f);
        let s = std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?;
        let s = s.trim();
        if s.is_empty() {
            return Err(format!("{} is empty", p.display()));
        }
        Ok(s.to_string())
    };
    Ok((read("cluster.id")?, read("server.id")?))
}

/// gossipd's view of the cluster, `None` when it cannot be asked (not running yet).
async fn cluster_view(sock: &Path) -> Option<ClusterView> {
    let ask = async {
        let stream = UnixStream::connect(sock).await.ok()?;
        let (peer, _inbox) = handshake(stream, Hello::new(Role::Apid), PeerOptions::default())
            .await
            .ok()?;
        let answer = peer
            .request_timeout(Message::ClusterMembersRequest, GOSSIP_LIMIT)
            .await;
        peer.close();
        match answer.ok()? {
            Message::ClusterMembers(v) => Some(v),
            _ => None,
        }
    };
    tokio::time::timeout(GOSSIP_LIMIT * 2, ask)
        .await
        .ok()
        .flatten()
}

/// `subscription-ids.json`: this member's current and earlier IDs.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct IdHistory {
    pub version: u32,
    pub cluster_id: String,
    /// Another member was seen in `cluster_id` (its subscription is not ours alone).
    pub cluster_shared: bool,
    pub server_id: String,
    /// Earlier cluster IDs of one-member clusters of this member.
    pub stale_cluster_ids: Vec<String>,
    /// Earlier server IDs of this member.
    pub stale_server_ids: Vec<String>,
}

impl IdHistory {
    /// The history at `path`; a missing or unreadable file starts a new one (logged).
    pub fn load(path: &Path) -> IdHistory {
        match std::fs::read(path) {
            Ok(bytes) => match serde_json::from_slice::<IdHistory>(&bytes) {
                Ok(h) if h.version <= HISTORY_VERSION => h,
                Ok(h) => {
                    warn!(path = %path.display(), version = h.version, "subscription ID history of a newer version ignored");
                    IdHistory::default()
                }
                Err(e) => {
                    warn!(path = %path.display(), error = %e, "unreadable subscription ID history ignored");
                    IdHistory::default()
                }
            },
            Err(_) => IdHistory::default(),
        }
    }

    /// Written through a temporary file and a rename: a crash never leaves half a file.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let mut h = self.clone();
        h.version = HISTORY_VERSION;
        let text = serde_json::to_string_pretty(&h).map_err(std::io::Error::other)?;
        crate::replay_store::write_atomically(path, text.as_bytes())
    }

    /// Records the IDs seen now; `others` says another member shares `cluster_id`. Returns
    /// whether anything changed (then the file is written).
    pub fn observe(&mut self, cluster_id: &str, server_id: &str, others: bool) -> bool {
        let before = self.clone();
        if self.cluster_id != cluster_id {
            if !self.cluster_id.is_empty() && !self.cluster_shared {
                let old = std::mem::take(&mut self.cluster_id);
                push_bounded(&mut self.stale_cluster_ids, old);
            }
            self.cluster_id = cluster_id.to_string();
            self.cluster_shared = false;
        }
        if others {
            self.cluster_shared = true;
        }
        if self.server_id != server_id {
            if !self.server_id.is_empty() {
                let old = std::mem::take(&mut self.server_id);
                push_bounded(&mut self.stale_server_ids, old);
            }
            self.server_id = server_id.to_string();
        }
        // An ID in use is never stale, whatever happened before.
        self.stale_cluster_ids.retain(|i| i != cluster_id);
        self.stale_server_ids.retain(|i| i != server_id);
        *self != before
    }

    pub fn stale_ids(&self) -> Vec<String> {
        self.stale_server_ids
            .iter()
            .chain(&self.stale_cluster_ids)
            .cloned()
            .collect()
    }
}

fn push_bounded(v: &mut Vec<String>, id: String) {
    if !v.contains(&id) {
        v.push(id);
    }
    if v.len() > HISTORY_MAX {
        let excess = v.len() - HISTORY_MAX;
        v.drain(..excess);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alone_cluster_ids_and_old_server_ids_become_stale() {
        let mut h = IdHistory::default();
        assert!(h.observe("c1", "s1", false));
        assert!(h.stale_ids().is_empty());
        assert!(!h.observe("c1", "s1", false), "nothing new");
        // Joined another cluster: c1 was this member's alone.
        assert!(h.observe("c2", "s1", true));
        assert_eq!(h.stale_ids(), ["c1"]);
        // Removed from c2, which it shared: c2 stays the others' subscription.
        assert!(h.observe("c3", "s1", false));
        assert_eq!(h.stale_ids(), ["c1"]);
        // A wiped server.id.
        assert!(h.observe("c3", "s2", false));
        assert_eq!(h.stale_ids(), ["s1", "c1"]);
    }

    #[test]
    fn an_id_in_use_again_is_not_stale_and_history_is_bounded() {
        let mut h = IdHistory::default();
        h.observe("c1", "s", false);
        h.observe("c2", "s", false);
        assert_eq!(h.stale_ids(), ["c1"]);
        h.observe("c1", "s", false);
        assert_eq!(h.stale_ids(), ["c2"]);
        for i in 0..100 {
            h.observe(&format!("x{i}"), "s", false);
        }
        assert_eq!(h.stale_cluster_ids.len(), HISTORY_MAX);
        assert_eq!(h.stale_cluster_ids.last().map(String::as_str), Some("x98"));
    }

    #[test]
    fn history_round_trips_and_garbage_starts_over() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(HISTORY_FILE);
        let mut h = IdHistory::default();
        h.observe("c1", "s1", false);
        h.observe("c2", "s1", false);
        h.save(&p).unwrap();
        let back = IdHistory::load(&p);
        assert_eq!(back.version, HISTORY_VERSION);
        assert_eq!(back.stale_ids(), ["c1"]);
        assert_eq!(back.cluster_id, "c2");
        std::fs::write(&p, "{not json").unwrap();
        assert_eq!(IdHistory::load(&p), IdHistory::default());
        std::fs::write(&p, r#"{"version": 99, "cluster_id": "x"}"#).unwrap();
        assert_eq!(IdHistory::load(&p), IdHistory::default());
    }

    #[test]
    fn own_host_follows_the_api_address_rule() {
        let mut cfg = Config {
            hostname: "kap1".into(),
            ..Config::default()
        };
        cfg.http.bind_address = ":9092".into();
        assert_eq!(own_host(&cfg), "kap1");
        cfg.http.bind_address = "0.0.0.0:9092".into();
        assert_eq!(own_host(&cfg), "kap1");
        cfg.http.bind_address = "127.0.0.1:9092".into();
        assert_eq!(own_host(&cfg), "127.0.0.1");
        cfg.http.bind_address = "[::1]:9092".into();
        assert_eq!(own_host(&cfg), "::1");
    }
}
