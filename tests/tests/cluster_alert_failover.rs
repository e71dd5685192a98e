//! Cluster alerting when members fail, with real daemons on loopback:
//! - the first owner of a topic is SIGKILLed (the whole daemon) in the middle of a stream of
//!   events: every event is still delivered, each by its deadline (`delay-per-member` + 1 s
//!   after it was written), and only events in flight at the kill may arrive twice;
//! - a handler defined and one deleted while a member is down reach it when it comes back;
//! - a member restarted while events flow holds the events its task makes until it knows the
//!   membership again, instead of delivering them as a cluster of one (duplicates).

#[path = "support/alerting_helpers.rs"]
mod alerting_helpers;
#[path = "support/cluster_alert_helpers.rs"]
mod cluster_alert_helpers;
#[path = "support/cluster_helpers.rs"]
mod cluster_helpers;
// The very function the daemons use, so the test kills the member they consider the owner.
#[path = "../../alert/src/cluster/ownership.rs"]
#[allow(dead_code)]
mod ownership;

use alerting_helpers::{Endpoint, TOPICS, enable_task};
use cluster_alert_helpers::{
    SCRIPT, arrivals, counter, event_line, join, kill_whole, member, member_id, post_handler,
    wait_alerting_ready,
};
use cluster_helpers::{Member, status_on, wait_converged};
use kapacitor_tests::{EVENTUALLY, eventually};
use serde_json::json;
use std::time::{Duration, Instant};

const DELAY: Duration = Duration::from_secs(2);
const ALERT: &str = "redundancy = 2\ndelay-per-member = \"2s\"";

#[test]
fn killing_the_first_owner_loses_no_event() {
    let (a, b, c) = (
        member(ALERT, None),
        member(ALERT, None),
        member(ALERT, None),
    );
    join(&a, &[&b, &c]);
    let mut ms = [a, b, c];
    let ids: Vec<String> = ms.iter().map(member_id).collect();
    let order = ownership::owners("cpu", &ids, 2);
    let pos = |id: &str| ids.iter().position(|m| m == id).unwrap();
    let (primary, secondary) = (pos(&order[0]), pos(&order[1]));
    let other = (0..3).find(|i| *i != primary && *i != secondary).unwrap();

    // The task runs on the two members that survive, so every event keeps being produced
    // and only the delivery has to fail over.
    let endpoint = Endpoint::start(false);
    post_handler(&ms[primary], &[&ms[secondary], &ms[other]], &endpoint.url);
    for i in [secondary, other] {
        enable_task(&ms[i].daemon, "cpu_alert", SCRIPT, "db");
    }

    wait_alerting_ready(&[&ms[0], &ms[1], &ms[2]]);
    let mut written: Vec<Instant> = Vec::new();
    let write = |ms: &[Member; 3], written: &mut Vec<Instant>| {
        let line = event_line(written.len());
        written.push(Instant::now());
        ms[secondary].daemon.write("db", "autogen", "ns", &line);
        ms[other].daemon.write("db", "autogen", "ns", &line);
        std::thread::sleep(Duration::from_millis(50));
    };
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(4) {
        write(&ms, &mut written);
    }
    let before_kill = written.len();
    let killed_at = Instant::now();
    kill_whole(&mut ms[primary]);
    let after = Instant::now();
    while after.elapsed() < Duration::from_secs(6) {
        write(&ms, &mut written);
    }

    let n = written.len();
    eventually(EVENTUALLY, "every event delivered", || {
        (arrivals(&endpoint).len() >= n).then_some(())
    });
    // Every owner's wait is long over after this: anything later would be a duplicate.
    std::thread::sleep(DELAY * 2);
    let got = arrivals(&endpoint);
    let mut late = Vec::new();
    let mut dups = Vec::new();
    for (i, at) in written.iter().enumerate() {
        let arrived = got
            .get(&format!("e{i}"))
            .unwrap_or_else(|| panic!("event e{i} never delivered"));
        let latency = arrived[0].saturating_duration_since(*at);
        if latency > DELAY + Duration::from_secs(1) {
            late.push((i, latency));
        }
        if arrived.len() > 1 {
            dups.push((i, arrived.len(), *at));
        }
    }
    assert_eq!(got.len(), n, "only the written events are delivered");
    assert!(late.is_empty(), "delivered after the deadline: {late:?}");
    // In flight at the kill: written no earlier than one owner's wait before it and
    // before it (later events never reached the killed member).
    for (i, copies, at) in &dups {
        assert_eq!(*copies, 2, "event e{i} delivered {copies} times");
        assert!(
            *at + DELAY + Duration::from_secs(1) >= killed_at && *at <= killed_at,
            "event e{i} duplicated but not in flight at the kill (e{before_kill} is the first after it)"
        );
    }
    // The survivors delivered everything written after the kill, and said so.
    let handled: u64 = [secondary, other]
        .iter()
        .map(|i| {
            counter(&ms[*i], "primary-handle-count") + counter(&ms[*i], "secondary-handle-count")
        })
        .sum();
    assert!(
        handled >= (n - before_kill) as u64,
        "survivors counted {handled} deliveries, {} events came after the kill",
        n - before_kill
    );
    assert!(
        counter(&ms[secondary], "secondary-handle-count") > 0
            || counter(&ms[secondary], "primary-handle-count") > 0,
        "the second owner took over"
    );
}

