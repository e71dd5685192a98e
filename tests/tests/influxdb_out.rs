//! influxDBOut writes task results back to InfluxDB: a `SELECT` on influxd returns them,
//! from a stream task (points written to kapacitord) and a batch task (querying influxd).

#[path = "support/influxdb_helpers.rs"]
mod helpers;

use helpers::*;
use kapacitor_tests::{EVENTUALLY, eventually, wait_until};
use serde_json::Value;
use std::time::Duration;

/// The first series of a SELECT's answer, if any.
fn series(j: &Value) -> Option<Value> {
    let s = j["results"][0]["series"][0].clone();
    (!s.is_null()).then_some(s)
}

/// The influxDBOut node's counter (the node is named `influxdb_out<N>`).
fn out_stat(d: &kapacitor_tests::Daemon, task: &str, key: &str) -> i64 {
    let t = d.task(task);
    t["stats"]["node-stats"]
        .as_object()
        .and_then(|m| m.iter().find(|(k, _)| k.starts_with("influxdb_out")))
        .and_then(|(_, v)| v[key].as_i64())
        .unwrap_or(-1)
}

#[test]
fn influxdb_out_writes_results_that_select_returns() {
    let influxd = Influxd::start();
    let d = daemon_for(&influxd, "");

    enable_task(
        &d,
        "double",
        "stream",
        "stream\n    |from()\n        .measurement('cpu')\n    \
         |eval(lambda: \"usage_idle\" * 2.0)\n        .as('double')\n    \
         |influxDBOut()\n        .database('kap_out')\n        .retentionPolicy('autogen')\n        \
         .measurement('cpu_double')\n        .tag('source', 'kapacitor')\n        \
         .flushInterval(1s)\n        .create()\n",
    );
    d.write(
        DB,
        "autogen",
        "s",
        "cpu,host=a usage_idle=10 100\ncpu,host=a usage_idle=20 101\ncpu,host=b usage_idle=30 102",
    );
    let s = eventually(EVENTUALLY, "SELECT returns the written points", || {
        let j = influxql(
            &influxd,
            "SELECT double, host, source FROM kap_out.autogen.cpu_double",
        );
        series(&j).filter(|s| s["values"].as_array().is_some_and(|v| v.len() == 3))
    });
    assert_eq!(
        s["values"],
        serde_json::json!([
            ["1970-01-01T00:01:40Z", 20, "a", "kapacitor"],
            ["1970-01-01T00:01:41Z", 40, "a", "kapacitor"],
            ["1970-01-01T00:01:42Z", 60, "b", "kapacitor"],
        ]),
        "{s} (InfluxDB prints whole floats without a fraction)"
    );
    eventually(EVENTUALLY, "points_written in the node's stats", || {
        (out_stat(&d, "double", "points_written") == 3).then_some(())
    });
    assert_eq!(out_stat(&d, "double", "write_errors"), 0);

    // A batch task: mean per host from influxd, written back under another measurement.
    influxql(&influxd, "CREATE DATABASE metrics");
    enable_task(
        &d,
        "means",
        "batch",
        "batch\n    |query('''SELECT mean(usage_idle) AS mean FROM \"metrics\".\"autogen\".\"cpu\"''')\n        \
         .period(3s)\n        .every(1s)\n        .groupBy('host')\n    \
         |influxDBOut()\n        .database('kap_out')\n        .measurement('cpu_mean')\n        \
         .flushInterval(1s)\n",
    );
    let fed = wait_until(Duration::from_secs(60), || {
        let t = now_ns();
        influx_write(
            &influxd,
            "metrics",
            &format!("cpu,host=a usage_idle=40 {t}\ncpu,host=b usage_idle=80 {t}"),
        )
        .expect("write to influxd");
        std::thread::sleep(Duration::from_millis(200));
        let j = influxql(
            &influxd,
            "SELECT last(mean) FROM kap_out.autogen.cpu_mean GROUP BY host",
        );
        j["results"][0]["series"]
            .as_array()
            .is_some_and(|s| s.len() == 2)
    });
    assert!(fed, "cpu_mean written for both hosts:\n{}", d.log());
    let j = influxql(
        &influxd,
        "SELECT last(mean) FROM kap_out.autogen.cpu_mean GROUP BY host",
    );
    let by_host: Vec<(String, f64)> = j["results"][0]["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["tags"]["host"].as_str().unwrap().to_string(),
                s["values"][0][1].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(by_host, [("a".to_string(), 40.0), ("b".to_string(), 80.0)]);
}
