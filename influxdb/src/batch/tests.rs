use super::*;
use crate::response::parse_query_response;
use kapacitor_models::time_fmt::parse_rfc3339;

const S: i64 = 1_000_000_000;

fn t(s: &str) -> i64 {
    parse_rfc3339(s).unwrap()
}

fn props(every: i64, period: i64) -> QueryProps {
    QueryProps {
        every,
        period,
        ..QueryProps::default()
    }
}

#[test]
fn injects_time_range_after_condition() {
    let q = BatchQuery::new(
        "SELECT mean(usage) FROM telegraf.autogen.cpu WHERE host = 'serverA'",
        props(10 * S, 60 * S),
    )
    .unwrap();
    assert_eq!(
        q.build(t("1975-01-01T00:01:00Z")),
        "SELECT mean(usage) FROM telegraf.autogen.cpu WHERE host = 'serverA' AND time >= '1975-01-01T00:00:00Z' AND time < '1975-01-01T00:01:00Z'"
    );
}

#[test]
fn without_condition_offset_and_fractional_times() {
    let q = BatchQuery::new(
        "SELECT usage\nFROM telegraf.autogen.cpu",
        QueryProps {
            offset: 3600 * S,
            ..props(10 * S, 1_500_000_000)
        },
    )
    .unwrap();
    assert_eq!(
        q.build(t("2020-01-01T01:00:00Z")),
        "SELECT usage FROM telegraf.autogen.cpu WHERE time >= '2019-12-31T23:59:58.5Z' AND time < '2020-01-01T00:00:00Z'"
    );
    assert_eq!(
        q.range(t("2020-01-01T01:00:00Z")),
        (t("2019-12-31T23:59:58.5Z"), t("2020-01-01T00:00:00Z"))
    );
}

#[test]
fn top_level_or_is_parenthesised() {
    let q = BatchQuery::new(
        "SELECT v FROM db.rp.m WHERE a = 'x' AND b = 'y' OR c = 'z'",
        props(S, S),
    )
    .unwrap();
    assert!(
        q.build(0)
            .contains("WHERE (a = 'x' AND b = 'y' OR c = 'z') AND time >= ")
    );
}

#[test]
fn group_by_time_tags_and_fill() {
    let q = BatchQuery::new(
        "SELECT mean(\"value\") FROM \"telegraf\".\"default\".cpu_usage_idle WHERE \"host\" = 'serverA' fill(previous) LIMIT 5",
        QueryProps {
            group_by: vec![
                Dimension::Time {
                    length: 10 * S,
                    offset: 0,
                },
                Dimension::Tag("cpu".into()),
                Dimension::Tag("my tag".into()),
            ],
            fill: Some(Fill::Int(0)),
            ..props(20 * S, 60 * S)
        },
    )
    .unwrap();
    assert!(q.is_grouped_by_time());
    assert_eq!(
        q.build(t("2020-01-01T00:01:00Z")),
        "SELECT mean(\"value\") FROM \"telegraf\".\"default\".cpu_usage_idle WHERE \"host\" = 'serverA' AND time >= '2020-01-01T00:00:00Z' AND time < '2020-01-01T00:01:00Z' GROUP BY time(10s, 0s), cpu, \"my tag\" fill(0) LIMIT 5"
    );
    // Without .fill() the query's own fill stays; fill(null) is not written.
    let own = BatchQuery::new(
        "SELECT v FROM m fill(previous)",
        QueryProps {
            group_by: vec![Dimension::Star],
            ..props(S, S)
        },
    )
    .unwrap();
    assert!(own.build(0).ends_with("GROUP BY * fill(previous)"));
    let null = BatchQuery::new(
        "SELECT v FROM m",
        QueryProps {
            fill: Some(Fill::Null),
            ..props(S, S)
        },
    )
    .unwrap();
    assert!(null.build(0).ends_with("'1970-01-01T00:00:00Z'"));
    let float = Fill::Float(1.5).clause().unwrap();
    assert_eq!(float, "fill(1.5)");
}

#[test]
fn align_group_sets_offset_from_start() {
    let q = BatchQuery::new(
        "SELECT count(v) FROM m",
        QueryProps {
            align_group: true,
            group_by: vec![Dimension::Time {
                length: 60 * S,
                offset: 0,
            }],
            ..props(10 * S, 90 * S)
        },
    )
    .unwrap();
    // start = 00:00:40 → offset 40s into the minute.
    assert!(
        q.build(t("2020-01-01T00:02:10Z"))
            .ends_with("GROUP BY time(1m, 40s)")
    );
}

