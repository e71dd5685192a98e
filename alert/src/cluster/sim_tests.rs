//! The dedup protocol on a simulated cluster with a virtual clock: members are schedulers,
//! the network is a queue of messages with a latency, a "kill" stops a member, a partition
//! drops messages between two sides, and failure detection is a membership change some time
//! after the kill.

use super::*;
use crate::Level;
use crate::cluster::scheduler::Origin;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

const LATENCY: Duration = Duration::from_millis(3);
const STEP: Duration = Duration::from_millis(1);

enum Msg {
    Forward(NoticeKey),
    Done(Notice),
}

struct Sim {
    t0: Instant,
    now: Duration,
    members: Vec<String>,
    nodes: HashMap<String, DedupScheduler<Duration>>,
    dead: HashSet<String>,
    /// Pairs that cannot talk.
    cut: HashSet<(String, String)>,
    net: BTreeMap<(Duration, u64), (String, Msg)>,
    seq: u64,
    /// (event id, delivering member, delay after the event's time)
    deliveries: Vec<(String, String, Duration)>,
}

impl Sim {
    fn new(n: usize, redundancy: usize, delay: Duration) -> Sim {
        let members: Vec<String> = (0..n).map(|i| format!("m{i}")).collect();
        let nodes = members
            .iter()
            .map(|m| {
                let mut s = DedupScheduler::new(m.clone(), redundancy, delay);
                s.set_members(members.clone());
                (m.clone(), s)
            })
            .collect();
        Sim {
            t0: Instant::now(),
            now: Duration::ZERO,
            members,
            nodes,
            dead: HashSet::new(),
            cut: HashSet::new(),
            net: BTreeMap::new(),
            seq: 0,
            deliveries: Vec::new(),
        }
    }

    fn now_ms(&self) -> u64 {
        1_000_000 + self.now.as_millis() as u64
    }

    fn send(&mut self, from: &str, to: &str, msg: Msg) {
        if self.cut.contains(&(from.to_string(), to.to_string())) {
            return;
        }
        self.seq += 1;
        self.net
            .insert((self.now + LATENCY, self.seq), (to.to_string(), msg));
    }

    fn key(id: usize) -> NoticeKey {
        NoticeKey {
            topic: format!("topic-{}", id % 7),
            event_id: format!("e{id}"),
            level: Level::Critical,
            time: id as i64,
        }
    }

    /// The task emits event `id` on `on`.
    fn emit(&mut self, on: &str, id: usize) {
        self.submit(on, Self::key(id), Origin::Local);
    }

    fn submit(&mut self, on: &str, key: NoticeKey, origin: Origin) {
        if self.dead.contains(on) {
            return;
        }
        let now = self.t0 + self.now;
        let emitted = self.now;
        let node = self.nodes.get_mut(on).unwrap();
        match node.submit(key.clone(), emitted, origin, now) {
            Submitted::Forward(owners) => {
                for o in owners {
                    self.send(on, &o, Msg::Forward(key.clone()));
                }
            }
            Submitted::Local => {
                self.deliveries
                    .push((key.event_id, on.to_string(), Duration::ZERO));
            }
            _ => {}
        }
    }

    fn step(&mut self) {
        self.now += STEP;
        while let Some(entry) = self.net.first_entry() {
            if entry.key().0 > self.now {
                break;
            }
            let (to, msg) = entry.remove();
            if self.dead.contains(&to) {
                continue;
            }
            match msg {
                Msg::Forward(key) => self.submit(&to, key, Origin::Forwarded),
                Msg::Done(n) => {
                    let ms = self.now_ms();
                    self.nodes.get_mut(&to).unwrap().notice(n, ms);
                }
            }
        }
        let now = self.t0 + self.now;
        let ms = self.now_ms();
        let alive: Vec<String> = self
            .members
            .iter()
            .filter(|m| !self.dead.contains(*m))
            .cloned()
            .collect();
        for m in alive {
            let node = self.nodes.get_mut(&m).unwrap();
            let mut out = Vec::new();
            for due in node.due(now) {
                let notice = node.completed(due.key.clone(), ms);
                out.push((
                    due.key.event_id.clone(),
                    due.item,
                    notice,
                    node.peers_to_notify(&due.key.topic),
                ));
            }
            for (id, emitted, notice, peers) in out {
                self.deliveries.push((id, m.clone(), self.now - emitted));
                for p in peers {
                    self.send(&m, &p, Msg::Done(notice.clone()));
                }
            }
        }
    }

    fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        while self.now < end {
            self.step();
        }
    }

    /// Membership as seen by the survivors once the failure detector noticed.
    fn detect(&mut self) {
        let alive: Vec<String> = self
            .members
            .iter()
            .filter(|m| !self.dead.contains(*m))
            .cloned()
            .collect();
        for m in &alive {
            self.nodes.get_mut(m).unwrap().set_members(alive.clone());
        }
    }

    fn per_event(&self) -> HashMap<String, usize> {
        let mut c = HashMap::new();
        for (id, _, _) in &self.deliveries {
            *c.entry(id.clone()).or_default() += 1;
        }
        c
    }

    fn partition(&mut self, a: &[&str], b: &[&str]) {
        for x in a {
            for y in b {
                self.cut.insert((x.to_string(), y.to_string()));
                self.cut.insert((y.to_string(), x.to_string()));
            }
        }
    }
}

#[test]
fn same_task_on_two_members_delivers_each_event_once() {
    let mut sim = Sim::new(3, 2, Duration::from_secs(2));
    for id in 0..1000 {
        sim.emit("m0", id);
        sim.emit("m1", id);
        sim.step();
    }
    sim.run_for(Duration::from_secs(5));
    let per = sim.per_event();
    assert_eq!(per.len(), 1000);
    assert!(
        per.values().all(|n| *n == 1),
        "duplicates: {:?}",
        per.values().filter(|n| **n > 1).count()
    );
    let primaries: u64 = sim
        .nodes
        .values()
        .map(|n| n.counters().primary_handle_count)
        .sum();
    let secondaries: u64 = sim
        .nodes
        .values()
        .map(|n| n.counters().secondary_handle_count)
        .sum();
    assert_eq!((primaries, secondaries), (1000, 0));
    // Every owner ends with the same log for the topics it owns.
    for n in sim.nodes.values() {
        assert_eq!(n.pending(), 0);
    }
}

#[test]
fn killing_the_primary_loses_nothing_and_duplicates_only_in_flight_events() {
    let delay = Duration::from_secs(2);
    let mut sim = Sim::new(3, 2, delay);
    let detect_after = Duration::from_millis(1500);
    let mut killed_at = None;
    for id in 0..1000 {
        if id == 500 {
            // The primary of topic-0 dies; every member runs the task so events keep coming.
            let victim = owners("topic-0", &sim.members, 2)[0].clone();
            sim.dead.insert(victim);
            killed_at = Some(sim.now);
        }
        if let Some(at) = killed_at
            && sim.now >= at + detect_after
        {
            sim.detect();
        }
        for m in sim.members.clone() {
            sim.emit(&m, id);
        }
        sim.run_for(Duration::from_millis(5));
    }
    sim.run_for(delay * 3);
    let per = sim.per_event();
    assert_eq!(per.len(), 1000, "lost events");
    let dups = per.values().filter(|n| **n > 1).count();
    assert!(per.values().all(|n| *n <= 2));
    // Only events whose completion notice was in flight at the kill can be delivered twice.
    assert!(dups <= 2, "{dups} duplicates");
    let worst = sim.deliveries.iter().map(|d| d.2).max().unwrap();
    assert!(worst <= delay + LATENCY * 2, "worst latency {worst:?}");
}

#[test]
fn a_partition_of_the_owners_loses_nothing_and_logs_converge_after_healing() {
    let mut sim = Sim::new(3, 2, Duration::from_millis(500));
    let o = owners("topic-0", &sim.members, 2);
    let (a, b) = (o[0].clone(), o[1].clone());
    sim.partition(&[&a], &[&b]);
    for id in 0..200 {
        for m in sim.members.clone() {
            sim.emit(&m, id);
        }
        sim.step();
    }
    sim.run_for(Duration::from_secs(3));
    let per = sim.per_event();
    assert_eq!(per.len(), 200, "nothing lost during the partition");
    // Heal: a full sync exchanges the logs both ways.
    sim.cut.clear();
    let ms = sim.now_ms();
    let snap_a = sim.nodes[&a].log().snapshot();
    let snap_b = sim.nodes[&b].log().snapshot();
    sim.nodes.get_mut(&a).unwrap().merge_log(snap_b, ms);
    sim.nodes.get_mut(&b).unwrap().merge_log(snap_a, ms);
    let keys = |m: &str| {
        let mut k: Vec<NoticeKey> = sim.nodes[m]
            .log()
            .snapshot()
            .into_iter()
            .map(|n| n.key)
            .collect();
        k.sort();
        k
    };
    assert_eq!(keys(&a), keys(&b));
    // Events of the partitioned pair's topic were delivered on both sides, at most twice.
    assert!(per.values().all(|n| *n <= 2));
}
