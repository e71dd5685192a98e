//! The membership state machine: foca (SWIM) plus what Kapacitor Enterprise adds on top of
//! it: the cluster id, join and removal, tombstones, the persisted peer list and the full-state
//! sync. No I/O happens here: every method queues [`Effect`]s (packets to send, timers to
//! arm) that the node driver carries out, so the whole thing runs in unit tests by hand.

use crate::identity;
use crate::member::{Ident, Status};
use crate::persist::{self, ClusterFile, TOMBSTONE_TTL_SECS, Tombstone};
use crate::settings::Settings;
use crate::wire::{self, Header, Kind};
use foca::{
    AccumulatingRuntime, Foca, Member, NoCustomBroadcast, OwnedNotification, PeriodicParams,
    PostcardCodec, State, Timer,
};
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::num::{NonZeroU32, NonZeroUsize};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tracing::{debug, info, warn};
use uuid::Uuid;

type Swim = Foca<Ident, PostcardCodec, StdRng, NoCustomBroadcast>;

/// UDP payload budget for foca, leaving room for our envelope inside a 1400-byte datagram.
const MAX_SWIM_PACKET: usize = 1400 - wire::OVERHEAD;

/// Something the driver must do.
#[derive(Debug)]
pub enum Effect {
    Send {
        to: SocketAddr,
        header: Header,
        payload: Vec<u8>,
    },
    Schedule {
        after: Duration,
        generation: u64,
        timer: Timer<Ident>,
    },
}

/// What a member offers a newcomer when adding it (sent over RPC).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JoinOffer {
    pub adder: Uuid,
    pub cluster_id: Uuid,
    /// The newcomer's join token in this cluster.
    pub token: u64,
    /// The adder and every member it knows.
    pub members: Vec<Ident>,
    pub tombstones: Vec<Tombstone>,
}

/// The state exchanged by the periodic TCP push-pull.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncState {
    pub members: Vec<Member<Ident>>,
    pub tombstones: Vec<Tombstone>,
}

