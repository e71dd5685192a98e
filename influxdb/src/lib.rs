//! InfluxDB 1.x integration for kapacitord: what apid needs to keep InfluxDB subscriptions
//! in sync, and what task workers need for `batch|query()` and `influxDBOut()`.
//!
//! * [`Client`]: one per `[[influxdb]]` cluster — `/ping`, `/query`, `/write` with failover
//!   over the cluster's `urls`, basic or token auth, TLS options and a timeout.
//! * [`Subscriptions`]: Kapacitor's subscription sync (below), plus [`run_sync_loop`] and a
//!   UDP listener per (db, rp) for `subscription-protocol = "udp"`.
//! * [`BatchQuery`]: a `batch|query()` node's schedule (`every`/`align`/`cron`), the InfluxQL
//!   with its time range, and the batches built from InfluxDB's answer.
//! * [`InfluxDbOut`]: influxDBOut's bounded write buffer with retries.
//!
//! # Who calls what
//!
//! * apid, per enabled cluster: `Subscriptions::new(client, SubscriptionConfig::from_config(
//!   cfg, hostname, http_port)?)` (`.with_udp_sink(..)` for UDP), then spawns
//!   [`run_sync_loop`] with a `watch` of the [`Member`] (IDs, stale IDs, peers) and a
//!   shutdown `watch`. `POST /kapacitor/v1/subscriptions` calls [`Subscriptions::sync`]
//!   directly (syncs are serialised) and answers 500 with the error text on `Err`.
//! * workers: [`Clusters::from_configs`] once, then `clusters.get(&props.cluster)`;
//!   a query node builds [`BatchQuery::new`], sleeps until [`BatchQuery::next_run`], calls
//!   [`BatchQuery::run`] and logs an `Err` (the next tick retries); influxDBOut is
//!   [`InfluxDbOut::start`] + `write_points`/`write_batch`, `close()` on task stop.
//! * tests: `tests/common/mod.rs` starts a real `influxd` on free ports in a temp dir.
//!
//! # Subscription ownership rule (the leak fix)
//!
//! Kapacitor names its subscriptions `kapacitor-<cluster id>` (`subscription-mode =
//! "cluster"`) or `kapacitor-<server id>` (`"server"`), and never removes one whose name
//! is not its current name: a member that got a new ID (a stateless container, a wiped
//! data dir) or left the cluster leaves its subscription behind, and InfluxDB keeps
//! sending it every write (Kapacitor issues #870, #1950, #2038). Here a sync treats an
//! existing subscription as **a stale one of ours, to drop**, when its name starts with
//! `kapacitor-` and is not the current name, and either
//!
//! 1. its ID (the part after `kapacitor-`) is in [`Member::stale_ids`] — IDs this member
//!    used before, or IDs of members that left the cluster (the caller, who keeps the
//!    member's ID history and the cluster membership, passes them); or
//! 2. its destinations are exactly this member's own destination (same scheme, host and
//!    port; HTTP/HTTPS only) — the marker. Only one Kapacitor can listen on a host:port,
//!    so a subscription pointing there under another name is this member under an
//!    earlier ID, even when that ID was lost with the data dir.
//!
//! Everything else (other names, `kapacitor-*` subscriptions of other Kapacitors) is left
//! alone. [`Subscriptions::remove_all_ours`] drops the current name and everything the
//! rule matches, for a member that leaves the cluster or is decommissioned.
//!
//! Under rule 2 a load balancer address shared by several Kapacitors as their
//! `kapacitor-hostname` would make them remove each other's subscriptions; give every
//! Kapacitor (or cluster) its own address.

mod client;
mod clusters;
mod error;
pub mod influxql;
mod out;
mod response;
mod subscriptions;
mod udp;

pub mod batch;

pub use batch::{BatchQuery, Dimension, Fill, QueryProps, Schedule};
pub use client::{Client, ClientConfig, Compression, PingInfo};
pub use clusters::Clusters;
pub use error::{Error, Result};
pub use out::{InfluxDbOut, OutConfig, OutStats, RetryPolicy};
pub use response::{Message, QueryResult};
pub use subscriptions::{
    Member, Protocol, SubKey, SubscriptionConfig, Subscriptions, SyncReport, run_sync_loop,
};
pub use udp::{PointSink, UdpListener};
