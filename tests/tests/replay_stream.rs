//! Stream recordings and replays on the real daemon: the recording routes (status codes and
//! JSON as Kapacitor), the `.srpl` file (gzip of `db\nrp\nline\n` records), replays into a
//! task whose alert `.post()` really fires and whose httpOut answers while the replay runs,
//! fast and real clock, recording time on and off, and what a restart leaves.

#[path = "support/alerting_helpers.rs"]
mod alerting_helpers;

use alerting_helpers::Endpoint;
use kapacitor_tests::{Daemon, DaemonOpts, EVENTUALLY, eventually};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;

/// 2020-09-13T12:26:40Z
const T0: i64 = 1_600_000_000;
const RECORDINGS: &str = "/kapacitor/v1/recordings";
const REPLAYS: &str = "/kapacitor/v1/replays";

fn rfc3339(secs: i64) -> String {
    let out = Command::new("date")
        .args(["-u", "-d", &format!("@{secs}"), "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .expect("date");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A daemon whose `[replay] dir` is `<dir>/replay`.
fn start(dir: &Path) -> Daemon {
    Daemon::start(DaemonOpts {
        dir: Some(dir.to_path_buf()),
        extra_config: format!("[replay]\ndir = \"{}\"\n", replay_dir(dir).display()),
        ..DaemonOpts::default()
    })
}

fn replay_dir(dir: &Path) -> PathBuf {
    dir.join("replay")
}

fn define(d: &Daemon, id: &str, script: &str, status: &str) {
    let r = d.post_json(
        "/kapacitor/v1/tasks",
        &json!({
            "id": id,
            "type": "stream",
            "dbrps": [{"db": "telegraf", "rp": "autogen"}],
            "script": script,
            "status": status,
        }),
    );
    assert_eq!(r.status, 200, "create task {id}: {}", r.body);
}

fn gunzip(path: &Path) -> String {
    let out = Command::new("gzip")
        .arg("-dc")
        .arg(path)
        .output()
        .expect("gzip");
    assert!(out.status.success(), "{} is not gzip", path.display());
    String::from_utf8(out.stdout).unwrap()
}

/// Writes `text` gzipped to `path`, as Kapacitor's recordings are.
fn gzip_to(path: &Path, text: &str) {
    let plain = path.with_extension("txt");
    std::fs::write(&plain, text).unwrap();
    let out = Command::new("gzip").arg("-c").arg(&plain).output().unwrap();
    assert!(out.status.success());
    std::fs::write(path, out.stdout).unwrap();
    std::fs::remove_file(plain).unwrap();
}

fn wait_status(d: &Daemon, path: &str, status: &str) -> Value {
    eventually(EVENTUALLY, &format!("{path} {status}"), || {
        let r = d.try_get(path)?;
        let v: Value = serde_json::from_str(&r.body).ok()?;
        (v["status"] == status).then_some((r.status, v))
    })
    .1
}

#[test]
fn a_stream_recording_tees_the_tasks_points_into_a_kapacitor_srpl_file() {
    let tmp = tempfile::tempdir().unwrap();
    let d = start(tmp.path());
    define(
        &d,
        "cpu_rec",
        "stream\n    |from()\n        .measurement('cpu')\n    |httpOut('out')\n",
        "disabled",
    );

    let stop = rfc3339(T0 + 10);
    let r = d.post_json(
        &format!("{RECORDINGS}/stream"),
        &json!({"id": "rec1", "task": "cpu_rec", "stop": stop}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let v = r.json();
    assert_eq!(v["link"]["href"], "/kapacitor/v1/recordings/rec1");
    assert_eq!(
        (
            &v["id"],
            &v["type"],
            &v["status"],
            &v["size"],
            &v["progress"]
        ),
        (
            &json!("rec1"),
            &json!("stream"),
            &json!("running"),
            &json!(0),
            &json!(0.0)
        )
    );
    assert_eq!(d.get(&format!("{RECORDINGS}/rec1")).status, 202);

    // Refusals, with Kapacitor's codes.
    let r = d.post_json(
        &format!("{RECORDINGS}/stream"),
        &json!({"id": "rec1", "task": "cpu_rec", "stop": stop}),
    );
    assert_eq!(r.status, 500, "duplicate id: {}", r.body);
    let r = d.post_json(
        &format!("{RECORDINGS}/stream"),
        &json!({"task": "nope", "stop": stop}),
    );
    assert_eq!(
        (r.status, r.json()["error"].clone()),
        (404, json!("no task exists"))
    );
    let r = d.post_json(
        &format!("{RECORDINGS}/stream"),
        &json!({"id": "bad id", "task": "cpu_rec", "stop": stop}),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    let r = d.post_json(
        &format!("{RECORDINGS}/stream"),
        &json!({"task": "cpu_rec", "stop": "tomorrow"}),
    );
    assert_eq!(r.status, 400, "{}", r.body);

    // Only the task's dbrp and measurement are recorded, until a point after stop.
    d.write(
        "telegraf",
        "autogen",
        "s",
        &format!(
            "cpu,host=a value=1 {}\nmem,host=a value=2 {}\ncpu,host=b value=3 {}",
            T0,
            T0 + 1,
            T0 + 2
        ),
    );
    d.write("other", "autogen", "s", &format!("cpu value=9 {}", T0 + 3));
    d.write(
        "telegraf",
        "autogen",
        "s",
        &format!("cpu,host=a value=4 {}", T0 + 10),
    );
    assert_eq!(d.get(&format!("{RECORDINGS}/rec1")).status, 202);
    d.write(
        "telegraf",
        "autogen",
        "s",
        &format!(
            "cpu,host=a value=5 {}\ncpu,host=a value=6 {}",
            T0 + 11,
            T0 + 5
        ),
    );
    let v = wait_status(&d, &format!("{RECORDINGS}/rec1"), "finished");
    assert_eq!(d.get(&format!("{RECORDINGS}/rec1")).status, 200);
    assert_eq!(v["progress"], 1.0);
    assert_eq!(v["error"], "");
    let file = replay_dir(tmp.path()).join("rec1.srpl");
    assert_eq!(v["size"], std::fs::metadata(&file).unwrap().len());
    assert_eq!(
        gunzip(&file),
        format!(
            "telegraf\nautogen\ncpu,host=a value=1 {}000000000\n\
             telegraf\nautogen\ncpu,host=b value=3 {}000000000\n\
             telegraf\nautogen\ncpu,host=a value=4 {}000000000\n",
            T0,
            T0 + 2,
            T0 + 10
        )
    );

    let list = d.get(RECORDINGS).json();
    let recs = list["recordings"].as_array().unwrap();
    assert_eq!(recs.len(), 1);
    let keys: Vec<&String> = recs[0].as_object().unwrap().keys().collect();
    assert_eq!(
        keys.len(),
        8,
        "link,id,type,size,date,error,status,progress: {keys:?}"
    );
    let r = d.get(&format!("{RECORDINGS}?fields=id&fields=size"));
    assert_eq!(
        r.json()["recordings"][0],
        json!({"link": v["link"], "id": "rec1", "size": v["size"]})
    );

    let r = d.get(&format!("{RECORDINGS}/nope"));
    assert_eq!(
        (r.status, r.json()["error"].clone()),
        (500, json!("error finding recording: no recording exists"))
    );
    assert_eq!(d.delete(&format!("{RECORDINGS}/rec1")).status, 204);
    assert!(!file.exists());
    assert_eq!(d.delete(&format!("{RECORDINGS}/rec1")).status, 204);
    assert_eq!(d.get(RECORDINGS).json(), json!({"recordings": []}));
}

/// An alerting task over a recording of four values: critical at the second and third
/// (every non-OK event is sent), OK at the fourth. The recording is a Kapacitor file copied into the replay dir before start.
fn alert_setup(tmp: &Path, endpoint: &Endpoint) -> Daemon {
    std::fs::create_dir_all(replay_dir(tmp)).unwrap();
    let records: String = [(0, 50), (1, 95), (2, 96), (3, 40)]
        .iter()
        .map(|(dt, v)| {
            format!(
                "telegraf\nautogen\ncpu,host=a value={v} {}000000000\n",
                T0 + dt
            )
        })
        .collect();
    gzip_to(&replay_dir(tmp).join("copied.srpl"), &records);
    let d = start(tmp);
    define(
        &d,
        "cpu_alert",
        &format!(
            "stream\n    |from()\n        .measurement('cpu')\n    |alert()\n        .id('cpu:{{{{ index .Tags \"host\" }}}}')\n        .crit(lambda: \"value\" > 90)\n        .post('{}')\n",
            endpoint.url
        ),
        "disabled",
    );
    d
}

fn alert_times_and_levels(endpoint: &Endpoint, n: usize) -> Vec<(String, String)> {
    endpoint
        .wait_for(n)
        .iter()
        .map(|h| {
            let v: Value = serde_json::from_str(&h.body).unwrap();
            (
                v["time"].as_str().unwrap().to_string(),
                v["level"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn a_replay_runs_the_task_in_its_own_worker_and_its_alerts_fire() {
    let tmp = tempfile::tempdir().unwrap();
    let endpoint = Endpoint::start(false);
    let d = alert_setup(tmp.path(), &endpoint);

    // The copied file was registered at start.
    let rec = d.get(&format!("{RECORDINGS}/copied")).json();
    assert_eq!(
        (&rec["type"], &rec["status"]),
        (&json!("stream"), &json!("finished"))
    );

    let r = d.post_json(
        REPLAYS,
        &json!({"id": "rp1", "task": "cpu_alert", "recording": "copied", "recording-time": true}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let v = r.json();
    assert_eq!(v["link"]["href"], "/kapacitor/v1/replays/rp1");
    assert_eq!(
        (
            &v["task"],
            &v["recording"],
            &v["clock"],
            &v["recording-time"],
            &v["status"]
        ),
        (
            &json!("cpu_alert"),
            &json!("copied"),
            &json!("fast"),
            &json!(true),
            &json!("running")
        )
    );
    let v = wait_status(&d, &format!("{REPLAYS}/rp1"), "finished");
    assert_eq!(v["error"], "");
    assert_eq!(v["progress"], 1.0);
    assert_eq!(v["stats"]["node-stats"]["from1"]["emitted"], 4, "{v}");
    assert_eq!(
        alert_times_and_levels(&endpoint, 3),
        vec![
            (rfc3339(T0 + 1), "CRITICAL".to_string()),
            (rfc3339(T0 + 2), "CRITICAL".to_string()),
            (rfc3339(T0 + 3), "OK".to_string()),
        ]
    );
    // The replay's worker is gone, nothing of it is left running, the task never ran.
    eventually(EVENTUALLY, "replay worker stopped", || {
        d.child("rp1").is_none().then_some(())
    });
    assert!(d.child("cpu_alert").is_none());
    assert_eq!(d.task("cpu_alert")["executing"], false);

    // Recording time off: the first point lands on the replay's start.
    let before = kapacitor_models::time_fmt::rfc3339(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as i64
            - 1_000_000_000,
    );
    let r = d.post_json(
        REPLAYS,
        &json!({"id": "rp2", "task": "cpu_alert", "recording": "copied", "clock": "fast"}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    wait_status(&d, &format!("{REPLAYS}/rp2"), "finished");
    let alerts = alert_times_and_levels(&endpoint, 6);
    for (time, _) in &alerts[3..] {
        assert!(
            time.as_str() > before.as_str(),
            "{time} is not rebased to now ({before})"
        );
    }
    assert_eq!(
        alerts[3..]
            .iter()
            .map(|(_, l)| l.as_str())
            .collect::<Vec<_>>(),
        ["CRITICAL", "CRITICAL", "OK"]
    );

    // The list: newest first, Kapacitor's default fields (no stats).
    let list = d.get(REPLAYS).json();
    let ids: Vec<&str> = list["replays"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["rp2", "rp1"]);
    assert!(list["replays"][0].get("stats").is_none());

    // Refusals.
    let r = d.post_json(REPLAYS, &json!({"task": "nope", "recording": "copied"}));
    assert_eq!(
        (r.status, r.json()["error"].clone()),
        (404, json!("task load: no task exists"))
    );
    let r = d.post_json(REPLAYS, &json!({"task": "cpu_alert", "recording": "nope"}));
    assert_eq!(
        (r.status, r.json()["error"].clone()),
        (404, json!("recording not found: no recording exists"))
    );
    let r = d.post_json(
        REPLAYS,
        &json!({"task": "cpu_alert", "recording": "copied", "clock": "sundial"}),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    let r = d.get(&format!("{REPLAYS}/nope"));
    assert_eq!(
        (r.status, r.json()["error"].clone()),
        (404, json!("could not find replay: no replay exists"))
    );
    assert_eq!(d.delete(&format!("{REPLAYS}/rp1")).status, 204);
    assert_eq!(d.delete(&format!("{REPLAYS}/rp1")).status, 204);
    assert_eq!(d.get(&format!("{REPLAYS}/rp1")).status, 404);
    // The recording is still there to replay again.
    assert_eq!(d.get(&format!("{RECORDINGS}/copied")).status, 200);
}

#[test]
fn a_real_clock_replay_keeps_the_spacing_and_serves_the_tasks_httpout_while_it_runs() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(replay_dir(tmp.path())).unwrap();
    // Four points two seconds apart: the real clock takes six seconds over them.
    let records: String = (0..4)
        .map(|i| {
            format!(
                "telegraf\nautogen\ncpu,host=a value={i} {}000000000\n",
                T0 + 2 * i
            )
        })
        .collect();
    gzip_to(&replay_dir(tmp.path()).join("slow.srpl"), &records);
    let d = start(tmp.path());
    define(
        &d,
        "cpu_out",
        "stream\n    |from()\n        .measurement('cpu')\n    |httpOut('out')\n",
        "disabled",
    );
    // The task is not running: nothing serves its endpoint.
    assert_eq!(d.get("/kapacitor/v1/tasks/cpu_out/out").status, 404);
    let r = d.post_json(
        REPLAYS,
        &json!({"id": "slow1", "task": "cpu_out", "recording": "slow", "clock": "real", "recording-time": true}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    // While the replay runs, the task's endpoint answers from the replay's worker.
    let first = eventually(EVENTUALLY, "httpOut of the running replay", || {
        let r = d.try_get("/kapacitor/v1/tasks/cpu_out/out")?;
        let v: Value = serde_json::from_str(&r.body).ok()?;
        v["series"][0]["values"][0].as_array().cloned()
    });
    let status = d.get(&format!("{REPLAYS}/slow1"));
    assert_eq!(status.status, 202, "still running: {}", status.body);
    // `kapacitor show -replay slow1 cpu_out`: the disabled task, shown running in the replay.
    let shown = d.get("/kapacitor/v1/tasks/cpu_out?replay-id=slow1");
    assert_eq!(shown.status, 200, "{}", shown.body);
    let shown = shown.json();
    assert_eq!(shown["executing"], true, "{shown}");
    assert!(
        shown["stats"]["node-stats"]["from1"]["emitted"].as_i64() >= Some(1),
        "{shown}"
    );
    let other = d.get("/kapacitor/v1/tasks/cpu_out?replay-id=nope");
    assert_eq!(other.status, 400);
    assert_eq!(other.json()["error"], "no running replay with ID: nope");
    // The last point is due six seconds after the start: it cannot be the first one seen.
    assert_ne!(first[0], json!(rfc3339(T0 + 6)), "{first:?}");
    assert_eq!(d.get(&format!("{REPLAYS}/slow1")).json()["clock"], "real");
    let v = wait_status(&d, &format!("{REPLAYS}/slow1"), "finished");
    assert_eq!(v["stats"]["node-stats"]["from1"]["emitted"], 4, "{v}");
    // Once it ended the endpoint is the (stopped) task's again.
    assert_eq!(d.get("/kapacitor/v1/tasks/cpu_out/out").status, 404);
}

#[test]
fn running_recordings_and_replays_fail_at_restart_and_unknown_files_register() {
    let tmp = tempfile::tempdir().unwrap();
    let mut d = start(tmp.path());
    define(
        &d,
        "cpu_rec",
        "stream\n    |from()\n        .measurement('cpu')\n    |httpOut('out')\n",
        "disabled",
    );
    let r = d.post_json(
        &format!("{RECORDINGS}/stream"),
        &json!({"id": "open", "task": "cpu_rec", "stop": rfc3339(T0 + 3600)}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    d.write("telegraf", "autogen", "s", &format!("cpu value=1 {T0}"));
    d.stop();
    let index: Value = serde_json::from_str(
        &std::fs::read_to_string(replay_dir(tmp.path()).join("recordings.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(index["version"], 1);
    std::fs::write(replay_dir(tmp.path()).join("other-server.brpl"), b"PK").unwrap();

    let d = start(tmp.path());
    let v = d.get(&format!("{RECORDINGS}/open")).json();
    assert_eq!(
        (&v["status"], &v["error"]),
        (&json!("failed"), &json!("unexpected Kapacitor shutdown"))
    );
    let v = d.get(&format!("{RECORDINGS}/other-server")).json();
    assert_eq!(
        (&v["type"], &v["status"], &v["size"]),
        (&json!("batch"), &json!("finished"), &json!(2))
    );
}

#[test]
fn a_replay_whose_task_cannot_start_fails_and_leaves_no_worker_behind() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(replay_dir(tmp.path())).unwrap();
    gzip_to(
        &replay_dir(tmp.path()).join("one.srpl"),
        &format!("telegraf\nautogen\ncpu value=1 {T0}000000000\n"),
    );
    let d = start(tmp.path());
    // The language accepts the script; the engine refuses to build it in the worker.
    define(
        &d,
        "broken",
        "stream|from().measurement('cpu')|alert().id('{{ .Name ')",
        "disabled",
    );
    let r = d.post_json(
        REPLAYS,
        &json!({"id": "rb", "task": "broken", "recording": "one"}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let v = wait_status(&d, &format!("{REPLAYS}/rb"), "failed");
    assert!(!v["error"].as_str().unwrap().is_empty(), "{v}");
    eventually(EVENTUALLY, "no replay worker row", || {
        d.child("rb").is_none().then_some(())
    });
    // The id is free again for a replay that works.
    define(
        &d,
        "fine",
        "stream|from().measurement('cpu')|httpOut('out')",
        "disabled",
    );
    assert_eq!(d.delete(&format!("{REPLAYS}/rb")).status, 204);
    let r = d.post_json(
        REPLAYS,
        &json!({"id": "rb", "task": "fine", "recording": "one"}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    wait_status(&d, &format!("{REPLAYS}/rb"), "finished");
}
