//! The multi-process promise, seen from the peers: a task worker or apid crashing never
//! changes membership; a gossipd crash is restarted without peers dropping the member; a
//! whole daemon killed is shown as dead everywhere, and rejoins by itself when restarted.

#[path = "support/cluster_helpers.rs"]
mod cluster_helpers;

use cluster_helpers::{Member, listing, status_on, wait_converged};
use kapacitor_tests::{DaemonOpts, EVENTUALLY, eventually};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

fn sigkill(pid: u32) {
    kill(Pid::from_raw(pid as i32), Signal::SIGKILL).expect("kill");
}

fn three_members(a_opts: DaemonOpts) -> (Member, Member, Member) {
    let a = Member::start_with(a_opts, "");
    let b = Member::start("");
    let c = Member::start("");
    for x in [&b, &c] {
        let out = cluster_helpers::ctl(&a, &["member", "add", &x.rpc_address()]);
        assert!(out.status.success(), "{out:?}");
    }
    wait_converged(&[&a, &b, &c]);
    (a, b, c)
}

/// Runs `f` while watching how `peers` see member `id`; returns every status other than the
/// allowed ones (`None`: not listed at all).
fn watch_while(
    peers: &[&Member],
    id: &str,
    allowed: &[&str],
    f: impl FnOnce(),
) -> Vec<Option<String>> {
    let stop = AtomicBool::new(false);
    let bad = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for p in peers {
            let (stop, bad) = (&stop, &bad);
            s.spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if p.daemon.try_get("/kapacitor/v1/ping").is_some() {
                        let st = status_on(p, id);
                        if !st.as_deref().is_some_and(|s| allowed.contains(&s)) {
                            bad.lock().unwrap().push(st);
                        }
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
            });
        }
        f();
        stop.store(true, Ordering::Relaxed);
    });
    bad.into_inner().unwrap()
}

#[test]
fn worker_and_apid_crashes_never_change_membership() {
    let (a, b, c) = three_members(DaemonOpts::with_tasks(&["t1"]));
    let a_id = listing(&a).local_id;
    let bad = watch_while(&[&b, &c], &a_id, &["alive"], || {
        let worker = a.daemon.running_pid("t1");
        sigkill(worker);
        eventually(EVENTUALLY, "worker restarted", || {
            let r = a.daemon.child("t1")?;
            (r.state == "running" && r.pid != Some(worker)).then_some(())
        });
        let apid = a.daemon.running_pid("apid");
        sigkill(apid);
        eventually(EVENTUALLY, "apid back", || {
            let r = a.daemon.child("apid")?;
            (r.state == "running" && r.pid != Some(apid)).then_some(())
        });
        // Watch for longer than the suspicion timeout (4 s) after the crashes.
        std::thread::sleep(Duration::from_secs(6));
    });
    assert!(bad.is_empty(), "peers saw A as {bad:?}");
    assert_eq!(listing(&a).rows.len(), 3);
}

#[test]
fn gossipd_crash_is_restarted_and_peers_never_drop_the_member() {
    let (a, b, c) = three_members(DaemonOpts::default());
    let before = listing(&a);
    let bad = watch_while(&[&b, &c], &before.local_id, &["alive", "suspect"], || {
        let g = a.daemon.running_pid("gossipd");
        sigkill(g);
        eventually(EVENTUALLY, "gossipd restarted", || {
            let r = a.daemon.child("gossipd")?;
            (r.state == "running" && r.pid != Some(g)).then_some(())
        });
        std::thread::sleep(Duration::from_secs(8));
    });
    assert!(bad.is_empty(), "peers dropped A: {bad:?}");
    let after = listing(&a);
    assert_eq!(after.local_id, before.local_id, "same member id");
    assert_eq!(after.cluster_id, before.cluster_id, "same cluster");
    wait_converged(&[&a, &b, &c]);
}

#[test]
fn killed_daemon_is_dead_everywhere_then_rejoins_when_restarted() {
    let dir = tempfile::tempdir().unwrap();
    let opts = DaemonOpts {
        dir: Some(dir.path().to_path_buf()),
        ..DaemonOpts::default()
    };
    let (mut a, b, c) = three_members(opts.clone());
    let a_id = listing(&a).local_id;
    let cluster = listing(&b).cluster_id;

    a.daemon.signal(Signal::SIGKILL);
    assert!(a.daemon.wait_exit(EVENTUALLY).is_some());
    for p in [&b, &c] {
        let deadline = std::time::Instant::now() + EVENTUALLY;
        let mut seen = Vec::new();
        loop {
            let st = status_on(p, &a_id);
            // `dead`; `left` if it managed a goodbye before the kill reached it.
            if matches!(st.as_deref(), Some("dead" | "left")) {
                break;
            }
            if seen.last() != Some(&st) {
                seen.push(st);
            }
            assert!(
                std::time::Instant::now() < deadline,
                "peer never showed the killed member as failed; statuses seen: {seen:?}\n{}",
                p.daemon.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    drop(a);

    // Restarted from the same data dir (new ports): same id, same cluster, no manual step.
    let _ = std::fs::remove_file(dir.path().join("kapacitord.log"));
    let a = Member::start_with(opts, "");
    let l = listing(&a);
    assert_eq!(
        (l.local_id.as_str(), l.cluster_id.as_str()),
        (a_id.as_str(), cluster.as_str())
    );
    wait_converged(&[&a, &b, &c]);
}
