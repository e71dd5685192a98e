//! The engine's public API as the worker process uses it: building a task, pushing points,
//! reading httpOut bodies, statistics, alert events and wall-clock ticks.

use kapacitor_models::{FieldValue, Point, Tags};
use kapacitor_workers::engine::{EngineError, Task, TaskContext};

const S: i64 = 1_000_000_000;
const T0: i64 = 31_536_000 * S;

fn task(script: &str) -> Result<Task, EngineError> {
    let p = tickscript::compile(script, &tickscript::Vars::new()).expect("script compiles");
    Task::new("t", &p, TaskContext::default())
}

fn point(name: &str, host: &str, field: &str, v: FieldValue, t: i64) -> Point {
    let mut tags = Tags::new();
    tags.insert("host".into(), host.into());
    let mut fields = kapacitor_models::Fields::new();
    fields.insert(field.into(), v);
    Point {
        name: name.into(),
        tags,
        fields,
        time: t,
    }
}

fn stat(t: &Task, node: &str, key: &str) -> i64 {
    let s = t.stats();
    let n = s
        .nodes
        .iter()
        .find(|n| n.name == node)
        .expect("node exists");
    match key {
        "collected" => n.collected,
        "emitted" => n.emitted,
        "errors" => n.errors,
        k => *n.extra.get(k).unwrap_or(&-1),
    }
}

