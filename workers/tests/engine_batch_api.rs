//! The engine's batch-task and influxDBOut API as the worker shell uses it: query specs to
//! schedule, batches pushed back, the influxDBOut outbox and its statistics, and the errors a
//! bad script or a wrong node id gets.

use kapacitor_influxdb::{Dimension, Fill};
use kapacitor_models::{Batch, FieldValue, Fields, Point, Precision, Tags, srpl};
use kapacitor_workers::engine::{EngineError, Task, TaskContext};

const S: i64 = 1_000_000_000;
const T0: i64 = 31_536_000 * S;

fn task(script: &str) -> Result<Task, EngineError> {
    let p = tickscript::compile(script, &tickscript::Vars::new()).expect("script compiles");
    Task::new("t", &p, TaskContext::default())
}

/// Why `script` is refused: at define time by the checker, or else when the task is built.
fn refused(script: &str) -> String {
    match tickscript::compile(script, &tickscript::Vars::new()) {
        Err(e) => e.to_string(),
        Ok(p) => match Task::new("t", &p, TaskContext::default()) {
            Ok(_) => panic!("{script}: accepted"),
            Err(e) => e.to_string(),
        },
    }
}

fn tags(kv: &[(&str, &str)]) -> Tags {
    kv.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn batch(name: &str, t: &[(&str, &str)], values: &[(i64, f64)]) -> Batch {
    let tags = tags(t);
    let points: Vec<Point> = values
        .iter()
        .map(|&(time, v)| {
            let mut fields = Fields::new();
            fields.insert("value".into(), FieldValue::Float(v));
            Point {
                name: name.into(),
                tags: tags.clone(),
                fields,
                time,
            }
        })
        .collect();
    Batch {
        name: name.into(),
        tags,
        time: points.last().map(|p| p.time).unwrap_or(T0),
        points,
    }
}

fn stat(t: &Task, node: &str, key: &str) -> i64 {
    let s = t.stats();
    let n = s
        .nodes
        .iter()
        .find(|n| n.name == node)
        .unwrap_or_else(|| panic!("node {node} exists"));
    match key {
        "collected" => n.collected,
        "emitted" => n.emitted,
        "errors" => n.errors,
        k => *n
            .extra
            .get(k)
            .unwrap_or_else(|| panic!("{node} has no {k}")),
    }
}

fn series_count(t: &Task, endpoint: &str) -> usize {
    let body: serde_json::Value =
        serde_json::from_str(&t.http_out(endpoint).expect("endpoint")).expect("JSON");
    body["series"].as_array().map_or(0, |a| a.len())
}

#[test]
fn query_spec_carries_text_and_properties() {
    let t = task(
        r#"batch
    |query('SELECT mean("value") FROM "telegraf"."autogen".cpu')
        .period(5m)
        .every(1m)
        .offset(30s)
        .align()
        .groupBy(time(10s), 'host')
        .fill('none')
        .cluster('east')
    |httpOut('out')
"#,
    )
    .expect("task builds");
    let q = t.queries();
    assert_eq!(q.len(), 1);
    let q = &q[0];
    assert_eq!(q.node, 1);
    assert_eq!(q.name, "query1");
    assert_eq!(
        q.query,
        r#"SELECT mean("value") FROM "telegraf"."autogen".cpu"#
    );
    assert_eq!(q.props.period, 300 * S);
    assert_eq!(q.props.every, 60 * S);
    assert_eq!(q.props.offset, 30 * S);
    assert!(q.props.align);
    assert!(!q.props.align_group);
    assert_eq!(
        q.props.group_by,
        vec![
            Dimension::Time {
                length: 10 * S,
                offset: 0
            },
            Dimension::Tag("host".into())
        ]
    );
    assert_eq!(q.props.fill, Some(Fill::None));
    assert_eq!(q.props.cluster, "east");
    let bq = q.batch_query().expect("query compiles");
    let text = bq.build(T0 + 300 * S);
    assert!(text.contains("GROUP BY time(10s, 0s), host"), "{text}");
    assert!(text.contains("fill(none)"), "{text}");
}

#[test]
fn group_by_time_takes_an_offset() {
    let t = task(
        "batch|query('SELECT mean(v) FROM db.rp.m').period(10s).every(10s).groupBy(time(2s, 1s), 'cpu')|httpOut('o')\n",
    )
    .expect("task builds");
    let q = &t.queries()[0];
    assert_eq!(
        q.props.group_by,
        vec![
            Dimension::Time {
                length: 2 * S,
                offset: S
            },
            Dimension::Tag("cpu".into())
        ]
    );
    let text = q.batch_query().expect("query compiles").build(T0 + 10 * S);
    assert!(text.ends_with("GROUP BY time(2s, 1s), cpu"), "{text}");
}

#[test]
fn malformed_time_dimensions_are_define_time_errors() {
    let cases = [
        (
            "time(2s, 1s, 1s)",
            "line 1 char 75: time() function expects 1 or 2 args, got 3",
        ),
        (
            "time()",
            "line 1 char 75: time() function expects 1 or 2 args, got 0",
        ),
        (
            "time(2s, 'x')",
            "line 1 char 75: time() takes durations (length, optional offset), got string",
        ),
    ];
    for (dim, want) in cases {
        let script = format!(
            "batch|query('SELECT mean(v) FROM db.rp.m').period(10s).every(10s).groupBy({dim})\n"
        );
        let err = tickscript::compile(&script, &tickscript::Vars::new()).expect_err(dim);
        assert_eq!(err.to_string(), want, "{dim}");
    }
}

#[test]
fn numeric_fill_and_star_group_by() {
    let t = task(
        "batch|query('SELECT max(v) FROM db.rp.m').every(10s).period(10s).groupBy(*).fill(0)\n",
    )
    .expect("task builds");
    let q = &t.queries()[0];
    assert_eq!(q.props.group_by, vec![Dimension::Star]);
    assert_eq!(q.props.fill, Some(Fill::Int(0)));
}

#[test]
fn queries_are_numbered_in_kapacitor_order() {
    // Kapacitor's topological sort lists sibling queries last-written first; recordings and
    // the upstream test data number sources that way.
    let t = task(
        r#"var a = batch|query('SELECT a FROM db.rp.a').every(10s)
var b = batch|query('SELECT b FROM db.rp.b').every(10s)
a|join(b).as('a', 'b')|httpOut('out')
"#,
    )
    .expect("task builds");
    let names: Vec<String> = t.queries().into_iter().map(|q| q.query).collect();
    assert_eq!(
        names,
        vec!["SELECT b FROM db.rp.b", "SELECT a FROM db.rp.a"]
    );
}

#[test]
fn bad_queries_fail_the_task_with_the_reason() {
    let cases = [
        (
            "batch|query('SELECT v FROM db.rp.m GROUP BY host').every(10s)",
            "GROUP BY",
        ),
        (
            "batch|query('SELECT v FROM db.rp.m').every(10s).cron('* * * * *')",
            "both",
        ),
        ("batch|query('SELECT v FROM db.rp.m').period(10s)", "every"),
        (
            "batch|query('SELECT v FROM db.rp.m').every(10s).fill('sideways')",
            "fill",
        ),
        (
            "batch|queryFlux('from(bucket: \"b\")').every(10s)",
            "queryFlux",
        ),
    ];
    for (script, want) in cases {
        let e = refused(script);
        assert!(e.contains(want), "{script}: {e}");
    }
}

#[test]
fn push_batch_rejects_nodes_that_are_not_queries() {
    let mut t = task("batch|query('SELECT v FROM db.rp.m').every(10s)|httpOut('out')")
        .expect("task builds");
    let err = t
        .push_batch(2, batch("m", &[], &[(T0, 1.0)]))
        .expect_err("httpOut is not a query");
    assert!(err.to_string().contains("http_out2"), "{err}");
    let err = t
        .push_batch(99, batch("m", &[], &[(T0, 1.0)]))
        .expect_err("no such node");
    assert!(err.to_string().contains("no node 99"), "{err}");
    assert!(t.record_query_error(0).is_err());
}

#[test]
fn batches_are_grouped_by_their_tags_and_counted() {
    let mut t =
        task("batch|query('SELECT v FROM db.rp.m').every(10s).groupBy('host')|httpOut('out')")
            .expect("task builds");
    let q = t.queries()[0].node;
    t.push_batch(q, batch("m", &[("host", "a")], &[(T0, 1.0), (T0 + S, 2.0)]))
        .expect("pushed");
    t.push_batch(q, batch("m", &[("host", "b")], &[(T0, 3.0)]))
        .expect("pushed");
    t.push_batch(q, batch("m", &[("host", "a")], &[(T0 + 10 * S, 4.0)]))
        .expect("pushed");
    assert_eq!(series_count(&t, "out"), 2, "one series per host");
    t.record_query_error(q).expect("query node");
    assert_eq!(stat(&t, "query1", "collected"), 3);
    assert_eq!(stat(&t, "query1", "batches_queried"), 3);
    assert_eq!(stat(&t, "query1", "points_queried"), 4);
    assert_eq!(stat(&t, "query1", "query_errors"), 1);
    assert_eq!(stat(&t, "batch0", "emitted"), 3);
}

#[test]
fn group_by_measurement_keeps_measurements_apart() {
    let script = |by_name: &str| {
        format!(
            "batch|query('SELECT v FROM db.rp./c.*/').every(10s).groupBy('host'){by_name}\n\
             |alert().crit(lambda: TRUE).id('{{{{ .Group }}}}')"
        )
    };
    for (by_name, want) in [(".groupByMeasurement()", "cpu\nhost=a"), ("", "host=a")] {
        let mut t = task(&script(by_name)).expect("task builds");
        let q = t.queries()[0].node;
        t.push_batch(q, batch("cpu", &[("host", "a")], &[(T0, 1.0)]))
            .expect("pushed");
        let ev = t.drain_alert_events();
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].id, want);
    }
}

