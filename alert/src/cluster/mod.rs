//! Cluster-aware alerting: which members own a topic, which events were already delivered,
//! and when this member should deliver an event itself.
//!
//! Pure logic, no I/O and no clock of its own (callers pass `now`), so the whole protocol is
//! tested with a virtual clock (`sim_tests`). apid drives it; gossipd carries its messages.
//!
//! - [`ownership`]: rendezvous (highest-random-weight) hashing of a topic over the alive
//!   members: each topic gets its own owner order, and a membership change moves only the
//!   topics whose owners changed.
//! - [`notification_log`]: the replicated "already delivered" record, keyed by (topic, event
//!   id, level, event time); merge is a union, entries expire after a retention and the log
//!   is bounded.
//! - [`scheduler`]: per event, owner `i` waits `i × delay-per-member` and delivers unless a
//!   completion notice arrived first; a member that does not own the topic forwards.
//!
//! Why events are keyed by their time and level and not by a sequence number: the same task
//! running on two members produces the same (topic, id, level, time) for the same alert, so
//! the key is what makes the two copies one delivery.

pub mod notification_log;
pub mod ownership;
pub mod scheduler;

#[cfg(test)]
mod sim_tests;

pub use notification_log::{Notice, NoticeKey, NotificationLog};
pub use ownership::{hrw_score, owners};
pub use scheduler::{ClaimAnswer, Counters, DedupScheduler, Due, Submitted};
