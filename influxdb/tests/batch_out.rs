//! Batch queries and influxDBOut against a real influxd.

mod common;

use common::Influxd;
use kapacitor_influxdb::{
    BatchQuery, Client, ClientConfig, Dimension, Error, Fill, InfluxDbOut, OutConfig, QueryProps,
    RetryPolicy,
};
use kapacitor_models::time_fmt::parse_rfc3339;
use kapacitor_models::{Batch, FieldValue, Point, Precision};
use std::time::Duration;

const S: i64 = 1_000_000_000;

fn t(s: &str) -> i64 {
    parse_rfc3339(s).unwrap()
}

fn point(name: &str, host: &str, v: f64, time: i64) -> Point {
    Point {
        name: name.into(),
        tags: [("host".to_string(), host.to_string())].into(),
        fields: [("value".to_string(), FieldValue::Float(v))].into(),
        time,
    }
}

async fn seeded() -> (Influxd, Client) {
    let influx = Influxd::start();
    let c = Client::new(&ClientConfig::for_url(&influx.url())).unwrap();
    c.create_database("telegraf").await.unwrap();
    // Hosts a and b, one point every 5s from 00:00:00 to 00:00:55.
    let base = t("2020-01-01T00:00:00Z");
    let mut pts = Vec::new();
    for i in 0..12 {
        pts.push(point("cpu", "a", i as f64, base + i * 5 * S));
        pts.push(point("cpu", "b", 100.0 + i as f64, base + i * 5 * S));
    }
    c.write("telegraf", "", Precision::Second, "", &pts)
        .await
        .unwrap();
    (influx, c)
}

#[tokio::test]
async fn batch_query_grouped_by_time_and_tag() {
    let (_influx, c) = seeded().await;
    let q = BatchQuery::new(
        "SELECT count(\"value\") AS n, max(value) FROM \"telegraf\".\"autogen\".cpu",
        QueryProps {
            period: 30 * S,
            every: 10 * S,
            offset: 10 * S,
            group_by: vec![
                Dimension::Time {
                    length: 10 * S,
                    offset: 0,
                },
                Dimension::Tag("host".into()),
            ],
            fill: Some(Fill::None),
            ..QueryProps::default()
        },
    )
    .unwrap();
    // Tick at 00:00:40 with offset 10s: the range is [00:00:00, 00:00:30).
    let tick = t("2020-01-01T00:00:40Z");
    let batches = q.run(&c, tick).await.unwrap();
    assert_eq!(batches.len(), 2);
    let stop = t("2020-01-01T00:00:30Z");
    for (b, host, first_max) in [(&batches[0], "a", 1.0), (&batches[1], "b", 101.0)] {
        assert_eq!(b.name, "cpu");
        assert_eq!(b.tags["host"], host);
        assert_eq!(b.time, stop, "grouped by time: batch time is the stop");
        let times: Vec<i64> = b.points.iter().map(|p| p.time).collect();
        assert_eq!(
            times,
            [
                t("2020-01-01T00:00:00Z"),
                t("2020-01-01T00:00:10Z"),
                t("2020-01-01T00:00:20Z")
            ]
        );
        assert_eq!(b.points[0].fields["n"], FieldValue::Float(2.0));
        assert_eq!(b.points[0].fields["max"], FieldValue::Float(first_max));
        assert_eq!(b.points[0].tags["host"], host);
    }
}

#[tokio::test]
async fn raw_batch_query_time_is_the_last_point() {
    let (_influx, c) = seeded().await;
    let q = BatchQuery::new(
        "SELECT value FROM telegraf.autogen.cpu WHERE host = 'b'",
        QueryProps {
            period: 20 * S,
            every: 20 * S,
            ..QueryProps::default()
        },
    )
    .unwrap();
    let b: Vec<Batch> = q.run(&c, t("2020-01-01T00:00:20Z")).await.unwrap();
    assert_eq!(b.len(), 1);
    assert!(b[0].tags.is_empty());
    assert_eq!(b[0].points.len(), 4);
    assert_eq!(b[0].time, t("2020-01-01T00:00:15Z"));
    assert_eq!(b[0].points[3].fields["value"], FieldValue::Float(103.0));
    // A range without data is no batch at all.
    assert!(
        q.run(&c, t("2021-01-01T00:00:00Z"))
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn batch_query_errors_are_returned_and_the_next_tick_recovers() {
    let (mut influx, c) = seeded().await;
    let bad_db = BatchQuery::new(
        "SELECT value FROM nope.autogen.cpu",
        QueryProps {
            period: S,
            every: S,
            ..QueryProps::default()
        },
    )
    .unwrap();
    match bad_db.run(&c, t("2020-01-01T00:00:20Z")).await {
        Err(Error::Query(m)) => assert!(m.contains("database not found"), "{m}"),
        other => panic!("{other:?}"),
    }
    let q = BatchQuery::new(
        "SELECT value FROM telegraf.autogen.cpu",
        QueryProps {
            period: 60 * S,
            every: S,
            ..QueryProps::default()
        },
    )
    .unwrap();
    influx.stop();
    let err = q.run(&c, t("2020-01-01T00:01:00Z")).await.unwrap_err();
    assert!(matches!(err, Error::Unreachable(_)), "{err:?}");
    influx.restart();
    let b = q.run(&c, t("2020-01-01T00:01:00Z")).await.unwrap();
    assert_eq!(b[0].points.len(), 24);
}

fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        attempts: 100,
        initial_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(200),
    }
}

