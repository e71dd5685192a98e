//! Deterministic simulation of several members: real [`Membership`]s and real envelopes, a
//! virtual clock, and a network that can lose members and links. Tests the protocol logic
//! (join, convergence, failure detection, removal, restart, partition and heal) without
//! sockets or sleeps.

use crate::member::{Meta, Status};
use crate::membership::{Effect, Membership, RemovePlan, View};
use crate::settings::Settings;
use crate::wire::{Header, Sealer};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

const SYNC: Duration = Duration::from_secs(5);

struct Sim {
    nodes: Vec<Option<Membership>>,
    settings: Vec<Arc<Settings>>,
    dirs: Vec<tempfile::TempDir>,
    sealer: Sealer,
    now: Duration,
    seq: u64,
    timers: BinaryHeap<Reverse<(Duration, u64)>>,
    pending: BTreeMap<u64, (usize, u64, foca::Timer<crate::member::Ident>)>,
    net: VecDeque<(usize, SocketAddr, Vec<u8>)>,
    /// Cut links (both directions), by node index.
    cut: HashSet<(usize, usize)>,
    next_sync: Duration,
}

fn addr(i: usize) -> SocketAddr {
    format!("127.0.0.1:{}", 20000 + i).parse().unwrap()
}

impl Sim {
    fn new(n: usize) -> Sim {
        let mut sim = Sim {
            nodes: Vec::new(),
            settings: Vec::new(),
            dirs: Vec::new(),
            sealer: Sealer::new(None).unwrap(),
            now: Duration::ZERO,
            seq: 0,
            timers: BinaryHeap::new(),
            pending: BTreeMap::new(),
            net: VecDeque::new(),
            cut: HashSet::new(),
            next_sync: SYNC,
        };
        for i in 0..n {
            let dir = tempfile::tempdir().unwrap();
            sim.settings.push(Arc::new(Settings {
                data_dir: dir.path().to_path_buf(),
                gossip_bind: addr(i),
                gossip_advertise: addr(i),
                rpc_bind: addr(i),
                meta: Meta {
                    gossip_address: addr(i).to_string(),
                    rpc_address: format!("rpc-{i}"),
                    api_address: format!("api-{i}"),
                    roles: vec!["worker".into()],
                },
                gossip_members: 3,
                gossip_interval: Duration::from_millis(200),
                sync_interval: SYNC,
                encryption_key: None,
            }));
            sim.dirs.push(dir);
            sim.nodes.push(None);
            sim.boot(i);
        }
        sim
    }

    /// Starts (or restarts) node `i` from its data dir, as a new process would.
    fn boot(&mut self, i: usize) {
        let ids = crate::identity::Identity::load_or_create(&self.settings[i].data_dir).unwrap();
        let m = Membership::start(self.settings[i].clone(), ids.server_id, ids.cluster_id).unwrap();
        self.nodes[i] = Some(m);
        self.flush(i);
    }

    fn kill(&mut self, i: usize) {
        self.nodes[i] = None;
    }

    fn node(&mut self, i: usize) -> &mut Membership {
        self.nodes[i].as_mut().expect("node is up")
    }

    fn index_of(&self, a: SocketAddr) -> Option<usize> {
        (0..self.nodes.len()).find(|i| addr(*i) == a)
    }

    fn flush(&mut self, i: usize) {
        let Some(m) = self.nodes[i].as_mut() else {
            return;
        };
        for e in m.take_effects() {
            match e {
                Effect::Send {
                    to,
                    header,
                    payload,
                } => {
                    let packet = self.sealer.seal(&header, &payload);
                    self.net.push_back((i, to, packet));
                }
                Effect::Schedule {
                    after,
                    generation,
                    timer,
                } => {
                    self.seq += 1;
                    self.timers.push(Reverse((self.now + after, self.seq)));
                    self.pending.insert(self.seq, (i, generation, timer));
                }
            }
        }
    }

    fn deliver(&mut self) {
        while let Some((from, to, packet)) = self.net.pop_front() {
            let Some(j) = self.index_of(to) else { continue };
            if self.cut.contains(&(from, j)) || self.nodes[j].is_none() {
                continue;
            }
            let (h, payload) = self.sealer.open(&packet).unwrap();
            self.node(j).handle_packet(addr(from), h, &payload);
            self.flush(j);
        }
    }

    /// The TCP push-pull between `i` and whoever it picks.
    fn sync(&mut self, i: usize) {
        let Some(target) = self.nodes[i].as_ref().and_then(|m| m.sync_target()) else {
            return;
        };
        let Some(j) = self.index_of(target) else {
            return;
        };
        if self.nodes[j].is_none() || self.cut.contains(&(i, j)) {
            return;
        }
        if self.nodes[i].as_ref().unwrap().cluster_id()
            != self.nodes[j].as_ref().unwrap().cluster_id()
        {
            return;
        }
        let mine = self.node(i).sync_state();
        let theirs = self.node(j).sync_state();
        self.node(j).apply_sync(mine);
        self.node(i).apply_sync(theirs);
        self.flush(i);
        self.flush(j);
    }

    fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        loop {
            self.deliver();
            let next_timer = self.timers.peek().map(|Reverse((at, _))| *at);
            let next = match next_timer {
                Some(t) if t <= self.next_sync => t,
                _ => self.next_sync,
            };
            if next > end {
                self.now = end;
                return;
            }
            self.now = next;
            if next == self.next_sync && next_timer != Some(next) {
                self.next_sync += SYNC;
                for i in 0..self.nodes.len() {
                    self.sync(i);
                }
                continue;
            }
            let Reverse((_, seq)) = self.timers.pop().unwrap();
            let (i, generation, timer) = self.pending.remove(&seq).unwrap();
            if let Some(m) = self.nodes[i].as_mut() {
                m.handle_timer(generation, timer);
                self.flush(i);
            }
        }
    }

    /// `member add` run on `adder` for `newcomer` (the RPC exchange done inline).
    fn add(&mut self, adder: usize, newcomer: usize) {
        let offer = self.node(adder).join_offer();
        let ident = self.node(newcomer).accept_join(offer).unwrap();
        self.flush(newcomer);
        self.node(adder).admit(ident);
        self.flush(adder);
    }

    /// `member remove` run on `on` for `target`, with the RPC notices delivered to up nodes.
    fn remove(&mut self, on: usize, target: usize) {
        let id = self.node_id(target).to_string();
        match self.node(on).remove(&id).unwrap() {
            RemovePlan::Myself { id, token, .. } => {
                for k in 0..self.nodes.len() {
                    if k != on && self.nodes[k].is_some() {
                        self.node(k).forget(id, token);
                        self.flush(k);
                    }
                }
                self.node(on).reset_alone();
            }
            RemovePlan::Other { target: t, .. } => {
                for k in 0..self.nodes.len() {
                    if k != on && self.nodes[k].is_some() {
                        self.node(k).forget(t.id, t.token);
                        self.flush(k);
                    }
                }
            }
        }
        self.flush(on);
    }

    fn node_id(&self, i: usize) -> Uuid {
        crate::identity::Identity::load_or_create(&self.settings[i].data_dir)
            .unwrap()
            .server_id
    }

    fn view(&mut self, i: usize) -> View {
        self.node(i).view()
    }

    fn status_of(&mut self, on: usize, of: usize) -> Option<Status> {
        let id = self.node_id(of);
        self.view(on)
            .members
            .iter()
            .find(|m| m.id == id)
            .map(|m| m.status)
    }

    fn all_alive(&mut self, members: &[usize]) -> bool {
        members.iter().all(|&i| {
            let v = self.view(i);
            v.members.len() == members.len() && v.members.iter().all(|m| m.status == Status::Alive)
        })
    }
}

#[test]
fn fresh_member_is_an_uninitialized_cluster_of_one() {
    let mut sim = Sim::new(1);
    let v = sim.view(0);
    assert!(!v.initialized);
    assert_eq!(v.members.len(), 1);
    assert_eq!(v.members[0].id, v.local_id);
    assert_eq!(v.members[0].status, Status::Alive);
    assert_eq!(v.members[0].rpc_address, "rpc-0");
}

#[test]
fn two_members_join_then_one_is_removed() {
    let mut sim = Sim::new(2);
    let a_cluster = sim.view(0).cluster_id;
    sim.add(0, 1);
    sim.run_for(Duration::from_secs(2));
    for i in 0..2 {
        let v = sim.view(i);
        assert!(v.initialized, "member {i}");
        assert_eq!(
            v.cluster_id, a_cluster,
            "member {i} has the adder's cluster id"
        );
    }
    assert!(sim.all_alive(&[0, 1]));

    sim.remove(0, 1);
    sim.run_for(Duration::from_secs(10));
    let b = sim.view(1);
    assert!(!b.initialized);
    assert_ne!(
        b.cluster_id, a_cluster,
        "removed member gets a new cluster id"
    );
    assert_eq!(b.members.len(), 1);
    let a = sim.view(0);
    assert_eq!(a.members.len(), 1, "the others forget it: {a:?}");
    assert!(!a.initialized);
    assert_eq!(a.cluster_id, a_cluster);
}

#[test]
fn removing_itself_works_from_the_removed_side() {
    let mut sim = Sim::new(3);
    sim.add(0, 1);
    sim.add(0, 2);
    sim.run_for(Duration::from_secs(2));
    let cluster = sim.view(0).cluster_id;
    sim.remove(2, 2);
    sim.run_for(Duration::from_secs(10));
    assert!(!sim.view(2).initialized);
    assert_ne!(sim.view(2).cluster_id, cluster);
    assert!(sim.all_alive(&[0, 1]));
    assert_eq!(sim.view(0).members.len(), 2);
}

