//! Kapacitor's InfluxDB subscription sync (services/influxdb/service.go `linkSubscriptions`),
//! with the ownership rule of the crate docs that removes the subscriptions Kapacitor leaks.

use crate::client::Client;
use crate::error::{Error, Result};
use crate::influxql::{quote_ident, quote_string};
use crate::response::QueryResult;
use crate::udp::{PointSink, UdpListener};
use kapacitor_config::InfluxDbConfig;
use kapacitor_config::SubscriptionMode;
use reqwest::Url;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, watch};

/// Kapacitor ≤ 0.13 named every subscription this.
const LEGACY_NAME: &str = "kapacitor";
const NAME_PREFIX: &str = "kapacitor-";

/// `subscription-protocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Http,
    Https,
    Udp,
}

impl Protocol {
    pub fn parse(s: &str) -> Result<Protocol> {
        match s {
            "http" => Ok(Protocol::Http),
            "https" => Ok(Protocol::Https),
            "udp" => Ok(Protocol::Udp),
            other => Err(Error::Config(format!(
                "subscription-protocol must be \"http\", \"https\" or \"udp\", got {other:?}"
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Http => "http",
            Protocol::Https => "https",
            Protocol::Udp => "udp",
        }
    }
}

/// The subscription part of one `[[influxdb]]` section, resolved against the daemon's
/// hostname and HTTP port.
#[derive(Debug, Clone, PartialEq)]
pub struct SubscriptionConfig {
    /// The cluster's `name` (for messages).
    pub cluster_name: String,
    /// `disable-subscriptions`: sync does nothing.
    pub disabled: bool,
    pub mode: SubscriptionMode,
    pub protocol: Protocol,
    /// Host InfluxDB sends to: `kapacitor-hostname`, else the global `hostname`.
    pub hostname: String,
    /// Port InfluxDB sends HTTP(S) to: `http-port`, else the `[http] bind-address` port.
    pub http_port: u16,
    /// `subscription-path`, appended to the destination URL (InfluxDB then adds `/write`).
    pub path: String,
    /// `[influxdb.subscriptions]`: db → rps; empty means every (db, rp).
    pub subscriptions: BTreeMap<String, Vec<String>>,
    /// `[influxdb.excluded-subscriptions]`.
    pub excluded: BTreeMap<String, Vec<String>>,
    pub sync_interval: Duration,
    pub startup_timeout: Duration,
    /// `udp-bind` host part (empty = all interfaces).
    pub udp_bind: String,
    pub udp_buffer: usize,
    pub udp_read_buffer: usize,
}

impl SubscriptionConfig {
    pub fn from_config(
        c: &InfluxDbConfig,
        global_hostname: &str,
        http_bind_port: u16,
    ) -> Result<SubscriptionConfig> {
        let hostname = if c.kapacitor_hostname.is_empty() {
            global_hostname.to_string()
        } else {
            c.kapacitor_hostname.clone()
        };
        // udp-bind is an address without a port in Kapacitor ("" or "0.0.0.0"); a port
        // given here would clash with one listener per (db, rp), so it is cut off.
        let udp_bind = match c.udp_bind.rsplit_once(':') {
            Some((host, _)) if !c.udp_bind.ends_with(']') => host.to_string(),
            _ => c.udp_bind.clone(),
        };
        Ok(SubscriptionConfig {
            cluster_name: c.name.clone(),
            disabled: c.disable_subscriptions,
            mode: c.subscription_mode,
            protocol: Protocol::parse(&c.subscription_protocol)?,
            hostname,
            http_port: if c.http_port != 0 {
                c.http_port
            } else {
                http_bind_port
            },
            path: c.subscription_path.clone(),
            subscriptions: c.subscriptions.clone(),
            excluded: c.excluded_subscriptions.clone(),
            sync_interval: c.subscriptions_sync_interval.as_duration(),
            startup_timeout: c.startup_timeout.as_duration(),
            udp_bind,
            udp_buffer: c.udp_buffer.max(1) as usize,
            udp_read_buffer: c.udp_read_buffer.max(0) as usize,
        })
    }

    fn wanted(&self, db: &str, rp: &str) -> bool {
        let listed = |m: &BTreeMap<String, Vec<String>>| {
            m.get(db).is_some_and(|rps| rps.iter().any(|r| r == rp))
        };
        (self.subscriptions.is_empty() || listed(&self.subscriptions)) && !listed(&self.excluded)
    }
}

/// Who this member is, as the subscription sync needs it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Member {
    pub cluster_id: String,
    pub server_id: String,
    /// IDs whose `kapacitor-<id>` subscriptions must go: earlier IDs of this member, and
    /// IDs of members that left the cluster (rule 1 of the crate docs).
    pub stale_ids: Vec<String>,
    /// In `subscription-mode = "cluster"`, the destinations of the other members, so the
    /// one cluster subscription sends to ANY of them. Ignored in `"server"` mode.
    pub peer_destinations: Vec<String>,
}

/// One subscription: `name` on `db`.`rp`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SubKey {
    pub db: String,
    pub rp: String,
    pub name: String,
}

/// What a sync did.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SyncReport {
    /// The name our subscriptions have now.
    pub name: String,
    pub created: Vec<SubKey>,
    pub dropped: Vec<SubKey>,
    /// Legacy subscriptions recreated under `name` (their old key).
    pub renamed: Vec<SubKey>,
    /// Ours, valid and left as they were.
    pub kept: Vec<SubKey>,
    /// Statements that failed; the sync went on with the others.
    pub errors: Vec<String>,
}

