//! Node semantics pinned down by Kapacitor's stream tests, checked through the task API:
//! each test builds a small task, pushes points and reads the httpOut body.

use crate::engine::{Task, TaskContext};
use kapacitor_models::{FieldValue, Fields, Point, Tags};
use serde_json::Value;

const S: i64 = 1_000_000_000;
const T0: i64 = 31_536_000 * S;

fn task(script: &str) -> Task {
    let p = tickscript::compile(script, &tickscript::Vars::new()).expect("script compiles");
    Task::new("t", &p, TaskContext::default()).expect("task starts")
}

fn point(tags: &[(&str, &str)], fields: &[(&str, FieldValue)], t: i64) -> Point {
    let tags: Tags = tags
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let fields: Fields = fields
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    Point {
        name: "cpu".into(),
        tags,
        fields,
        time: t,
    }
}

fn body(t: &Task) -> Value {
    serde_json::from_str(&t.http_out("out").expect("endpoint exists")).expect("JSON body")
}

#[test]
fn deleting_a_group_by_tag_merges_the_groups_it_separated() {
    let mut t = task(
        "stream|from().measurement('cpu').groupBy('host', 'type')
            |delete().tag('type')
            |window().period(2s).every(2s)
            |sum('value')
            |httpOut('out')",
    );
    for (i, ty) in ["idle", "user", "idle", "user"].iter().enumerate() {
        let p = point(
            &[("host", "a"), ("type", ty)],
            &[("value", FieldValue::Float(1.0 + i as f64))],
            T0 + (i as i64 / 2) * S,
        );
        t.push_point("db", "rp", p);
    }
    // A point past the window end closes it for the (merged) group.
    t.push_point(
        "db",
        "rp",
        point(
            &[("host", "a"), ("type", "idle")],
            &[("value", FieldValue::Float(0.0))],
            T0 + 2 * S,
        ),
    );
    let b = body(&t);
    let series = b["series"].as_array().expect("one series");
    assert_eq!(series.len(), 1, "{b}");
    assert_eq!(series[0]["tags"], serde_json::json!({"host": "a"}));
    assert_eq!(series[0]["values"][0][1].as_f64(), Some(10.0));
}

#[test]
fn deleting_a_group_by_tag_from_a_batch_drops_it_from_the_group() {
    let mut t = task(
        "stream|from().measurement('cpu').groupBy('host', 'type')
            |window().period(1s).every(1s)
            |delete().tag('type')
            |count('value')
            |httpOut('out')",
    );
    for (i, ty) in ["idle", "user", "idle", "user"].iter().enumerate() {
        let p = point(
            &[("host", "a"), ("type", ty)],
            &[("value", FieldValue::Float(i as f64))],
            T0 + (i as i64 / 2) * S,
        );
        t.push_point("db", "rp", p);
    }
    let b = body(&t);
    let series = b["series"].as_array().expect("series");
    // Both (host, type) windows now belong to the single group host=a, whose tags no longer
    // name the deleted tag (not even as an empty value).
    assert_eq!(series.len(), 1, "{b}");
    assert_eq!(series[0]["tags"], serde_json::json!({"host": "a"}));
    assert_eq!(series[0]["values"][0][1].as_f64(), Some(1.0));
}

#[test]
fn eval_keep_all_keeps_a_tag_result_as_a_field_too() {
    let mut t = task(
        "stream|from().measurement('cpu')
            |eval(lambda: string(\"value\")).as('value').tags('value').keep()
            |httpOut('out')",
    );
    t.push_point(
        "db",
        "rp",
        point(
            &[],
            &[
                ("value", FieldValue::Float(1.0)),
                ("other", FieldValue::Int(2)),
            ],
            T0,
        ),
    );
    let b = body(&t);
    let s = &b["series"][0];
    assert_eq!(s["tags"], serde_json::json!({"value": "1"}), "{b}");
    assert_eq!(s["columns"], serde_json::json!(["time", "other", "value"]));
    assert_eq!(s["values"][0][2], serde_json::json!("1"));
}

#[test]
fn eval_without_keep_still_leaves_tag_results_out_of_the_fields() {
    let mut t = task(
        "stream|from().measurement('cpu')
            |eval(lambda: string(\"value\"), lambda: \"value\" * 2.0).as('s', 'double').tags('s')
            |httpOut('out')",
    );
    t.push_point(
        "db",
        "rp",
        point(&[], &[("value", FieldValue::Float(1.5))], T0),
    );
    let b = body(&t);
    let s = &b["series"][0];
    assert_eq!(s["tags"], serde_json::json!({"s": "1.5"}), "{b}");
    assert_eq!(s["columns"], serde_json::json!(["time", "double"]));
}
