//! Helpers shared by the `cluster_alert_*` black-box tests and benchmarks (included with
//! `#[path]`): members with an `[alert]` section, member ids, killing a whole daemon (every
//! process of it, SIGKILL), the cluster alerting counters and deliveries per event id.
#![allow(dead_code)]

use crate::alerting_helpers::{Endpoint, TOPICS, debug_values};
use crate::cluster_helpers::{Member, ctl, try_listing, wait_converged};
use kapacitor_tests::{DaemonOpts, EVENTUALLY, descendants, eventually};
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

/// The alerting task of these tests: one event per `n` tag, critical when `value > 0`, on
/// the named topic `cpu` (deduplicated across members).
pub const SCRIPT: &str = "stream\n|from().measurement('cpu')\n|alert()\n.id('{{ index .Tags \"n\" }}')\n.crit(lambda: \"value\" > 0)\n.topic('cpu')\n";

/// A member with `alert` as its `[alert]` section; `dir` keeps its data across a restart.
pub fn member(alert: &str, dir: Option<&Path>) -> Member {
    let opts = DaemonOpts {
        extra_config: format!("\n[alert]\n{alert}\n"),
        dir: dir.map(Path::to_path_buf),
        ..DaemonOpts::default()
    };
    Member::start_with(opts, "")
}

/// Joins `others` to `first` and waits until all agree.
pub fn join(first: &Member, others: &[&Member]) {
    for m in others {
        let out = ctl(first, &["member", "add", &m.rpc_address()]);
        assert!(out.status.success(), "{out:?}");
    }
    let mut all = vec![first];
    all.extend_from_slice(others);
    wait_converged(&all);
}

/// Waits until the alert service of every member deduplicates over all `members.len()`
/// (before that, events are delivered by whoever has them: fail open).
pub fn wait_alerting_ready(members: &[&Member]) {
    for m in members {
        eventually(EVENTUALLY, "cluster alerting sees every member", || {
            (counter(m, "members") == members.len() as u64).then_some(())
        });
    }
}

pub fn member_id(m: &Member) -> String {
    try_listing(m).expect("member list").local_id
}

/// SIGKILL to every process of the daemon at once (supervisor, gossipd, apid, workers):
/// the member vanishes without a goodbye, like a machine losing power.
pub fn kill_whole(m: &mut Member) {
    let pid = m.daemon.pid();
    let all = descendants(pid);
    let _ = killpg(Pid::from_raw(pid as i32), Signal::SIGKILL);
    for p in all.into_iter().chain([pid]) {
        let _ = kill(Pid::from_raw(p as i32), Signal::SIGKILL);
    }
    assert!(
        m.daemon.wait_exit(EVENTUALLY).is_some(),
        "the killed daemon did not exit"
    );
}

/// Defines the `post` handler `hook` on topic `cpu` at `on` and waits until `others` list it.
pub fn post_handler(on: &Member, others: &[&Member], url: &str) {
    let spec = json!({"id": "hook", "kind": "post", "options": {"url": url}});
    let r = on
        .daemon
        .post_json(&format!("{TOPICS}/cpu/handlers"), &spec);
    assert_eq!(r.status, 200, "{}", r.body);
    for m in others {
        eventually(EVENTUALLY, "the handler replicated", || {
            let r = m.daemon.try_get(&format!("{TOPICS}/cpu/handlers/hook"))?;
            (r.status == 200).then_some(())
        });
    }
}

/// The `alert` entry of `/debug/vars` (cluster alerting counters) on `m`.
pub fn alert_counters(m: &Member) -> Value {
    debug_values(&m.daemon, "alert").unwrap_or(Value::Null)
}

pub fn counter(m: &Member, name: &str) -> u64 {
    alert_counters(m)[name].as_u64().unwrap_or(0)
}

/// The line of event `i` (tag `n=e<i>`, its own time so each is a distinct alert).
pub fn event_line(i: usize) -> String {
    let base = 1_600_000_000_000_000_000i64;
    format!("cpu,n=e{i} value=1 {}", base + i as i64 * 1_000_000_000)
}

/// When each event id arrived at the endpoint, in arrival order.
pub fn arrivals(endpoint: &Endpoint) -> HashMap<String, Vec<Instant>> {
    let mut per_id: HashMap<String, Vec<Instant>> = HashMap::new();
    for h in endpoint.hits() {
        let v: Value = serde_json::from_str(&h.body).expect("alert JSON");
        let id = v["id"].as_str().unwrap_or_default().to_string();
        per_id.entry(id).or_default().push(h.at);
    }
    per_id
}