/// How a removal is carried out by the driver.
#[derive(Debug, Clone, PartialEq)]
pub enum RemovePlan {
    /// This member leaves: tell `peers` (RPC addresses) to forget `(id, token)`, then call
    /// [`Membership::reset_alone`].
    Myself {
        id: Uuid,
        token: u64,
        peers: Vec<String>,
    },
    /// Another member was removed here: tell it (`target`), and tell `peers` to forget it.
    Other { target: Ident, peers: Vec<String> },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RemoveError {
    #[error("no member with ID {0} in this cluster")]
    NotFound(String),
    #[error("member {0} is not part of a cluster with other members")]
    Alone(String),
}

/// One row of `member list`.
#[derive(Debug, Clone, PartialEq)]
pub struct MemberRow {
    pub id: Uuid,
    pub gossip_address: String,
    pub rpc_address: String,
    pub api_address: String,
    pub roles: Vec<String>,
    pub status: Status,
}

#[derive(Debug, Clone, PartialEq)]
pub struct View {
    pub initialized: bool,
    pub cluster_id: Uuid,
    pub local_id: Uuid,
    pub members: Vec<MemberRow>,
}

pub struct Membership {
    s: Arc<Settings>,
    server_id: Uuid,
    cluster_id: Uuid,
    token: u64,
    bump: u64,
    swim: Swim,
    /// Incremented with every new foca instance; timers of an older one are dropped.
    generation: u64,
    rt: AccumulatingRuntime<Ident>,
    /// Every other member of this cluster (any status), with its latest identity. This is the
    /// persisted peer list; "initialized" means it is not empty.
    known: BTreeMap<Uuid, Ident>,
    /// Members foca told us about since this process started.
    seen: HashSet<Uuid>,
    tombstones: Vec<Tombstone>,
    /// `(id, bump)` of identities that said goodbye before going down.
    left: HashSet<(Uuid, u64)>,
    effects: Vec<Effect>,
    last_saved: String,
    /// The last write of `cluster.json` failed (logged once until one succeeds).
    save_failed: bool,
    removed_replies: HashMap<SocketAddr, Instant>,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn swim_config(s: &Settings, cluster_size: usize) -> foca::Config {
    let n =
        NonZeroU32::new(cluster_size.clamp(1, u32::MAX as usize) as u32).unwrap_or(NonZeroU32::MIN);
    let mut c = foca::Config::new_lan(n);
    c.max_packet_size = NonZeroUsize::new(MAX_SWIM_PACKET).unwrap_or(NonZeroUsize::MIN);
    c.periodic_gossip = Some(PeriodicParams {
        frequency: s.gossip_interval,
        num_members: NonZeroUsize::new(s.gossip_members).unwrap_or(NonZeroUsize::MIN),
    });
    // Announcing to members believed down is what heals a partition without the full sync;
    // do it as often as the full sync.
    c.periodic_announce = Some(PeriodicParams {
        frequency: s.sync_interval,
        num_members: NonZeroUsize::MIN,
    });
    c.periodic_announce_to_down_members = Some(PeriodicParams {
        frequency: s.sync_interval,
        num_members: NonZeroUsize::new(2).unwrap_or(NonZeroUsize::MIN),
    });
    c
}

impl Membership {
    /// Starts from the persisted state (or a fresh cluster of one) and announces itself to
    /// every persisted peer, so a restarted member rejoins by itself.
    pub fn start(
        s: Arc<Settings>,
        server_id: Uuid,
        cluster_id: Uuid,
    ) -> Result<Membership, String> {
        let file = persist::load(&s.data_dir).map_err(|e| e.to_string())?;
        let (cluster_id, token, bump, known, tombstones) = match file {
            Some(f) => {
                let known = f
                    .members
                    .into_iter()
                    .filter(|m| m.id != server_id)
                    .map(|m| (m.id, m))
                    .collect();
                (f.cluster_id, f.token, f.bump, known, f.tombstones)
            }
            None => (cluster_id, rand::random(), 0, BTreeMap::new(), Vec::new()),
        };
        // A new process always outranks the identity of the previous one.
        let bump = (bump + 1).max(now_millis());
        let me = Ident {
            id: server_id,
            token,
            bump,
            gossip: s.gossip_advertise,
            meta: s.meta.clone(),
        };
        let swim = Foca::new(
            me,
            swim_config(&s, known.len() + 1),
            rand::make_rng(),
            PostcardCodec,
        );
        let mut m = Membership {
            s,
            server_id,
            cluster_id,
            token,
            bump,
            swim,
            generation: 0,
            rt: AccumulatingRuntime::new(),
            known,
            seen: HashSet::new(),
            tombstones,
            left: HashSet::new(),
            effects: Vec::new(),
            last_saved: String::new(),
            save_failed: false,
            removed_replies: HashMap::new(),
        };
        m.expire_tombstones();
        identity::write_cluster_id(&m.s.data_dir, m.cluster_id).map_err(|e| e.to_string())?;
        let peers: Vec<Ident> = m.known.values().cloned().collect();
        for p in peers {
            if let Err(e) = m.swim.announce(p.clone(), &mut m.rt) {
                debug!(peer = ?p, error = %e, "announce failed");
            }
        }
        m.pump();
        m.persist();
        Ok(m)
    }

    pub fn cluster_id(&self) -> Uuid {
        self.cluster_id
    }

    pub fn server_id(&self) -> Uuid {
        self.server_id
    }

    pub fn token(&self) -> u64 {
        self.token
    }

    pub fn me(&self) -> &Ident {
        self.swim.identity()
    }

    pub fn initialized(&self) -> bool {
        !self.known.is_empty()
    }

    /// The effects queued since the last call.
    pub fn take_effects(&mut self) -> Vec<Effect> {
        std::mem::take(&mut self.effects)
    }

    pub fn header(&self, kind: Kind) -> Header {
        Header {
            kind,
            cluster_id: self.cluster_id,
            sender: self.server_id,
            token: self.token,
        }
    }

