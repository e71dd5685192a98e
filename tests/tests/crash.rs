//! Children that die are restarted; a task worker that keeps crashing is given up on.

use kapacitor_tests::{Daemon, DaemonOpts, EVENTUALLY, eventually, pid_alive};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

fn sigkill(pid: u32) {
    kill(Pid::from_raw(pid as i32), Signal::SIGKILL).expect("kill");
}

/// Waits until `role_or_task` runs with a pid other than `old`.
fn new_pid(d: &Daemon, role_or_task: &str, old: u32) -> u32 {
    eventually(EVENTUALLY, &format!("{role_or_task} restarted"), || {
        let row = d.child(role_or_task)?;
        (row.state == "running" && row.pid != Some(old))
            .then_some(row.pid)
            .flatten()
    })
}

#[test]
fn killed_apid_is_restarted_and_nothing_else_moves() {
    let d = Daemon::start(DaemonOpts::with_tasks(&["t1"]));
    let gossipd = d.running_pid("gossipd");
    let worker = d.running_pid("t1");
    let apid = d.running_pid("apid");

    sigkill(apid);
    let apid2 = new_pid(&d, "apid", apid);
    assert_ne!(apid2, apid);
    eventually(EVENTUALLY, "ping after apid restart", || {
        d.try_get("/kapacitor/v1/ping").filter(|r| r.status == 204)
    });

    let row = d.child("apid").unwrap();
    assert_eq!(row.restarts, 1);
    assert_eq!(d.child("gossipd").unwrap().pid, Some(gossipd));
    assert_eq!(d.child("t1").unwrap().pid, Some(worker));
    assert!(pid_alive(gossipd) && pid_alive(worker));
    // The worker redials the new apid.
    eventually(EVENTUALLY, "worker reconnected to the new apid", || {
        d.child("t1").unwrap().connected.filter(|c| *c)
    });
    let last_exit = d.get("/kapacitor/v1/debug/processes").json();
    let apid_row = last_exit
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["role"] == "apid")
        .unwrap()
        .clone();
    assert_eq!(apid_row["last_exit"], "signal: killed");
}

#[test]
fn killed_gossipd_is_restarted() {
    let d = Daemon::start(DaemonOpts::default());
    let apid = d.running_pid("apid");
    let g = d.running_pid("gossipd");
    sigkill(g);
    new_pid(&d, "gossipd", g);
    assert_eq!(d.child("apid").unwrap().pid, Some(apid));
}

#[test]
fn killed_worker_comes_back_and_others_keep_running() {
    let d = Daemon::start(DaemonOpts::with_tasks(&["a", "b"]));
    let a = d.running_pid("a");
    let b = d.running_pid("b");
    let apid = d.running_pid("apid");
    sigkill(a);
    let a2 = new_pid(&d, "a", a);
    assert!(pid_alive(a2));
    assert_eq!(d.child("b").unwrap().pid, Some(b));
    assert_eq!(d.child("apid").unwrap().pid, Some(apid));
    assert_eq!(d.child("a").unwrap().restarts, 1);
}

#[test]
fn crash_loop_limit_stops_restarting_a_task() {
    let d = Daemon::start(DaemonOpts::with_tasks(&["loopy", "steady"]));
    let steady = d.running_pid("steady");
    let mut pid = d.running_pid("loopy");
    for crash in 1..=5 {
        sigkill(pid);
        if crash < 5 {
            pid = new_pid(&d, "loopy", pid);
        }
    }
    let row = eventually(EVENTUALLY, "loopy marked failed", || {
        d.child("loopy").filter(|r| r.state == "failed")
    });
    assert_eq!(row.pid, None);
    assert_eq!(row.restarts, 4);
    let error = row.error.expect("a failed task carries its error");
    assert!(
        error.contains("crashed 5 times") && error.contains("signal: killed"),
        "{error}"
    );

    // Still failed a while later: no sixth start.
    std::thread::sleep(std::time::Duration::from_secs(1));
    let row = d.child("loopy").unwrap();
    assert_eq!((row.state.as_str(), row.pid), ("failed", None));
    assert_eq!(d.child("steady").unwrap().pid, Some(steady));
    assert_eq!(d.get("/kapacitor/v1/ping").status, 204);
}
