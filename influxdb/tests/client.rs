//! The client against a real influxd.

mod common;

use common::Influxd;
use kapacitor_influxdb::{Client, ClientConfig, Error};
use kapacitor_models::{FieldValue, Point, Precision};
use serde_json::json;
use std::time::Duration;

fn point(name: &str, host: &str, v: f64, t: i64) -> Point {
    Point {
        name: name.into(),
        tags: [("host".to_string(), host.to_string())].into(),
        fields: [("value".to_string(), FieldValue::Float(v))].into(),
        time: t,
    }
}

#[tokio::test]
async fn ping_create_write_query_round_trip() {
    let influx = Influxd::start();
    let c = Client::new(&ClientConfig::for_url(&influx.url())).unwrap();
    let info = c.ping().await.unwrap();
    assert!(info.version.starts_with("1."), "{info:?}");

    c.create_database("db1").await.unwrap();
    assert!(c.databases().await.unwrap().contains(&"db1".to_string()));
    c.create_retention_policy("db1", "short", "1h", 1, false)
        .await
        .unwrap();
    let rps = c.retention_policies("db1").await.unwrap();
    assert_eq!(rps, ["autogen", "short"]);

    // Inside the 1h policy: the last whole minute, so the times print predictably.
    let s = 1_000_000_000;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        * s;
    let base = now - now.rem_euclid(60 * s) - 60 * s;
    let points = vec![
        point("cpu", "a", 1.5, base + 10 * s),
        point("cpu", "b", 2.5, base + 20 * s),
    ];
    let ts = |t| json!(kapacitor_models::time_fmt::rfc3339_nano(t));
    c.write("db1", "short", Precision::Second, "", &points)
        .await
        .unwrap();
    let res = c
        .query("db1", "SELECT value, host FROM short.cpu ORDER BY time")
        .await
        .unwrap();
    let series = &res[0].series[0];
    assert_eq!(series.name, "cpu");
    assert_eq!(series.columns, ["time", "value", "host"]);
    assert_eq!(
        series.values,
        vec![
            vec![ts(base + 10 * s), json!(1.5), json!("a")],
            vec![ts(base + 20 * s), json!(2.5), json!("b")],
        ]
    );
}

#[tokio::test]
async fn server_errors_are_returned_with_the_server_text() {
    let influx = Influxd::start();
    let c = Client::new(&ClientConfig::for_url(&influx.url())).unwrap();
    match c.query("", "SELEKT 1").await {
        Err(Error::Query(msg)) => assert!(msg.contains("error parsing query"), "{msg}"),
        other => panic!("{other:?}"),
    }
    match c.query("nope", "SELECT * FROM m").await {
        Err(Error::Query(msg)) => assert!(msg.contains("database not found"), "{msg}"),
        other => panic!("{other:?}"),
    }
    let err = c
        .write(
            "nope",
            "",
            Precision::Nanosecond,
            "",
            &[point("m", "a", 1.0, 1)],
        )
        .await
        .unwrap_err();
    match &err {
        Error::Server {
            status: 404,
            message,
        } => {
            assert!(message.contains("database not found"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn fails_over_from_a_dead_url() {
    let influx = Influxd::start();
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    let mut cfg = ClientConfig::for_url(&dead_url);
    cfg.urls.push(influx.url());
    let c = Client::new(&cfg).unwrap();
    assert_eq!(c.ping().await.unwrap().url, influx.url());
    c.create_database("x").await.unwrap();
}

#[tokio::test]
async fn down_server_is_an_error_and_recovery_after_restart_works() {
    let mut influx = Influxd::start();
    let mut cfg = ClientConfig::for_url(&influx.url());
    cfg.timeout = Duration::from_secs(5);
    let c = Client::new(&cfg).unwrap();
    c.create_database("db").await.unwrap();
    influx.stop();
    let err = c.query("db", "SHOW MEASUREMENTS").await.unwrap_err();
    assert!(matches!(err, Error::Unreachable(_)), "{err:?}");
    assert!(err.is_retryable());
    let err = c
        .ping_with_backoff(Duration::from_millis(600))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("startup-timeout"), "{err}");
    influx.restart();
    c.ping_with_backoff(Duration::from_secs(10)).await.unwrap();
    c.write(
        "db",
        "",
        Precision::Nanosecond,
        "",
        &[point("m", "a", 1.0, 5)],
    )
    .await
    .unwrap();
}

#[test]
fn bad_configuration_is_a_clear_error() {
    let mut cfg = ClientConfig::for_url("ftp://x");
    assert!(
        Client::new(&cfg)
            .unwrap_err()
            .to_string()
            .contains("scheme must be http or https")
    );
    cfg.urls = vec![];
    assert!(Client::new(&cfg).unwrap_err().to_string().contains("urls"));
    let mut cfg = ClientConfig::for_url("http://localhost:8086");
    cfg.ssl_cert = "/nonexistent.pem".into();
    assert!(
        Client::new(&cfg)
            .unwrap_err()
            .to_string()
            .contains("ssl-key")
    );
    cfg.ssl_key = "/nonexistent.key".into();
    assert!(
        Client::new(&cfg)
            .unwrap_err()
            .to_string()
            .contains("/nonexistent.pem")
    );
}