#[test]
fn points_without_tags_inherit_the_batch_tags() {
    let mut t = task("batch|query('SELECT v FROM db.rp.m').every(10s)|trickle()|httpOut('out')")
        .expect("task builds");
    let q = t.queries()[0].node;
    let mut b = batch("m", &[("host", "a")], &[(T0, 1.0), (T0 + S, 2.0)]);
    for p in &mut b.points {
        p.tags.clear();
    }
    t.push_batch(q, b).expect("pushed");
    let body: serde_json::Value =
        serde_json::from_str(&t.http_out("out").expect("endpoint")).expect("JSON");
    // trickle turned the batch into points: the last one is kept, with its tags.
    let row = &body["series"][0];
    assert_eq!(row["tags"]["host"], "a");
    assert_eq!(row["values"][0][1], 2.0);
    assert_eq!(stat(&t, "trickle2", "emitted"), 2);
}

#[test]
fn influxdb_out_spec_and_writer_config() {
    let t = task(
        r#"batch|query('SELECT v FROM db.rp.m').every(10s)
    |influxDBOut()
        .cluster('east')
        .database('out')
        .retentionPolicy('week')
        .measurement('renamed')
        .writeConsistency('any')
        .precision('s')
        .buffer(500)
        .flushInterval(5s)
        .tag('k', 'v')
        .create()
"#,
    )
    .expect("task builds");
    let outs = t.influxdb_outs();
    assert_eq!(outs.len(), 1);
    let o = &outs[0];
    assert_eq!((o.node, o.name.as_str()), (2, "influxdb_out2"));
    assert_eq!(o.cluster, "east");
    assert_eq!(o.database, "out");
    assert_eq!(o.retention_policy, "week");
    assert_eq!(o.write_consistency, "any");
    assert_eq!(o.precision, Precision::Second);
    assert_eq!(o.buffer, 500);
    assert_eq!(o.flush_interval_ns, 5 * S);
    assert_eq!(o.tags, tags(&[("k", "v")]));
    assert!(o.create);
    let c = o.out_config();
    assert_eq!(c.database, "out");
    assert_eq!(c.retention_policy, "week");
    assert_eq!(c.buffer, 500);
    assert_eq!(c.flush_interval, std::time::Duration::from_secs(5));
    assert!(c.create);
    // Applied by the engine already, so the writer must not apply them again.
    assert!(c.measurement.is_empty() && c.tags.is_empty());
}

