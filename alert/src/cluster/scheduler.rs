//! Per-event delivery decisions on one member.
//!
//! [`DedupScheduler::submit`] is called for every event that reaches this member (from a
//! local task or forwarded by a member that does not own the topic). Owner `i` of the topic
//! holds the event until `i × delay-per-member` has passed; [`DedupScheduler::due`] hands
//! back the events whose wait is over and that no earlier owner has completed, and
//! [`DedupScheduler::completed`] records this member's delivery as a [`Notice`] for the other
//! owners. A [`Notice`] from another owner ([`DedupScheduler::notice`]) cancels the wait.
//!
//! A later owner whose wait ran out does not deliver blindly: it *claims* the event from the
//! earlier owners first ([`Due::ask`], answered by [`DedupScheduler::answer_claim`] on
//! each of them, settled by [`DedupScheduler::resolve`]). An earlier owner that delivered it
//! says [`ClaimAnswer::Done`], one that holds it says [`ClaimAnswer::Mine`] (the claimant
//! waits another turn), one that never saw it records the claimant's delivery and says
//! [`ClaimAnswer::Granted`] (the event arriving there later is dropped). So the wait only
//! decides *when* to ask, and a completion notice that is slow under a burst no longer makes
//! a duplicate; an owner that does not answer (dead, partitioned) counts as granted.
//!
//! A primary whose view of the membership changed a moment ago (it just started, joined or
//! came back) may be preempting a member that still sees the old membership and thinks it
//! is the primary itself: for [`VERIFY_AFTER_CHANGE`] its events are claimed from the later
//! owners before delivery ([`Due::ask`]). An owner that holds an event and is claimed by an
//! owner *earlier* than itself yields (`Granted`, its own copy dropped), so such a claim
//! never waits on an owner that is merely waiting its turn.
//!
//! An event handed out by `due` stays *in flight* until it is delivered
//! ([`DedupScheduler::completed`]) or given up: another copy of it (the same task on another
//! member forwards its own) is a duplicate meanwhile; a claim is answered `Done` while it is
//! being delivered here and `Mine` while it is being claimed.
//!
//! When membership changes, waiting events move up to their new position (an earlier owner
//! died: the next one delivers without waiting out the dead owner's turn), never down, and an
//! event is never dropped because this member stopped owning the topic: a duplicate is
//! better than a lost alert (Alertmanager's "fail open").

use super::notification_log::{Notice, NoticeKey, NotificationLog};
use super::ownership::owners;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

/// What became of a submitted event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Submitted {
    /// No ownership (`redundancy = 0` or a single member): deliver it here now, no dedup.
    Local,
    /// This member does not own the topic: send the event to these owners (primary first).
    Forward(Vec<String>),
    /// Held until `due`; `position` 0 is the primary.
    Scheduled { position: usize, due: Instant },
    /// The same event is already waiting here (the other copy of a task, or a forward).
    Duplicate,
    /// An owner already delivered it.
    AlreadyDelivered,
}

/// Where an event came from: a forwarded event is never forwarded again, so members whose
/// views of the membership differ for a moment cannot bounce it between them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Local,
    Forwarded,
}

/// An event whose wait is over. With nobody to [`ask`](Self::ask) deliver it, then call
/// [`DedupScheduler::completed`]; otherwise claim it from them first and hand their answers
/// to [`DedupScheduler::resolve`].
#[derive(Debug)]
pub struct Due<T> {
    pub key: NoticeKey,
    pub item: T,
    pub position: usize,
    /// The owners to claim the event from: those before this member in its view, or, for a
    /// primary whose view just changed, the later ones.
    pub ask: Vec<String>,
    reparks: u8,
    submitted: Instant,
}

/// An earlier owner's answer to a claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClaimAnswer {
    /// It delivered the event, or granted it to another owner: do not deliver.
    Done,
    /// It holds the event and will deliver or claim it itself: wait another turn.
    Mine,
    /// It never saw the event and recorded that the claimant delivers it.
    Granted,
}

