//! Cluster alerting with real daemons on loopback: a topic handler defined on one member is
//! listed by every member and a delete anywhere removes it everywhere; the same alerting task
//! on two members with one `post` topic handler (defined on a third) delivers each event once
//! at a local capture endpoint.

#[path = "support/alerting_helpers.rs"]
mod alerting_helpers;
#[path = "support/cluster_alert_helpers.rs"]
mod cluster_alert_helpers;
#[path = "support/cluster_helpers.rs"]
mod cluster_helpers;
// The very function the daemons use, to put the task on a chosen owner.
#[path = "../../alert/src/cluster/ownership.rs"]
#[allow(dead_code)]
mod ownership;

use alerting_helpers::{Endpoint, TOPICS, enable_task, topic_events};
use cluster_helpers::{Member, ctl, wait_converged};
use kapacitor_tests::{DaemonOpts, EVENTUALLY, eventually};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Duration;

/// Issue 8: a handler change made on one member is applied on every member within 2 s.
const REPLICATED_WITHIN: Duration = Duration::from_secs(2);

fn member(alert: &str) -> Member {
    let opts = DaemonOpts {
        extra_config: format!("\n[alert]\n{alert}\n"),
        ..DaemonOpts::default()
    };
    Member::start_with(opts, "")
}

fn three(alert: &str) -> (Member, Member, Member) {
    let (a, b, c) = (member(alert), member(alert), member(alert));
    for m in [&b, &c] {
        let out = ctl(&a, &["member", "add", &m.rpc_address()]);
        assert!(out.status.success(), "{out:?}");
    }
    wait_converged(&[&a, &b, &c]);
    (a, b, c)
}

fn handler_status(m: &Member, topic: &str, id: &str) -> Option<u16> {
    m.daemon
        .try_get(&format!("{TOPICS}/{topic}/handlers/{id}"))
        .map(|r| r.status)
}

#[test]
fn handlers_replicate_to_every_member() {
    let (a, b, c) = three("redundancy = 2");
    let spec = json!({"id": "h1", "kind": "log", "options": {"path": "/dev/null"}});
    let r = a.daemon.post_json(&format!("{TOPICS}/cpu/handlers"), &spec);
    assert_eq!(r.status, 200, "{}", r.body);
    // The bound: listed by every member within 2 s (a push, normally milliseconds).
    for m in [&b, &c] {
        eventually(
            REPLICATED_WITHIN,
            "the handler listed on every member",
            || (handler_status(m, "cpu", "h1") == Some(200)).then_some(()),
        );
    }
    let listed = c.daemon.get(&format!("{TOPICS}/cpu/handlers/h1")).json();
    assert_eq!(listed["kind"], "log");
    assert_eq!(listed["options"]["path"], "/dev/null");

    let r = c.daemon.delete(&format!("{TOPICS}/cpu/handlers/h1"));
    assert_eq!(r.status, 204, "{}", r.body);
    for m in [&a, &b] {
        eventually(
            REPLICATED_WITHIN,
            "the handler gone from every member",
            || (handler_status(m, "cpu", "h1") == Some(404)).then_some(()),
        );
    }
}

#[test]
fn the_same_task_on_two_members_delivers_each_event_once() {
    const EVENTS: usize = 1000;
    let (a, b, c) = three("redundancy = 2\ndelay-per-member = \"2s\"");
    let endpoint = Endpoint::start(false);
    let spec = json!({"id": "hook", "kind": "post", "options": {"url": endpoint.url}});
    let r = c.daemon.post_json(&format!("{TOPICS}/cpu/handlers"), &spec);
    assert_eq!(r.status, 200, "{}", r.body);
    for m in [&a, &b] {
        eventually(EVENTUALLY, "the handler replicated", || {
            (handler_status(m, "cpu", "hook") == Some(200)).then_some(())
        });
    }
    let script = "stream\n|from().measurement('cpu')\n|alert()\n.id('{{ index .Tags \"n\" }}')\n.crit(lambda: \"value\" > 0)\n.topic('cpu')\n";
    for m in [&a, &b] {
        enable_task(&m.daemon, "cpu_alert", script, "db");
    }
    // Until a member's alert service knows every member it delivers what it gets itself
    // (as a cluster of one would); the guarantee starts once it sees all three.
    cluster_alert_helpers::wait_alerting_ready(&[&a, &b, &c]);
    let base = 1_600_000_000_000_000_000i64;
    let lines: Vec<String> = (0..EVENTS)
        .map(|i| format!("cpu,n=e{i} value=1 {}", base + i as i64 * 1_000_000_000))
        .collect();
    for chunk in lines.chunks(100) {
        let body = chunk.join("\n");
        a.daemon.write("db", "autogen", "ns", &body);
        b.daemon.write("db", "autogen", "ns", &body);
    }
    let hits = endpoint.wait_for(EVENTS);
    // Every owner's wait is over well before this; anything late would be a duplicate.
    std::thread::sleep(Duration::from_secs(5));
    let hits = endpoint.hits().len().max(hits.len());
    let mut per_id: HashMap<String, usize> = HashMap::new();
    for h in endpoint.hits() {
        let v: Value = serde_json::from_str(&h.body).unwrap();
        *per_id
            .entry(v["id"].as_str().unwrap_or_default().to_string())
            .or_default() += 1;
    }
    let dups: Vec<_> = per_id.iter().filter(|(_, n)| **n > 1).collect();
    // Which member did what, in the output of a failing run.
    for (name, m) in [("a", &a), ("b", &b), ("c", &c)] {
        eprintln!(
            "{name} {}: {}",
            cluster_alert_helpers::member_id(m),
            cluster_alert_helpers::alert_counters(m)
        );
    }
    assert_eq!(per_id.len(), EVENTS, "distinct events delivered");
    assert!(
        dups.is_empty(),
        "{} duplicated events, e.g. {:?}",
        dups.len(),
        dups.first()
    );
    assert_eq!(hits, EVENTS);
    // Topic state is the cluster's: c runs no task and delivered nothing itself, yet lists
    // every event, as a and b do.
    for m in [&a, &b, &c] {
        eventually(
            EVENTUALLY,
            "every event in the topic on every member",
            || {
                let ev = topic_events(&m.daemon, "cpu")?;
                (ev.len() == EVENTS && ev.iter().all(|(_, l)| l == "CRITICAL")).then_some(())
            },
        );
    }
}