#[test]
fn influxdb_out_defaults() {
    let t = task("stream|from()|influxDBOut()").expect("task builds");
    let o = &t.influxdb_outs()[0];
    assert_eq!(o.buffer, 1000);
    assert_eq!(o.flush_interval_ns, 10 * S);
    assert_eq!(o.precision, Precision::Nanosecond);
    assert!(o.database.is_empty() && !o.create);
}

#[test]
fn influxdb_out_bad_properties_are_errors() {
    let cases = [
        (
            "stream|from()|influxDBOut().precision('fortnight')",
            "precision",
        ),
        ("stream|from()|influxDBOut().buffer(0)", "buffer"),
        (
            "batch|query('SELECT v FROM db.rp.m').every(10s)|influxDBOut()",
            "database",
        ),
    ];
    for (script, want) in cases {
        let e = refused(script);
        assert!(e.contains(want), "{script}: {e}");
    }
}

#[test]
fn batch_points_are_written_one_by_one_with_merged_tags() {
    let mut t = task(
        "batch|query('SELECT v FROM db.rp.m').every(10s).groupBy('host')\n\
         |influxDBOut().database('out').measurement('renamed').tag('k', 'v').tag('host', 'x')",
    )
    .expect("task builds");
    let q = t.queries()[0].node;
    let mut b = batch("m", &[("host", "a")], &[(T0, 1.0), (T0 + S, 2.0)]);
    b.points[1].tags.insert("extra".into(), "e".into());
    b.points[0].tags.clear();
    t.push_batch(q, b).expect("pushed");
    let writes = t.drain_influxdb_writes();
    assert_eq!(writes.len(), 1);
    let w = &writes[0];
    assert_eq!(w.node, 2);
    assert_eq!(
        (w.database.as_str(), w.retention_policy.as_str()),
        ("out", "")
    );
    assert_eq!(w.points.len(), 2);
    assert!(w.points.iter().all(|p| p.name == "renamed"));
    // Node tags win over point and batch tags; the batch's tags fill what a point lacks.
    assert_eq!(w.points[0].tags, tags(&[("host", "x"), ("k", "v")]));
    assert_eq!(
        w.points[1].tags,
        tags(&[("extra", "e"), ("host", "x"), ("k", "v")])
    );
    assert_eq!(w.points[1].time, T0 + S);
    assert!(t.drain_influxdb_writes().is_empty(), "drained once");
}

