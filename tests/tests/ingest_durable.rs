//! Nothing accepted is lost (issue 13): every point answered 204 by `/write` reaches its
//! tasks, under a saturating load, through a worker's kill -9, a kill -9 of the whole daemon
//! and a clean restart; a full queue answers 503 naming the task and applies the write to no
//! task; queues of deleted or disabled tasks are removed.
//!
//! How "processed" is counted: without crashes, the task's own `from1.collected` (the
//! worker's engine saw each point, exactly once). Across a worker's kill -9, apid's
//! `points_acked` (a worker acknowledges a batch only after its engine processed it, so
//! acked == accepted means every accepted point reached the task at least once) and
//! `points_redelivered` (what was sent again because the dead worker had not acknowledged
//! it: the bound on duplicates), with `points_sent == accepted + points_redelivered`.
//! The node counts restart with the worker, and what sat in a task's windows at a crash is
//! lost as in Kapacitor, so they cannot count across it.

#[path = "support/tasks_helpers.rs"]
mod helpers;

use helpers::*;
use kapacitor_tests::{Daemon, DaemonOpts, eventually};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Generous: a debug build on a loaded 2-core machine drains slowly.
const DRAIN: Duration = Duration::from_secs(100);

fn signal(pid: u32, sig: Signal) {
    let _ = kill(Pid::from_raw(pid as i32), sig);
}

fn task(id: &str) -> Value {
    json!({"id": id, "dbrps": [{"db": "db", "rp": "rp"}],
           "script": "stream|from().measurement('m')|httpOut('out')", "status": "enabled"})
}

fn task_stats(d: &Daemon, id: &str) -> Value {
    get_task(d, id)["stats"]["task-stats"].clone()
}

fn stat(d: &Daemon, id: &str, key: &str) -> u64 {
    task_stats(d, id)[key].as_u64().unwrap_or(0)
}

fn queue_dir(d: &Daemon, id: &str) -> std::path::PathBuf {
    d.data_dir().join("queues").join(id)
}

/// A body of `lines` points of measurement `m` (writer `w`, body `n`).
fn body(w: usize, n: u64, lines: usize) -> String {
    let mut s = String::with_capacity(lines * 48);
    for i in 0..lines {
        s.push_str(&format!(
            "m,writer=w{w},host=h{} v={n}i,f={i}.5 {}\n",
            i % 50,
            1_600_000_000_000_000_000i64 + (n as i64) * 1_000_000 + i as i64
        ));
    }
    s
}

/// Writers posting `lines`-line bodies until `stop` (or `max_bodies` each); a 503 is retried
/// with the same body (it was applied to no task), anything else but 204 fails the test.
struct Load {
    stop: Arc<AtomicBool>,
    accepted: Arc<AtomicU64>,
    refused: Arc<AtomicU64>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Load {
    fn start(url: String, writers: usize, lines: usize, max_bodies: u64) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(AtomicU64::new(0));
        let refused = Arc::new(AtomicU64::new(0));
        let threads = (0..writers)
            .map(|w| {
                let (url, stop, accepted, refused) =
                    (url.clone(), stop.clone(), accepted.clone(), refused.clone());
                std::thread::spawn(move || {
                    let agent: ureq::Agent = ureq::Agent::config_builder()
                        .http_status_as_error(false)
                        .timeout_global(Some(Duration::from_secs(60)))
                        .build()
                        .into();
                    let write_url = format!("{url}/write?db=db&rp=rp");
                    let mut n = 0;
                    while !stop.load(Ordering::Relaxed) && n < max_bodies {
                        let b = body(w, n, lines);
                        loop {
                            let mut r = agent
                                .post(&write_url)
                                .send(b.as_bytes())
                                .expect("write request");
                            let status = r.status().as_u16();
                            match status {
                                204 => {
                                    accepted.fetch_add(lines as u64, Ordering::Relaxed);
                                    break;
                                }
                                503 => {
                                    assert!(r.headers().get("retry-after").is_some());
                                    refused.fetch_add(1, Ordering::Relaxed);
                                    std::thread::sleep(Duration::from_millis(20));
                                }
                                _ => panic!(
                                    "write answered {status}: {}",
                                    r.body_mut().read_to_string().unwrap_or_default()
                                ),
                            }
                        }
                        n += 1;
                    }
                })
            })
            .collect();
        Load {
            stop,
            accepted,
            refused,
            threads,
        }
    }

    fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }

    /// Stops the writers; returns (points accepted with 204, 503 answers).
    fn finish(self) -> (u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            t.join().expect("writer thread");
        }
        (
            self.accepted.load(Ordering::Relaxed),
            self.refused.load(Ordering::Relaxed),
        )
    }
}

/// Small queues so that a few seconds of load spill to disk and fill them (503 + retry).
fn small_queues(write_timeout: &str) -> String {
    format!(
        "[queue]\n  memory-per-task = \"1MiB\"\n  memory-total = \"8MiB\"\n  disk-per-task = \"6MiB\"\n  segment-size = \"512KiB\"\n  write-timeout = \"{write_timeout}\"\n"
    )
}

fn wait_collected(d: &Daemon, id: &str, want: u64) {
    let mut last = 0;
    let until = Instant::now() + DRAIN;
    loop {
        let got = collected(d, id, "from1");
        if got == want {
            return;
        }
        assert!(got <= want, "task {id} processed {got} > {want} accepted");
        assert!(
            Instant::now() < until,
            "task {id} processed {got} of {want} (last seen {last})"
        );
        last = got;
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn saturate_and_count(tasks: usize, writers: usize, seconds: u64, max_bodies: u64) {
    let d = Daemon::start(DaemonOpts {
        extra_config: small_queues("300ms"),
        ..DaemonOpts::default()
    });
    let ids: Vec<String> = (0..tasks).map(|i| format!("t{i}")).collect();
    for id in &ids {
        create_task(&d, task(id));
    }
    for id in &ids {
        wait_executing(&d, id, true);
    }
    let load = Load::start(d.url(), writers, 5_000, max_bodies);
    std::thread::sleep(Duration::from_secs(seconds));
    let (accepted, refused) = load.finish();
    assert!(accepted > 0);
    eprintln!(
        "{tasks} task(s): {accepted} points accepted, {refused} writes answered 503 and retried"
    );
    for id in &ids {
        wait_collected(&d, id, accepted);
        let ts = task_stats(&d, id);
        assert_eq!(ts["points_queued"], accepted, "{id}: {ts}");
        eventually(DRAIN, "every batch acknowledged", || {
            (stat(&d, id, "points_acked") == accepted).then_some(())
        });
        assert_eq!(stat(&d, id, "points_dropped"), 0);
        assert_eq!(stat(&d, id, "points_redelivered"), 0);
    }
}

#[test]
fn a_saturating_load_into_one_task_is_processed_exactly() {
    saturate_and_count(1, 4, 4, u64::MAX);
}

#[test]
fn a_saturating_load_into_twenty_tasks_is_processed_exactly_by_each() {
    // Bounded so that twenty debug-build workers drain it within the test's time.
    saturate_and_count(20, 3, 4, 16);
}

/// kill -9 of a worker in the middle of a load: after its restart every accepted point was
/// acknowledged (processed at least once); what was sent again is at most what the dead
/// worker had in flight (the window: 16 MiB of batches).
#[test]
fn a_worker_killed_under_load_gets_every_accepted_point_again() {
    let d = Daemon::start(DaemonOpts {
        extra_config: small_queues("2s"),
        ..DaemonOpts::default()
    });
    create_task(&d, task("k"));
    create_task(&d, task("steady"));
    wait_executing(&d, "k", true);
    wait_executing(&d, "steady", true);
    let load = Load::start(d.url(), 3, 5_000, u64::MAX);
    eventually(DRAIN, "load under way", || {
        (load.accepted() > 50_000).then_some(())
    });
    let old = d.running_pid("k");
    signal(old, Signal::SIGKILL);
    eventually(DRAIN, "k restarted", || {
        d.child("k")?.pid.filter(|&p| p != old)
    });
    std::thread::sleep(Duration::from_secs(2));
    let (accepted, _) = load.finish();
    wait_executing(&d, "k", true);
    eventually(DRAIN, "every accepted point acknowledged by k", || {
        (stat(&d, "k", "points_acked") == accepted).then_some(())
    });
    let ts = task_stats(&d, "k");
    let redelivered = ts["points_redelivered"].as_u64().unwrap();
    let sent = ts["points_sent"].as_u64().unwrap();
    eprintln!(
        "k: {accepted} accepted, {redelivered} sent again after the kill (duplicates at most)"
    );
    assert_eq!(ts["points_queued"], accepted);
    assert_eq!(sent, accepted + redelivered, "{ts}");
    // The window is 16 MiB; these points encode to more than 30 bytes each.
    assert!(redelivered <= (16 << 20) / 30 + 10_000, "{redelivered}");
    // The task runs on the new worker: its count is what it was sent since the restart.
    assert!(collected(&d, "k", "from1") >= redelivered);
    wait_collected(&d, "steady", accepted);
}

fn kill_whole_daemon(d: &mut Daemon) {
    let mut pids = d.child_pids();
    pids.push(d.pid());
    for p in pids {
        signal(p, Signal::SIGKILL);
    }
    d.wait_exit(DRAIN);
}

/// Spilled and write-through batches survive kill -9 of the whole daemon (their bytes went
/// through write(2)); with `memory-per-task = 0` every accepted batch is on disk, so the
/// count after the restart is exact.
#[test]
fn write_through_batches_survive_kill_9_of_the_daemon_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let opts = DaemonOpts {
        dir: Some(dir.path().to_path_buf()),
        extra_config: "[queue]\n  memory-per-task = \"0\"\n[task]\n  watchdog-timeout = \"0s\"\n"
            .into(),
        ..DaemonOpts::default()
    };
    let mut d = Daemon::start(opts.clone());
    create_task(&d, task("w"));
    wait_executing(&d, "w", true);
    signal(d.running_pid("w"), Signal::SIGSTOP);
    let mut accepted = 0;
    for n in 0..20 {
        let r = write(&d, "db=db&rp=rp", &body(0, n, 1_000));
        assert_eq!(r.status, 204, "{}", r.body);
        accepted += 1_000;
    }
    let ts = task_stats_when_stopped(&d, "w");
    assert_eq!(ts["queue_memory_batches"], 0, "{ts}");
    assert_eq!(ts["queue_disk_batches"], 20, "{ts}");
    kill_whole_daemon(&mut d);
    drop(d);
    let d = Daemon::start(opts);
    wait_executing(&d, "w", true);
    wait_collected(&d, "w", accepted);
    eventually(DRAIN, "acknowledged and removed", || {
        let ts = task_stats(&d, "w");
        (ts["points_acked"] == accepted && ts["queue_disk_batches"] == 0).then_some(())
    });
}

/// A spilled queue (small memory part, stopped worker): after kill -9 of the daemon what
/// was on disk is processed; only the memory part (at most `memory-per-task`) can be lost.
#[test]
fn spilled_batches_survive_kill_9_of_the_daemon() {
    let dir = tempfile::tempdir().unwrap();
    let opts = DaemonOpts {
        dir: Some(dir.path().to_path_buf()),
        extra_config:
            "[queue]\n  memory-per-task = \"64KiB\"\n[task]\n  watchdog-timeout = \"0s\"\n".into(),
        ..DaemonOpts::default()
    };
    let mut d = Daemon::start(opts.clone());
    create_task(&d, task("s"));
    wait_executing(&d, "s", true);
    signal(d.running_pid("s"), Signal::SIGSTOP);
    let mut accepted = 0;
    for n in 0..20 {
        let r = write(&d, "db=db&rp=rp", &body(0, n, 1_000));
        assert_eq!(r.status, 204, "{}", r.body);
        accepted += 1_000;
    }
    let ts = task_stats_when_stopped(&d, "s");
    let on_disk = ts["queue_disk_batches"].as_u64().unwrap();
    let in_memory = ts["queue_memory_batches"].as_u64().unwrap();
    assert!(
        on_disk > 0 && ts["queue_spilled_bytes"].as_u64().unwrap() > 0,
        "{ts}"
    );
    assert_eq!(on_disk + in_memory, 20, "{ts}");
    kill_whole_daemon(&mut d);
    drop(d);
    let d = Daemon::start(opts);
    wait_executing(&d, "s", true);
    wait_collected(&d, "s", on_disk * 1_000);
    assert!(accepted - on_disk * 1_000 <= in_memory * 1_000);
}

/// The stats of a task whose worker is stopped come from apid alone (`/debug/vars`).
fn task_stats_when_stopped(d: &Daemon, id: &str) -> Value {
    let v = d.get("/kapacitor/v1/debug/vars").json();
    v["kapacitor"][format!("task_ingress:{id}")]["values"].clone()
}

/// A clean restart (SIGTERM) keeps what the queues held in memory: written to disk at
/// shutdown, delivered after the start, exactly once (the worker was stopped: nothing had
/// been acknowledged).
#[test]
fn a_clean_restart_keeps_the_queued_batches() {
    let dir = tempfile::tempdir().unwrap();
    let opts = DaemonOpts {
        dir: Some(dir.path().to_path_buf()),
        extra_config: "[task]\n  watchdog-timeout = \"0s\"\n".into(),
        ..DaemonOpts::default()
    };
    let mut d = Daemon::start(opts.clone());
    create_task(&d, task("c"));
    wait_executing(&d, "c", true);
    signal(d.running_pid("c"), Signal::SIGSTOP);
    for n in 0..10 {
        let r = write(&d, "db=db&rp=rp", &body(0, n, 1_000));
        assert_eq!(r.status, 204, "{}", r.body);
    }
    let ts = task_stats_when_stopped(&d, "c");
    assert_eq!(ts["queue_memory_batches"], 10, "{ts}");
    d.stop();
    drop(d);
    let d = Daemon::start(opts);
    wait_executing(&d, "c", true);
    wait_collected(&d, "c", 10_000);
    eventually(DRAIN, "acknowledged", || {
        (stat(&d, "c", "points_acked") == 10_000).then_some(())
    });
}

/// Memory and disk full for one task (stopped worker, tiny disk budget, short timeout):
/// `/write` answers 503 with `Retry-After` and the task's name, and the write reaches no
/// task; a write the full task does not take is not held up; once the worker runs again,
/// writes succeed again.
#[test]
fn a_full_queue_answers_503_naming_the_task_and_writes_nothing() {
    let d = Daemon::start(DaemonOpts {
        extra_config: "[queue]\n  memory-per-task = \"0\"\n  disk-per-task = \"256KiB\"\n  segment-size = \"64KiB\"\n  write-timeout = \"500ms\"\n[task]\n  watchdog-timeout = \"0s\"\n"
            .into(),
        ..DaemonOpts::default()
    });
    create_task(
        &d,
        json!({"id": "stuck", "dbrps": [{"db": "db", "rp": "rp"}],
               "script": "stream|from().measurement('a')|httpOut('out')", "status": "enabled"}),
    );
    create_task(
        &d,
        json!({"id": "free", "dbrps": [{"db": "db", "rp": "rp"}],
               "script": "stream|from().measurement('b')|httpOut('out')", "status": "enabled"}),
    );
    wait_executing(&d, "stuck", true);
    wait_executing(&d, "free", true);
    let pid = d.running_pid("stuck");
    signal(pid, Signal::SIGSTOP);
    let a_body: String = (0..200)
        .map(|i| format!("a,host=h{i} v={i}i {i}\n"))
        .collect();
    let mut full = None;
    for _ in 0..200 {
        let r = write(&d, "db=db&rp=rp", &a_body);
        if r.status == 503 {
            full = Some(r);
            break;
        }
        assert_eq!(r.status, 204, "{}", r.body);
    }
    let r = full.expect("the stuck task's queue never filled");
    assert_eq!(r.header("retry-after"), Some("1"));
    let err = r.json();
    assert!(
        err["error"].as_str().unwrap().contains("task stuck"),
        "{err}"
    );
    // A write for both tasks is refused whole: the free task does not get its half.
    let free_before = task_stats(&d, "free")["points_queued"].as_u64().unwrap();
    let mixed = format!("{a_body}b v=1i 1\n");
    assert_eq!(write(&d, "db=db&rp=rp", &mixed).status, 503);
    assert_eq!(task_stats(&d, "free")["points_queued"], free_before);
    // A write only the free task takes goes through at once.
    let t0 = Instant::now();
    let r = write(&d, "db=db&rp=rp", "b v=2i 2\n");
    assert_eq!(r.status, 204, "{}", r.body);
    assert!(t0.elapsed() < Duration::from_secs(10));
    let vars = task_stats_when_stopped(&d, "stuck");
    assert!(vars["writes_refused"].as_u64().unwrap() >= 2, "{vars}");
    assert!(vars["write_waits"].as_u64().unwrap() >= 2, "{vars}");
    // The worker runs again: its queue drains and writes succeed.
    signal(pid, Signal::SIGCONT);
    eventually(DRAIN, "writes accepted again", || {
        (write(&d, "db=db&rp=rp", &a_body).status == 204).then_some(())
    });
}

/// A deleted or disabled task's queue directory is removed; at start, queues of tasks that
/// are gone or disabled are removed too.
#[test]
fn queues_of_deleted_and_disabled_tasks_are_removed() {
    let dir = tempfile::tempdir().unwrap();
    let opts = DaemonOpts {
        dir: Some(dir.path().to_path_buf()),
        ..DaemonOpts::default()
    };
    let mut d = Daemon::start(opts.clone());
    create_task(&d, task("del"));
    create_task(&d, task("dis"));
    create_task(&d, task("keep"));
    for id in ["del", "dis", "keep"] {
        wait_executing(&d, id, true);
        eventually(DRAIN, "queue directory created", || {
            queue_dir(&d, id)
                .join("subscription.json")
                .is_file()
                .then_some(())
        });
    }
    assert_eq!(delete(&d, &format!("{TASKS}/del")).status, 204);
    assert!(!queue_dir(&d, "del").exists());
    let r = patch_json(&d, &format!("{TASKS}/dis"), &json!({"status": "disabled"}));
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(!queue_dir(&d, "dis").exists());
    // Enabled again: a new queue.
    let r = patch_json(&d, &format!("{TASKS}/dis"), &json!({"status": "enabled"}));
    assert_eq!(r.status, 200, "{}", r.body);
    eventually(DRAIN, "queue directory back", || {
        queue_dir(&d, "dis")
            .join("subscription.json")
            .is_file()
            .then_some(())
    });
    let r = patch_json(&d, &format!("{TASKS}/dis"), &json!({"status": "disabled"}));
    assert_eq!(r.status, 200, "{}", r.body);
    d.stop();
    drop(d);
    // Left while the daemon is down: a queue of a task that no longer exists, and one of the
    // disabled task (as if it had been disabled while apid was down).
    let queues = dir.path().join("data").join("queues");
    std::fs::create_dir_all(queues.join("ghost")).unwrap();
    std::fs::create_dir_all(queues.join("dis")).unwrap();
    let d = Daemon::start(opts);
    assert_eq!(queue_dir(&d, "ghost").parent().unwrap(), queues);
    wait_executing(&d, "keep", true);
    assert!(!queue_dir(&d, "ghost").exists());
    assert!(!queue_dir(&d, "dis").exists());
    assert!(queue_dir(&d, "keep").join("subscription.json").is_file());
}
