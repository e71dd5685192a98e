//! `subscription-protocol = "udp"`: kapacitord opens a UDP listener per (db, rp), InfluxDB
//! sends the subscription's points there as datagrams, and they are routed to tasks exactly
//! as `/write` does.

#[path = "support/influxdb_helpers.rs"]
mod helpers;

use helpers::*;
use kapacitor_tests::{EVENTUALLY, eventually};

#[test]
fn udp_subscription_feeds_stream_tasks() {
    let influxd = Influxd::start();
    influxql(&influxd, &format!("CREATE DATABASE {DB}"));
    let d = daemon_for(&influxd, "  subscription-protocol = \"udp\"\n");
    let sub = eventually(EVENTUALLY, "a UDP subscription", || {
        subscriptions(&influxd).into_iter().find(|s| s.0 == DB)
    });
    assert_eq!(sub.3.len(), 1, "{sub:?}");
    assert!(sub.3[0].starts_with("udp://127.0.0.1:"), "{sub:?}");

    enable_task(
        &d,
        "udp_count",
        "stream",
        "stream\n    |from()\n        .measurement('cpu')\n    |httpOut('last')\n",
    );
    let t = now_ns();
    let lines: Vec<String> = (0..50)
        .map(|i| format!("cpu,host=h{i} usage_idle={i} {t}"))
        .collect();
    influx_write(&influxd, DB, &lines.join("\n")).expect("write to influxd");
    eventually(EVENTUALLY, "50 points through UDP", || {
        (node_stat(&d, "udp_count", "stream0", "collected") == 50).then_some(())
    });
}