    fn is_tombstoned(&self, id: Uuid, token: u64) -> bool {
        self.tombstones
            .iter()
            .any(|t| t.id == id && t.token == token)
    }

    fn expire_tombstones(&mut self) {
        let now = now_secs();
        self.tombstones
            .retain(|t| now.saturating_sub(t.removed_at) < TOMBSTONE_TTL_SECS);
    }

    fn add_tombstone(&mut self, id: Uuid, token: u64) {
        if !self.is_tombstoned(id, token) {
            self.tombstones.push(Tombstone {
                id,
                token,
                removed_at: now_secs(),
            });
        }
    }

    /// A packet that passed the envelope check. Returns `false` when it belongs to another
    /// cluster (the driver logs that).
    pub fn handle_packet(&mut self, from: SocketAddr, h: Header, payload: &[u8]) -> bool {
        if h.cluster_id != self.cluster_id {
            return false;
        }
        if h.sender == self.server_id {
            return true;
        }
        if self.is_tombstoned(h.sender, h.token) {
            self.reply_removed(from, h.sender, h.token);
            return true;
        }
        match h.kind {
            Kind::Swim => {
                if let Err(e) = self.swim.handle_data(payload, &mut self.rt) {
                    debug!(from = %from, error = %e, "gossip packet rejected");
                }
                self.pump();
            }
            Kind::Bye => {
                if let Ok(b) = <[u8; 8]>::try_from(payload) {
                    self.left.insert((h.sender, u64::from_be_bytes(b)));
                }
            }
            Kind::Removed => {
                if payload.len() == 24
                    && payload[..16] == *self.server_id.as_bytes()
                    && payload[16..] == self.token.to_be_bytes()
                {
                    warn!(by = %h.sender, "a peer says this member was removed from the cluster");
                    self.reset_alone();
                }
            }
            Kind::Sync | Kind::Rpc => {}
        }
        true
    }

    /// Tells a removed member that shows up again (it was down when it was removed) so that
    /// it becomes a cluster of one instead of knocking forever. At most once a second.
    fn reply_removed(&mut self, to: SocketAddr, id: Uuid, token: u64) {
        let now = Instant::now();
        if let Some(last) = self.removed_replies.get(&to)
            && now.duration_since(*last) < Duration::from_secs(1)
        {
            return;
        }
        self.removed_replies.insert(to, now);
        if self.removed_replies.len() > 1024 {
            self.removed_replies
                .retain(|_, t| now.duration_since(*t) < Duration::from_secs(1));
        }
        let mut payload = id.as_bytes().to_vec();
        payload.extend_from_slice(&token.to_be_bytes());
        self.effects.push(Effect::Send {
            to,
            header: self.header(Kind::Removed),
            payload,
        });
    }

    pub fn handle_timer(&mut self, generation: u64, timer: Timer<Ident>) {
        if generation != self.generation {
            return;
        }
        if let Err(e) = self.swim.handle_timer(timer, &mut self.rt) {
            debug!(error = %e, "timer failed");
        }
        self.pump();
    }

