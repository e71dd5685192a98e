//! `join().fill(...)`: an outer join fills the fields of a missing parent. With `'null'` they
//! are present with a null value (httpOut prints `null`, `default()` replaces them); with a
//! number they get that number.

use kapacitor_models::{FieldValue, Fields, Point, Tags};
use kapacitor_workers::engine::{Task, TaskContext};

const S: i64 = 1_000_000_000;
const T0: i64 = 31_536_000 * S;

fn task(script: &str) -> Task {
    let p = tickscript::compile(script, &tickscript::Vars::new()).expect("script compiles");
    Task::new("t", &p, TaskContext::default()).expect("task builds")
}

fn point(name: &str, v: f64, t: i64) -> Point {
    let mut tags = Tags::new();
    tags.insert("host".into(), "A".into());
    let mut fields = Fields::new();
    fields.insert("value".into(), FieldValue::Float(v));
    Point {
        name: name.into(),
        tags,
        fields,
        time: t,
    }
}

/// Disk points at T0+0s..3s and a maintlock point at T0+1s; then a maintlock point at T0+10s
/// moves that parent past the others, which completes the outer join of 2s. `tail`
/// follows the join.
fn run(fill: &str, tail: &str) -> Task {
    let mut t = task(&format!(
        "var lock = stream|from().measurement('maintlock').groupBy('host')
stream|from().measurement('disk').groupBy('host')
    |join(lock).as('disk', 'lock').fill({fill}).tolerance(1s)
    {tail}"
    ));
    for s in 0..4 {
        t.push_point("db", "rp", point("disk", 10.0 * s as f64, T0 + s * S));
        if s == 1 {
            t.push_point("db", "rp", point("maintlock", 1.0, T0 + s * S));
        }
    }
    t.push_point("db", "rp", point("maintlock", 2.0, T0 + 10 * S));
    t
}

#[test]
fn fill_null_prints_null_fields() {
    let t = run("'null'", "|httpOut('out')");
    assert_eq!(
        t.http_out("out").unwrap(),
        r#"{"series":[{"name":"disk","tags":{"host":"A"},"columns":["time","disk.value","lock.value"],"values":[["1971-01-01T00:00:02Z",20,null]]}]}"#
    );
}

#[test]
fn fill_null_fields_reach_windows_and_defaults() {
    let t = run("'null'", "|window().period(10s).every(10s)|httpOut('out')");
    // The window has not closed yet; nothing to show.
    assert_eq!(t.http_out("out").unwrap(), r#"{"series":null}"#);
    let mut t = run(
        "'null'",
        "|window().periodCount(3).everyCount(3)|httpOut('out')",
    );
    t.push_point("db", "rp", point("disk", 99.0, T0 + 9 * S));
    assert_eq!(
        t.http_out("out").unwrap(),
        r#"{"series":[{"name":"disk","tags":{"host":"A"},"columns":["time","disk.value","lock.value"],"values":[["1971-01-01T00:00:00Z",0,null],["1971-01-01T00:00:01Z",10,1],["1971-01-01T00:00:02Z",20,null]]}]}"#
    );
    let t = run(
        "'null'",
        "|default().field('lock.value', -1.0)|httpOut('out')",
    );
    assert_eq!(
        t.http_out("out").unwrap(),
        r#"{"series":[{"name":"disk","tags":{"host":"A"},"columns":["time","disk.value","lock.value"],"values":[["1971-01-01T00:00:02Z",20,-1]]}]}"#
    );
    // The sets of 0s and 2s had no maintlock.
    assert_eq!(fields_defaulted(&t), 2);
}

#[test]
fn fill_null_survives_eval_keep_and_delete() {
    let t = run(
        "'null'",
        "|eval(lambda: \"disk.value\" * 2.0).as('double').keep()|httpOut('out')",
    );
    assert_eq!(
        t.http_out("out").unwrap(),
        r#"{"series":[{"name":"disk","tags":{"host":"A"},"columns":["time","disk.value","double","lock.value"],"values":[["1971-01-01T00:00:02Z",20,40,null]]}]}"#
    );
    let t = run(
        "'null'",
        "|eval(lambda: \"disk.value\" * 2.0).as('double')|httpOut('out')",
    );
    assert_eq!(
        t.http_out("out").unwrap(),
        r#"{"series":[{"name":"disk","tags":{"host":"A"},"columns":["time","double"],"values":[["1971-01-01T00:00:02Z",40]]}]}"#
    );
    let t = run("'null'", "|delete().field('lock.value')|httpOut('out')");
    assert_eq!(
        t.http_out("out").unwrap(),
        r#"{"series":[{"name":"disk","tags":{"host":"A"},"columns":["time","disk.value"],"values":[["1971-01-01T00:00:02Z",20]]}]}"#
    );
}

#[test]
fn fill_numbers_fill_with_the_number() {
    let t = run("0", "|httpOut('out')");
    assert_eq!(
        t.http_out("out").unwrap(),
        r#"{"series":[{"name":"disk","tags":{"host":"A"},"columns":["time","disk.value","lock.value"],"values":[["1971-01-01T00:00:02Z",20,0]]}]}"#
    );
    let t = run("0.5", "|httpOut('out')");
    assert_eq!(
        t.http_out("out").unwrap(),
        r#"{"series":[{"name":"disk","tags":{"host":"A"},"columns":["time","disk.value","lock.value"],"values":[["1971-01-01T00:00:02Z",20,0.5]]}]}"#
    );
}

#[test]
fn no_fill_is_an_inner_join() {
    let t = run("'none'", "|httpOut('out')");
    assert_eq!(
        t.http_out("out").unwrap(),
        r#"{"series":[{"name":"disk","tags":{"host":"A"},"columns":["time","disk.value","lock.value"],"values":[["1971-01-01T00:00:01Z",10,1]]}]}"#
    );
}

#[test]
fn alert_data_carries_null_fields() {
    let mut t = run("'null'", "|alert().crit(lambda: \"disk.value\" > 15.0)");
    let ev = t.drain_alert_events();
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!(
        ev[0].data.columns,
        ["time", "disk.value", "lock.value"].map(String::from)
    );
    assert_eq!(ev[0].data.values[0][2], serde_json::Value::Null);
}

fn fields_defaulted(t: &Task) -> i64 {
    t.stats()
        .nodes
        .iter()
        .find(|n| n.name.starts_with("default"))
        .and_then(|n| n.extra.get("fields_defaulted").copied())
        .unwrap_or(-1)
}
