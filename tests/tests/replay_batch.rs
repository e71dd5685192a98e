//! Batch and query recordings against a real InfluxDB, batch replays and live replays
//! (`replays/batch`, `replays/query`) on the real daemon: the task's query runs for each
//! schedule tick between start and stop, the `.brpl` archive is Kapacitor's (zip, entry `0`
//! of newline-delimited batch JSON), and the replayed task's alerts really fire.

#[path = "support/alerting_helpers.rs"]
mod alerting_helpers;
#[path = "support/influxdb_helpers.rs"]
mod helpers;

use alerting_helpers::Endpoint;
use helpers::{DB, Influxd, daemon_for, influx_write, influxql};
use kapacitor_tests::{Daemon, EVENTUALLY, eventually};
use serde_json::{Value, json};
use std::process::Command;

/// 2020-09-13T12:26:40Z, a multiple of 10 s.
const T0: i64 = 1_600_000_000;

fn rfc3339(secs: i64) -> String {
    let out = Command::new("date")
        .args(["-u", "-d", &format!("@{secs}"), "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .expect("date");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn wait_status(d: &Daemon, path: &str, status: &str) -> Value {
    eventually(EVENTUALLY, &format!("{path} {status}"), || {
        let r = d.try_get(path)?;
        let v: Value = serde_json::from_str(&r.body).ok()?;
        (v["status"] == status).then_some(v)
    })
}

fn levels(endpoint: &Endpoint, n: usize) -> Vec<String> {
    endpoint
        .wait_for(n)
        .iter()
        .map(|h| {
            let v: Value = serde_json::from_str(&h.body).unwrap();
            v["level"].as_str().unwrap().to_string()
        })
        .collect()
}

fn define(d: &Daemon, id: &str, kind: &str, script: &str) {
    let r = d.post_json(
        "/kapacitor/v1/tasks",
        &json!({
            "id": id,
            "type": kind,
            "dbrps": [{"db": DB, "rp": "autogen"}],
            "script": script,
            "status": "disabled",
        }),
    );
    assert_eq!(r.status, 200, "create task {id}: {}", r.body);
}

#[test]
fn batch_and_query_recordings_replay_into_their_tasks() {
    let influxd = Influxd::start();
    influxql(&influxd, &format!("CREATE DATABASE {DB}"));
    // Three 10 s windows of cpu: mean 50, then 95, then 40.
    let lines: Vec<String> = (0..30)
        .map(|i| {
            let v = match i / 10 {
                0 => 50,
                1 => 95,
                _ => 40,
            };
            format!("cpu,host=a value={v} {}000000000", T0 + i)
        })
        .collect();
    influx_write(&influxd, DB, &lines.join("\n")).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let replay_dir = tmp.path().join("replay");
    let d = daemon_for(
        &influxd,
        &format!("\n[replay]\ndir = \"{}\"\n", replay_dir.display()),
    );
    let endpoint = Endpoint::start(false);
    define(
        &d,
        "cpu_batch",
        "batch",
        &format!(
            "batch\n    |query('SELECT mean(\"value\") AS mean FROM \"{DB}\".\"autogen\".\"cpu\"')\n        .period(10s)\n        .every(10s)\n    |alert()\n        .id('batch')\n        .crit(lambda: \"mean\" > 90)\n        .post('{}')\n",
            endpoint.url
        ),
    );

    // record batch: one query per tick in [T0, T0+30s].
    let r = d.post_json(
        "/kapacitor/v1/recordings/batch",
        &json!({"id": "b1", "task": "cpu_batch", "start": rfc3339(T0), "stop": rfc3339(T0 + 30)}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["type"], "batch");
    let v = wait_status(&d, "/kapacitor/v1/recordings/b1", "finished");
    assert_eq!(v["error"], "");
    let file = replay_dir.join("b1.brpl");
    let out = Command::new("unzip")
        .arg("-p")
        .arg(&file)
        .arg("0")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{} is not a zip with entry 0",
        file.display()
    );
    let batches: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let means: Vec<f64> = batches
        .iter()
        .map(|b| b["points"][0]["fields"]["mean"].as_f64().unwrap())
        .collect();
    assert_eq!(means, [50.0, 95.0, 40.0], "{batches:?}");
    assert_eq!(batches[0]["name"], "cpu");
    assert_eq!(v["size"], std::fs::metadata(&file).unwrap().len());

    // Replay it: critical on the second batch, OK on the third.
    let r = d.post_json(
        "/kapacitor/v1/replays",
        &json!({"id": "rb1", "task": "cpu_batch", "recording": "b1", "recording-time": true}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let v = wait_status(&d, "/kapacitor/v1/replays/rb1", "finished");
    assert_eq!(v["error"], "");
    assert_eq!(levels(&endpoint, 2), ["CRITICAL", "OK"]);

    // replay-live batch: the same without a file.
    let r = d.post_json(
        "/kapacitor/v1/replays/batch",
        &json!({"id": "lb1", "task": "cpu_batch", "start": rfc3339(T0), "stop": rfc3339(T0 + 30)}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["recording"], "");
    wait_status(&d, "/kapacitor/v1/replays/lb1", "finished");
    assert_eq!(levels(&endpoint, 4)[2..], ["CRITICAL", "OK"]);

    // record query, type stream: the rows as points, in time order, db/rp from FROM.
    define(
        &d,
        "cpu_stream",
        "stream",
        &format!(
            "stream\n    |from()\n        .measurement('cpu')\n    |alert()\n        .id('stream')\n        .crit(lambda: \"value\" > 90)\n        .stateChangesOnly()\n        .post('{}')\n",
            endpoint.url
        ),
    );
    let query = format!(
        "SELECT value FROM \"{DB}\".\"autogen\".\"cpu\" WHERE time >= '{}' AND time < '{}'",
        rfc3339(T0 + 8),
        rfc3339(T0 + 22)
    );
    let r = d.post_json(
        "/kapacitor/v1/recordings/query",
        &json!({"id": "q1", "query": query, "type": "stream"}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    wait_status(&d, "/kapacitor/v1/recordings/q1", "finished");
    let out = Command::new("gzip")
        .arg("-dc")
        .arg(replay_dir.join("q1.srpl"))
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 14 * 3, "{text}");
    assert_eq!(
        lines[..3],
        [DB, "autogen", &format!("cpu value=50 {}000000000", T0 + 8)]
    );
    let r = d.post_json(
        "/kapacitor/v1/replays",
        &json!({"id": "rq1", "task": "cpu_stream", "recording": "q1", "recording-time": true}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    wait_status(&d, "/kapacitor/v1/replays/rq1", "finished");
    assert_eq!(levels(&endpoint, 6)[4..], ["CRITICAL", "OK"]);

    // replay-live query into the stream task.
    let r = d.post_json(
        "/kapacitor/v1/replays/query",
        &json!({"id": "lq1", "task": "cpu_stream", "query": query, "recording-time": true}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    wait_status(&d, "/kapacitor/v1/replays/lq1", "finished");
    assert_eq!(levels(&endpoint, 8)[6..], ["CRITICAL", "OK"]);

    // What is refused or fails.
    let r = d.post_json(
        "/kapacitor/v1/recordings/query",
        &json!({"id": "q2", "query": "SELECT value FROM cpu", "type": "stream"}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let v = wait_status(&d, "/kapacitor/v1/recordings/q2", "failed");
    assert_eq!(
        v["error"],
        "could not determine database and retention policy. Is the query fully qualified?"
    );
    let r = d.post_json(
        "/kapacitor/v1/replays/batch",
        &json!({"task": "cpu_stream", "start": rfc3339(T0)}),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    let r = d.post_json(
        "/kapacitor/v1/recordings/batch",
        &json!({"task": "cpu_batch"}),
    );
    assert_eq!(r.status, 400, "start is required: {}", r.body);
    let r = d.post_json(
        "/kapacitor/v1/replays",
        &json!({"task": "cpu_stream", "recording": "b1"}),
    );
    assert_eq!(
        r.status, 400,
        "a batch recording into a stream task: {}",
        r.body
    );
}