    /// Turns what foca produced into effects and reacts to its notifications.
    fn pump(&mut self) {
        let header = self.header(Kind::Swim);
        while let Some((to, data)) = self.rt.to_send() {
            self.effects.push(Effect::Send {
                to: to.gossip,
                header,
                payload: data.to_vec(),
            });
        }
        while let Some((after, timer)) = self.rt.to_schedule() {
            self.effects.push(Effect::Schedule {
                after,
                generation: self.generation,
                timer,
            });
        }
        let mut changed = false;
        let mut stale = Vec::new();
        while let Some(n) = self.rt.to_notify() {
            match n {
                OwnedNotification::MemberUp(id) => {
                    if self.is_tombstoned(id.id, id.token) {
                        stale.push(id);
                        continue;
                    }
                    info!(member = %id.id, gossip = %id.meta.gossip_address, "member up");
                    self.seen.insert(id.id);
                    self.known.insert(id.id, id);
                    changed = true;
                }
                OwnedNotification::MemberDown(id) => {
                    if !self.is_tombstoned(id.id, id.token) {
                        info!(member = %id.id, "member down");
                    }
                    changed = true;
                }
                OwnedNotification::Rename(old, new) => {
                    debug!(old = ?old, new = ?new, "member has a new identity");
                    if self.is_tombstoned(new.id, new.token) {
                        stale.push(new);
                        continue;
                    }
                    self.seen.insert(new.id);
                    self.known.insert(new.id, new);
                    changed = true;
                }
                OwnedNotification::Rejoin(me) => {
                    info!(
                        bump = me.bump,
                        "declared down by the cluster; rejoined with a new identity"
                    );
                    self.bump = me.bump;
                    changed = true;
                }
                OwnedNotification::Defunct => warn!("declared down by the cluster"),
                other => debug!(notification = ?other, "swim"),
            }
        }
        if !stale.is_empty() {
            // Gossip about a removed member from a peer that has not heard of the removal:
            // declare it down here too, which also spreads the news.
            let downs: Vec<Member<Ident>> = stale.into_iter().map(Member::down).collect();
            if let Err(e) = self.swim.apply_many(downs.into_iter(), true, &mut self.rt) {
                debug!(error = %e, "apply failed");
            }
            self.pump();
        }
        if changed {
            let n = self.swim.num_members() + 1;
            if let Err(e) = self.swim.set_config(swim_config(&self.s, n)) {
                debug!(error = %e, "cannot resize the swim config");
            }
            self.persist();
        }
    }

    /// Writes `cluster.json` when the state changed since the last successful write (so a
    /// write that failed is retried by the next call).
    pub fn persist(&mut self) {
        let file = ClusterFile {
            version: persist::FORMAT_VERSION,
            cluster_id: self.cluster_id,
            initialized: self.initialized(),
            token: self.token,
            bump: self.bump,
            members: self.known.values().cloned().collect(),
            tombstones: self.tombstones.clone(),
        };
        let text = persist::render(&file);
        if text == self.last_saved {
            return;
        }
        match persist::save(&self.s.data_dir, &text) {
            Ok(()) => {
                if self.save_failed {
                    info!("cluster state saved after an earlier failure");
                }
                self.save_failed = false;
                self.last_saved = text;
            }
            Err(e) => {
                if !self.save_failed {
                    warn!(error = %e, "cannot save the cluster state; retrying every sync interval");
                }
                self.save_failed = true;
            }
        }
    }

    fn swim_state(&self, id: Uuid) -> Option<(State, Ident)> {
        self.swim
            .iter_membership_state()
            .find(|m| m.id().id == id)
            .map(|m| (m.state(), m.id().clone()))
    }

    pub fn view(&self) -> View {
        let me = self.me();
        let mut members = vec![MemberRow {
            id: me.id,
            gossip_address: me.meta.gossip_address.clone(),
            rpc_address: me.meta.rpc_address.clone(),
            api_address: me.meta.api_address.clone(),
            roles: me.meta.roles.clone(),
            status: Status::Alive,
        }];
        for (id, known) in &self.known {
            let (status, ident) = match self.swim_state(*id) {
                Some((State::Alive, i)) => (Status::Alive, i),
                Some((State::Suspect, i)) => (Status::Suspect, i),
                Some((State::Down, i)) => {
                    if self.left.contains(&(i.id, i.bump)) {
                        (Status::Left, i)
                    } else {
                        (Status::Dead, i)
                    }
                }
                None if self.seen.contains(id) => (Status::Dead, known.clone()),
                None => (Status::Unknown, known.clone()),
            };
            members.push(MemberRow {
                id: *id,
                gossip_address: ident.meta.gossip_address,
                rpc_address: ident.meta.rpc_address,
                api_address: ident.meta.api_address,
                roles: ident.meta.roles,
                status,
            });
        }
        View {
            initialized: self.initialized(),
            cluster_id: self.cluster_id,
            local_id: self.server_id,
            members,
        }
    }

