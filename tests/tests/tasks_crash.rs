//! Tasks survive crashes: SIGKILL of the whole daemon keeps every task, its status and its
//! script; a killed worker runs again while other tasks keep receiving points; a worker
//! that keeps crashing, or a task that cannot start, is marked without harming the rest.

#[path = "support/tasks_helpers.rs"]
mod helpers;

use helpers::*;
use kapacitor_tests::{Daemon, DaemonOpts, EVENTUALLY, eventually};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::json;

fn sigkill(pid: u32) {
    let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
}

fn counting_task(id: &str) -> serde_json::Value {
    json!({"id": id, "dbrps": [{"db": "db", "rp": "rp"}],
           "script": "stream|from().measurement('m')|httpOut('out')", "status": "enabled"})
}

#[test]
fn sigkill_of_the_whole_daemon_keeps_tasks_status_and_scripts() {
    let dir = tempfile::tempdir().unwrap();
    let opts = DaemonOpts {
        dir: Some(dir.path().to_path_buf()),
        ..DaemonOpts::default()
    };
    let raw_script = "stream|from().measurement('test')|window().period(10s).every(10s)|count('value')|httpOut('count')";
    {
        let d = Daemon::start(opts.clone());
        create_task(&d, stream_task("testStreamTask", "enabled"));
        create_task(
            &d,
            json!({"id": "off", "dbrps": [{"db": "a", "rp": "b"}], "script": raw_script}),
        );
        // SIGKILL the supervisor: children follow through their parent-death signal.
        sigkill(d.pid());
    }
    let d = Daemon::start(opts);
    let on = wait_executing(&d, "testStreamTask", true);
    assert_eq!(on["status"], "enabled");
    assert_eq!(on["script"], STREAM_SCRIPT);
    let off = get_task(&d, "off");
    assert_eq!(off["status"], "disabled");
    assert_eq!(off["executing"], false);
    let raw = d.get(&format!("{TASKS}/off?script-format=raw")).json();
    assert_eq!(raw["script"], raw_script);
    // The restarted task runs: the reference's stream test passes on it.
    assert_eq!(
        write(&d, "db=mydb&rp=myrp&precision=s", STREAM_POINTS).status,
        204
    );
    eventually(EVENTUALLY, "httpOut after restart", || {
        (d.get(&format!("{TASKS}/testStreamTask/count")).body == STREAM_COUNT_BODY).then_some(())
    });
    let vars = d.get("/kapacitor/v1/debug/vars").json();
    assert_eq!(vars["num_tasks"], 2);
    assert_eq!(vars["num_enabled_tasks"], 1);
}

/// Since issue 13 the first task loses nothing either: what is written while its worker is
/// down waits in its queue and reaches the restarted worker (this test used to assert drops).
#[test]
fn a_killed_worker_runs_again_and_the_other_task_never_stops_receiving() {
    let d = Daemon::start(DaemonOpts::default());
    create_task(&d, counting_task("first"));
    create_task(&d, counting_task("second"));
    let mut written = 0u64;
    let mut write_one = |d: &Daemon| {
        let r = write(d, "db=db&rp=rp", "m value=1");
        assert_eq!(r.status, 204, "{}", r.body);
        written += 1;
        written
    };
    // Kill the first worker until some write lands while it is down (it restarts fast).
    let mut saw_first_down = false;
    for _ in 0..3 {
        let old = d.running_pid("first");
        sigkill(old);
        let back = eventually(EVENTUALLY, "first executing again", || {
            write_one(&d);
            let row = d.child("first")?;
            let t = get_task(&d, "first");
            if t["executing"] == false {
                saw_first_down = true;
            }
            (t["executing"] == true && row.pid.is_some_and(|p| p != old)).then_some(row.pid)
        });
        assert!(back.is_some());
        if saw_first_down {
            break;
        }
    }
    assert!(
        saw_first_down,
        "no write landed while the first worker was down"
    );
    // The second task got every point, including those written while the first was down.
    let total = written;
    assert_eq!(task_ingress(&d, "second"), (total, 0));
    eventually(EVENTUALLY, "second processed every point", || {
        (collected(&d, "second", "from1") == total).then_some(())
    });
    assert_eq!(d.get("/kapacitor/v1/ping").status, 204);
    // The first one lost nothing: every point was queued and acknowledged by a worker.
    assert_eq!(task_ingress(&d, "first"), (total, 0));
    eventually(EVENTUALLY, "first acknowledged every point", || {
        let first = get_task(&d, "first");
        let ts = &first["stats"]["task-stats"];
        (ts["points_acked"] == total && ts["points_dropped"] == 0).then_some(())
    });
}