#[tokio::test]
async fn influxdb_out_writes_points_a_select_returns() {
    let influx = Influxd::start();
    let c = Client::new(&ClientConfig::for_url(&influx.url())).unwrap();
    let out = InfluxDbOut::start(
        c.clone(),
        OutConfig {
            database: "outdb".into(),
            retention_policy: "myrp".into(),
            measurement: "errors".into(),
            tags: [("kapacitor".to_string(), "true".to_string())].into(),
            precision: Precision::Second,
            buffer: 2,
            flush_interval: Duration::from_secs(3600),
            create: true,
            ..OutConfig::default()
        },
    );
    let base = t("2020-01-01T00:00:00Z");
    out.write_points(
        "src",
        "autogen",
        [
            point("cpu", "a", 1.0, base),
            point("cpu", "b", 2.0, base + S),
        ],
    );
    out.write_batch(&Batch {
        name: "cpu".into(),
        tags: Default::default(),
        time: base + 2 * S,
        points: vec![point("cpu", "c", 3.0, base + 2 * S)],
    });
    out.flush().await;
    assert_eq!(out.stats().points_written, 3);
    assert_eq!(out.stats().write_errors, 0);
    let res = c
        .query(
            "outdb",
            "SELECT value, host, kapacitor FROM myrp.errors ORDER BY time",
        )
        .await
        .unwrap();
    let values = &res[0].series[0].values;
    assert_eq!(values.len(), 3);
    assert_eq!(values[2][1], serde_json::json!(3));
    assert_eq!(values[2][2], serde_json::json!("c"));
    assert_eq!(values[0][3], serde_json::json!("true"));
    // `.create()` made the database with myrp as its default policy.
    assert_eq!(c.retention_policies("outdb").await.unwrap(), ["myrp"]);
    out.close().await;
}

#[tokio::test]
async fn influxdb_out_retries_while_influxdb_is_down_and_bounds_its_buffer() {
    let mut influx = Influxd::start();
    let c = Client::new(&ClientConfig::for_url(&influx.url())).unwrap();
    c.create_database("db").await.unwrap();
    influx.stop();
    let out = InfluxDbOut::start(
        c.clone(),
        OutConfig {
            database: "db".into(),
            buffer: 5,
            max_pending: 10,
            flush_interval: Duration::from_millis(100),
            retry: fast_retry(),
            ..OutConfig::default()
        },
    );
    // While down: the first points are in flight (being retried), the buffer then holds
    // at most 10 and sheds the oldest.
    let base = t("2020-01-01T00:00:00Z");
    out.write_points("", "", (0..5).map(|i| point("m", "a", i as f64, base + i)));
    for _ in 0..200 {
        if out.pending() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(out.pending(), 0, "the first five are being retried");
    out.write_points("", "", (5..30).map(|i| point("m", "a", i as f64, base + i)));
    assert!(out.pending() <= 10, "{}", out.pending());
    assert_eq!(out.stats().points_dropped, 15);
    influx.restart();
    out.flush().await;
    // flush() waited for whatever was queued at the time; wait out the in-flight retries too.
    for _ in 0..200 {
        if out.stats().points_written == 15 {
            break;
        }
        out.flush().await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(out.stats().points_written, 15);
    let res = c.query("db", "SELECT count(value) FROM m").await.unwrap();
    assert_eq!(res[0].series[0].values[0][1], serde_json::json!(15));
    out.close().await;
}

#[tokio::test]
async fn influxdb_out_gives_up_on_client_errors_without_retrying() {
    let influx = Influxd::start();
    let c = Client::new(&ClientConfig::for_url(&influx.url())).unwrap();
    let out = InfluxDbOut::start(
        c,
        OutConfig {
            database: "missing".into(),
            buffer: 1,
            retry: fast_retry(),
            ..OutConfig::default()
        },
    );
    out.write_points("", "", [point("m", "a", 1.0, 1)]);
    out.flush().await;
    let s = out.stats();
    assert_eq!(
        (s.points_written, s.write_errors, s.points_dropped),
        (0, 1, 1)
    );
    drop(influx);
}