    /// What this member sends to a member it adds.
    pub fn join_offer(&self) -> JoinOffer {
        let mut members = vec![self.me().clone()];
        members.extend(self.known.values().cloned());
        JoinOffer {
            adder: self.server_id,
            cluster_id: self.cluster_id,
            token: rand::random(),
            members,
            tombstones: self.tombstones.clone(),
        }
    }

    /// The newcomer's side of `member add`: adopt the adder's cluster. Refused when this
    /// member already belongs to another cluster with other members (no accidental merges).
    pub fn accept_join(&mut self, offer: JoinOffer) -> Result<Ident, String> {
        if offer.adder == self.server_id {
            return Err("cannot add a member to itself".into());
        }
        if offer.cluster_id == self.cluster_id && self.initialized() {
            return Ok(self.me().clone());
        }
        if self.initialized() {
            return Err(format!(
                "member {} already belongs to cluster {} with {} other member(s); remove it from that cluster first",
                self.server_id,
                self.cluster_id,
                self.known.len()
            ));
        }
        info!(cluster = %offer.cluster_id, adder = %offer.adder, "joining a cluster");
        self.switch_cluster(offer.cluster_id, offer.token);
        self.tombstones = offer.tombstones;
        let others: Vec<Ident> = offer
            .members
            .into_iter()
            .filter(|m| m.id != self.server_id && !self.is_tombstoned(m.id, m.token))
            .collect();
        for m in &others {
            self.known.insert(m.id, m.clone());
        }
        let members: Vec<Member<Ident>> = others.iter().cloned().map(Member::alive).collect();
        if let Err(e) = self
            .swim
            .apply_many(members.into_iter(), true, &mut self.rt)
        {
            debug!(error = %e, "apply failed");
        }
        // Announce to every member rather than wait for gossip to carry the news: each one
        // learns the newcomer from the announce itself, so `member add` converges in one
        // round trip whatever the cluster size.
        for m in others {
            if let Err(e) = self.swim.announce(m, &mut self.rt) {
                debug!(error = %e, "announce failed");
            }
        }
        self.pump();
        self.persist();
        Ok(self.me().clone())
    }

    /// The adder's side once the newcomer accepted.
    pub fn admit(&mut self, newcomer: Ident) {
        info!(member = %newcomer.id, rpc = %newcomer.meta.rpc_address, "member added");
        self.known.insert(newcomer.id, newcomer.clone());
        if let Err(e) =
            self.swim
                .apply_many(std::iter::once(Member::alive(newcomer)), true, &mut self.rt)
        {
            debug!(error = %e, "apply failed");
        }
        self.pump();
        // Gossip right away rather than at the next round: `member add` should converge fast.
        if let Err(e) = self.swim.gossip(&mut self.rt) {
            debug!(error = %e, "gossip failed");
        }
        self.pump();
        self.persist();
    }

    fn peer_rpc_addresses(&self, except: Option<Uuid>) -> Vec<String> {
        self.known
            .values()
            .filter(|m| Some(m.id) != except)
            .map(|m| m.meta.rpc_address.clone())
            .collect()
    }

    pub fn remove(&mut self, id: &str) -> Result<RemovePlan, RemoveError> {
        let uuid = Uuid::parse_str(id.trim()).map_err(|_| RemoveError::NotFound(id.to_string()))?;
        if uuid == self.server_id {
            if !self.initialized() {
                return Err(RemoveError::Alone(id.to_string()));
            }
            return Ok(RemovePlan::Myself {
                id: self.server_id,
                token: self.token,
                peers: self.peer_rpc_addresses(None),
            });
        }
        let target = self
            .known
            .get(&uuid)
            .cloned()
            .ok_or_else(|| RemoveError::NotFound(id.to_string()))?;
        self.forget(target.id, target.token);
        Ok(RemovePlan::Other {
            peers: self.peer_rpc_addresses(Some(target.id)),
            target,
        })
    }

