//! Disk errors heal: with the data directory on a small file system that fills up, store
//! writes answer 507 with the OS reason, nothing started is shown `running`, and once space
//! is freed the next request succeeds without a restart, with everything stored before.
//!
//! The full-disk test mounts a tmpfs and needs root; elsewhere it skips with a loud message
//! (`.ci/run` runs as root). The failed-start tests need nothing special.

#[path = "support/small_fs.rs"]
mod small_fs;
#[path = "support/tasks_helpers.rs"]
mod tasks;

use kapacitor_tests::{Daemon, DaemonOpts, EVENTUALLY, Response, eventually};
use serde_json::{Value, json};
use small_fs::SmallFs;
use std::path::Path;
use std::time::Duration;

/// A configuration keeping the store and the replay directory under `data`.
fn opts(dir: &Path) -> DaemonOpts {
    let data = dir.join("data");
    DaemonOpts {
        dir: Some(dir.to_path_buf()),
        extra_config: format!(
            "\n[storage]\nboltdb = \"{db}\"\n\n[replay]\ndir = \"{replay}\"\n",
            db = data.join("kapacitor.db").display(),
            replay = data.join("replay").display(),
        ),
        ..DaemonOpts::default()
    }
}

/// A task whose record needs far more room than any page the store could reuse.
fn big_task(id: &str) -> Value {
    let mut script = String::from("stream\n    |from()\n        .measurement('big')\n");
    for i in 0..4000 {
        script.push_str(&format!("// padding line {i:05} {}\n", "x".repeat(60)));
    }
    json!({
        "id": id,
        "type": "stream",
        "dbrps": [{"db": "mydb", "rp": "myrp"}],
        "script": script,
        "status": "disabled",
    })
}

fn error_of(r: &Response) -> String {
    r.json()["error"].as_str().unwrap_or_default().to_string()
}

fn task_ids(d: &Daemon) -> Vec<String> {
    let r = d.get("/kapacitor/v1/tasks?fields=id");
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect()
}

fn recordings(d: &Daemon) -> Vec<Value> {
    let r = d.get("/kapacitor/v1/recordings");
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["recordings"].as_array().unwrap().clone()
}

#[test]
fn disk_full_then_freed_the_next_task_create_succeeds_without_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let fs = match SmallFs::mount(&data, "32m") {
        Ok(fs) => fs,
        Err(e) => {
            eprintln!(
                "\n\n*** SKIPPED disk_full_then_freed_...: cannot mount a small tmpfs ({e}); \
                 this test needs root ***\n\n"
            );
            return;
        }
    };
    let mut d = Daemon::start(opts(tmp.path()));
    tasks::create_task(&d, tasks::stream_task("before", "enabled"));
    eventually(EVENTUALLY, "task before executing", || {
        (d.task("before")["executing"] == true).then_some(())
    });

    let filler = fs.fill("filler");

    // The store: 507 with the OS reason, in Kapacitor's error body.
    let r = d.post_json("/kapacitor/v1/tasks", &big_task("after"));
    assert_eq!(r.status, 507, "a task create on a full disk: {}", r.body);
    let e = error_of(&r);
    assert!(e.contains("No space left on device"), "{e}");
    assert_eq!(r.json()["message"], r.json()["error"]);
    // Still full: the same answer again, never redb's "Previous I/O error".
    let r = d.post_json("/kapacitor/v1/tasks", &big_task("after"));
    assert_eq!(r.status, 507, "{}", r.body);
    assert!(!r.body.contains("Previous I/O"), "{}", r.body);
    // Reads go on meanwhile.
    assert_eq!(task_ids(&d), ["before"]);

    // A topic handler (stored by the supervisor for apid's alert service): 507, not kept.
    let handlers = "/kapacitor/v1/alerts/topics/disk/handlers";
    let handler = json!({"id": "h", "kind": "post",
        "options": {"url": format!("http://127.0.0.1:1/{}", "a".repeat(300_000))}});
    let r = d.post_json(handlers, &handler);
    assert_eq!(r.status, 507, "a handler create on a full disk: {}", r.body);
    assert!(
        error_of(&r).contains("No space left on device"),
        "{}",
        r.body
    );
    let r = d.get(&format!("{handlers}/h"));
    assert_eq!(r.status, 404, "a handler that was not stored: {}", r.body);

    // apid's recording index: the start is refused with 507, and nothing is listed running.
    let r = d.post_json(
        "/kapacitor/v1/recordings/stream",
        &json!({"id": "rec_full", "task": "before", "stop": "2100-01-01T00:00:00Z"}),
    );
    assert_eq!(
        r.status, 507,
        "a recording start on a full disk: {}",
        r.body
    );
    assert!(
        error_of(&r).contains("No space left on device"),
        "{}",
        r.body
    );
    assert!(
        recordings(&d).iter().all(|r| r["status"] != "running"),
        "{:?}",
        recordings(&d)
    );
    let r = d.get("/kapacitor/v1/recordings/rec_full");
    assert_eq!(r.status, 500, "no such recording: {}", r.body);

    // Space is back: the very next create succeeds, and everything is there.
    std::fs::remove_file(&filler).unwrap();
    tasks::create_task(&d, big_task("after"));
    assert_eq!(task_ids(&d), ["after", "before"]);
    assert_eq!(d.task("before")["executing"], true);
    let r = d.post_json(handlers, &handler);
    assert_eq!(r.status, 200, "{}", r.body);
    let r = d.post_json(
        "/kapacitor/v1/recordings/stream",
        &json!({"id": "rec_ok", "task": "before", "stop": "2100-01-01T00:00:00Z"}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["status"], "running");
    assert!(d.log().contains("storage reopened after an I/O error"));

    // What was committed before and after the failure survives a restart.
    d.stop();
    drop(d);
    let d = Daemon::start(opts(tmp.path()));
    assert_eq!(task_ids(&d), ["after", "before"]);
    let script = d.task("after")["script"].as_str().unwrap().to_string();
    assert!(
        script.contains("padding line 03999"),
        "the big task's script came back cut ({} bytes)",
        script.len()
    );
    drop(d);
    drop(fs);
}