#[test]
fn stream_points_go_to_the_database_they_came_from() {
    let mut t = task("stream|from().measurement('cpu')|influxDBOut()").expect("task builds");
    let p = |time| Point {
        name: "cpu".into(),
        tags: tags(&[("host", "a")]),
        fields: [("v".to_string(), FieldValue::Int(1))]
            .into_iter()
            .collect(),
        time,
    };
    t.push_point("db1", "rp1", p(T0));
    t.push_point("db1", "rp1", p(T0 + S));
    t.push_point("db2", "autogen", p(T0 + 2 * S));
    let w = t.drain_influxdb_writes();
    let shape: Vec<(&str, &str, usize)> = w
        .iter()
        .map(|w| {
            (
                w.database.as_str(),
                w.retention_policy.as_str(),
                w.points.len(),
            )
        })
        .collect();
    assert_eq!(shape, vec![("db1", "rp1", 2), ("db2", "autogen", 1)]);
}

#[test]
fn write_results_become_node_statistics() {
    let mut t = task("stream|from()|influxDBOut().database('d')").expect("task builds");
    assert_eq!(stat(&t, "influxdb_out2", "points_written"), 0);
    t.record_influxdb_out_result(2, 1000, 0)
        .expect("influxDBOut node");
    t.record_influxdb_out_result(2, 5, 2)
        .expect("influxDBOut node");
    assert_eq!(stat(&t, "influxdb_out2", "points_written"), 1005);
    assert_eq!(stat(&t, "influxdb_out2", "write_errors"), 2);
    let err = t
        .record_influxdb_out_result(1, 1, 0)
        .expect_err("from is not influxDBOut");
    assert!(err.to_string().contains("from1"), "{err}");
}

