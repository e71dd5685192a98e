//! Stopping: SIGTERM is orderly and exits 0; SIGKILL of the supervisor leaves no orphans.

use kapacitor_tests::{Daemon, DaemonOpts, eventually, pid_alive};
use nix::sys::signal::Signal;
use std::time::Duration;

#[test]
fn sigkill_of_the_supervisor_leaves_no_child() {
    let mut d = Daemon::start(DaemonOpts::with_tasks(&["a", "b"]));
    d.running_pid("a");
    d.running_pid("b");
    let children = d.child_pids();
    assert_eq!(
        children.len(),
        4,
        "gossipd, apid and two workers: {children:?}"
    );
    d.signal(Signal::SIGKILL);
    // PDEATHSIG makes the kernel kill them at once; the issue allows 2 s.
    eventually(
        Duration::from_secs(2),
        "children of a killed supervisor to die",
        || children.iter().all(|&p| !pid_alive(p)).then_some(()),
    );
}

#[test]
fn sigterm_stops_in_order_and_exits_zero() {
    let pidfile = tempfile::NamedTempFile::new().unwrap().into_temp_path();
    let pidfile_path = pidfile.to_path_buf();
    drop(pidfile);
    let mut d = Daemon::start(DaemonOpts {
        test_tasks: vec!["a".into()],
        args: vec!["-pidfile".into(), pidfile_path.display().to_string()],
        ..DaemonOpts::default()
    });
    d.running_pid("a");
    let written = std::fs::read_to_string(&pidfile_path).unwrap();
    assert_eq!(written.trim(), d.pid().to_string());
    let children = d.child_pids();
    assert_eq!(children.len(), 3);

    d.signal(Signal::SIGTERM);
    let status = d
        .wait_exit(Duration::from_secs(30))
        .expect("kapacitord exits on SIGTERM");
    assert_eq!(status.code(), Some(0), "{}", d.diagnostics());
    for p in &children {
        assert!(!pid_alive(*p), "child {p} outlived the supervisor");
    }
    assert!(!pidfile_path.exists(), "the pid file is removed on exit");

    // Order: HTTP first, then tasks, then gossip.
    let log = d.log();
    let pos = |needle: &str| {
        log.find(needle)
            .unwrap_or_else(|| panic!("{needle:?} not in log:\n{log}"))
    };
    let http = pos("stage=http");
    let tasks = pos("stage=tasks");
    let gossip = pos("stage=gossip");
    assert!(
        http < tasks && tasks < gossip,
        "stages out of order:\n{log}"
    );
    assert!(log.contains("proc=gossipd") && log.contains("msg=leaving"));
}

#[test]
fn sigint_stops_like_sigterm() {
    let mut d = Daemon::start(DaemonOpts::default());
    let children = d.child_pids();
    d.signal(Signal::SIGINT);
    let status = d
        .wait_exit(Duration::from_secs(30))
        .expect("kapacitord exits on SIGINT");
    assert_eq!(status.code(), Some(0));
    assert!(children.iter().all(|&p| !pid_alive(p)));
}

#[test]
fn a_child_that_does_not_stop_is_killed_after_the_shutdown_timeout() {
    let mut d = Daemon::start(DaemonOpts {
        test_tasks: vec!["stuck".into(), "fine".into()],
        shutdown_timeout: Some("1s".into()),
        ..DaemonOpts::default()
    });
    let stuck = d.running_pid("stuck");
    d.running_pid("fine");
    let children = d.child_pids();
    // A stopped process cannot act on Shutdown; only SIGKILL ends it.
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(stuck as i32), Signal::SIGSTOP).unwrap();

    d.signal(Signal::SIGTERM);
    let status = d
        .wait_exit(Duration::from_secs(30))
        .expect("kapacitord exits");
    assert_eq!(status.code(), Some(0), "{}", d.diagnostics());
    for p in &children {
        assert!(!pid_alive(*p), "child {p} outlived the supervisor");
    }
    let log = d.log();
    assert!(
        log.contains("did not stop before the shutdown timeout"),
        "{log}"
    );
    // The well-behaved worker still stopped gracefully. (gossipd may not get to leave: the
    // timeout bounds the whole shutdown, and the stuck worker used it up.)
    assert!(
        log.lines()
            .any(|l| l.contains("proc=task:fine") && l.contains("shutting down; flushing")),
        "{log}"
    );
}
