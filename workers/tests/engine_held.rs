//! Nodes that keep points compact while a parent lags (union's queues and join's sets past
//! `KEEP_PLAIN` messages, every window) emit exactly the points they were given.

use kapacitor_models::{FieldValue, Fields, Point, Tags};
use kapacitor_workers::engine::{Task, TaskContext};

const S: i64 = 1_000_000_000;
const T0: i64 = 31_536_000 * S;
const N: i64 = 300;

fn task(script: &str) -> Task {
    let p = tickscript::compile(script, &tickscript::Vars::new()).expect("script compiles");
    Task::new("t", &p, TaskContext::default()).expect("task builds")
}

/// A point of measurement `name` at second `i`, with fields of every type and two tags.
fn point(name: &str, i: i64) -> Point {
    let mut tags = Tags::new();
    tags.insert("host".into(), format!("h{}", i % 3));
    tags.insert("region".into(), "eu".into());
    let mut fields = Fields::new();
    fields.insert("f".into(), FieldValue::Float(i as f64 + 0.25));
    fields.insert("i".into(), FieldValue::Int(-i));
    fields.insert("s".into(), FieldValue::Str(format!("text {i}")));
    if i % 2 == 0 {
        fields.insert("b".into(), FieldValue::Bool(true));
    }
    Point {
        name: name.into(),
        tags,
        fields,
        time: T0 + i * S,
    }
}

fn written(t: &mut Task) -> Vec<Point> {
    t.drain_influxdb_writes()
        .into_iter()
        .flat_map(|w| w.points)
        .collect()
}

#[test]
fn union_with_a_lagging_parent_emits_every_point_unchanged() {
    let mut t = task(
        "var a = stream|from().measurement('a')\n\
         var b = stream|from().measurement('b')\n\
         a|union(b).rename('u')|influxDBOut().database('out')",
    );
    // `a` runs N points ahead: its queue goes far past the plain limit.
    for i in 0..N {
        t.push_point("db", "rp", point("a", i));
    }
    assert!(written(&mut t).is_empty(), "union waits for every parent");
    for i in 0..N {
        t.push_point("db", "rp", point("b", i));
    }
    let out = written(&mut t);
    // Everything up to the last time both parents reached.
    assert!(out.len() >= 2 * (N as usize - 1), "{} points", out.len());
    let mut expected: Vec<Point> = (0..N)
        .flat_map(|i| [point("a", i), point("b", i)])
        .map(|mut p| {
            p.name = "u".into();
            p
        })
        .collect();
    expected.truncate(out.len());
    let key = |p: &Point| (p.time, format!("{:?}", p.fields), format!("{:?}", p.tags));
    let mut got = out.clone();
    got.sort_by_key(key);
    expected.sort_by_key(key);
    assert_eq!(got, expected);
    assert!(
        out.windows(2).all(|w| w[0].time <= w[1].time),
        "in time order"
    );
}

#[test]
fn join_with_a_lagging_parent_joins_every_point_unchanged() {
    let mut t = task(
        "var a = stream|from().measurement('a')\n\
         var b = stream|from().measurement('b')\n\
         a|join(b).as('a', 'b')|influxDBOut().database('out')",
    );
    for i in 0..N {
        t.push_point("db", "rp", point("a", i));
    }
    for i in 0..N {
        t.push_point("db", "rp", point("b", i));
    }
    let out = written(&mut t);
    assert_eq!(out.len(), N as usize);
    for (i, p) in (0..N).zip(&out) {
        assert_eq!(p.time, T0 + i * S);
        let mut want = Fields::new();
        for (prefix, src) in [("a", point("a", i)), ("b", point("b", i))] {
            for (k, v) in src.fields {
                want.insert(format!("{prefix}.{k}"), v);
            }
        }
        assert_eq!(p.fields, want, "point {i}");
    }
}

#[test]
fn a_window_emits_the_points_it_was_given() {
    let mut t = task(
        "stream|from().measurement('a')|window().period(100s).every(100s)|influxDBOut().database('out')",
    );
    for i in 0..N {
        t.push_point("db", "rp", point("a", i));
    }
    let out = written(&mut t);
    let expected: Vec<Point> = (0..200).map(|i| point("a", i)).collect();
    assert_eq!(out, expected);
}
