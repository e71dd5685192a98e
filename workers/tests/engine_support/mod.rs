//! Shared by the in-process conformance runners (`engine_conformance`, `batch_conformance`):
//! where the shared cases live, the README's result-matching rules, and the known-failures
//! list.

use serde_json::Value;
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

fn num(v: &Value) -> Option<f64> {
    v.as_f64()
}

fn values_match(col: &str, a: &Value, b: &Value) -> Result<(), String> {
    if col == "time" {
        let (Some(x), Some(y)) = (a.as_str(), b.as_str()) else {
            return Err(format!("time values {a} vs {b}"));
        };
        let px = kapacitor_models::time_fmt::parse_rfc3339(x).map_err(|e| format!("{x}: {e:?}"))?;
        let py = kapacitor_models::time_fmt::parse_rfc3339(y).map_err(|e| format!("{y}: {e:?}"))?;
        return if px == py {
            Ok(())
        } else {
            Err(format!("time {x} vs expected {y}"))
        };
    }
    match (a, b) {
        (Value::Number(_), Value::Number(_)) => {
            let (x, y) = (num(a).unwrap_or(f64::NAN), num(b).unwrap_or(f64::NAN));
            let ok = if y.abs() < 1e-12 {
                (x - y).abs() <= 1e-12
            } else {
                ((x - y) / y).abs() <= 1e-9
            };
            if ok {
                Ok(())
            } else {
                Err(format!("{col}: {x} vs expected {y}"))
            }
        }
        _ if a == b => Ok(()),
        _ => Err(format!("{col}: {a} vs expected {b}")),
    }
}

fn tags_of(row: &Value) -> BTreeMap<String, Value> {
    row.get("tags")
        .and_then(|t| t.as_object())
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

fn rows_match(got: &Value, exp: &Value) -> Result<(), String> {
    if got.get("name") != exp.get("name") {
        return Err(format!(
            "name {:?} vs expected {:?}",
            got.get("name"),
            exp.get("name")
        ));
    }
    if tags_of(got) != tags_of(exp) {
        return Err(format!(
            "tags {:?} vs expected {:?}",
            tags_of(got),
            tags_of(exp)
        ));
    }
    let empty = Value::Array(vec![]);
    let gc = got.get("columns").unwrap_or(&empty);
    let ec = exp.get("columns").unwrap_or(&empty);
    if gc != ec {
        return Err(format!("columns {gc} vs expected {ec}"));
    }
    let gv = got
        .get("values")
        .and_then(|v| v.as_array())
        .cloned()
        .unwrap_or_default();
    let ev = exp
        .get("values")
        .and_then(|v| v.as_array())
        .cloned()
        .unwrap_or_default();
    if gv.len() != ev.len() {
        return Err(format!(
            "{} rows vs expected {}: got {}",
            gv.len(),
            ev.len(),
            Value::Array(gv.clone())
        ));
    }
    let cols: Vec<String> = ec
        .as_array()
        .map(|a| {
            a.iter()
                .map(|c| c.as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default();
    for (i, (g, e)) in gv.iter().zip(ev.iter()).enumerate() {
        let (Some(g), Some(e)) = (g.as_array(), e.as_array()) else {
            return Err("values row is not an array".into());
        };
        if g.len() != e.len() {
            return Err(format!(
                "row {i}: {} values vs expected {}",
                g.len(),
                e.len()
            ));
        }
        for (j, (a, b)) in g.iter().zip(e.iter()).enumerate() {
            let col = cols.get(j).map(String::as_str).unwrap_or("?");
            values_match(col, a, b).map_err(|m| format!("row {i}: {m}"))?;
        }
    }
    Ok(())
}

fn series(v: &Value) -> Vec<Value> {
    v.get("series")
        .and_then(|s| s.as_array())
        .cloned()
        .unwrap_or_default()
}

pub fn bodies_match(got: &Value, exp: &Value, ignore_order: bool) -> Result<(), String> {
    let gs = series(got);
    let es = series(exp);
    if gs.len() != es.len() {
        return Err(format!(
            "{} series vs expected {}: got {got}",
            gs.len(),
            es.len()
        ));
    }
    if !ignore_order {
        for (i, (g, e)) in gs.iter().zip(es.iter()).enumerate() {
            rows_match(g, e).map_err(|m| format!("series {i}: {m}"))?;
        }
        return Ok(());
    }
    let mut used = vec![false; gs.len()];
    for e in &es {
        let key = (e.get("name").cloned(), tags_of(e));
        let Some(i) = gs
            .iter()
            .enumerate()
            .position(|(i, g)| !used[i] && (g.get("name").cloned(), tags_of(g)) == key)
        else {
            return Err(format!("no series for {key:?}; got {got}"));
        };
        used[i] = true;
        rows_match(&gs[i], e).map_err(|m| format!("series {key:?}: {m}"))?;
    }
    Ok(())
}

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
