//! Cluster membership with real daemons on loopback: Kapacitor Enterprise's walk-through
//! (`kapacitorctl member list / add / remove`), five members added through different
//! members, a removed member re-added, and errors for bad addresses and unknown IDs.

#[path = "support/cluster_helpers.rs"]
mod cluster_helpers;

use cluster_helpers::{Member, ctl, listing, wait_converged};
use kapacitor_tests::{EVENTUALLY, eventually};

#[test]
fn seed_walk_through_with_two_members() {
    let a = Member::start("");
    let b = Member::start("");

    // Each starts as its own uninitialized cluster of one.
    let la = listing(&a);
    let lb = listing(&b);
    assert_eq!(la.state, "uninitialized");
    assert_eq!(lb.state, "uninitialized");
    assert_ne!(la.cluster_id, lb.cluster_id);
    assert_eq!(la.rows.len(), 1);
    assert_eq!(la.rows[0].id, la.local_id);
    assert_eq!(la.rows[0].rpc, a.rpc_address());
    assert_eq!(la.rows[0].roles, "worker");
    assert_eq!(la.rows[0].status, "alive");

    // serverA$ kapacitorctl member add serverB:9091
    let out = ctl(&a, &["member", "add", &b.rpc_address()]);
    assert!(out.status.success(), "{out:?}");

    // Both list both, initialized, with A's cluster id.
    wait_converged(&[&a, &b]);
    for m in [&a, &b] {
        let l = listing(m);
        assert_eq!(l.state, "initialized");
        assert_eq!(l.cluster_id, la.cluster_id, "the adder's cluster id");
        assert_eq!(l.rows.len(), 2);
    }
    assert_eq!(listing(&b).local_id, lb.local_id);
    // /debug/vars (what `kapacitor stats general` prints) follows the join.
    let vars = b.daemon.get("/kapacitor/v1/debug/vars").json();
    assert_eq!(
        vars["cluster_id"],
        la.cluster_id.as_str(),
        "debug/vars after the join"
    );

    // serverA$ kapacitorctl member remove <B's id>
    let out = ctl(&a, &["member", "remove", &lb.local_id]);
    assert!(out.status.success(), "{out:?}");
    let after = eventually(EVENTUALLY, "B back to a cluster of one", || {
        let l = listing(&b);
        (l.state == "uninitialized").then_some(l)
    });
    assert_ne!(after.cluster_id, la.cluster_id, "a new cluster id");
    assert_ne!(after.cluster_id, lb.cluster_id);
    assert_eq!(after.rows.len(), 1);
    assert_eq!(after.local_id, lb.local_id, "same member id");
    let vars = b.daemon.get("/kapacitor/v1/debug/vars").json();
    assert_eq!(
        vars["cluster_id"],
        after.cluster_id.as_str(),
        "debug/vars after the removal"
    );
    eventually(EVENTUALLY, "A forgot B", || {
        let l = listing(&a);
        (l.rows.len() == 1).then_some(())
    });
    assert_eq!(listing(&a).cluster_id, la.cluster_id);

    // The JSON API says the same.
    let j = a.daemon.get("/kapacitor/v1/cluster/members").json();
    assert_eq!(j["cluster_id"], la.cluster_id.as_str());
    assert_eq!(j["members"].as_array().unwrap().len(), 1);
}

#[test]
fn five_members_added_through_different_members() {
    let m: Vec<Member> = (0..5).map(|_| Member::start("")).collect();
    let steps = [(0, 1), (1, 2), (2, 3), (0, 4)];
    for (adder, newcomer) in steps {
        let out = ctl(&m[adder], &["member", "add", &m[newcomer].rpc_address()]);
        assert!(out.status.success(), "add {newcomer} via {adder}: {out:?}");
    }
    let all: Vec<&Member> = m.iter().collect();
    wait_converged(&all);
    let cluster = listing(&m[0]).cluster_id;
    for x in &m {
        assert_eq!(listing(x).cluster_id, cluster);
    }

    // Remove one through a third member, then add it back through another.
    let victim = listing(&m[3]).local_id;
    assert!(ctl(&m[1], &["member", "remove", &victim]).status.success());
    let rest: Vec<&Member> = [0, 1, 2, 4].iter().map(|i| &m[*i]).collect();
    wait_converged(&rest);
    assert_eq!(listing(&m[3]).state, "uninitialized");
    assert!(
        ctl(&m[4], &["member", "add", &m[3].rpc_address()])
            .status
            .success()
    );
    wait_converged(&all);
}

#[test]
fn clear_errors_for_bad_input() {
    let a = Member::start("");
    let out = ctl(
        &a,
        &["member", "remove", "0d9c7b0e-0000-4000-8000-000000000000"],
    );
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no member with ID"), "{err}");

    let out = ctl(&a, &["member", "add", "not-an-address"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid RPC address"));

    // Nothing listens there (a port just released): refused after the retries.
    let port = kapacitor_tests::free_port();
    let out = ctl(&a, &["member", "add", &format!("127.0.0.1:{port}")]);
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot add member at 127.0.0.1:") && err.contains("refused"),
        "{err}"
    );

    // Adding itself is refused too.
    let out = ctl(&a, &["member", "add", &a.rpc_address()]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("itself"));

    let resp = kapacitor_tests::http::post(
        &format!("{}/kapacitor/v1/cluster/members", a.daemon.url()),
        "{not json",
    )
    .unwrap();
    assert_eq!(resp.status, 400);
    assert!(
        resp.json()["error"]
            .as_str()
            .unwrap()
            .contains("invalid JSON")
    );
    assert_eq!(listing(&a).state, "uninitialized");
}

#[test]
fn two_clusters_do_not_merge() {
    let a = Member::start("");
    let b = Member::start("");
    let c = Member::start("");
    let d = Member::start("");
    assert!(
        ctl(&a, &["member", "add", &b.rpc_address()])
            .status
            .success()
    );
    assert!(
        ctl(&c, &["member", "add", &d.rpc_address()])
            .status
            .success()
    );
    wait_converged(&[&a, &b]);
    wait_converged(&[&c, &d]);
    // C belongs to another cluster with members: A cannot pull it in.
    let out = ctl(&a, &["member", "add", &c.rpc_address()]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already belongs to cluster"));
    // A few gossip rounds later, both clusters are still apart.
    std::thread::sleep(std::time::Duration::from_secs(1));
    assert_eq!(listing(&a).rows.len(), 2);
    assert_eq!(listing(&c).rows.len(), 2);
    assert_ne!(listing(&a).cluster_id, listing(&c).cluster_id);
}

#[test]
fn kapacitorctl_processes_shows_the_tree() {
    let a = Member::start("");
    let out = ctl(&a, &["processes"]);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    for role in ["supervisor", "gossipd", "apid"] {
        assert!(
            text.lines().any(|l| l.starts_with(role)),
            "{role} in {text}"
        );
    }
}
