//! The control plane answers whatever the data plane is doing: with a task's worker stopped
//! (SIGSTOP) while points keep arriving for it, `GET /tasks/<id>`, `GET /tasks` and httpOut
//! reads answer in bounded time; the watchdog reports the worker `not responding` and
//! restarts it; a worker continued before the watchdog's limit keeps running; and
//! `watchdog-timeout = "0"` turns the watchdog off.

#[path = "support/tasks_helpers.rs"]
mod helpers;

use helpers::*;
use kapacitor_tests::{Daemon, DaemonOpts, EVENTUALLY, eventually, http};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// What the API must answer within while a worker is stopped (its reads time out after 1 s).
const ANSWER_WITHIN: Duration = Duration::from_secs(2);

fn daemon(watchdog: &str) -> Daemon {
    Daemon::start(DaemonOpts {
        extra_config: format!("[task]\nwatchdog-timeout = \"{watchdog}\"\n"),
        ..DaemonOpts::default()
    })
}

fn counting_task(id: &str) -> Value {
    json!({"id": id, "dbrps": [{"db": "db", "rp": "rp"}],
           "script": "stream|from().measurement('m')|httpOut('out')", "status": "enabled"})
}

fn signal(pid: u32, sig: Signal) {
    kill(Pid::from_raw(pid as i32), sig).unwrap_or_else(|e| panic!("{sig} to {pid}: {e}"));
}

/// The process state letter of `/proc/<pid>/stat` (`T`: stopped).
fn proc_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(") ")?.1.chars().next()
}

