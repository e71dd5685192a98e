//! Black-box conformance: every case of `shared/conformance/cases` run over HTTP against a real
//! `kapacitord` (started with `TZ=UTC`), exactly as `shared/conformance/README.md` describes.
//!
//! Environment:
//! - `CONFORMANCE_URL=http://host:port`: run against that server instead of starting one.
//! - `CONFORMANCE_CASES=<dir>`: another case directory (e.g. withheld cases).
//! - `CASE=<substring>`: only the cases whose name contains it.
//! - `CONFORMANCE_JOBS=<n>`: cases in flight at once (default 4), never two whose tasks would
//!   see each other's points (they all write to the same dbrp).
//!
//! Cases in `tests/conformance_known_failures.txt` may fail (with the reason written there);
//! any other failure fails the test, and a listed case that passes is reported.

use kapacitor_tests::conformance::{Case, CaseSet, Timing, parse_known_failures, run_cases};
use kapacitor_tests::{Daemon, DaemonOpts};
use std::path::Path;

fn jobs() -> usize {
    std::env::var("CONFORMANCE_JOBS")
        .ok()
        .and_then(|j| j.parse().ok())
        .filter(|&j| j > 0)
        .unwrap_or(4)
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
    // Cases share one dbrp: the runner only overlaps cases whose tasks cannot see each
    // other's points (see `Footprint`).
    let report = |case: &Case, r: &Result<(), String>| match r {
        Ok(()) => println!("PASS {}", case.name),
        Err(e) => println!("FAIL {}: {e}", case.name),
    };
    let results = run_cases(&base, &set, &cases, jobs(), Timing::default(), &report);

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
        // The daemon's own account of each failed case (its task id is the case name).
        let log = d.log();
        for failure in &unexpected {
            let name = failure.split(':').next().unwrap_or_default();
            println!("--- daemon log lines naming {name} ---");
            for l in log.lines().filter(|l| l.contains(name)) {
                println!("{l}");
            }
        }
    }
    assert!(
        unexpected.is_empty(),
        "{} unexpected failure(s):\n{}",
        unexpected.len(),
        unexpected.join("\n")
    );
}