/// How many times a claimant waits another turn behind an owner that says
/// [`ClaimAnswer::Mine`] before delivering anyway (two members whose views of the membership
/// disagree can each think the other is earlier; fail open rather than lose the event).
pub const MAX_REPARKS: u8 = 3;

/// How long after this member's view of the membership changed its events as primary are
/// claimed from the later owners first: longer than another member takes to learn of the
/// same change (gossip, then apid's next look at it), short enough to cost nothing in a
/// steady cluster.
pub const VERIFY_AFTER_CHANGE: Duration = Duration::from_secs(2);

/// Kapacitor Enterprise's `kapacitor_alert` counters plus what this member suppressed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Delivered as the topic's first owner.
    pub primary_handle_count: u64,
    /// Delivered as a later owner: the earlier ones did not complete in time.
    pub secondary_handle_count: u64,
    /// Completion notices that arrived after this member had delivered the event too.
    pub notification_dropped: u64,
    /// Events not delivered here because another owner completed them.
    pub suppressed: u64,
    /// Events sent on to the owners.
    pub forwarded: u64,
    /// Events this member claimed from other owners: its wait ran out, or it verified as a
    /// primary whose view had just changed.
    pub claimed: u64,
    /// Claims no earlier owner answered (dead, partitioned, overloaded): delivered here
    /// anyway, which may duplicate what an owner that did not answer delivered.
    pub claims_unanswered: u64,
}

struct Pending<T> {
    item: T,
    submitted: Instant,
    position: usize,
    seq: u64,
    due: Instant,
    reparks: u8,
    /// Primary in a view that had just changed: claim from the later owners first.
    verify: bool,
}

pub struct DedupScheduler<T> {
    me: String,
    redundancy: usize,
    delay: Duration,
    alive: Vec<String>,
    pending: HashMap<NoticeKey, Pending<T>>,
    /// Events handed out by `due` to be claimed, not yet [`resolve`](Self::resolve)d.
    claiming: HashSet<NoticeKey>,
    /// Events handed out to be delivered, not yet [`completed`](Self::completed).
    delivering: HashSet<NoticeKey>,
    /// When this member's view of the alive members last changed (or was first set).
    view_changed: Option<Instant>,
    queue: BTreeMap<(Instant, u64), NoticeKey>,
    seq: u64,
    log: NotificationLog,
    counters: Counters,
}

impl<T> DedupScheduler<T> {
    pub fn new(me: impl Into<String>, redundancy: usize, delay: Duration) -> DedupScheduler<T> {
        let me = me.into();
        DedupScheduler {
            alive: vec![me.clone()],
            me,
            redundancy,
            delay,
            pending: HashMap::new(),
            claiming: HashSet::new(),
            delivering: HashSet::new(),
            view_changed: None,
            queue: BTreeMap::new(),
            seq: 0,
            log: NotificationLog::default(),
            counters: Counters::default(),
        }
    }

    pub fn with_log(mut self, log: NotificationLog) -> Self {
        self.log = log;
        self
    }

    pub fn me(&self) -> &str {
        &self.me
    }

    pub fn counters(&self) -> Counters {
        self.counters
    }

    pub fn log(&self) -> &NotificationLog {
        &self.log
    }

    /// The alive members as last set (sorted; this one always among them).
    pub fn members(&self) -> &[String] {
        &self.alive
    }

    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Whether events are deduplicated at all (else every member delivers its own).
    pub fn clustered(&self) -> bool {
        self.redundancy > 0 && self.alive.len() > 1
    }

    /// The owners of `topic` in order; empty when not [`clustered`](Self::clustered).
    pub fn owners(&self, topic: &str) -> Vec<String> {
        if !self.clustered() {
            return Vec::new();
        }
        owners(topic, &self.alive, self.redundancy)
    }

