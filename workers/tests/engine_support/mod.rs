//! Shared by the in-process conformance runners (`engine_conformance`, `batch_conformance`):
//! where the shared cases live, the README's result-matching rules
//! (`kapacitor_models::result_match`) and the known-failures list.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub fn shared_dir() -> Option<PathBuf> {
    if let Ok(d) = std::env::var("KAPACITOR_CONFORMANCE_DIR") {
        return Some(PathBuf::from(d));
    }
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    [
        here.join("../../shared/conformance"),
        here.join("../shared/conformance"),
        PathBuf::from("/work/shared/conformance"),
    ]
    .into_iter()
    .find(|p| p.join("cases").is_dir())
}

pub use kapacitor_models::result_match::bodies_match;

/// `<case name> <reason>` lines of a known-failures file (`#` comments and blanks skipped).
pub fn known_failures(path: &Path) -> BTreeMap<String, String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| match l.split_once(char::is_whitespace) {
            Some((n, r)) => (n.to_string(), r.trim().to_string()),
            None => (l.to_string(), String::new()),
        })
        .collect()
}