#[test]
fn http_out_is_null_before_data_and_lists_endpoints() {
    let t = task("stream|from().measurement('cpu')|httpOut('out')").unwrap();
    assert_eq!(t.endpoints(), vec!["out".to_string()]);
    assert_eq!(t.http_out("out").as_deref(), Some(r#"{"series":null}"#));
    assert_eq!(t.http_out("other"), None);
}

#[test]
fn a_bad_point_is_counted_and_the_task_goes_on() {
    let mut t =
        task("stream|from().measurement('cpu')|where(lambda: \"value\" > 10)|httpOut('out')")
            .unwrap();
    t.push_point(
        "db",
        "rp",
        point("cpu", "a", "value", FieldValue::Str("x".into()), T0),
    );
    t.push_point(
        "db",
        "rp",
        point("cpu", "a", "value", FieldValue::Float(11.0), T0 + S),
    );
    assert_eq!(stat(&t, "where2", "errors"), 1);
    assert_eq!(stat(&t, "where2", "collected"), 2);
    assert_eq!(
        t.http_out("out").unwrap(),
        r#"{"series":[{"name":"cpu","tags":{"host":"a"},"columns":["time","value"],"values":[["1971-01-01T00:00:01Z",11]]}]}"#
    );
}

#[test]
fn from_filters_database_and_retention_policy() {
    let mut t = task(
        "stream|from().database('db').retentionPolicy('rp').measurement('cpu')|httpOut('out')",
    )
    .unwrap();
    t.push_point(
        "other",
        "rp",
        point("cpu", "a", "value", FieldValue::Int(1), T0),
    );
    t.push_point(
        "db",
        "other",
        point("cpu", "a", "value", FieldValue::Int(1), T0),
    );
    assert_eq!(t.http_out("out").unwrap(), r#"{"series":null}"#);
    t.push_point(
        "db",
        "rp",
        point("cpu", "a", "value", FieldValue::Int(1), T0),
    );
    assert!(t.http_out("out").unwrap().contains("\"values\""));
    assert_eq!(t.measurements(), Some(&["cpu".to_string()][..]));
}

#[test]
fn invalid_properties_fail_task_start_without_panicking() {
    // The checker refuses both window kinds at define time; a pipeline built some other way
    // still fails at start, not with a panic.
    let mut p = tickscript::compile(
        "stream|from()|window().period(10s)|httpOut('x')",
        &tickscript::Vars::new(),
    )
    .unwrap();
    p.nodes[2].props.push(tickscript::pipeline::Property {
        name: "periodCount".into(),
        args: vec![tickscript::pipeline::Arg::Int(5)],
        props: Vec::new(),
        pos: Default::default(),
    });
    let e = Task::new("t", &p, TaskContext::default());
    assert!(
        matches!(e, Err(EngineError::InvalidNode { .. })),
        "{:?}",
        e.err()
    );
    // Kapacitor panics on a zero stats interval (#2281); here the task refuses to start.
    let mut p = tickscript::compile(
        "stream|from()|stats(1s)|httpOut('x')",
        &tickscript::Vars::new(),
    )
    .unwrap();
    p.nodes[2].args[0] = tickscript::pipeline::Arg::Duration(0);
    let e = Task::new("t", &p, TaskContext::default());
    assert!(matches!(e, Err(EngineError::InvalidNode { .. })));
}

#[test]
fn alert_counters_and_events() {
    let mut t = task(
        "stream|from().measurement('cpu').groupBy('host')|alert().id('{{ .Name }}/{{ index .Tags \"host\" }}').crit(lambda: \"value\" > 90)",
    )
    .unwrap();
    for (i, v) in [95.0, 96.0, 50.0].iter().enumerate() {
        t.push_point(
            "db",
            "rp",
            point(
                "cpu",
                "a",
                "value",
                FieldValue::Float(*v),
                T0 + i as i64 * S,
            ),
        );
    }
    assert_eq!(stat(&t, "alert2", "crits_triggered"), 2);
    assert_eq!(stat(&t, "alert2", "oks_triggered"), 1);
    assert_eq!(stat(&t, "alert2", "alerts_triggered"), 3);
    let ev = t.drain_alert_events();
    assert_eq!(ev.len(), 3);
    assert_eq!(ev[0].id, "cpu/a");
    assert_eq!(ev[0].message, "cpu/a is CRITICAL");
    assert_eq!(ev[2].level, "OK");
    assert_eq!(ev[2].previous_level, "CRITICAL");
    assert_eq!(ev[2].duration, 2 * S);
    assert!(t.drain_alert_events().is_empty());
}

#[test]
fn idle_barrier_deletes_the_group_downstream() {
    let mut t = task(
        "stream|from().measurement('cpu').groupBy('host')|barrier().idle(1s).delete(TRUE)|httpOut('out')",
    )
    .unwrap();
    t.push_point(
        "db",
        "rp",
        point("cpu", "a", "value", FieldValue::Int(1), T0),
    );
    assert!(t.http_out("out").unwrap().contains("\"host\":\"a\""));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;
    t.tick(now + 5 * S);
    assert_eq!(t.http_out("out").unwrap(), r#"{"series":[]}"#);
}

#[test]
fn deadman_fires_when_nothing_arrives() {
    let mut t = task("stream|from().measurement('cpu')|deadman(0.0, 10s)").unwrap();
    let now = 1_000 * S;
    t.tick(now);
    t.tick(now + 10 * S);
    t.tick(now + 20 * S);
    let ev = t.drain_alert_events();
    assert!(!ev.is_empty(), "no deadman event");
    assert_eq!(ev[0].level, "CRITICAL");
    assert!(ev[0].message.contains("is dead"), "{}", ev[0].message);
}

#[test]
fn stats_node_emits_observed_counts_on_tick() {
    let mut t = task("stream|from().measurement('cpu')|stats(1s)|httpOut('stats')").unwrap();
    t.push_point(
        "db",
        "rp",
        point("cpu", "a", "value", FieldValue::Int(1), T0),
    );
    t.push_point(
        "db",
        "rp",
        point("cpu", "a", "value", FieldValue::Int(1), T0 + S),
    );
    t.tick(10 * S);
    t.tick(11 * S);
    let body = t.http_out("stats").unwrap();
    assert!(body.contains(r#""columns":["time","emitted"]"#), "{body}");
    assert!(body.contains(",2]"), "{body}");
}

#[test]
fn stats_json_has_kapacitor_shape() {
    let mut t = task("stream|from().measurement('cpu')|httpOut('out')").unwrap();
    t.push_points(
        "db",
        "rp",
        vec![point("cpu", "a", "value", FieldValue::Int(1), T0)],
    );
    let v: serde_json::Value = serde_json::from_str(&t.stats_json()).unwrap();
    assert_eq!(v["node-stats"]["from1"]["collected"], 1);
    assert_eq!(v["node-stats"]["from1"]["emitted"], 1);
    assert_eq!(v["node-stats"]["http_out2"]["working_cardinality"], 1);
    assert!(v["task-stats"]["throughput"].is_number());
}

#[test]
fn dot_view_has_nodes_and_edges() {
    let mut t = task("stream|from().measurement('cpu')|httpOut('out')").unwrap();
    t.push_point(
        "db",
        "rp",
        point("cpu", "a", "value", FieldValue::Int(1), T0),
    );
    let dot = t.stats().dot("t", t.task_type(), 0.0);
    assert!(
        dot.starts_with("digraph t {\ngraph [throughput=\"0.00 points/s\"];"),
        "{dot}"
    );
    assert!(
        dot.contains("from1 -> http_out2 [processed=\"1\"];"),
        "{dot}"
    );
}

#[test]
fn http_out_keeps_the_latest_point_per_group_as_a_leaf_and_mid_pipeline() {
    // The leaf keeps points and makes rows when read; the first httpOut has a child and keeps
    // rows. Both must show the same body.
    let mut t =
        task("stream|from().measurement('cpu').groupBy('host')|httpOut('mid')|httpOut('leaf')")
            .unwrap();
    for (host, v, s) in [("a", 1.0, 0), ("b", 2.0, 1), ("a", 3.0, 2)] {
        t.push_point(
            "db",
            "rp",
            point("cpu", host, "value", FieldValue::Float(v), T0 + s * S),
        );
    }
    let want = r#"{"series":[{"name":"cpu","tags":{"host":"a"},"columns":["time","value"],"values":[["1971-01-01T00:00:02Z",3]]},{"name":"cpu","tags":{"host":"b"},"columns":["time","value"],"values":[["1971-01-01T00:00:01Z",2]]}]}"#;
    assert_eq!(t.http_out("mid").unwrap(), want);
    assert_eq!(t.http_out("leaf").unwrap(), want);
    assert_eq!(stat(&t, "http_out2", "emitted"), 3);
    assert_eq!(stat(&t, "http_out3", "collected"), 3);
}
