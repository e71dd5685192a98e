//! A three-member cluster split by a network partition heals by itself.
//!
//! Each member runs in its own network namespace, linked by veth pairs to a bridge in a hub
//! namespace; the partition is `ip link set down` on one member's hub side. Everything the
//! test creates lives in those namespaces (never the host's network) and is deleted at the
//! end. Needs root and `ip netns`; without them the test says why and passes vacuously.

#[path = "support/cluster_helpers.rs"]
mod cluster_helpers;

use cluster_helpers::{Listing, Member, ctl, try_listing};
use kapacitor_tests::{DaemonOpts, EVENTUALLY, eventually};
use nix::libc;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::process::Command;

/// The namespaces and links of one test run; dropping it deletes them.
struct Net {
    hub: String,
    members: Vec<String>,
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl Net {
    fn member_ip(i: usize) -> String {
        format!("10.199.{}.{}", std::process::id() % 250, i + 1)
    }

    fn create(n: usize) -> Result<Net, String> {
        let tag = std::process::id();
        let net = Net {
            hub: format!("kt{tag}hub"),
            members: (0..n).map(|i| format!("kt{tag}m{i}")).collect(),
        };
        ip(&["netns", "add", &net.hub])?;
        let hub = net.hub.clone();
        ip(&["-n", &hub, "link", "add", "br0", "type", "bridge"])?;
        ip(&["-n", &hub, "link", "set", "br0", "up"])?;
        for (i, ns) in net.members.iter().enumerate() {
            ip(&["netns", "add", ns])?;
            let (h, m) = (format!("h{i}"), format!("m{i}"));
            ip(&[
                "-n", &hub, "link", "add", &h, "type", "veth", "peer", "name", &m, "netns", ns,
            ])?;
            ip(&["-n", &hub, "link", "set", &h, "master", "br0", "up"])?;
            ip(&[
                "-n",
                ns,
                "addr",
                "add",
                &format!("{}/24", Net::member_ip(i)),
                "dev",
                &m,
            ])?;
            ip(&["-n", ns, "link", "set", &m, "up"])?;
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
        }
        Ok(net)
    }

    fn set_link(&self, i: usize, up: bool) {
        ip(&[
            "-n",
            &self.hub,
            "link",
            "set",
            &format!("h{i}"),
            if up { "up" } else { "down" },
        ])
        .expect("switching a link");
    }

    /// Runs `f` with this thread inside member `i`'s namespace (the daemon's HTTP API listens
    /// on 127.0.0.1 there, and processes started by `f` inherit it).
    fn within<T>(&self, i: usize, f: impl FnOnce() -> T) -> T {
        let home = File::open("/proc/thread-self/ns/net").expect("own netns");
        let target = File::open(format!("/var/run/netns/{}", self.members[i])).expect("netns");
        // SAFETY: setns on this thread with valid namespace fds; switched back below.
        assert_eq!(
            unsafe { libc::setns(target.as_raw_fd(), libc::CLONE_NEWNET) },
            0
        );
        let out = f();
        assert_eq!(
            unsafe { libc::setns(home.as_raw_fd(), libc::CLONE_NEWNET) },
            0
        );
        out
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for ns in self.members.iter().chain([&self.hub]) {
            let _ = ip(&["netns", "del", ns]);
        }
    }
}

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
    let net = match Net::create(3) {
        Ok(n) => n,
        Err(e) => {
            println!("SKIPPED: cannot create network namespaces ({e}); needs root and iproute2");
            return;
        }
    };
    let members: Vec<Member> = (0..3)
        .map(|i| {
            net.within(i, || {
                Member::start_at(&Net::member_ip(i), DaemonOpts::default(), "")
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