/// A stream recording whose file cannot be created answers 201 with the recording already
/// `failed` and the reason, as Kapacitor shows a failed recording; never `running`.
#[test]
fn a_recording_that_cannot_create_its_file_is_failed_not_running() {
    let tmp = tempfile::tempdir().unwrap();
    let d = Daemon::start(opts(tmp.path()));
    tasks::create_task(&d, tasks::stream_task("t", "disabled"));
    // A directory where the recording's file goes (fails as root too).
    std::fs::create_dir_all(tmp.path().join("data/replay/blocked.srpl")).unwrap();
    let r = d.post_json(
        "/kapacitor/v1/recordings/stream",
        &json!({"id": "blocked", "task": "t", "stop": "2100-01-01T00:00:00Z"}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let v = r.json();
    assert_eq!(v["status"], "failed", "{v}");
    assert!(v["error"].as_str().unwrap().contains("blocked.srpl"), "{v}");
    let r = d.get("/kapacitor/v1/recordings/blocked");
    assert_eq!(r.status, 200, "a failed recording is not 202: {}", r.body);
    assert_eq!(r.json()["status"], "failed");
    let listed = recordings(&d);
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["status"], "failed");
}

/// A batch recording with no InfluxDB to query fails (with the reason) instead of staying
/// `running`.
#[test]
fn a_batch_recording_without_influxdb_fails() {
    let tmp = tempfile::tempdir().unwrap();
    let d = Daemon::start(opts(tmp.path()));
    let script = "batch\n    |query('SELECT mean(value) FROM \"mydb\".\"myrp\".\"cpu\"')\n        .period(10s)\n        .every(10s)\n    |httpOut('x')\n";
    tasks::create_task(
        &d,
        json!({"id": "b", "type": "batch", "dbrps": [{"db": "mydb", "rp": "myrp"}],
               "script": script, "status": "disabled"}),
    );
    let r = d.post_json(
        "/kapacitor/v1/recordings/batch",
        &json!({"id": "nodb", "task": "b", "start": "2020-01-01T00:00:00Z",
                "stop": "2020-01-01T00:01:00Z"}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let v = eventually(Duration::from_secs(30), "the recording ends", || {
        let v = d.get("/kapacitor/v1/recordings/nodb").json();
        (v["status"] != "running").then_some(v)
    });
    assert_eq!(v["status"], "failed", "{v}");
    assert!(!v["error"].as_str().unwrap().is_empty(), "{v}");
}