#[test]
fn a_crash_looping_task_is_marked_and_enable_revives_it() {
    let d = Daemon::start(DaemonOpts::default());
    create_task(&d, counting_task("loopy"));
    create_task(&d, counting_task("steady"));
    let failed = eventually(EVENTUALLY, "loopy given up", || {
        let t = get_task(&d, "loopy");
        if t["executing"] == false && t["error"].as_str().is_some_and(|e| !e.is_empty()) {
            return Some(t);
        }
        if let Some(pid) = d.child("loopy").and_then(|r| r.pid) {
            sigkill(pid);
        }
        None
    });
    let error = failed["error"].as_str().unwrap();
    assert!(error.contains("crashed 5 times"), "{error}");
    assert_eq!(failed["status"], "enabled");
    assert_eq!(get_task(&d, "steady")["executing"], true);
    assert_eq!(write(&d, "db=db&rp=rp", "m value=1").status, 204);
    eventually(EVENTUALLY, "steady processed the point", || {
        (collected(&d, "steady", "from1") == 1).then_some(())
    });
    // Enabling again starts it afresh and clears the error.
    let r = patch_json(&d, &format!("{TASKS}/loopy"), &json!({"status": "enabled"}));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["executing"], true, "{}", r.body);
    assert_eq!(r.json()["error"], "");
}

#[test]
fn a_task_that_cannot_start_is_marked_and_the_daemon_still_boots() {
    let dir = tempfile::tempdir().unwrap();
    let opts = DaemonOpts {
        dir: Some(dir.path().to_path_buf()),
        ..DaemonOpts::default()
    };
    // The language accepts this script (template syntax is the engine's to check); the
    // engine refuses to build it, so the task fails at start, as a stored script a newer
    // build refuses would.
    let body = json!({"id": "cannot", "dbrps": [{"db": "db", "rp": "rp"}], "status": "enabled",
        "script": "stream|from().measurement('m')|alert().id('{{ .Name ')"});
    {
        let d = Daemon::start(opts.clone());
        let r = post_json(&d, TASKS, &body);
        assert_eq!(r.status, 500, "{}", r.body);
        assert!(
            r.json()["error"].as_str().unwrap().contains("template"),
            "{}",
            r.body
        );
        create_task(&d, counting_task("fine"));
        sigkill(d.pid());
    }
    let d = Daemon::start(opts);
    let t = eventually(EVENTUALLY, "cannot marked after boot", || {
        let t = get_task(&d, "cannot");
        t["error"]
            .as_str()
            .is_some_and(|e| !e.is_empty())
            .then_some(t)
    });
    assert_eq!(t["status"], "enabled");
    assert_eq!(t["executing"], false);
    assert!(t["error"].as_str().unwrap().contains("template"), "{t}");
    wait_executing(&d, "fine", true);
    assert_eq!(d.get("/kapacitor/v1/ping").status, 204);
}

#[test]
fn a_second_daemon_on_the_same_data_dir_refuses_to_start() {
    let d = Daemon::start(DaemonOpts::default());
    let out = kapacitor_tests::run_kapacitord(
        &["run", "-config", d.config_path().to_str().unwrap()],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot open the task store") && stderr.contains("already open"),
        "{stderr}"
    );
    assert_eq!(d.get("/kapacitor/v1/ping").status, 204);
}