    /// The other owners of `topic`: where this member's completion notices go.
    pub fn peers_to_notify(&self, topic: &str) -> Vec<String> {
        let mut o = self.owners(topic);
        o.retain(|m| *m != self.me);
        o
    }

    /// The alive members (this one is always among them). Waiting events move up to their
    /// new position when an earlier owner is gone.
    pub fn set_members(&mut self, alive: impl IntoIterator<Item = String>) {
        self.set_members_at(alive, Instant::now());
    }

    /// [`set_members`](Self::set_members) at `now`.
    pub fn set_members_at(&mut self, alive: impl IntoIterator<Item = String>, now: Instant) {
        let mut alive: Vec<String> = alive.into_iter().collect();
        if !alive.contains(&self.me) {
            alive.push(self.me.clone());
        }
        alive.sort();
        alive.dedup();
        if alive == self.alive && self.view_changed.is_some() {
            return;
        }
        self.view_changed = Some(now);
        self.alive = alive;
        let clustered = self.clustered();
        let mut moves = Vec::new();
        for (key, p) in &self.pending {
            let pos = if clustered {
                owners(&key.topic, &self.alive, self.redundancy)
                    .iter()
                    .position(|m| *m == self.me)
            } else {
                Some(0)
            };
            if let Some(pos) = pos.filter(|pos| *pos < p.position) {
                moves.push((key.clone(), pos));
            }
        }
        for (key, pos) in moves {
            if let Some(p) = self.pending.get_mut(&key) {
                self.queue.remove(&(p.due, p.seq));
                p.position = pos;
                p.due = p.submitted + self.delay * pos as u32;
                self.queue.insert((p.due, p.seq), key);
            }
        }
    }

    pub fn submit(&mut self, key: NoticeKey, item: T, origin: Origin, now: Instant) -> Submitted {
        if !self.clustered() {
            return Submitted::Local;
        }
        if self.log.contains(&key) {
            self.counters.suppressed += 1;
            return Submitted::AlreadyDelivered;
        }
        if self.in_flight(&key) {
            return Submitted::Duplicate;
        }
        let owners = owners(&key.topic, &self.alive, self.redundancy);
        let position = match owners.iter().position(|m| *m == self.me) {
            Some(p) => p,
            None if origin == Origin::Local => {
                self.counters.forwarded += 1;
                return Submitted::Forward(owners);
            }
            // Sent here by a member that thinks this one owns the topic: wait behind every
            // owner this member knows of, then deliver rather than lose it.
            None => owners.len(),
        };
        self.seq += 1;
        let due = now + self.delay * position as u32;
        let verify = position == 0
            && self
                .view_changed
                .is_some_and(|at| now.saturating_duration_since(at) < VERIFY_AFTER_CHANGE);
        self.queue.insert((due, self.seq), key.clone());
        self.pending.insert(
            key,
            Pending {
                item,
                submitted: now,
                position,
                seq: self.seq,
                due,
                reparks: 0,
                verify,
            },
        );
        Submitted::Scheduled { position, due }
    }

