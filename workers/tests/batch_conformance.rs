//! In-process batch conformance runner: every case of `tests/batch_cases/*.json` (upstream
//! `integrations/batcher_test.go`) is compiled, its `.brpl` data (one file per `query()` node,
//! from `shared/conformance/data/batch`) is rebased as Kapacitor's replay does and fed through
//! `engine::Task::push_batch`, and the httpOut body is compared with the expected one using
//! the stream runner's matching rules.
//!
//! Rebasing (README, "The `.brpl` batch data format"): each source on its own, the first point
//! of its first non-empty batch moves to 1971-01-01T00:00:00Z; empty batches are skipped; the
//! batch time becomes the last point's (shifted) time when absent or earlier. Kapacitor replays
//! the sources concurrently; here they are merged by that batch time (ties in source order),
//! which is what the replay clock releases first.
//!
//! Cases listed in `batch_cases/known_failures.txt` may fail (with a reason); any other failure
//! fails the test, and a listed case that passes is reported so the list shrinks.

mod engine_support;

use engine_support::{bodies_match, known_failures, shared_dir};
use kapacitor_models::time_fmt::parse_rfc3339;
use kapacitor_models::{Batch, FieldValue, Fields, Point, Tags};
use kapacitor_workers::engine::{Task, TaskContext};
use serde_json::Value;
use std::path::{Path, PathBuf};

const ZERO_NS: i64 = 31_536_000 * 1_000_000_000;

fn tags_of(v: &Value) -> Result<Tags, String> {
    match v {
        Value::Null => Ok(Tags::new()),
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                other => Err(format!("tag {k} is not a string: {other}")),
            })
            .collect(),
        other => Err(format!("tags are not an object: {other}")),
    }
}

/// Go decodes JSON numbers of `models.Fields` as float64; a null is no value, as in a query
/// answer.
fn fields_of(v: &Value) -> Result<Fields, String> {
    let Value::Object(m) = v else {
        return Err(format!("fields are not an object: {v}"));
    };
    m.iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| {
            let f = match v {
                Value::Number(n) => FieldValue::Float(n.as_f64().unwrap_or(f64::NAN)),
                Value::String(s) => FieldValue::Str(s.clone()),
                Value::Bool(b) => FieldValue::Bool(*b),
                other => return Err(format!("field {k} has an unsupported value {other}")),
            };
            Ok((k.clone(), f))
        })
        .collect()
}

fn time_of(v: &Value) -> Result<i64, String> {
    let s = v
        .as_str()
        .ok_or_else(|| format!("time is not a string: {v}"))?;
    parse_rfc3339(s).map_err(|e| format!("time {s}: {e:?}"))
}

/// One `.brpl` file as the replay delivers it: rebased, empty batches dropped.
fn read_source(path: &Path) -> Result<Vec<Batch>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut shift: Option<i64> = None;
    let mut out = Vec::new();
    // One JSON object per batch; some files spread an object over several lines.
    for (i, v) in serde_json::Deserializer::from_str(&text)
        .into_iter::<Value>()
        .enumerate()
    {
        let v = v.map_err(|e| format!("batch {}: {e}", i + 1))?;
        let name = v["name"].as_str().unwrap_or_default().to_string();
        let tags = tags_of(&v["tags"])?;
        let raw_points = v["points"].as_array().cloned().unwrap_or_default();
        if raw_points.is_empty() {
            continue;
        }
        let mut points = Vec::with_capacity(raw_points.len());
        for rp in &raw_points {
            let t = time_of(&rp["time"])?;
            let s = *shift.get_or_insert(ZERO_NS - t);
            let ptags = tags_of(&rp["tags"])?;
            points.push(Point {
                name: name.clone(),
                tags: if ptags.is_empty() {
                    tags.clone()
                } else {
                    ptags
                },
                fields: fields_of(&rp["fields"])?,
                time: t + s,
            });
        }
        let last = points.last().map(|p| p.time).unwrap_or(0);
        let tmax = match v.get("tmax") {
            Some(t) if !t.is_null() => time_of(t)?.max(last),
            _ => last,
        };
        out.push(Batch {
            name,
            tags,
            time: tmax,
            points,
        });
    }
    Ok(out)
}

fn run_case(shared: &Path, case: &Value) -> Result<(), String> {
    let name = case["name"].as_str().ok_or("case without name")?;
    let script = case["script"].as_str().ok_or("case without script")?;
    let endpoint = case["endpoint"].as_str().ok_or("case without endpoint")?;
    let files: Vec<&str> = case["data"]
        .as_array()
        .ok_or("case without a data list")?
        .iter()
        .filter_map(|f| f.as_str())
        .collect();
    let pipeline = tickscript::compile(script, &tickscript::Vars::new())
        .map_err(|e| format!("compile: {e}"))?;
    let mut task =
        Task::new(name, &pipeline, TaskContext::default()).map_err(|e| format!("task: {e}"))?;
    let queries = task.queries();
    if queries.len() != files.len() {
        return Err(format!(
            "{} query nodes but {} data files",
            queries.len(),
            files.len()
        ));
    }
    // (batch time, source index, batch): the order the replay clock releases them.
    let mut all = Vec::new();
    for (src, (q, f)) in queries.iter().zip(&files).enumerate() {
        let path = shared.join("data").join("batch").join(f);
        for b in read_source(&path)? {
            let last = b.points.last().map(|p| p.time).unwrap_or(b.time);
            all.push((last, src, q.node, b));
        }
    }
    all.sort_by_key(|(t, src, _, _)| (*t, *src));
    for (_, _, node, b) in all {
        task.push_batch(node, b)
            .map_err(|e| format!("push_batch: {e}"))?;
    }
    let body = task
        .http_out(endpoint)
        .ok_or_else(|| format!("no endpoint {endpoint}"))?;
    let got: Value =
        serde_json::from_str(&body).map_err(|e| format!("body is not JSON ({e}): {body}"))?;
    bodies_match(
        &got,
        &case["expected"],
        case["ignore_series_order"].as_bool().unwrap_or(false),
    )
}

#[test]
fn batch_conformance_cases() {
    let Some(shared) = shared_dir() else {
        eprintln!("conformance data not found; set KAPACITOR_CONFORMANCE_DIR");
        return;
    };
    let cases_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/batch_cases");
    let known = known_failures(&cases_dir.join("known_failures.txt"));
    let filter = std::env::var("CASE").ok();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&cases_dir)
        .expect("batch_cases dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "no batch cases in {}",
        cases_dir.display()
    );
    let (mut passed, mut failed) = (0, 0);
    let mut unexpected = Vec::new();
    for f in files {
        let case: Value = serde_json::from_str(&std::fs::read_to_string(&f).expect("read case"))
            .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let name = case["name"].as_str().unwrap_or_default().to_string();
        if filter.as_ref().is_some_and(|c| !name.contains(c.as_str())) {
            continue;
        }
        let r = std::panic::catch_unwind(|| run_case(&shared, &case))
            .unwrap_or_else(|_| Err("panicked".into()));
        match r {
            Ok(()) => {
                passed += 1;
                println!("PASS {name}");
                if known.contains_key(&name) {
                    println!("  note: {name} is listed in known_failures.txt but passes");
                }
            }
            Err(e) => {
                failed += 1;
                println!("FAIL {name}: {e}");
                if !known.contains_key(&name) {
                    unexpected.push(name);
                }
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    assert!(unexpected.is_empty(), "unexpected failures: {unexpected:?}");
}