#[test]
fn an_undrained_outbox_is_bounded() {
    let mut t = task("stream|from()|influxDBOut().database('d').buffer(1)").expect("task builds");
    for i in 0..10_005 {
        t.push_point(
            "db",
            "rp",
            Point {
                name: "m".into(),
                tags: Tags::new(),
                fields: [("v".to_string(), FieldValue::Int(i))]
                    .into_iter()
                    .collect(),
                time: T0 + i,
            },
        );
    }
    let w = t.drain_influxdb_writes();
    let n: usize = w.iter().map(|w| w.points.len()).sum();
    assert_eq!(n, 10_000);
    // The oldest were dropped, the newest kept.
    assert_eq!(
        w.last().and_then(|w| w.points.last()).map(|p| p.time),
        Some(T0 + 10_004)
    );
    assert!(stat(&t, "influxdb_out2", "errors") > 0);
}

/// Upstream `TestStream_InfluxDBOut` (integrations/streamer_test.go): one point `m` with
/// `count=10`, tags exactly `key=value`, at 1971-01-01T00:00:10Z, to db `db`, rp `rp`,
/// precision `s`.
#[test]
fn stream_influxdb_out_matches_upstream() {
    let Some(data) = [
        "../../shared/conformance/data",
        "../shared/conformance/data",
    ]
    .iter()
    .map(|d| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(d))
    .chain([std::path::PathBuf::from("/work/shared/conformance/data")])
    .map(|d| d.join("TestStream_InfluxDBOut.srpl"))
    .find(|p| p.is_file()) else {
        eprintln!("conformance data not found; skipping");
        return;
    };
    let mut t = task(
        r#"
stream
	|from()
		.measurement('cpu')
	|where(lambda: "host" == 'serverA')
	|window()
		.period(10s)
		.every(10s)
	|count('value')
	|influxDBOut()
		.database('db')
		.retentionPolicy('rp')
		.measurement('m')
		.precision('s')
		.tag('key', 'value')
"#,
    )
    .expect("task builds");
    let records =
        srpl::parse_srpl(&std::fs::read_to_string(data).expect("data")).expect("srpl parses");
    let first = records[0].timestamp().expect("timestamp");
    for r in &records {
        let ts = r.timestamp().expect("timestamp");
        let line = r
            .with_timestamp(ts - first + srpl::CONFORMANCE_EPOCH_S)
            .expect("rebased");
        for p in kapacitor_models::line_protocol::parse(&line, Precision::Second, 0)
            .expect("line protocol")
        {
            t.push_point(&r.db, &r.rp, p);
        }
    }
    assert_eq!(t.influxdb_outs()[0].precision, Precision::Second);
    let w = t.drain_influxdb_writes();
    assert_eq!(w.len(), 1);
    assert_eq!(
        (w[0].database.as_str(), w[0].retention_policy.as_str()),
        ("db", "rp")
    );
    assert_eq!(w[0].points.len(), 1);
    let p = &w[0].points[0];
    assert_eq!(p.name, "m");
    assert_eq!(p.tags, tags(&[("key", "value")]));
    assert_eq!(p.time, T0 + 10 * S);
    let count = match p.fields.get("count") {
        Some(FieldValue::Int(i)) => *i as f64,
        Some(FieldValue::Float(f)) => *f,
        other => panic!("count is {other:?}"),
    };
    assert_eq!(count, 10.0);
}