#[test]
fn handler_changes_made_while_a_member_is_down_reach_it_when_it_returns() {
    let dir = tempfile::tempdir().unwrap();
    let a = member(ALERT, None);
    let b = member(ALERT, None);
    let mut c = member(ALERT, Some(dir.path()));
    join(&a, &[&b, &c]);
    let c_id = member_id(&c);
    let spec = |id: &str| json!({"id": id, "kind": "log", "options": {"path": "/dev/null"}});
    let r = a
        .daemon
        .post_json(&format!("{TOPICS}/cpu/handlers"), &spec("old"));
    assert_eq!(r.status, 200, "{}", r.body);
    let status = |m: &Member, id: &str| {
        m.daemon
            .try_get(&format!("{TOPICS}/cpu/handlers/{id}"))
            .map(|r| r.status)
    };
    eventually(EVENTUALLY, "the first handler on C", || {
        (status(&c, "old") == Some(200)).then_some(())
    });

    kill_whole(&mut c);
    for m in [&a, &b] {
        eventually(EVENTUALLY, "C seen as failed", || {
            matches!(status_on(m, &c_id).as_deref(), Some("dead" | "left")).then_some(())
        });
    }
    drop(c);
    let r = b
        .daemon
        .post_json(&format!("{TOPICS}/cpu/handlers"), &spec("new"));
    assert_eq!(r.status, 200, "{}", r.body);
    let r = a.daemon.delete(&format!("{TOPICS}/cpu/handlers/old"));
    assert_eq!(r.status, 204, "{}", r.body);

    let _ = std::fs::remove_file(dir.path().join("kapacitord.log"));
    let c = member(ALERT, Some(dir.path()));
    wait_converged(&[&a, &b, &c]);
    for m in [&a, &b, &c] {
        eventually(EVENTUALLY, "every member has the new handler only", || {
            (status(m, "new") == Some(200) && status(m, "old") == Some(404)).then_some(())
        });
    }
}

#[test]
fn a_restarted_member_delivers_nothing_twice_while_it_rejoins() {
    const EVENTS: usize = 150;
    let dir = tempfile::tempdir().unwrap();
    let a = member(ALERT, None);
    let b = member(ALERT, None);
    let mut c = member(ALERT, Some(dir.path()));
    join(&a, &[&b, &c]);
    let c_id = member_id(&c);
    let endpoint = Endpoint::start(false);
    post_handler(&a, &[&b, &c], &endpoint.url);
    for m in [&b, &c] {
        enable_task(&m.daemon, "cpu_alert", SCRIPT, "db");
    }
    wait_alerting_ready(&[&a, &b, &c]);

    kill_whole(&mut c);
    for m in [&a, &b] {
        eventually(EVENTUALLY, "C seen as failed", || {
            matches!(status_on(m, &c_id).as_deref(), Some("dead" | "left")).then_some(())
        });
    }
    drop(c);
    let _ = std::fs::remove_file(dir.path().join("kapacitord.log"));
    // C comes back with its task and its persisted peers; events are written to it (and to
    // B, which runs the same task) from the moment its API answers, while it rejoins.
    let c = member(ALERT, Some(dir.path()));
    let urls = [b.url(), c.url()];
    for i in 0..EVENTS {
        for u in &urls {
            // C's task may not run yet: a refused write makes no event there, which is fine.
            let _ = kapacitor_tests::http::post(
                &format!("{u}/kapacitor/v1/write?db=db&rp=autogen&precision=ns"),
                &event_line(i),
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    eventually(EVENTUALLY, "every event delivered", || {
        let got = arrivals(&endpoint);
        (0..EVENTS)
            .all(|i| got.contains_key(&format!("e{i}")))
            .then_some(())
    });
    // Every owner's wait (and claim) is over: anything more would be a duplicate.
    std::thread::sleep(DELAY * 2);
    let got = arrivals(&endpoint);
    let dups: Vec<&String> = got
        .iter()
        .filter(|(_, at)| at.len() > 1)
        .map(|(id, _)| id)
        .collect();
    assert!(dups.is_empty(), "{} duplicated: {dups:?}", dups.len());
}
