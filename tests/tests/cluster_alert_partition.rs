//! Cluster alerting across a real network partition: three members, each in its own network
//! namespace on a bridge; the first owner of the topic is cut off while events keep coming.
//! Nothing is lost on either side (each side delivers what it has: duplicates are the price),
//! and handlers defined on both sides during the split are everywhere after the heal.
//!
//! Every namespace has its own loopback, so one capture endpoint per namespace on the same
//! port makes the one replicated handler URL reach a local endpoint on every member.
//! Needs root and `ip netns`; without them the test says why and passes vacuously.

#[path = "support/alerting_helpers.rs"]
mod alerting_helpers;
#[path = "support/cluster_helpers.rs"]
mod cluster_helpers;
#[path = "support/netns.rs"]
mod netns;
#[path = "../../alert/src/cluster/ownership.rs"]
#[allow(dead_code)]
mod ownership;

use alerting_helpers::{Endpoint, TOPICS, enable_task, topic_events};
use cluster_helpers::{Listing, Member, ctl, try_listing};
use kapacitor_tests::{DaemonOpts, EVENTUALLY, eventually, free_port};
use netns::Net;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Duration;

const ALERT: &str = "\n[alert]\nredundancy = 2\ndelay-per-member = \"2s\"\n";
const SCRIPT: &str = "stream\n|from().measurement('cpu')\n|alert()\n.id('{{ index .Tags \"n\" }}')\n.crit(lambda: \"value\" > 0)\n.topic('cpu')\n";

fn status(l: &Listing, id: &str) -> Option<String> {
    l.rows.iter().find(|r| r.id == id).map(|r| r.status.clone())
}

fn line(i: usize) -> String {
    let base = 1_600_000_000_000_000_000i64;
    format!("cpu,n=e{i} value=1 {}", base + i as i64 * 1_000_000_000)
}

