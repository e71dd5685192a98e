//! Helpers shared by the `influxdb_*` black-box tests (included with `#[path = "support/..."]`): a real
//! `influxd` (the `kapacitor-influxdb` crate's test harness: temp dir, free ports, restart),
//! the `[[influxdb]]` section pointing at it, InfluxQL over HTTP, and task requests.
#![allow(dead_code)]

#[path = "../../../influxdb/tests/common/mod.rs"]
mod influxd_harness;

pub use influxd_harness::Influxd;
use kapacitor_tests::{Daemon, DaemonOpts, EVENTUALLY, eventually, http};
use serde_json::{Value, json};
use std::time::{SystemTime, UNIX_EPOCH};

pub const DB: &str = "kapacitor_example";

/// An `[[influxdb]]` section for `influxd`: quick syncs, a short startup timeout.
pub fn influxdb_section(influxd_url: &str, extra: &str) -> String {
    format!(
        "\n[[influxdb]]\n  enabled = true\n  name = \"localhost\"\n  default = true\n  \
         urls = [\"{influxd_url}\"]\n  subscriptions-sync-interval = \"1s\"\n  \
         startup-timeout = \"10s\"\n  timeout = \"5s\"\n{extra}\n"
    )
}

/// A daemon whose default InfluxDB is `influxd`.
pub fn daemon_for(influxd: &Influxd, extra: &str) -> Daemon {
    Daemon::start(DaemonOpts {
        extra_config: influxdb_section(&influxd.url(), extra),
        env: vec![("TZ".into(), "UTC".into())],
        ..DaemonOpts::default()
    })
}

/// Runs InfluxQL on `influxd` (POST /query) and returns its JSON; panics on HTTP errors.
pub fn influxql(influxd: &Influxd, q: &str) -> Value {
    let url = format!("{}/query?q={}", influxd.url(), http::query_escape(q));
    let r = http::post(&url, "").unwrap_or_else(|e| panic!("{q}: {e}"));
    assert_eq!(r.status, 200, "{q}: {}", r.body);
    r.json()
}

/// Writes line protocol (precision ns) to `influxd`'s own `/write`.
pub fn influx_write(influxd: &Influxd, db: &str, lines: &str) -> Result<(), String> {
    let url = format!("{}/write?db={}", influxd.url(), http::query_escape(db));
    let r = http::post(&url, lines)?;
    if r.status == 204 {
        Ok(())
    } else {
        Err(format!("write: {} {}", r.status, r.body))
    }
}

/// `(db, rp, name, destinations)` of every subscription on `influxd`.
pub fn subscriptions(influxd: &Influxd) -> Vec<(String, String, String, Vec<String>)> {
    let j = influxql(influxd, "SHOW SUBSCRIPTIONS");
    let mut out = Vec::new();
    for s in j["results"][0]["series"].as_array().into_iter().flatten() {
        let db = s["name"].as_str().unwrap_or_default().to_string();
        let cols: Vec<&str> = s["columns"]
            .as_array()
            .map(|c| c.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let col = |row: &Value, name: &str| {
            row[cols.iter().position(|c| *c == name).unwrap_or(99)].clone()
        };
        for row in s["values"].as_array().into_iter().flatten() {
            out.push((
                db.clone(),
                col(row, "retention_policy")
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                col(row, "name").as_str().unwrap_or_default().to_string(),
                col(row, "destinations")
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|d| d.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default(),
            ));
        }
    }
    out
}

/// `/debug/vars` of a daemon.
pub fn vars(d: &Daemon) -> Value {
    let r = d.get("/kapacitor/v1/debug/vars");
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

pub fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// Creates and enables a task through the API and waits until it executes.
pub fn enable_task(d: &Daemon, id: &str, kind: &str, script: &str) {
    let mut body = json!({
        "id": id,
        "type": kind,
        "script": script,
        "status": "enabled",
    });
    // A script with its own `dbrp` statement must not get one in the request too.
    if !script.trim_start().starts_with("dbrp ") {
        body["dbrps"] = json!([{"db": DB, "rp": "autogen"}]);
    }
    let r = d.post_json("/kapacitor/v1/tasks", &body);
    assert_eq!(r.status, 200, "creating {id}: {}", r.body);
    eventually(EVENTUALLY, &format!("{id} executing"), || {
        let t = d.task(id);
        assert_eq!(t["error"], "", "{id} failed: {t}");
        (t["executing"] == Value::Bool(true)).then_some(())
    });
}

/// One node's counter from the task's `stats` (`node-stats.<node>.<key>`).
pub fn node_stat(d: &Daemon, task: &str, node: &str, key: &str) -> i64 {
    d.task(task)["stats"]["node-stats"][node][key]
        .as_i64()
        .unwrap_or(-1)
}

/// The JSON lines of an alert `.log()` file (missing file: none).
pub fn log_events(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}
