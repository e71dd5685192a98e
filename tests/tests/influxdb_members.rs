//! Subscriptions of several members on one InfluxDB: `subscription-mode = "server"` gives
//! each member its own subscription and every member all the data; `"cluster"` gives the
//! cluster one subscription that sends to its live members, and a member that joins or is
//! removed leaves none of its old subscriptions behind.

#[path = "support/influxdb_helpers.rs"]
mod helpers;

use helpers::*;
use kapacitor_tests::{Daemon, EVENTUALLY, eventually};
use serde_json::{Value, json};

/// This member's id and RPC address from its own member list.
fn me(d: &Daemon) -> (String, String) {
    eventually(EVENTUALLY, "gossipd serving the member list", || {
        let r = d.try_get("/kapacitor/v1/cluster/members")?;
        if r.status != 200 {
            return None;
        }
        let j = r.json();
        let local = j["local_member_id"].as_str()?.to_string();
        let rpc = j["members"]
            .as_array()?
            .iter()
            .find(|m| m["id"] == local.as_str())?["rpc_address"]
            .as_str()?
            .to_string();
        Some((local, rpc))
    })
}

fn cluster_id(d: &Daemon) -> String {
    d.get("/kapacitor/v1/cluster/members").json()["cluster_id"]
        .as_str()
        .expect("cluster_id")
        .to_string()
}

/// `b` joins `a`'s cluster; returns the cluster id both then share.
fn join(a: &Daemon, b: &Daemon) -> String {
    let (_, b_rpc) = me(b);
    let r = a.post_json(
        "/kapacitor/v1/cluster/members",
        &json!({ "rpc_address": b_rpc }),
    );
    assert_eq!(r.status, 200, "member add: {}", r.body);
    let id = cluster_id(a);
    eventually(EVENTUALLY, "both members in one cluster", || {
        (cluster_id(b) == id).then_some(())
    });
    id
}

fn dest(d: &Daemon) -> String {
    format!("http://127.0.0.1:{}", d.port())
}

/// Subscriptions on `DB`: (name, sorted destinations), sorted.
fn subs_on_db(influxd: &Influxd) -> Vec<(String, Vec<String>)> {
    let mut v: Vec<(String, Vec<String>)> = subscriptions(influxd)
        .into_iter()
        .filter(|s| s.0 == DB && s.1 == "autogen")
        .map(|(_, _, name, mut d)| {
            d.sort();
            (name, d)
        })
        .collect();
    v.sort();
    v
}

fn ingress(d: &Daemon) -> u64 {
    vars(d)["kapacitor"][format!("ingress:{DB}:autogen:cpu")]["values"]["points_received"]
        .as_u64()
        .unwrap_or(0)
}

fn write_points(influxd: &Influxd, n: usize) {
    let t = now_ns();
    let lines: Vec<String> = (0..n)
        .map(|i| format!("cpu,host=h{i} usage_idle=50 {t}"))
        .collect();
    influx_write(influxd, DB, &lines.join("\n")).expect("write to influxd");
}

#[test]
fn server_mode_gives_each_member_its_subscription_and_all_data() {
    let influxd = Influxd::start();
    influxql(&influxd, &format!("CREATE DATABASE {DB}"));
    let mode = "  subscription-mode = \"server\"\n";
    let a = daemon_for(&influxd, mode);
    let b = daemon_for(&influxd, mode);
    join(&a, &b);
    let (a_id, _) = me(&a);
    let (b_id, _) = me(&b);
    assert_eq!(vars(&a)["server_id"], a_id.as_str());

    let mut want = vec![
        (format!("kapacitor-{a_id}"), vec![dest(&a)]),
        (format!("kapacitor-{b_id}"), vec![dest(&b)]),
    ];
    want.sort();
    eventually(EVENTUALLY, "one subscription per member", || {
        (subs_on_db(&influxd) == want).then_some(())
    });

    // Each member gets every point.
    write_points(&influxd, 25);
    write_points(&influxd, 15);
    for d in [&a, &b] {
        eventually(EVENTUALLY, "40 points at each member", || {
            (ingress(d) == 40).then_some(())
        });
    }
    // Still exactly the two after more syncs.
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert_eq!(subs_on_db(&influxd), want);
}

#[test]
fn cluster_mode_shares_one_subscription_and_leaves_nothing_behind() {
    let influxd = Influxd::start();
    influxql(&influxd, &format!("CREATE DATABASE {DB}"));
    let a = daemon_for(&influxd, "");
    let b = daemon_for(&influxd, "");
    let (b_id, _) = me(&b);
    let b_first_cluster = cluster_id(&b);
    // Alone, each member has its cluster's subscription.
    eventually(EVENTUALLY, "each member's own subscription", || {
        let s = subs_on_db(&influxd);
        (s.len() == 2
            && s.iter()
                .any(|x| x.0 == format!("kapacitor-{b_first_cluster}")))
        .then_some(())
    });

    // After the join: one subscription sending to both; b's old one is gone (Kapacitor
    // leaves it behind and InfluxDB keeps writing to it).
    let shared = join(&a, &b);
    let mut both = vec![dest(&a), dest(&b)];
    both.sort();
    let want = vec![(format!("kapacitor-{shared}"), both)];
    eventually(EVENTUALLY, "one shared subscription", || {
        (subs_on_db(&influxd) == want).then_some(())
    });

    // Each write goes to one of the members (ANY), none is lost or doubled.
    write_points(&influxd, 30);
    eventually(EVENTUALLY, "30 points across the members", || {
        (ingress(&a) + ingress(&b) == 30).then_some(())
    });

    // b is removed: it is a cluster of one again, with its own subscription; the cluster's
    // subscription no longer sends to b, and b did not drop it.
    let r = a.delete(&format!("/kapacitor/v1/cluster/members/{b_id}"));
    assert_eq!(r.status, 204, "member remove: {}", r.body);
    let b_new = eventually(EVENTUALLY, "b in a new cluster", || {
        let id = cluster_id(&b);
        (id != shared).then_some(id)
    });
    let mut want = vec![
        (format!("kapacitor-{shared}"), vec![dest(&a)]),
        (format!("kapacitor-{b_new}"), vec![dest(&b)]),
    ];
    want.sort();
    eventually(EVENTUALLY, "a's and b's own subscriptions", || {
        (subs_on_db(&influxd) == want).then_some(())
    });
    let history: Value = serde_json::from_str(
        &std::fs::read_to_string(b.data_dir().join("subscription-ids.json")).expect("history"),
    )
    .expect("history JSON");
    assert_eq!(history["version"], 1);
    assert_eq!(history["cluster_id"], b_new.as_str());
    assert_eq!(history["stale_cluster_ids"], json!([b_first_cluster]));
}
