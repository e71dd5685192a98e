//! The dedup protocol on a simulated cluster with a virtual clock: members are schedulers,
//! the network is a queue of messages with a latency, a "kill" stops a member, a partition
//! drops messages between two sides, and failure detection is a membership change some time
//! after the kill.

use super::*;
use crate::Level;
use crate::cluster::scheduler::Origin;
use crate::cluster::scheduler::{self, ClaimAnswer};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

const LATENCY: Duration = Duration::from_millis(3);
const STEP: Duration = Duration::from_millis(1);
/// How long a claimant waits for an earlier owner's answer (the RPC timeout).
const CLAIM_TIMEOUT: Duration = Duration::from_millis(100);

enum Msg {
    Forward(NoticeKey),
    Done(Notice),
    Claim {
        id: u64,
        from: String,
        key: NoticeKey,
    },
    Answer {
        id: u64,
        from: String,
        answer: ClaimAnswer,
    },
}

/// A claim in flight: who claims, the event, the earlier owners' answers so far.
struct Claim {
    member: String,
    due: Due<Duration>,
    answers: HashMap<String, ClaimAnswer>,
    deadline: Duration,
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
    latency: Duration,
    claims: HashMap<u64, Claim>,
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
            latency: LATENCY,
            claims: HashMap::new(),
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
            .insert((self.now + self.latency, self.seq), (to.to_string(), msg));
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
                Msg::Claim { id, from, key } => {
                    let ms = self.now_ms();
                    let answer = self
                        .nodes
                        .get_mut(&to)
                        .unwrap()
                        .answer_claim(&key, &from, ms);
                    self.send(
                        &to,
                        &from,
                        Msg::Answer {
                            id,
                            from: to.clone(),
                            answer,
                        },
                    );
                }
                Msg::Answer { id, from, answer } => {
                    if let Some(c) = self.claims.get_mut(&id) {
                        c.answers.insert(from, answer);
                    }
                }
            }
        }
        let now = self.t0 + self.now;
        let ms = self.now_ms();
        // Claims with every answer in, or out of time.
        let settled: Vec<u64> = self
            .claims
            .iter()
            .filter(|(_, c)| c.answers.len() == c.due.ask.len() || self.now >= c.deadline)
            .map(|(id, _)| *id)
            .collect();
        let mut delivered = Vec::new();
        for id in settled {
            let c = self.claims.remove(&id).unwrap();
            if self.dead.contains(&c.member) {
                continue;
            }
            let answers: Vec<Option<ClaimAnswer>> = c
                .due
                .ask
                .iter()
                .map(|o| c.answers.get(o).copied())
                .collect();
            let key = c.due.key.clone();
            let node = self.nodes.get_mut(&c.member).unwrap();
            if let Some(emitted) = node.resolve(c.due, &answers, now) {
                let notice = node.completed(key.clone(), ms);
                let peers = node.peers_to_notify(&key.topic);
                delivered.push((c.member, key.event_id, emitted, notice, peers));
            }
        }
        let alive: Vec<String> = self
            .members
            .iter()
            .filter(|m| !self.dead.contains(*m))
            .cloned()
            .collect();
        for m in alive {
            let node = self.nodes.get_mut(&m).unwrap();
            let mut claims = Vec::new();
            for due in node.due(now) {
                if !due.ask.is_empty() {
                    claims.push(due);
                    continue;
                }
                let notice = node.completed(due.key.clone(), ms);
                delivered.push((
                    m.clone(),
                    due.key.event_id.clone(),
                    due.item,
                    notice,
                    node.peers_to_notify(&due.key.topic),
                ));
            }
            for due in claims {
                self.seq += 1;
                let id = self.seq;
                for o in due.ask.clone() {
                    let key = due.key.clone();
                    self.send(
                        &m,
                        &o,
                        Msg::Claim {
                            id,
                            from: m.clone(),
                            key,
                        },
                    );
                }
                let deadline = self.now + CLAIM_TIMEOUT;
                self.claims.insert(
                    id,
                    Claim {
                        member: m.clone(),
                        due,
                        answers: HashMap::new(),
                        deadline,
                    },
                );
            }
        }
        for (m, id, emitted, notice, peers) in delivered {
            self.deliveries.push((id, m.clone(), self.now - emitted));
            for p in peers {
                self.send(&m, &p, Msg::Done(notice.clone()));
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
    // The wait, then a claim to the dead owner that goes unanswered.
    assert!(
        worst <= delay + CLAIM_TIMEOUT + LATENCY * 2,
        "worst latency {worst:?}"
    );
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

#[test]
fn notices_slower_than_the_wait_make_no_duplicates() {
    // A burst: the network is slower than delay-per-member, so every later owner's wait runs
    // out before the primary's notice arrives; the claim settles it.
    let mut sim = Sim::new(3, 2, Duration::from_millis(50));
    sim.latency = Duration::from_millis(80);
    for id in 0..500 {
        sim.emit("m0", id);
        sim.emit("m1", id);
        sim.emit("m2", id);
    }
    sim.run_for(Duration::from_secs(3));
    let per = sim.per_event();
    assert_eq!(per.len(), 500, "lost events");
    let dups = per.values().filter(|n| **n > 1).count();
    assert_eq!(dups, 0, "duplicates");
    let claimed: u64 = sim.nodes.values().map(|n| n.counters().claimed).sum();
    assert!(claimed > 0, "the later owners' waits ran out: they claimed");
    for n in sim.nodes.values() {
        assert_eq!(n.pending(), 0);
    }
}

#[test]
fn a_claim_is_granted_by_an_owner_that_never_saw_the_event() {
    let d = Duration::from_secs(1);
    let t0 = Instant::now();
    let m = ["a".to_string(), "b".to_string(), "c".to_string()];
    let o = owners("cpu", &m, 2);
    let mut first: DedupScheduler<u32> = DedupScheduler::new(o[0].clone(), 2, d);
    let mut second: DedupScheduler<u32> = DedupScheduler::new(o[1].clone(), 2, d);
    first.set_members(m.clone());
    second.set_members(m.clone());
    let k = Sim::key(0);
    let k = NoticeKey {
        topic: "cpu".into(),
        ..k
    };
    second.submit(k.clone(), 1, Origin::Local, t0);
    let due = second.due(t0 + d).pop().unwrap();
    assert_eq!(due.ask, vec![o[0].clone()]);
    // The first owner never saw it: granted, and the event arriving later is dropped there.
    let a = first.answer_claim(&k, &o[1], 1);
    assert_eq!(a, ClaimAnswer::Granted);
    assert_eq!(
        first.submit(k.clone(), 1, Origin::Forwarded, t0 + d),
        Submitted::AlreadyDelivered
    );
    assert_eq!(second.resolve(due, &[Some(a)], t0 + d), Some(1));
    assert_eq!(second.counters().secondary_handle_count, 1);
    // An owner holding the event says so; the claimant waits another turn, then delivers
    // anyway after MAX_REPARKS turns (views that disagree must not lose it).
    let k2 = NoticeKey {
        event_id: "e2".into(),
        ..k.clone()
    };
    first.submit(k2.clone(), 2, Origin::Local, t0 + d * 10);
    second.submit(k2.clone(), 2, Origin::Local, t0);
    let mut now = t0 + d;
    let mut turns = 0;
    loop {
        let due = second.due(now).pop().unwrap();
        let a = first.answer_claim(&k2, &o[1], 2);
        assert_eq!(a, ClaimAnswer::Mine);
        if second.resolve(due, &[Some(a)], now).is_some() {
            break;
        }
        turns += 1;
        now += d;
    }
    assert_eq!(turns, scheduler::MAX_REPARKS);
}

#[test]
fn a_primary_back_before_the_others_see_it_makes_no_duplicates() {
    // The primary of topic-0 restarts (empty log) and sees everyone at once; the member that
    // stood in for it learns it is back only 300 ms later and meanwhile still delivers as
    // primary. Both run the task throughout.
    let delay = Duration::from_secs(2);
    let mut sim = Sim::new(3, 2, delay);
    let o = owners("topic-0", &sim.members, 2);
    let (p, s) = (o[0].clone(), o[1].clone());
    sim.dead.insert(p.clone());
    sim.detect();
    sim.run_for(Duration::from_secs(3));
    let mut fresh = DedupScheduler::new(p.clone(), 2, delay);
    fresh.set_members_at(sim.members.clone(), sim.t0 + sim.now);
    sim.nodes.insert(p.clone(), fresh);
    sim.dead.remove(&p);
    let back = sim.now;
    let mut id = 0;
    while sim.now < back + Duration::from_secs(3) {
        if sim.now >= back + Duration::from_millis(300) && sim.nodes[&s].members().len() < 3 {
            let all = sim.members.clone();
            let at = sim.t0 + sim.now;
            for m in &all {
                sim.nodes
                    .get_mut(m)
                    .unwrap()
                    .set_members_at(all.clone(), at);
            }
        }
        // Only topic-0 events (ids that are multiples of 7).
        sim.emit(&p, id * 7);
        sim.emit(&s, id * 7);
        id += 1;
        sim.run_for(Duration::from_millis(10));
    }
    sim.run_for(delay * 4);
    let per = sim.per_event();
    assert_eq!(per.len(), id, "lost events");
    let dups = per.values().filter(|n| **n > 1).count();
    assert_eq!(dups, 0, "duplicates");
}
