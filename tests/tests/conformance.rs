//! Black-box conformance: every case of `shared/conformance/cases` run over HTTP against a real
//! `kapacitord` (started with `TZ=UTC`), exactly as `shared/conformance/README.md` describes.
//!
//! Environment:
//! - `CONFORMANCE_URL=http://host:port`: run against that server instead of starting one.
//! - `CONFORMANCE_CASES=<dir>`: another case directory (e.g. withheld cases).
//! - `CASE=<substring>`: only the cases whose name contains it.
//! - `CONFORMANCE_JOBS=<n>`: cases in flight at once (default 4; each has its own task id).
//!
//! Cases in `tests/conformance_known_failures.txt` may fail (with the reason written there);
//! any other failure fails the test, and a listed case that passes is reported.

use kapacitor_tests::conformance::{Case, CaseSet, Timing, parse_known_failures, run_case};
use kapacitor_tests::{Daemon, DaemonOpts};
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

fn jobs() -> usize {
    std::env::var("CONFORMANCE_JOBS")
        .ok()
        .and_then(|j| j.parse().ok())
        .filter(|&j| j > 0)
        .unwrap_or(4)
}

/// Runs `cases` with `jobs` threads pulling from a shared index; results in case order.
fn run_all(base: &str, set: &CaseSet, cases: &[Case], jobs: usize) -> Vec<Result<(), String>> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<(), String>>>> = Mutex::new(vec![None; cases.len()]);
    std::thread::scope(|s| {
        for _ in 0..jobs.min(cases.len()) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(case) = cases.get(i) else { break };
                    let r = run_case(base, set, case, Timing::default());
                    match &r {
                        Ok(()) => println!("PASS {}", case.name),
                        Err(e) => println!("FAIL {}: {e}", case.name),
                    }
                    results.lock().unwrap()[i] = Some(r);
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap()
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err("not run".into())))
        .collect()
}

#[test]
fn conformance_cases_over_http() {
    let set = CaseSet::from_env().unwrap_or_else(|e| panic!("{e}"));
    let mut cases = set.load().unwrap_or_else(|e| panic!("{e}"));
    if let Ok(filter) = std::env::var("CASE") {
        cases.retain(|c| c.name.contains(&filter));
    }
    assert!(!cases.is_empty(), "no cases in {}", set.cases_dir.display());
    let known_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance_known_failures.txt");
    let known = parse_known_failures(&std::fs::read_to_string(&known_path).unwrap_or_default());

    // Hold the daemon (if any) until every case has run; the URL is all the runner needs.
    let (daemon, base) = match std::env::var("CONFORMANCE_URL") {
        Ok(url) if !url.is_empty() => (None, url.trim_end_matches('/').to_string()),
        _ => {
            let d = Daemon::start(DaemonOpts {
                env: vec![("TZ".into(), "UTC".into())],
                ..DaemonOpts::default()
            });
            let url = d.url();
            (Some(d), url)
        }
    };
    println!(
        "running {} cases from {} against {base}",
        cases.len(),
        set.cases_dir.display()
    );
    let results = run_all(&base, &set, &cases, jobs());

    let (mut passed, mut failed) = (0, 0);
    let mut unexpected = Vec::new();
    for (case, r) in cases.iter().zip(&results) {
        match r {
            Ok(()) => {
                passed += 1;
                if known.contains_key(&case.name) {
                    println!(
                        "note: {} is a known failure but passes; remove it from the list",
                        case.name
                    );
                }
            }
            Err(e) => {
                failed += 1;
                match known.get(&case.name) {
                    Some(reason) => println!("known failure {}: {reason}", case.name),
                    None => unexpected.push(format!("{}: {e}", case.name)),
                }
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    if !unexpected.is_empty()
        && let Some(d) = &daemon
    {
        let log = d.log();
        let tail: Vec<&str> = log.lines().rev().take(40).collect();
        println!("--- last daemon log lines ---");
        for l in tail.iter().rev() {
            println!("{l}");
        }
    }
    assert!(
        unexpected.is_empty(),
        "{} unexpected failure(s):\n{}",
        unexpected.len(),
        unexpected.join("\n")
    );
}