#[test]
fn a_member_that_joins_receives_the_topic_states_of_the_cluster() {
    // A member alone delivers its own events (no notices: nobody to send them to); a member
    // that joins it later still lists them, from the states sent when it became alive.
    let a = member("redundancy = 2");
    let endpoint = Endpoint::start(false);
    let spec = json!({"id": "hook", "kind": "post", "options": {"url": endpoint.url}});
    let r = a.daemon.post_json(&format!("{TOPICS}/cpu/handlers"), &spec);
    assert_eq!(r.status, 200, "{}", r.body);
    let script = "stream\n|from().measurement('cpu')\n|alert()\n.id('{{ index .Tags \"n\" }}')\n.crit(lambda: \"value\" > 0)\n.warn(lambda: \"value\" > -10)\n.topic('cpu')\n";
    enable_task(&a.daemon, "cpu_alert", script, "db");
    let lines: Vec<String> = (0..20)
        .map(|i| {
            let v = if i % 2 == 0 { 1 } else { -5 };
            format!("cpu,n=e{i} value={v} {}", 1_600_000_000 + i)
        })
        .collect();
    a.daemon.write("db", "autogen", "s", &lines.join("\n"));
    endpoint.wait_for(20);
    let want = topic_events(&a.daemon, "cpu").expect("a's topic");
    assert_eq!(want.len(), 20);

    let b = member("redundancy = 2");
    let out = ctl(&a, &["member", "add", &b.rpc_address()]);
    assert!(out.status.success(), "{out:?}");
    wait_converged(&[&a, &b]);
    eventually(EVENTUALLY, "a's topic states on b", || {
        (topic_events(&b.daemon, "cpu")? == want).then_some(())
    });
    // Levels too: half critical, half warning.
    let crit = want.iter().filter(|(_, l)| l == "CRITICAL").count();
    assert_eq!(crit, 10);
}

#[test]
fn a_later_owner_claims_from_the_first_and_delivers_once() {
    // The task runs only on the topic's second owner: the first never sees the events
    // (only non-owners forward), so every wait runs out and the second owner claims each
    // event from the first over RPC, which grants it (it never saw it) and answers.
    const EVENTS: usize = 20;
    let (a, b, c) = three("redundancy = 2\ndelay-per-member = \"500ms\"");
    let ms = [&a, &b, &c];
    let ids: Vec<String> = ms
        .iter()
        .map(|m| cluster_alert_helpers::member_id(m))
        .collect();
    let order = ownership::owners("cpu", &ids, 2);
    let second = ms[ids.iter().position(|i| *i == order[1]).unwrap()];
    let endpoint = Endpoint::start(false);
    cluster_alert_helpers::post_handler(&a, &[&b, &c], &endpoint.url);
    enable_task(
        &second.daemon,
        "cpu_alert",
        cluster_alert_helpers::SCRIPT,
        "db",
    );
    cluster_alert_helpers::wait_alerting_ready(&ms);
    let lines: Vec<String> = (0..EVENTS).map(cluster_alert_helpers::event_line).collect();
    second
        .daemon
        .write("db", "autogen", "ns", &lines.join("\n"));
    endpoint.wait_for(EVENTS);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(endpoint.hits().len(), EVENTS, "each event once");
    let counter = |name: &str| cluster_alert_helpers::counter(second, name);
    assert_eq!(counter("claimed"), EVENTS as u64);
    assert_eq!(counter("claims-unanswered"), 0, "the first owner answered");
    assert_eq!(counter("secondary-handle-count"), EVENTS as u64);
}