#[derive(Debug, Clone)]
struct Existing {
    key: SubKey,
    mode: String,
    destinations: Vec<String>,
}

/// (scheme, host, port) of a destination, what decides where InfluxDB sends.
type Endpoint = (String, String, u16);

fn endpoint(dest: &str) -> Option<Endpoint> {
    let u = Url::parse(dest).ok()?;
    Some((
        u.scheme().to_string(),
        u.host_str()?.to_string(),
        u.port_or_known_default()?,
    ))
}

/// Keeps the subscriptions of one InfluxDB cluster in sync. Syncs are serialised: the
/// periodic loop and `POST /kapacitor/v1/subscriptions` may call [`Subscriptions::sync`]
/// concurrently.
pub struct Subscriptions {
    client: Client,
    cfg: SubscriptionConfig,
    sink: Option<PointSink>,
    /// UDP listeners by (db, rp); the lock also serialises syncs.
    udp: Mutex<HashMap<(String, String), UdpListener>>,
}

impl Subscriptions {
    pub fn new(client: Client, cfg: SubscriptionConfig) -> Subscriptions {
        Subscriptions {
            client,
            cfg,
            sink: None,
            udp: Mutex::new(HashMap::new()),
        }
    }

    /// Where points received by UDP listeners go (required for `subscription-protocol =
    /// "udp"`; with HTTP InfluxDB posts to apid's `/write` instead).
    pub fn with_udp_sink(mut self, sink: PointSink) -> Subscriptions {
        self.sink = Some(sink);
        self
    }