/// Writes bodies of 500 points to `db`.`rp` from a thread of its own until dropped.
struct Load {
    stop: Arc<AtomicBool>,
    accepted: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Load {
    fn start(d: &Daemon) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(AtomicU64::new(0));
        let url = format!("{}/write?db=db&rp=rp&precision=s", d.url());
        let (s, a) = (stop.clone(), accepted.clone());
        let thread = std::thread::spawn(move || {
            let mut t = 0u64;
            while !s.load(Ordering::Relaxed) {
                let body: String = (0..500)
                    .map(|i| {
                        t += 1;
                        format!("m,host=h{} value={i} {t}\n", i % 10)
                    })
                    .collect();
                if http::post(&url, &body).is_ok_and(|r| r.status == 204) {
                    a.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        Load {
            stop,
            accepted,
            thread: Some(thread),
        }
    }

    fn writes(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// GET `path`, with how long it took; fails the test on a transport error.
fn timed_get(d: &Daemon, path: &str) -> (kapacitor_tests::Response, Duration) {
    let started = Instant::now();
    let r = http::get_with_timeout(&format!("{}{path}", d.url()), Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    (r, started.elapsed())
}

fn collected_from(d: &Daemon, id: &str) -> u64 {
    collected(d, id, "from1")
}

/// `executing` and `error` from the list, which asks no worker for these fields.
fn list_state(d: &Daemon, id: &str) -> Option<(bool, String)> {
    let r = d.try_get(&format!(
        "{TASKS}?pattern={id}&fields=executing&fields=error"
    ))?;
    let v: Value = serde_json::from_str(&r.body).ok()?;
    let t = v["tasks"].as_array()?.first()?.clone();
    Some((t["executing"].as_bool()?, t["error"].as_str()?.to_string()))
}

#[test]
fn a_stopped_worker_never_wedges_the_api_and_the_watchdog_restarts_it() {
    let d = daemon("4s");
    create_task(&d, counting_task("busy"));
    create_task(&d, counting_task("other"));
    let load = Load::start(&d);
    eventually(EVENTUALLY, "busy takes data", || {
        (collected_from(&d, "busy") > 0).then_some(())
    });
    let stopped = d.running_pid("busy");
    signal(stopped, Signal::SIGSTOP);
    let routed_at_stop = task_ingress(&d, "busy").0;
    // Points keep being routed to it and wait in its queue.
    eventually(EVENTUALLY, "points queued for the stopped worker", || {
        (task_ingress(&d, "busy").0 > routed_at_stop + 1000).then_some(())
    });

    // GET /tasks/<id>: in bounded time, without the worker's parts.
    let (r, took) = timed_get(&d, &format!("{TASKS}/busy"));
    eprintln!("GET /tasks/busy with its worker stopped: {took:?}");
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(took < ANSWER_WITHIN, "GET /tasks/busy took {took:?}");
    let still_stopped = proc_state(stopped) == Some('T');
    if still_stopped {
        let t = r.json();
        assert_eq!(t["executing"], true, "{t}");
        assert_eq!(t["stats"], json!({}), "{t}");
        assert!(
            t["dot"].as_str().unwrap().starts_with("digraph busy"),
            "{t}"
        );
    }

    // GET /tasks does not wait for it, and still shows the other task's live stats.
    for _ in 0..3 {
        let (r, took) = timed_get(&d, TASKS);
        eprintln!("GET /tasks with a worker stopped: {took:?}");
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(took < ANSWER_WITHIN, "GET /tasks took {took:?}");
        let tasks = r.json()["tasks"].as_array().unwrap().clone();
        let other = tasks.iter().find(|t| t["id"] == "other").unwrap();
        assert!(
            other["stats"]["node-stats"]["from1"]["collected"]
                .as_u64()
                .is_some_and(|n| n > 0),
            "{other}"
        );
    }

    // An httpOut read answers an error instead of hanging.
    let (r, took) = timed_get(&d, &format!("{TASKS}/busy/out"));
    eprintln!(
        "httpOut read with the worker stopped: {took:?}, {}",
        r.status
    );
    assert!(took < ANSWER_WITHIN * 2, "httpOut read took {took:?}");
    if proc_state(stopped) == Some('T') {
        assert_eq!(r.status, 503, "{}", r.body);
        assert!(r.body.contains("did not answer"), "{}", r.body);
    }
    assert!(
        still_stopped,
        "the checks above ran after the watchdog restarted the worker; the machine is too slow \
         for this test's 4s watchdog"
    );

    // The watchdog: reported, killed, restarted under the restart policy.
    eventually(EVENTUALLY, "busy reported not responding", || {
        let (executing, error) = list_state(&d, "busy")?;
        (!executing && error == "not responding").then_some(())
    });
    let restarted = eventually(EVENTUALLY, "busy restarted", || {
        let row = d.child("busy")?;
        let pid = row
            .pid
            .filter(|p| *p != stopped && row.state == "running")?;
        (list_state(&d, "busy")? == (true, String::new())).then_some(pid)
    });
    assert!(!kapacitor_tests::pid_alive(stopped) || proc_state(stopped) == Some('Z'));
    let row = d.child("busy").unwrap();
    assert_eq!(row.restarts, 1, "{row:?}");
    let procs = d.get("/kapacitor/v1/debug/processes").body;
    assert!(procs.contains("not responding"), "{procs}");
    assert!(
        d.log().contains("task worker not responding"),
        "{}",
        d.log()
    );
    // It takes data again, and answers.
    eventually(EVENTUALLY, "the new worker takes data", || {
        (collected_from(&d, "busy") > 0).then_some(())
    });
    let t = get_task(&d, "busy");
    assert_eq!(t["executing"], true, "{t}");
    assert_eq!(t["error"], "", "{t}");
    assert_eq!(d.running_pid("busy"), restarted);
    assert!(load.writes() > 0);
}

#[test]
fn a_worker_continued_before_the_watchdog_fires_keeps_running() {
    let d = daemon("5s");
    create_task(&d, counting_task("paused"));
    let load = Load::start(&d);
    eventually(EVENTUALLY, "paused takes data", || {
        (collected_from(&d, "paused") > 0).then_some(())
    });
    let pid = d.running_pid("paused");
    signal(pid, Signal::SIGSTOP);
    std::thread::sleep(Duration::from_secs(1));
    let before = collected_from(&d, "paused");
    signal(pid, Signal::SIGCONT);
    // Well past the watchdog's limit: the same process runs and takes the queued data.
    eventually(EVENTUALLY, "paused takes data again", || {
        (collected_from(&d, "paused") > before).then_some(())
    });
    std::thread::sleep(Duration::from_secs(7));
    let row = d.child("paused").unwrap();
    assert_eq!(row.pid, Some(pid), "{row:?}");
    assert_eq!(row.restarts, 0, "{row:?}");
    assert_eq!(list_state(&d, "paused"), Some((true, String::new())));
    assert!(!d.log().contains("not responding"), "{}", d.log());
    drop(load);
}

/// httpPost waits for its answer on the engine thread (as in Kapacitor), up to its
/// `.timeout()`: a POST longer than the watchdog's limit is a declared wait, not a hang.
#[test]
fn a_post_longer_than_the_watchdog_is_not_taken_for_a_hang() {
    // An endpoint that accepts and never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicU64::new(0));
    let seen = accepted.clone();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
            seen.fetch_add(1, Ordering::Relaxed);
        }
    });
    let d = daemon("2s");
    create_task(
        &d,
        json!({"id": "poster", "dbrps": [{"db": "db", "rp": "rp"}], "status": "enabled",
               "script": format!("stream|from().measurement('m')|httpPost('http://127.0.0.1:{port}/').timeout(8s)")}),
    );
    let pid = d.running_pid("poster");
    assert_eq!(write(&d, "db=db&rp=rp", "m value=1").status, 204);
    eventually(EVENTUALLY, "the POST under way", || {
        (accepted.load(Ordering::Relaxed) > 0).then_some(())
    });
    // Past the limit and a heartbeat's interval, with the engine inside the POST.
    std::thread::sleep(Duration::from_secs(5));
    let row = d.child("poster").unwrap();
    assert_eq!((row.pid, row.restarts), (Some(pid), 0), "{row:?}");
    assert!(!d.log().contains("not responding"), "{}", d.log());
}

#[test]
fn a_zero_watchdog_timeout_leaves_a_stopped_worker_alone() {
    let d = daemon("0");
    create_task(&d, counting_task("frozen"));
    let pid = d.running_pid("frozen");
    signal(pid, Signal::SIGSTOP);
    // Longer than the default limit (5s).
    std::thread::sleep(Duration::from_secs(7));
    assert_eq!(proc_state(pid), Some('T'));
    let row = d.child("frozen").unwrap();
    assert_eq!((row.pid, row.restarts), (Some(pid), 0), "{row:?}");
    // Reads still answer in bounded time.
    let (r, took) = timed_get(&d, &format!("{TASKS}/frozen"));
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(took < ANSWER_WITHIN, "GET /tasks/frozen took {took:?}");
    signal(pid, Signal::SIGCONT);
}

#[test]
fn the_watchdog_timeout_is_printed_and_checked() {
    let out = kapacitor_tests::run_kapacitord(&["config"], &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("watchdog-timeout = \"5s\""), "{text}");

    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("k.conf");
    std::fs::write(&conf, "[task]\nwatchdog-timeout = \"100ms\"\n").unwrap();
    let out = kapacitor_tests::run_kapacitord(&["config", "-config", conf.to_str().unwrap()], &[]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("[task] watchdog-timeout"), "{err}");
}
