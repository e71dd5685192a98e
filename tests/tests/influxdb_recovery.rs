//! InfluxDB going away and coming back while kapacitord runs: batch queries fail (counted,
//! logged, the task keeps running) and recover, the subscription delivers again, new
//! databases are subscribed at the next sync; an InfluxDB that is down at start delays
//! nothing and `POST /kapacitor/v1/subscriptions` reports it.

#[path = "support/influxdb_helpers.rs"]
mod helpers;

use helpers::*;
use kapacitor_tests::{Daemon, DaemonOpts, EVENTUALLY, eventually, free_port, wait_until};
use std::time::Duration;

const BATCH: &str = "batch\n    |query('''SELECT count(usage_idle) FROM \"kapacitor_example\".\"autogen\".\"cpu\"''')\n        .period(2s)\n        .every(1s)\n    |httpOut('count')\n";
const STREAM: &str = "stream\n    |from()\n        .measurement('cpu')\n    |httpOut('last')\n";

fn write_now(influxd: &Influxd) -> bool {
    influx_write(
        influxd,
        DB,
        &format!("cpu,host=a usage_idle=50 {}", now_ns()),
    )
    .is_ok()
}

/// Writes a point every 100 ms until `done` holds (or the time is up).
fn feed_until(influxd: &Influxd, mut done: impl FnMut() -> bool) -> bool {
    wait_until(Duration::from_secs(60), || {
        write_now(influxd);
        std::thread::sleep(Duration::from_millis(100));
        done()
    })
}

#[test]
fn influxd_restart_recovers_subscription_and_batch_queries() {
    let mut influxd = Influxd::start();
    influxql(&influxd, &format!("CREATE DATABASE {DB}"));
    let d = daemon_for(&influxd, "");
    enable_task(&d, "batch_q", "batch", BATCH);
    enable_task(&d, "stream_q", "stream", STREAM);

    assert!(
        feed_until(&influxd, || {
            node_stat(&d, "batch_q", "query1", "batches_queried") > 0
                && node_stat(&d, "stream_q", "stream0", "collected") > 0
        }),
        "data flows before the outage:\n{}",
        d.log()
    );

    influxd.stop();
    let errors = eventually(EVENTUALLY, "query errors while influxd is down", || {
        let n = node_stat(&d, "batch_q", "query1", "query_errors");
        (n >= 2).then_some(n)
    });
    assert!(errors >= 2);
    assert!(
        d.log()
            .contains("batch query failed; retrying at the next tick")
    );
    let t = d.task("batch_q");
    assert_eq!(t["executing"], true, "{t}");
    assert_eq!(t["error"], "", "{t}");
    let row = d.child("batch_q").expect("batch_q worker");
    assert_eq!(row.restarts, 0, "the worker never crashed: {row:?}");

    influxd.restart();
    let queried = node_stat(&d, "batch_q", "query1", "batches_queried");
    let streamed = node_stat(&d, "stream_q", "stream0", "collected");
    assert!(
        feed_until(&influxd, || {
            node_stat(&d, "batch_q", "query1", "batches_queried") > queried
                && node_stat(&d, "stream_q", "stream0", "collected") > streamed
        }),
        "data flows again after influxd restarted:\n{}",
        d.log()
    );
    let body = d.get("/kapacitor/v1/tasks/batch_q/count").json();
    assert_eq!(body["series"][0]["columns"][1], "count", "{body}");

    // A database created now is subscribed at the next sync (every second here).
    influxql(&influxd, "CREATE DATABASE late_db");
    eventually(EVENTUALLY, "late_db subscribed", || {
        subscriptions(&influxd)
            .iter()
            .any(|s| s.0 == "late_db")
            .then_some(())
    });
    let r = d.post("/kapacitor/v1/subscriptions", "");
    assert_eq!(r.status, 204, "{}", r.body);
}

#[test]
fn influxdb_down_at_start_delays_nothing() {
    let closed = format!("http://127.0.0.1:{}", free_port());
    let d = Daemon::start(DaemonOpts {
        extra_config: format!(
            "\n[[influxdb]]\n  enabled = true\n  name = \"gone\"\n  urls = [\"{closed}\"]\n  \
             startup-timeout = \"5m\"\n  subscriptions-sync-interval = \"1s\"\n"
        ),
        ..DaemonOpts::default()
    });
    // The API answers at once (Daemon::start waited for ping), tasks run.
    assert_eq!(vars(&d)["num_subscriptions"], 0);
    let r = d.post("/kapacitor/v1/subscriptions", "");
    assert_eq!(r.status, 500, "{}", r.body);
    let err = r.json()["error"].as_str().unwrap_or_default().to_string();
    assert!(
        err.contains("cluster gone") && err.contains("InfluxDB unreachable"),
        "{err}"
    );

    enable_task(&d, "batch_q", "batch", BATCH);
    eventually(EVENTUALLY, "query errors counted", || {
        (node_stat(&d, "batch_q", "query1", "query_errors") >= 2).then_some(())
    });
    assert_eq!(d.task("batch_q")["executing"], true);

    // A query naming a cluster that does not exist: the task does not start, and says why.
    let r = d.post_json(
        "/kapacitor/v1/tasks",
        &serde_json::json!({
            "id": "nowhere",
            "type": "batch",
            "dbrps": [{"db": DB, "rp": "autogen"}],
            "script": "batch|query('SELECT v FROM db.rp.m').every(1s).cluster('nope')|httpOut('x')",
            "status": "enabled",
        }),
    );
    let err = eventually(EVENTUALLY, "nowhere failed", || {
        let t = d.task("nowhere");
        let e = t["error"].as_str().unwrap_or_default().to_string();
        (!e.is_empty()).then_some(e)
    });
    assert!(
        err.contains("no such InfluxDB config nope"),
        "{err} ({})",
        r.body
    );
}