#[test]
fn property_errors_match_kapacitor() {
    let e = |p: QueryProps| {
        BatchQuery::new("SELECT v FROM m", p)
            .unwrap_err()
            .to_string()
    };
    assert_eq!(e(props(0, S)), "must define one of 'every' or 'cron'");
    assert_eq!(
        e(QueryProps {
            cron: Some("* * * * *".into()),
            ..props(S, S)
        }),
        "must not set both 'every' and 'cron' properties"
    );
    assert_eq!(
        e(QueryProps {
            group_by: vec![
                Dimension::Time {
                    length: S,
                    offset: 0
                },
                Dimension::Time {
                    length: S,
                    offset: 0
                }
            ],
            ..props(S, S)
        }),
        "groupBy cannot have more than one time dimension"
    );
    assert_eq!(
        Fill::parse("sideways").unwrap_err().to_string(),
        "unexpected fill option sideways"
    );
    assert!(
        BatchQuery::new("SELECT v FROM m GROUP BY host", props(S, S))
            .unwrap_err()
            .to_string()
            .contains("GROUP BY")
    );
    assert!(
        BatchQuery::new("SELECT v FROM m WHERE time > now() - 1h", props(S, S))
            .unwrap_err()
            .to_string()
            .contains("time condition")
    );
    assert!(
        BatchQuery::new(
            "SELECT v FROM m",
            QueryProps {
                cron: Some("nope".into()),
                ..QueryProps::default()
            }
        )
        .unwrap_err()
        .to_string()
        .contains("invalid cron expression")
    );
}

#[test]
fn schedules() {
    let every = BatchQuery::new("SELECT v FROM m", props(10 * S, S)).unwrap();
    assert_eq!(every.next_run(3 * S), Some(13 * S));
    let aligned = BatchQuery::new(
        "SELECT v FROM m",
        QueryProps {
            align: true,
            ..props(10 * S, S)
        },
    )
    .unwrap();
    assert_eq!(aligned.next_run(3 * S), Some(10 * S));
    assert_eq!(aligned.next_run(10 * S), Some(20 * S));
    assert_eq!(
        aligned.ticks_between(0, 35 * S, 100 * S),
        vec![10 * S, 20 * S, 30 * S]
    );
    assert_eq!(aligned.ticks_between(0, 35 * S, 15 * S), vec![10 * S]);
    let cron = BatchQuery::new(
        "SELECT v FROM m",
        QueryProps {
            cron: Some("*/5 * * * *".into()),
            period: 300 * S,
            ..QueryProps::default()
        },
    )
    .unwrap();
    assert_eq!(
        cron.next_run(t("2020-01-01T00:03:00Z")),
        Some(t("2020-01-01T00:05:00Z"))
    );
}

#[test]
fn results_become_batches_like_kapacitor() {
    let body = br#"{"results":[{"statement_id":0,"series":[
        {"name":"cpu","tags":{"host":"a"},"columns":["time","mean","s"],"values":[
            ["2020-01-01T00:00:00Z",1,"x"],["2020-01-01T00:00:10Z",null,null],["2020-01-01T00:00:20Z",2.5,null]]},
        {"name":"cpu","tags":{"host":"b"},"columns":["time","mean"],"values":[["2020-01-01T00:00:05Z",true]]}
    ]}]}"#;
    let res = parse_query_response(body).unwrap();
    let stop = t("2020-01-01T00:01:00Z");
    let b = results_to_batches(&res, stop, false).unwrap();
    assert_eq!(b.len(), 2);
    assert_eq!(b[0].name, "cpu");
    assert_eq!(b[0].tags["host"], "a");
    // The all-null row is left out; integers come back as floats.
    assert_eq!(b[0].points.len(), 2);
    assert_eq!(b[0].points[0].fields["mean"], FieldValue::Float(1.0));
    assert_eq!(b[0].points[0].fields["s"], FieldValue::Str("x".into()));
    assert!(!b[0].points[1].fields.contains_key("s"));
    assert_eq!(b[0].time, t("2020-01-01T00:00:20Z"));
    assert_eq!(b[1].points[0].fields["mean"], FieldValue::Bool(true));
    // Grouped by time: the batch time is the stop of the range.
    let g = results_to_batches(&res, stop, true).unwrap();
    assert_eq!(g[0].time, stop);
    // An empty answer is no batch.
    let empty = parse_query_response(br#"{"results":[{"statement_id":0}]}"#).unwrap();
    assert!(results_to_batches(&empty, stop, false).unwrap().is_empty());
    // A bad time value is an error, not a panic.
    let bad = parse_query_response(
        br#"{"results":[{"series":[{"name":"m","columns":["time","v"],"values":[["yesterday",1]]}]}]}"#,
    )
    .unwrap();
    assert!(results_to_batches(&bad, stop, false).is_err());
}

use kapacitor_models::FieldValue;