    pub fn config(&self) -> &SubscriptionConfig {
        &self.cfg
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// `kapacitor-<cluster id>` or `kapacitor-<server id>` by `subscription-mode`.
    pub fn subscription_name(&self, member: &Member) -> String {
        match self.cfg.mode {
            SubscriptionMode::Cluster => format!("{NAME_PREFIX}{}", member.cluster_id),
            SubscriptionMode::Server => format!("{NAME_PREFIX}{}", member.server_id),
        }
    }

    /// This member's HTTP(S) destination: `http://host:port[path]`.
    pub fn http_destination(&self) -> String {
        format!(
            "{}://{}:{}{}",
            self.cfg.protocol.as_str(),
            host_for_url(&self.cfg.hostname),
            self.cfg.http_port,
            self.cfg.path
        )
    }

    fn own_endpoint(&self) -> Option<Endpoint> {
        match self.cfg.protocol {
            Protocol::Udp => None,
            _ => endpoint(&self.http_destination()),
        }
    }

    fn desired_http_destinations(&self, member: &Member) -> Vec<String> {
        let mut d = vec![self.http_destination()];
        if self.cfg.mode == SubscriptionMode::Cluster {
            for p in &member.peer_destinations {
                if !d.contains(p) {
                    d.push(p.clone());
                }
            }
        }
        d
    }

    /// Kapacitor's "changed or invalid" check of one of ours, widened to a destination set.
    fn changed_or_invalid(&self, member: &Member, dests: &[String]) -> bool {
        let Some(first) = dests.first() else {
            return true;
        };
        match self.cfg.protocol {
            Protocol::Udp => match Url::parse(first) {
                Ok(u) => {
                    dests.len() != 1
                        || u.scheme() != "udp"
                        || u.host_str() != Some(host_for_url(&self.cfg.hostname).as_str())
                        || u.port().is_none()
                }
                Err(_) => true,
            },
            Protocol::Http | Protocol::Https => {
                let normalise = |d: &str| -> Option<(Endpoint, String, bool)> {
                    let u = Url::parse(d).ok()?;
                    let path = u.path().trim_end_matches('/').to_string();
                    Some((endpoint(d)?, path, !u.username().is_empty()))
                };
                let have: Option<BTreeSet<_>> = dests.iter().map(|d| normalise(d)).collect();
                let want: Option<BTreeSet<_>> = self
                    .desired_http_destinations(member)
                    .iter()
                    .map(|d| normalise(d))
                    .collect();
                have.is_none() || have != want
            }
        }
    }

    /// Rule 1 or 2 of the crate docs: a `kapacitor-*` subscription, not named `current`,
    /// left behind by this member under an earlier ID or by a member that left.
    fn is_stale(&self, member: &Member, current: &str, e: &Existing) -> bool {
        let Some(id) = e.key.name.strip_prefix(NAME_PREFIX) else {
            return false;
        };
        if e.key.name == current {
            return false;
        }
        if member.stale_ids.iter().any(|s| s == id) {
            return true;
        }
        match (self.own_endpoint(), e.destinations.as_slice()) {
            (Some(own), [only]) => endpoint(only).as_ref() == Some(&own),
            _ => false,
        }
    }

    async fn all_dbrps(&self) -> Result<Vec<(String, String)>> {
        let mut out = Vec::new();
        for db in self.client.databases().await? {
            for rp in self.client.retention_policies(&db).await? {
                out.push((db.clone(), rp));
            }
        }
        Ok(out)
    }

    async fn existing(&self) -> Result<Vec<Existing>> {
        let res = self.client.query("", "SHOW SUBSCRIPTIONS").await?;
        Ok(parse_subscriptions(&res))
    }

    async fn exec(&self, q: String, report: &mut SyncReport) -> bool {
        match self.client.query("", &q).await {
            Ok(_) => true,
            Err(e) => {
                report.errors.push(format!("{q}: {e}"));
                false
            }
        }
    }

    async fn drop_sub(&self, key: &SubKey, report: &mut SyncReport) -> bool {
        let q = format!(
            "DROP SUBSCRIPTION {} ON {}.{}",
            quote_ident(&key.name),
            quote_ident(&key.db),
            quote_ident(&key.rp)
        );
        self.exec(q, report).await
    }

    async fn create_sub(
        &self,
        key: &SubKey,
        mode: &str,
        dests: &[String],
        report: &mut SyncReport,
    ) -> bool {
        let dests: Vec<String> = dests.iter().map(|d| quote_string(d)).collect();
        let q = format!(
            "CREATE SUBSCRIPTION {} ON {}.{} DESTINATIONS {} {}",
            quote_ident(&key.name),
            quote_ident(&key.db),
            quote_ident(&key.rp),
            mode.to_ascii_uppercase(),
            dests.join(", ")
        );
        self.exec(q, report).await
    }

    /// One sync (§3.4 of the reference, plus the ownership rule): lists databases, retention
    /// policies and subscriptions; renames legacy ones, drops ours that changed, are invalid
    /// or are no longer wanted, drops stale ones of ours, and creates the missing ones.
    /// Failing to list is an `Err`; a failing DROP/CREATE is recorded in the report and the
    /// sync goes on with the rest.
    pub async fn sync(&self, member: &Member) -> Result<SyncReport> {
        let mut udp = self.udp.lock().await;
        let name = self.subscription_name(member);
        let mut report = SyncReport {
            name: name.clone(),
            ..SyncReport::default()
        };
        if self.cfg.disabled {
            return Ok(report);
        }
        if self.cfg.protocol == Protocol::Udp && self.sink.is_none() {
            return Err(Error::Config(
                "subscription-protocol \"udp\" needs a point sink (Subscriptions::with_udp_sink)"
                    .into(),
            ));
        }
        let all = self.all_dbrps().await?;
        // Ours after this pass, valid, by (db, rp): their destinations.
        let mut ours: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
        for mut e in self.existing().await? {
            let legacy = e.key.name == LEGACY_NAME
                || (!member.cluster_id.is_empty() && e.key.name == member.cluster_id);
            if legacy {
                if !self.drop_sub(&e.key, &mut report).await {
                    continue;
                }
                let old = e.key.clone();
                e.key.name = name.clone();
                if self.cfg.wanted(&e.key.db, &e.key.rp)
                    && !self.changed_or_invalid(member, &e.destinations)
                {
                    if self
                        .create_sub(&e.key, &e.mode, &e.destinations, &mut report)
                        .await
                    {
                        report.renamed.push(old);
                        ours.insert((e.key.db.clone(), e.key.rp.clone()), e.destinations);
                    }
                } else {
                    // Recreated below with the right destination, if wanted at all.
                    report.dropped.push(old);
                }
            } else if e.key.name == name {
                if !self.cfg.wanted(&e.key.db, &e.key.rp)
                    || self.changed_or_invalid(member, &e.destinations)
                {
                    if self.drop_sub(&e.key, &mut report).await {
                        report.dropped.push(e.key);
                    }
                } else {
                    ours.insert((e.key.db.clone(), e.key.rp.clone()), e.destinations);
                    report.kept.push(e.key);
                }
            } else if self.is_stale(member, &name, &e) && self.drop_sub(&e.key, &mut report).await {
                report.dropped.push(e.key);
            }
        }

        // UDP: keep a listener on the port of each kept subscription; one that cannot be
        // bound again (port taken) is dropped and recreated on a fresh port.
        if self.cfg.protocol == Protocol::Udp {
            let mut rebind_failed = Vec::new();
            for ((db, rp), dests) in &ours {
                if udp.contains_key(&(db.clone(), rp.clone())) {
                    continue;
                }
                let port = dests
                    .first()
                    .and_then(|d| Url::parse(d).ok())
                    .and_then(|u| u.port())
                    .unwrap_or(0);
                match self.start_udp(db, rp, port).await {
                    Ok(l) => {
                        udp.insert((db.clone(), rp.clone()), l);
                    }
                    Err(e) => {
                        report.errors.push(e.to_string());
                        rebind_failed.push((db.clone(), rp.clone()));
                    }
                }
            }
            for k in rebind_failed {
                let key = SubKey {
                    db: k.0.clone(),
                    rp: k.1.clone(),
                    name: name.clone(),
                };
                if self.drop_sub(&key, &mut report).await {
                    ours.remove(&k);
                    report.kept.retain(|x| x != &key);
                    report.dropped.push(key);
                }
            }
        }

        for (db, rp) in all {
            if !self.cfg.wanted(&db, &rp) || ours.contains_key(&(db.clone(), rp.clone())) {
                continue;
            }
            let key = SubKey {
                db: db.clone(),
                rp: rp.clone(),
                name: name.clone(),
            };
            let dests = match self.cfg.protocol {
                Protocol::Udp => {
                    let l = match udp.remove(&(db.clone(), rp.clone())) {
                        Some(l) => l,
                        None => match self.start_udp(&db, &rp, 0).await {
                            Ok(l) => l,
                            Err(e) => {
                                report.errors.push(e.to_string());
                                continue;
                            }
                        },
                    };
                    let dest = format!(
                        "udp://{}:{}",
                        host_for_url(&self.cfg.hostname),
                        l.local_addr().port()
                    );
                    udp.insert((db.clone(), rp.clone()), l);
                    vec![dest]
                }
                _ => self.desired_http_destinations(member),
            };
            if self.create_sub(&key, "ANY", &dests, &mut report).await {
                ours.insert((db, rp), dests);
                report.created.push(key);
            }
        }
        udp.retain(|k, _| ours.contains_key(k));
        Ok(report)
    }

    async fn start_udp(&self, db: &str, rp: &str, port: u16) -> Result<UdpListener> {
        let sink = self
            .sink
            .clone()
            .ok_or_else(|| Error::Config("no UDP point sink".into()))?;
        let host = if self.cfg.udp_bind.is_empty() {
            "0.0.0.0"
        } else {
            &self.cfg.udp_bind
        };
        UdpListener::start(
            &format!("{host}:{port}"),
            db,
            rp,
            self.cfg.udp_buffer,
            self.cfg.udp_read_buffer,
            sink,
        )
        .await
    }

    /// Drops every subscription of this member: the current name on every (db, rp) and all
    /// that the ownership rule calls stale. For a member that leaves the cluster or is
    /// decommissioned (Kapacitor never does this on shutdown). Also stops UDP listeners.
    pub async fn remove_all_ours(&self, member: &Member) -> Result<SyncReport> {
        let mut udp = self.udp.lock().await;
        let name = self.subscription_name(member);
        let mut report = SyncReport {
            name: name.clone(),
            ..SyncReport::default()
        };
        for e in self.existing().await? {
            if (e.key.name == name || self.is_stale(member, &name, &e))
                && self.drop_sub(&e.key, &mut report).await
            {
                report.dropped.push(e.key);
            }
        }
        udp.clear();
        Ok(report)
    }

    /// Number of running UDP listeners.
    pub async fn udp_listener_count(&self) -> usize {
        self.udp.lock().await.len()
    }

    /// The local port of the UDP listener of (db, rp), if one runs.
    pub async fn udp_port(&self, db: &str, rp: &str) -> Option<u16> {
        self.udp
            .lock()
            .await
            .get(&(db.to_string(), rp.to_string()))
            .map(|l| l.local_addr().port())
    }
}

/// IPv6 literals need brackets inside URLs.
fn host_for_url(host: &str) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

/// `SHOW SUBSCRIPTIONS`: one series per database, columns `retention_policy`, `name`,
/// `mode`, `destinations` (an array).
fn parse_subscriptions(results: &[QueryResult]) -> Vec<Existing> {
    let mut out = Vec::new();
    for series in results.iter().flat_map(|r| &r.series) {
        for row in &series.values {
            let mut e = Existing {
                key: SubKey {
                    db: series.name.clone(),
                    rp: String::new(),
                    name: String::new(),
                },
                mode: "ANY".into(),
                destinations: Vec::new(),
            };
            for (col, v) in series.columns.iter().zip(row) {
                match col.as_str() {
                    "retention_policy" => e.key.rp = v.as_str().unwrap_or_default().to_string(),
                    "name" => e.key.name = v.as_str().unwrap_or_default().to_string(),
                    "mode" => e.mode = v.as_str().unwrap_or("ANY").to_string(),
                    "destinations" => {
                        e.destinations = v
                            .as_array()
                            .map(|a| {
                                a.iter()
                                    .filter_map(|d| d.as_str().map(str::to_string))
                                    .collect()
                            })
                            .unwrap_or_default()
                    }
                    _ => {}
                }
            }
            out.push(e);
        }
    }
    out
}

/// Runs the sync of one cluster until `shutdown` becomes true: first waits for InfluxDB
/// (`startup-timeout`, with backoff), then syncs every `subscriptions-sync-interval` and
/// whenever `member` changes (a new cluster ID, members joining or leaving). Errors are
/// logged and retried at the next tick; a panic inside a sync is caught and logged too, so
/// the loop (and the process around it) keeps going. Dropping the `shutdown` sender also
/// stops the loop; dropping the `member` sender does not.
pub async fn run_sync_loop(
    subs: Arc<Subscriptions>,
    mut member: watch::Receiver<Member>,
    mut shutdown: watch::Receiver<bool>,
) {
    let cluster = subs.cfg.cluster_name.clone();
    if subs.cfg.disabled {
        tracing::info!(cluster = %cluster, "subscriptions disabled");
        return;
    }
    tokio::select! {
        r = subs.client.ping_with_backoff(subs.cfg.startup_timeout) => {
            if let Err(e) = r {
                tracing::error!(cluster = %cluster, error = %e, "InfluxDB did not answer at startup; will keep trying at each sync");
            }
        }
        _ = shutdown.wait_for(|s| *s) => return,
    }
    let mut member_open = true;
    loop {
        let m = member.borrow_and_update().clone();
        let s = subs.clone();
        match tokio::spawn(async move { s.sync(&m).await }).await {
            Ok(Ok(r)) => {
                for e in &r.errors {
                    tracing::error!(cluster = %cluster, error = %e, "subscription statement failed");
                }
                if !r.created.is_empty() || !r.dropped.is_empty() || !r.renamed.is_empty() {
                    tracing::info!(cluster = %cluster, name = %r.name, created = r.created.len(), dropped = r.dropped.len(), renamed = r.renamed.len(), "subscriptions synced");
                }
            }
            Ok(Err(e)) => {
                tracing::error!(cluster = %cluster, error = %e, "failed to sync subscriptions")
            }
            Err(e) => tracing::error!(cluster = %cluster, error = %e, "subscription sync panicked"),
        }
        let tick = async {
            if subs.cfg.sync_interval.is_zero() {
                std::future::pending::<()>().await
            } else {
                tokio::time::sleep(subs.cfg.sync_interval).await
            }
        };
        let changed = async {
            // A dropped sender means the member never changes again, not "stop".
            if member_open && member.changed().await.is_err() {
                member_open = false;
            }
            if !member_open {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            _ = tick => {}
            _ = changed => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
    }
}