    /// When [`due`](Self::due) next has something.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.queue.keys().next().map(|(at, _)| *at)
    }

    /// The events whose wait is over, in due order. Those with owners to ask are held as
    /// being claimed until [`resolve`](Self::resolve)d, the others as being delivered until
    /// [`completed`](Self::completed).
    pub fn due(&mut self, now: Instant) -> Vec<Due<T>> {
        let mut out = Vec::new();
        while let Some(entry) = self.queue.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let key = entry.remove();
            let Some(p) = self.pending.remove(&key) else {
                continue;
            };
            let ask = if p.verify {
                self.later_owners(&key.topic)
            } else {
                self.earlier_owners(&key.topic, p.position)
            };
            if ask.is_empty() {
                self.count_handled(p.position);
                self.delivering.insert(key.clone());
            } else {
                self.claiming.insert(key.clone());
            }
            out.push(Due {
                key,
                item: p.item,
                position: p.position,
                ask,
                reparks: p.reparks,
                submitted: p.submitted,
            });
        }
        out
    }

    fn count_handled(&mut self, position: usize) {
        if position == 0 {
            self.counters.primary_handle_count += 1;
        } else {
            self.counters.secondary_handle_count += 1;
        }
    }

    fn in_flight(&self, key: &NoticeKey) -> bool {
        self.pending.contains_key(key)
            || self.claiming.contains(key)
            || self.delivering.contains(key)
    }

    /// The owners of `topic` after this member in its current view (when it is the primary).
    fn later_owners(&self, topic: &str) -> Vec<String> {
        if !self.clustered() {
            return Vec::new();
        }
        let mut o = owners(topic, &self.alive, self.redundancy);
        o.retain(|m| *m != self.me);
        o
    }

    /// The owners of `topic` before `position` in this member's current view, alive ones only
    /// (an owner that left the membership cannot answer).
    fn earlier_owners(&self, topic: &str, position: usize) -> Vec<String> {
        if position == 0 || !self.clustered() {
            return Vec::new();
        }
        let mut o = owners(topic, &self.alive, self.redundancy);
        o.truncate(position);
        o.retain(|m| *m != self.me);
        o
    }

    /// Another owner claims `key` (its wait ran out, or it is a primary verifying): see
    /// [`ClaimAnswer`]. An event held here is yielded to a claimant that comes before this
    /// member among the topic's owners.
    pub fn answer_claim(&mut self, key: &NoticeKey, by: &str, now_ms: u64) -> ClaimAnswer {
        if self.log.contains(key) || self.delivering.contains(key) {
            return ClaimAnswer::Done;
        }
        if self.pending.contains_key(key) || self.claiming.contains(key) {
            if !self.precedes_me(&key.topic, by) {
                return ClaimAnswer::Mine;
            }
            if let Some(p) = self.pending.remove(key) {
                self.queue.remove(&(p.due, p.seq));
                self.counters.suppressed += 1;
            }
            // Being claimed here: `resolve` finds the grant in the log.
        }
        self.log.insert(
            Notice {
                key: key.clone(),
                by: by.to_string(),
                at_ms: now_ms,
                state: None,
            },
            now_ms,
        );
        ClaimAnswer::Granted
    }

    /// Whether `other` comes before this member among the owners of `topic` in this member's
    /// view (a member that does not own it comes after every owner).
    pub fn precedes_me(&self, topic: &str, other: &str) -> bool {
        let o = owners(topic, &self.alive, self.redundancy);
        let pos = |m: &str| o.iter().position(|x| x == m).unwrap_or(usize::MAX);
        let (theirs, mine) = (pos(other), pos(&self.me));
        theirs < mine || (theirs == mine && other < self.me.as_str())
    }

    /// The answers to the claim of `due` (one per owner asked; `None`: no answer). Returns
    /// the event when this member is to deliver it now (then call
    /// [`completed`](Self::completed)); `None` when an earlier owner has it, or when it waits
    /// another turn behind one that holds it.
    pub fn resolve(
        &mut self,
        due: Due<T>,
        answers: &[Option<ClaimAnswer>],
        now: Instant,
    ) -> Option<T> {
        self.counters.claimed += 1;
        if answers.iter().all(Option::is_none) {
            self.counters.claims_unanswered += 1;
        }
        // A completion notice that arrived while the claim was out.
        let done = self.log.get(&due.key).is_some_and(|n| n.by != self.me)
            || answers.contains(&Some(ClaimAnswer::Done));
        self.claiming.remove(&due.key);
        if done {
            self.counters.suppressed += 1;
            return None;
        }
        if answers.contains(&Some(ClaimAnswer::Mine)) && due.reparks < MAX_REPARKS {
            self.seq += 1;
            let at = now + self.delay;
            self.queue.insert((at, self.seq), due.key.clone());
            self.pending.insert(
                due.key,
                Pending {
                    item: due.item,
                    submitted: due.submitted,
                    position: due.position,
                    seq: self.seq,
                    due: at,
                    reparks: due.reparks + 1,
                    verify: false,
                },
            );
            return None;
        }
        self.count_handled(due.position);
        self.delivering.insert(due.key.clone());
        Some(due.item)
    }

    /// This member delivered `key`: the notice to send to [`peers_to_notify`]
    /// (Self::peers_to_notify).
    pub fn completed(&mut self, key: NoticeKey, now_ms: u64) -> Notice {
        self.delivering.remove(&key);
        let n = Notice {
            key,
            by: self.me.clone(),
            at_ms: now_ms,
            state: None,
        };
        self.log.insert(n.clone(), now_ms);
        n
    }

    /// A completion notice from another member (direct or from a full sync). Returns whether
    /// it was new here.
    pub fn notice(&mut self, mut n: Notice, now_ms: u64) -> bool {
        // The log records who delivered what; the state is the caller's to apply.
        n.state = None;
        if let Some(mine) = self.log.get(&n.key) {
            if mine.by == self.me && n.by != self.me {
                self.counters.notification_dropped += 1;
            }
            return false;
        }
        let key = n.key.clone();
        if !self.log.insert(n, now_ms) {
            return false;
        }
        if let Some(p) = self.pending.remove(&key) {
            self.queue.remove(&(p.due, p.seq));
            self.counters.suppressed += 1;
        }
        // Being claimed: `resolve` sees the notice in the log.
        true
    }

    /// Full sync: merges another member's log; returns the notices that were new here.
    pub fn merge_log(&mut self, notices: Vec<Notice>, now_ms: u64) -> Vec<Notice> {
        notices
            .into_iter()
            .filter(|n| self.notice(n.clone(), now_ms))
            .collect()
    }

    pub fn expire(&mut self, now_ms: u64) {
        self.log.expire(now_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Level;

    fn key(id: &str) -> NoticeKey {
        NoticeKey {
            topic: "cpu".into(),
            event_id: id.into(),
            level: Level::Critical,
            time: 7,
        }
    }

    fn members() -> Vec<String> {
        vec!["a".into(), "b".into(), "c".into()]
    }

    #[test]
    fn unclustered_is_local() {
        let mut s: DedupScheduler<()> = DedupScheduler::new("a", 2, Duration::from_secs(1));
        assert_eq!(
            s.submit(key("e"), (), Origin::Local, Instant::now()),
            Submitted::Local
        );
        let mut s: DedupScheduler<()> = DedupScheduler::new("a", 0, Duration::from_secs(1));
        s.set_members(members());
        assert_eq!(
            s.submit(key("e"), (), Origin::Local, Instant::now()),
            Submitted::Local
        );
    }

    #[test]
    fn positions_follow_the_owner_order() {
        let t0 = Instant::now();
        let d = Duration::from_secs(2);
        let order = owners("cpu", &members(), 2);
        let non_owner = members().into_iter().find(|m| !order.contains(m)).unwrap();
        for (i, m) in order.iter().enumerate() {
            let mut s: DedupScheduler<u32> = DedupScheduler::new(m.clone(), 2, d);
            s.set_members(members());
            assert_eq!(
                s.submit(key("e"), 1, Origin::Local, t0),
                Submitted::Scheduled {
                    position: i,
                    due: t0 + d * i as u32
                }
            );
            assert_eq!(
                s.submit(key("e"), 2, Origin::Local, t0),
                Submitted::Duplicate
            );
            assert_eq!(s.next_deadline(), Some(t0 + d * i as u32));
        }
        let mut s: DedupScheduler<u32> = DedupScheduler::new(non_owner.clone(), 2, d);
        s.set_members(members());
        assert_eq!(
            s.submit(key("e"), 1, Origin::Local, t0),
            Submitted::Forward(order.clone())
        );
        // A forward to a member that does not think it owns the topic waits behind the owners.
        assert_eq!(
            s.submit(key("e"), 1, Origin::Forwarded, t0),
            Submitted::Scheduled {
                position: 2,
                due: t0 + d * 2
            }
        );
    }

    #[test]
    fn a_notice_cancels_the_wait_and_a_late_one_is_counted() {
        let t0 = Instant::now();
        let d = Duration::from_secs(2);
        let order = owners("cpu", &members(), 2);
        let mut second: DedupScheduler<u32> = DedupScheduler::new(order[1].clone(), 2, d);
        second.set_members(members());
        second.submit(key("e1"), 1, Origin::Local, t0);
        second.submit(key("e2"), 2, Origin::Local, t0);
        let done = Notice {
            key: key("e1"),
            by: order[0].clone(),
            at_ms: 1,
            state: None,
        };
        assert!(second.notice(done.clone(), 1));
        assert!(!second.notice(done, 1));
        let mut due = second.due(t0 + d);
        assert_eq!(due.len(), 1);
        assert_eq!((due[0].item, due[0].position), (2, 1));
        let due = due.pop().unwrap();
        let k2 = due.key.clone();
        // The primary does not answer the claim: delivered here.
        assert_eq!(second.resolve(due, &[None], t0 + d), Some(2));
        second.completed(k2, 2);
        // The primary finished e2 too, but too late.
        second.notice(
            Notice {
                key: key("e2"),
                by: order[0].clone(),
                at_ms: 3,
                state: None,
            },
            3,
        );
        let c = second.counters();
        assert_eq!(
            (
                c.secondary_handle_count,
                c.suppressed,
                c.notification_dropped
            ),
            (1, 1, 1)
        );
        assert_eq!(
            second.submit(key("e1"), 3, Origin::Local, t0 + d),
            Submitted::AlreadyDelivered
        );
    }

    #[test]
    fn an_event_being_delivered_is_still_held_until_completed() {
        // The primary hands an event out for delivery; a copy forwarded by a member running
        // the same task, or another owner's claim, that arrives before the delivery is
        // recorded must not schedule or grant it again (81 duplicates of 1,000 under load).
        let start = Instant::now();
        let t0 = start + VERIFY_AFTER_CHANGE;
        let d = Duration::from_secs(2);
        let order = owners("cpu", &members(), 2);
        let mut primary: DedupScheduler<u32> = DedupScheduler::new(order[0].clone(), 2, d);
        primary.set_members_at(members(), start);
        primary.submit(key("e"), 1, Origin::Local, t0);
        let due = primary.due(t0);
        assert_eq!(due.len(), 1);
        assert!(due[0].ask.is_empty());
        assert_eq!(
            primary.submit(key("e"), 2, Origin::Forwarded, t0),
            Submitted::Duplicate
        );
        assert_eq!(
            primary.answer_claim(&key("e"), &order[1], 1),
            ClaimAnswer::Done
        );
        primary.completed(key("e"), 2);
        assert_eq!(
            primary.submit(key("e"), 3, Origin::Forwarded, t0),
            Submitted::AlreadyDelivered
        );
        assert_eq!(
            primary.answer_claim(&key("e"), &order[1], 3),
            ClaimAnswer::Done
        );
        assert!(primary.due(t0 + d * 4).is_empty());
    }

    #[test]
    fn a_primary_whose_view_just_changed_asks_the_later_owners_first() {
        // The primary came back a moment ago; the second owner still saw it dead and
        // delivered one event as primary, and holds another (its view caught up).
        let t0 = Instant::now();
        let d = Duration::from_secs(2);
        let order = owners("cpu", &members(), 2);
        let mut primary: DedupScheduler<u32> = DedupScheduler::new(order[0].clone(), 2, d);
        let mut second: DedupScheduler<u32> = DedupScheduler::new(order[1].clone(), 2, d);
        primary.set_members_at(members(), t0);
        second.set_members_at(members(), t0);
        second.completed(key("sent"), 1);
        second.submit(key("held"), 2, Origin::Local, t0);
        for k in ["sent", "held"] {
            primary.submit(key(k), 3, Origin::Local, t0);
        }
        let due = primary.due(t0);
        assert!(due.iter().all(|d| d.ask == vec![order[1].clone()]));
        let mut delivered = Vec::new();
        for d in due {
            let answer = second.answer_claim(&d.key, primary.me(), 2);
            let k = d.key.clone();
            if primary.resolve(d, &[Some(answer)], t0).is_some() {
                delivered.push(k.event_id.clone());
                primary.completed(k, 3);
            }
        }
        assert_eq!(delivered, ["held"]);
        // The second owner yielded its copy: nothing of it is due there any more.
        assert!(second.due(t0 + d * 3).is_empty());
        assert_eq!(primary.counters().primary_handle_count, 1);
        // Once the view has been stable for a while, the primary asks nobody.
        primary.submit(key("later"), 4, Origin::Local, t0 + VERIFY_AFTER_CHANGE);
        let due = primary.due(t0 + VERIFY_AFTER_CHANGE);
        assert_eq!(due.len(), 1);
        assert!(due[0].ask.is_empty());
    }

    #[test]
    fn an_owner_does_not_yield_to_a_later_claimant() {
        let t0 = Instant::now();
        let d = Duration::from_secs(2);
        let order = owners("cpu", &members(), 2);
        let mut primary: DedupScheduler<u32> = DedupScheduler::new(order[0].clone(), 2, d);
        primary.set_members_at(members(), t0);
        primary.submit(key("e"), 1, Origin::Local, t0);
        assert_eq!(
            primary.answer_claim(&key("e"), &order[1], 1),
            ClaimAnswer::Mine
        );
        assert_eq!(primary.pending(), 1);
    }

    #[test]
    fn a_claim_that_waits_another_turn_is_not_in_flight() {
        let t0 = Instant::now();
        let d = Duration::from_secs(2);
        let order = owners("cpu", &members(), 2);
        let mut second: DedupScheduler<u32> = DedupScheduler::new(order[1].clone(), 2, d);
        second.set_members(members());
        second.submit(key("e"), 1, Origin::Local, t0);
        let mut due = second.due(t0 + d);
        let first = due.pop().unwrap();
        assert_eq!(
            second.submit(key("e"), 2, Origin::Local, t0 + d),
            Submitted::Duplicate
        );
        assert_eq!(
            second.resolve(first, &[Some(ClaimAnswer::Mine)], t0 + d),
            None
        );
        assert_eq!(second.pending(), 1);
        let again = second.due(t0 + d * 2).pop().unwrap();
        assert_eq!(
            second.resolve(again, &[Some(ClaimAnswer::Done)], t0 + d * 2),
            None
        );
        // Given up: nothing of it is held here any more.
        assert_eq!(second.pending(), 0);
        assert_ne!(
            second.answer_claim(&key("e"), &order[0], 5),
            ClaimAnswer::Mine
        );
    }

    #[test]
    fn an_earlier_owner_leaving_moves_the_wait_up() {
        let t0 = Instant::now();
        let d = Duration::from_secs(10);
        let order = owners("cpu", &members(), 2);
        let mut second: DedupScheduler<u32> = DedupScheduler::new(order[1].clone(), 2, d);
        second.set_members(members());
        second.submit(key("e"), 1, Origin::Local, t0);
        assert!(second.due(t0 + Duration::from_secs(1)).is_empty());
        second.set_members(members().into_iter().filter(|m| *m != order[0]));
        let due = second.due(t0 + Duration::from_secs(1));
        assert_eq!(due.len(), 1);
        assert_eq!(second.counters().primary_handle_count, 1);
    }
}
