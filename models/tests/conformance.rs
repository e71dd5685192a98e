//! The conformance vectors (`shared/conformance`, beside the repository in CI and on
//! developer machines): every data file parses, and every expected httpOut body survives
//! decode + Go-style re-encode byte for byte.

use kapacitor_models::{Precision, Result, go_json, line_protocol, srpl};
use std::path::{Path, PathBuf};

fn conformance_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance");
    dir.is_dir().then_some(dir)
}

fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    out.sort();
    out
}

#[test]
fn every_data_file_parses_as_rebased_line_protocol() {
    let Some(dir) = conformance_dir() else {
        eprintln!("skipping: shared/conformance not found beside the repository");
        return;
    };
    let paths = files(&dir.join("data"), "srpl");
    assert!(paths.len() >= 70, "found only {} .srpl files", paths.len());
    for path in paths {
        let text = std::fs::read_to_string(&path).unwrap();
        let records = srpl::parse_srpl(&text).unwrap_or_else(|e| panic!("{path:?}: {e}"));
        assert!(!records.is_empty(), "{path:?}");
        let body = srpl::rebased_body(&records).unwrap();
        let pts = line_protocol::parse(&body, Precision::Second, 0)
            .unwrap_or_else(|e| panic!("{path:?}: {e}"));
        assert_eq!(pts.len(), records.len(), "{path:?}");
        assert_eq!(
            pts[0].time,
            srpl::CONFORMANCE_EPOCH_S * 1_000_000_000,
            "{path:?}"
        );
        // The raw (not rebased) lines parse too, each on its own.
        for r in &records {
            line_protocol::parse(&r.line, Precision::Second, 0)
                .unwrap_or_else(|e| panic!("{path:?}: {e}"));
        }
    }
}

#[test]
fn every_expected_body_reencodes_exactly_as_go_wrote_it() {
    let Some(dir) = conformance_dir() else {
        eprintln!("skipping: shared/conformance not found beside the repository");
        return;
    };
    let paths = files(&dir.join("cases"), "json");
    assert!(paths.len() >= 90, "found only {} cases", paths.len());
    let mut rows = 0;
    for path in paths {
        let case: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let expected = &case["expected"];
        // The case files keep Go's key order and number text, so this is Go's own output.
        let go_text = go_json::to_string(expected);
        let result: Result =
            serde_json::from_value(expected.clone()).unwrap_or_else(|e| panic!("{path:?}: {e}"));
        rows += result.series.as_ref().map_or(0, Vec::len);
        assert_eq!(result.to_go_json(), go_text, "{path:?}");
    }
    assert!(rows > 100, "only {rows} rows decoded");
}