    /// A removal decided here or by a peer: tombstone the member and stop tracking it.
    pub fn forget(&mut self, id: Uuid, token: u64) {
        if id == self.server_id {
            if token == self.token {
                warn!("removed from the cluster by a peer");
                self.reset_alone();
            }
            return;
        }
        info!(member = %id, "member removed");
        self.add_tombstone(id, token);
        if let Some(m) = self.known.get(&id)
            && m.token == token
        {
            self.known.remove(&id);
        }
        if let Some((state, ident)) = self.swim_state(id)
            && state != State::Down
            && ident.token == token
            && let Err(e) =
                self.swim
                    .apply_many(std::iter::once(Member::down(ident)), true, &mut self.rt)
        {
            debug!(error = %e, "apply failed");
        }
        self.pump();
        self.persist();
    }

    /// Leaves the cluster and becomes a cluster of one with a new cluster id.
    pub fn reset_alone(&mut self) {
        if let Err(e) = self.swim.leave_cluster(&mut self.rt) {
            debug!(error = %e, "leave failed");
        }
        self.pump();
        self.switch_cluster(Uuid::new_v4(), rand::random());
        self.tombstones.clear();
        info!(cluster = %self.cluster_id, "now a cluster of one (uninitialized)");
        self.persist();
    }

    fn switch_cluster(&mut self, cluster_id: Uuid, token: u64) {
        self.cluster_id = cluster_id;
        self.token = token;
        self.bump += 1;
        self.generation += 1;
        self.known.clear();
        self.seen.clear();
        self.left.clear();
        if let Err(e) = identity::write_cluster_id(&self.s.data_dir, cluster_id) {
            warn!(error = %e, "cannot save the cluster id");
        }
        let me = Ident {
            token,
            bump: self.bump,
            ..self.me().clone()
        };
        self.swim = Foca::new(me, swim_config(&self.s, 1), rand::make_rng(), PostcardCodec);
        self.rt = AccumulatingRuntime::new();
    }

    /// The state for a push-pull sync.
    pub fn sync_state(&self) -> SyncState {
        let mut members: Vec<Member<Ident>> = self.swim.iter_membership_state().cloned().collect();
        members.push(Member::alive(self.me().clone()));
        SyncState {
            members,
            tombstones: self.tombstones.clone(),
        }
    }

    /// Merges a peer's full state.
    pub fn apply_sync(&mut self, state: SyncState) {
        for t in state.tombstones {
            if t.id == self.server_id && t.token == self.token {
                warn!("a peer's state says this member was removed");
                self.reset_alone();
                return;
            }
            if !self.is_tombstoned(t.id, t.token) {
                self.forget(t.id, t.token);
            }
        }
        self.expire_tombstones();
        let members: Vec<Member<Ident>> = state
            .members
            .into_iter()
            .filter(|m| !self.is_tombstoned(m.id().id, m.id().token))
            .collect();
        if let Err(e) = self
            .swim
            .apply_many(members.into_iter(), true, &mut self.rt)
        {
            debug!(error = %e, "apply failed");
        }
        self.pump();
    }

    /// A random known member for the periodic sync, including members believed down: talking
    /// to them is how a healed partition finds itself again.
    pub fn sync_target(&self) -> Option<SocketAddr> {
        if self.known.is_empty() {
            return None;
        }
        let i = rand::random_range(0..self.known.len());
        self.known.values().nth(i).map(|m| {
            self.swim_state(m.id)
                .map(|(_, ident)| ident.gossip)
                .unwrap_or(m.gossip)
        })
    }

    /// Graceful shutdown: say goodbye so peers show `left` rather than `dead`.
    pub fn shutdown(&mut self) {
        let header = self.header(Kind::Bye);
        let bye = self.bump.to_be_bytes().to_vec();
        for m in self.swim.iter_members() {
            self.effects.push(Effect::Send {
                to: m.id().gossip,
                header,
                payload: bye.clone(),
            });
        }
        if let Err(e) = self.swim.leave_cluster(&mut self.rt) {
            debug!(error = %e, "leave failed");
        }
        self.pump();
    }
}