#[test]
fn five_members_added_through_different_members_converge() {
    let mut sim = Sim::new(5);
    sim.add(0, 1);
    sim.add(1, 2);
    sim.add(2, 3);
    sim.add(0, 4);
    sim.run_for(Duration::from_secs(2));
    assert!(sim.all_alive(&[0, 1, 2, 3, 4]));
    let c = sim.view(0).cluster_id;
    assert!((0..5).all(|i| sim.view(i).cluster_id == c));
}

#[test]
fn a_dead_member_is_detected_by_everyone() {
    let mut sim = Sim::new(4);
    for i in 1..4 {
        sim.add(0, i);
    }
    sim.run_for(Duration::from_secs(2));
    sim.kill(3);
    sim.run_for(Duration::from_secs(30));
    for i in 0..3 {
        assert_eq!(sim.status_of(i, 3), Some(Status::Dead), "seen from {i}");
        assert_eq!(sim.status_of(i, 1), Some(Status::Alive));
    }
}

#[test]
fn a_restarted_member_rejoins_with_the_same_id_and_cluster() {
    let mut sim = Sim::new(3);
    sim.add(0, 1);
    sim.add(0, 2);
    sim.run_for(Duration::from_secs(2));
    let cluster = sim.view(0).cluster_id;
    let id = sim.node_id(2);
    sim.kill(2);
    sim.run_for(Duration::from_millis(300));
    sim.boot(2);
    sim.run_for(Duration::from_secs(10));
    let v = sim.view(2);
    assert_eq!(
        (v.local_id, v.cluster_id, v.initialized),
        (id, cluster, true)
    );
    assert!(sim.all_alive(&[0, 1, 2]));
}

#[test]
fn a_member_removed_while_down_is_told_when_it_comes_back() {
    let mut sim = Sim::new(3);
    sim.add(0, 1);
    sim.add(0, 2);
    sim.run_for(Duration::from_secs(2));
    let cluster = sim.view(0).cluster_id;
    sim.kill(2);
    sim.run_for(Duration::from_secs(1));
    sim.remove(0, 2);
    sim.boot(2);
    sim.run_for(Duration::from_secs(10));
    let v = sim.view(2);
    assert!(!v.initialized, "{v:?}");
    assert_ne!(v.cluster_id, cluster);
    assert_eq!(sim.view(0).members.len(), 2);
    assert!(sim.all_alive(&[0, 1]));
}

#[test]
fn a_removed_member_can_be_added_again() {
    let mut sim = Sim::new(2);
    sim.add(0, 1);
    sim.run_for(Duration::from_secs(2));
    sim.remove(1, 0);
    sim.run_for(Duration::from_secs(5));
    sim.add(1, 0);
    sim.run_for(Duration::from_secs(5));
    assert!(sim.all_alive(&[0, 1]));
    assert_eq!(sim.view(0).cluster_id, sim.view(1).cluster_id);
}

#[test]
fn partition_heals_without_a_manual_step() {
    let mut sim = Sim::new(3);
    sim.add(0, 1);
    sim.add(0, 2);
    sim.run_for(Duration::from_secs(2));
    for (a, b) in [(0, 1), (1, 0), (0, 2), (2, 0)] {
        sim.cut.insert((a, b));
    }
    sim.run_for(Duration::from_secs(30));
    assert_eq!(sim.status_of(1, 0), Some(Status::Dead));
    assert_eq!(sim.status_of(0, 2), Some(Status::Dead));
    sim.cut.clear();
    sim.run_for(Duration::from_secs(30));
    assert!(sim.all_alive(&[0, 1, 2]));
}

#[test]
fn gossip_of_another_cluster_is_ignored() {
    let mut sim = Sim::new(3);
    sim.add(0, 1);
    sim.run_for(Duration::from_secs(2));
    // Member 2 is its own cluster; a packet from it reaches member 0.
    let h = sim.node(2).header(crate::wire::Kind::Swim);
    assert!(!sim.node(0).handle_packet(addr(2), h, b"whatever"));
    let stranger = Header {
        cluster_id: Uuid::new_v4(),
        ..h
    };
    assert!(!sim.node(0).handle_packet(addr(2), stranger, b""));
    assert_eq!(sim.view(0).members.len(), 2);
}

#[test]
fn a_member_of_another_cluster_refuses_to_join() {
    let mut sim = Sim::new(4);
    sim.add(0, 1);
    sim.add(2, 3);
    let offer = sim.node(0).join_offer();
    let err = sim.node(2).accept_join(offer).unwrap_err();
    assert!(err.contains("already belongs to cluster"), "{err}");
    let own = sim.node(0).join_offer();
    assert!(sim.node(0).accept_join(own).unwrap_err().contains("itself"));
}

#[test]
fn unknown_member_id_is_not_found() {
    let mut sim = Sim::new(1);
    let e = sim.node(0).remove(&Uuid::new_v4().to_string()).unwrap_err();
    assert!(e.to_string().contains("no member with ID"), "{e}");
    assert!(sim.node(0).remove("garbage").is_err());
}