#[test]
fn partitioned_owner_loses_nothing_and_handlers_converge_after_the_heal() {
    let net = match Net::create("ka", 198, 3) {
        Ok(n) => n,
        Err(e) => {
            println!("SKIPPED: cannot create network namespaces ({e}); needs root and iproute2");
            return;
        }
    };
    let ms: Vec<Member> = (0..3)
        .map(|i| {
            let opts = DaemonOpts {
                extra_config: ALERT.into(),
                ..DaemonOpts::default()
            };
            net.within(i, || Member::start_at(&net.member_ip(i), opts, ""))
        })
        .collect();
    let port = free_port();
    let endpoints: Vec<Endpoint> = (0..3)
        .map(|i| net.within(i, || Endpoint::start_on(port)))
        .collect();
    let ids: Vec<String> = (0..3)
        .map(|i| net.within(i, || try_listing(&ms[i]).expect("member list").local_id))
        .collect();
    for m in &ms[1..] {
        let rpc = m.rpc_address();
        let out = net.within(0, || ctl(&ms[0], &["member", "add", &rpc]));
        assert!(out.status.success(), "{out:?}");
    }
    let on = |i: usize, path: &str| net.within(i, || ms[i].daemon.try_get(path));
    let alert_members = |i: usize| -> Option<u64> {
        let r = on(i, "/kapacitor/v1/debug/vars")?;
        let v: Value = serde_json::from_str(&r.body).ok()?;
        v["kapacitor"]["alert"]["values"]["members"].as_u64()
    };
    for i in 0..3 {
        eventually(EVENTUALLY, "cluster alerting sees three members", || {
            (alert_members(i) == Some(3)).then_some(())
        });
    }
    let hook = json!({"id": "hook", "kind": "post", "options": {"url": endpoints[0].url}});
    let r = net.within(0, || {
        ms[0]
            .daemon
            .post_json(&format!("{TOPICS}/cpu/handlers"), &hook)
    });
    assert_eq!(r.status, 200, "{}", r.body);
    let has = |i: usize, id: &str| {
        on(i, &format!("{TOPICS}/cpu/handlers/{id}")).is_some_and(|r| r.status == 200)
    };
    for (i, m) in ms.iter().enumerate() {
        eventually(EVENTUALLY, "hook on every member", || {
            has(i, "hook").then_some(())
        });
        net.within(i, || enable_task(&m.daemon, "cpu_alert", SCRIPT, "db"));
    }
    let write = |range: std::ops::Range<usize>, to: &[usize]| {
        let body: Vec<String> = range.map(line).collect();
        for i in to {
            net.within(*i, || {
                ms[*i].daemon.write("db", "autogen", "ns", &body.join("\n"))
            });
        }
    };
    write(0..50, &[0, 1, 2]);
    // Settled before the split: every owner's wait over, so any duplicate of these would be
    // a dedup failure and not an event in flight at the cut.
    eventually(EVENTUALLY, "the first events delivered", || {
        let n: usize = endpoints.iter().map(|e| e.bodies().len()).sum();
        (n >= 50).then_some(())
    });
    std::thread::sleep(Duration::from_secs(3));

    // Cut off the first owner of `cpu`; both sides see the split.
    let primary = ids
        .iter()
        .position(|m| *m == ownership::owners("cpu", &ids, 2)[0])
        .unwrap();
    let rest: Vec<usize> = (0..3).filter(|i| *i != primary).collect();
    net.set_link(primary, false);
    eventually(EVENTUALLY, "the split seen on both sides", || {
        let l = net.within(primary, || try_listing(&ms[primary]))?;
        let r = net.within(rest[0], || try_listing(&ms[rest[0]]))?;
        (status(&l, &ids[rest[0]]).as_deref() == Some("dead")
            && status(&r, &ids[primary]).as_deref() == Some("dead"))
        .then_some(())
    });
    // Events keep coming to every member, and each side defines a handler.
    write(50..100, &[0, 1, 2]);
    let log = |id: &str| json!({"id": id, "kind": "log", "options": {"path": "/dev/null"}});
    for (i, id) in [(primary, "cut-off"), (rest[0], "majority")] {
        let r = net.within(i, || {
            ms[i]
                .daemon
                .post_json(&format!("{TOPICS}/cpu/handlers"), &log(id))
        });
        assert_eq!(r.status, 200, "{}", r.body);
    }

    net.set_link(primary, true);
    for i in 0..3 {
        eventually(
            EVENTUALLY,
            "both handlers on every member after the heal",
            || (has(i, "hook") && has(i, "cut-off") && has(i, "majority")).then_some(()),
        );
    }
    let delivered = || {
        let mut per_id: HashMap<String, usize> = HashMap::new();
        for e in &endpoints {
            for b in e.bodies() {
                let v: Value = serde_json::from_str(&b).expect("alert JSON");
                *per_id
                    .entry(v["id"].as_str().unwrap_or_default().into())
                    .or_default() += 1;
            }
        }
        per_id
    };
    eventually(EVENTUALLY, "every event delivered", || {
        let d = delivered();
        (0..100)
            .all(|i| d.contains_key(&format!("e{i}")))
            .then_some(())
    });
    // Every owner's wait is over: before the split nothing was delivered twice.
    std::thread::sleep(Duration::from_secs(3));
    let got = delivered();
    assert!(
        got.keys().all(|k| (0..100).any(|i| *k == format!("e{i}"))),
        "{got:?}"
    );
    let before: Vec<_> = (0..50)
        .filter(|i| got.get(&format!("e{i}")).is_some_and(|n| *n > 1))
        .collect();
    assert!(before.is_empty(), "duplicated before the split: {before:?}");
    // Topic states converge: what each side delivered during the split reaches the other
    // (the full exchange with a member that became alive again carries the notices).
    let want: Vec<String> = {
        let mut v: Vec<String> = (0..100).map(|i| format!("e{i}")).collect();
        v.sort();
        v
    };
    for (i, m) in ms.iter().enumerate() {
        eventually(EVENTUALLY, "the same topic events on every member", || {
            let ev = net.within(i, || topic_events(&m.daemon, "cpu"))?;
            let ids: Vec<String> = ev.into_iter().map(|(id, _)| id).collect();
            (ids == want).then_some(())
        });
    }
    drop(ms);
}
