//! In-process conformance runner: every case of `shared/conformance/cases` is compiled, fed
//! its rebased `.srpl` data through `engine::Task::push_point` in file order, and the httpOut
//! body is compared with the expected one using the README's matching rules.
//!
//! Cases listed in `conformance_known_failures.txt` may fail (with a reason); any other
//! failure fails the test, and a listed case that passes is reported so the list shrinks.

mod engine_support;

use engine_support::{bodies_match, known_failures, shared_dir};
use kapacitor_models::{Precision, line_protocol, srpl};
use kapacitor_workers::engine::{Task, TaskContext};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn run_case(dir: &Path, case: &Value) -> Result<(), String> {
    let name = case["name"].as_str().ok_or("case without name")?;
    let script = case["script"].as_str().ok_or("case without script")?;
    let db = case["db"].as_str().unwrap_or("dbname");
    let rp = case["rp"].as_str().unwrap_or("rpname");
    let endpoint = case["endpoint"].as_str().ok_or("case without endpoint")?;
    let data = std::fs::read_to_string(
        dir.join("data")
            .join(case["data"].as_str().unwrap_or_default()),
    )
    .map_err(|e| format!("data: {e}"))?;
    let pipeline = tickscript::compile(script, &tickscript::Vars::new())
        .map_err(|e| format!("compile: {e}"))?;
    let mut task =
        Task::new(name, &pipeline, TaskContext::default()).map_err(|e| format!("task: {e}"))?;
    let records = srpl::parse_srpl(&data).map_err(|e| format!("srpl: {e}"))?;
    let mut first = None;
    for r in &records {
        let ts = r.timestamp().ok_or("record without timestamp")?;
        let base = *first.get_or_insert(ts);
        let line = r
            .with_timestamp(ts - base + srpl::CONFORMANCE_EPOCH_S)
            .ok_or("cannot rewrite timestamp")?;
        let pts = line_protocol::parse(&line, Precision::Second, 0)
            .map_err(|e| format!("line protocol: {e}"))?;
        for p in pts {
            task.push_point(&r.db, &r.rp, p);
        }
    }
    let _ = (db, rp);
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
fn conformance_cases() {
    let Some(dir) = shared_dir() else {
        eprintln!("conformance cases not found; set KAPACITOR_CONFORMANCE_DIR");
        return;
    };
    let known_path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance_known_failures.txt");
    let known = known_failures(&known_path);
    let filter = std::env::var("CASE").ok();
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("cases"))
        .expect("cases dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let (mut passed, mut failed) = (0, 0);
    let mut unexpected = Vec::new();
    for f in files {
        let case: Value = serde_json::from_str(&std::fs::read_to_string(&f).expect("read case"))
            .expect("case JSON");
        let name = case["name"].as_str().unwrap_or_default().to_string();
        if filter.as_ref().is_some_and(|c| !name.contains(c.as_str())) {
            continue;
        }
        let r = std::panic::catch_unwind(|| run_case(&dir, &case))
            .unwrap_or_else(|_| Err("panicked".into()));
        match r {
            Ok(()) => {
                passed += 1;
                println!("PASS {name}");
                if known.contains_key(&name) {
                    println!(
                        "  note: {name} is listed in conformance_known_failures.txt but passes"
                    );
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
