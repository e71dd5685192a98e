//! A three-member cluster split by a network partition heals by itself.
//!
//! Each member runs in its own network namespace, linked by veth pairs to a bridge in a hub
//! namespace; the partition is `ip link set down` on one member's hub side. Everything the
//! test creates lives in those namespaces (never the host's network) and is deleted at the
//! end. Needs root and `ip netns`; without them the test says why and passes vacuously.

#[path = "support/cluster_helpers.rs"]
mod cluster_helpers;
#[path = "support/netns.rs"]
mod netns;

use cluster_helpers::{Listing, Member, ctl, try_listing};
use kapacitor_tests::{DaemonOpts, EVENTUALLY, eventually};
use netns::Net;

fn listings(net: &Net, members: &[Member]) -> Option<Vec<Listing>> {
    (0..members.len())
        .map(|i| net.within(i, || try_listing(&members[i])))
        .collect()
}

fn status(l: &Listing, id: &str) -> Option<String> {
    l.rows.iter().find(|r| r.id == id).map(|r| r.status.clone())
}

#[test]
fn partitioned_cluster_heals_without_a_manual_step() {
    let net = match Net::create("kt", 199, 3) {
        Ok(n) => n,
        Err(e) => {
            println!("SKIPPED: cannot create network namespaces ({e}); needs root and iproute2");
            return;
        }
    };
    let members: Vec<Member> = (0..3)
        .map(|i| {
            net.within(i, || {
                Member::start_at(&net.member_ip(i), DaemonOpts::default(), "")
            })
        })
        .collect();
    let ids: Vec<String> = listings(&net, &members)
        .expect("member lists")
        .into_iter()
        .map(|l| l.local_id)
        .collect();
    for i in 1..3 {
        let rpc = members[i].rpc_address();
        let out = net.within(0, || ctl(&members[0], &["member", "add", &rpc]));
        assert!(out.status.success(), "{out:?}");
    }
    let all_alive = |ls: &[Listing]| {
        let c = &ls[0].cluster_id;
        ls.iter().all(|l| {
            &l.cluster_id == c
                && l.rows.len() == 3
                && ids
                    .iter()
                    .all(|id| status(l, id).as_deref() == Some("alive"))
        })
    };
    eventually(EVENTUALLY, "three members converged", || {
        listings(&net, &members).filter(|ls| all_alive(ls))
    });

    // Cut member 0 off; each side declares the other dead.
    net.set_link(0, false);
    eventually(EVENTUALLY, "both sides see the other side dead", || {
        let ls = listings(&net, &members)?;
        let split = status(&ls[0], &ids[1]).as_deref() == Some("dead")
            && status(&ls[0], &ids[2]).as_deref() == Some("dead")
            && status(&ls[1], &ids[0]).as_deref() == Some("dead")
            && status(&ls[2], &ids[0]).as_deref() == Some("dead")
            && status(&ls[1], &ids[2]).as_deref() == Some("alive");
        split.then_some(())
    });

    // Heal: one cluster again, nobody touched anything.
    net.set_link(0, true);
    let healed = eventually(EVENTUALLY, "one cluster again after the heal", || {
        listings(&net, &members).filter(|ls| all_alive(ls))
    });
    assert!(healed.iter().all(|l| l.state == "initialized"));
    drop(members);
}
