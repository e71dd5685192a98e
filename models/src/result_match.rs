//! Whether a served httpOut body matches an expected one, by the rules of Kapacitor's own
//! test suite (the conformance README): series in order (or matched by name and tags when the
//! order is not significant), tags and columns exactly, times as instants (any RFC 3339
//! spelling), numbers within a relative 1e-9, everything else exactly. Missing, `null` and
//! empty `series` are all "no series". Used by the conformance runners, in process and over
//! HTTP.

use serde_json::Value;
use std::collections::BTreeMap;

fn values_match(col: &str, a: &Value, b: &Value) -> Result<(), String> {
    if col == "time" {
        let (Some(x), Some(y)) = (a.as_str(), b.as_str()) else {
            return Err(format!("time values {a} vs expected {b}"));
        };
        let px = crate::time_fmt::parse_rfc3339(x).map_err(|e| format!("{x}: {e}"))?;
        let py = crate::time_fmt::parse_rfc3339(y).map_err(|e| format!("{y}: {e}"))?;
        return if px == py {
            Ok(())
        } else {
            Err(format!("time {x} vs expected {y}"))
        };
    }
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (
                x.as_f64().unwrap_or(f64::NAN),
                y.as_f64().unwrap_or(f64::NAN),
            );
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
        .and_then(Value::as_object)
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

fn array_of(v: &Value, key: &str) -> Vec<Value> {
    v.get(key)
        .and_then(Value::as_array)
        .cloned()
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
    let (gc, ec) = (array_of(got, "columns"), array_of(exp, "columns"));
    if gc != ec {
        return Err(format!(
            "columns {} vs expected {}",
            Value::Array(gc),
            Value::Array(ec)
        ));
    }
    let (gv, ev) = (array_of(got, "values"), array_of(exp, "values"));
    if gv.len() != ev.len() {
        return Err(format!(
            "{} rows vs expected {}: got {}",
            gv.len(),
            ev.len(),
            Value::Array(gv)
        ));
    }
    let cols: Vec<&str> = ec.iter().map(|c| c.as_str().unwrap_or("?")).collect();
    for (i, (g, e)) in gv.iter().zip(&ev).enumerate() {
        let (Some(g), Some(e)) = (g.as_array(), e.as_array()) else {
            return Err(format!("row {i}: values row is not an array"));
        };
        if g.len() != e.len() {
            return Err(format!(
                "row {i}: {} values vs expected {}",
                g.len(),
                e.len()
            ));
        }
        for (j, (a, b)) in g.iter().zip(e).enumerate() {
            let col = cols.get(j).copied().unwrap_or("?");
            values_match(col, a, b).map_err(|m| format!("row {i}: {m}"))?;
        }
    }
    Ok(())
}

/// The series of a result body; missing, `null` and `[]` are all none.
pub fn series(v: &Value) -> Vec<Value> {
    array_of(v, "series")
}

/// Compares a served httpOut body with the expected one by the README's matching rules.
pub fn bodies_match(got: &Value, exp: &Value, ignore_order: bool) -> Result<(), String> {
    let (gs, es) = (series(got), series(exp));
    if gs.len() != es.len() {
        return Err(format!(
            "{} series vs expected {}: got {got}",
            gs.len(),
            es.len()
        ));
    }
    if !ignore_order {
        for (i, (g, e)) in gs.iter().zip(&es).enumerate() {
            rows_match(g, e).map_err(|m| format!("series {i}: {m}"))?;
        }
        return Ok(());
    }
    let mut used = vec![false; gs.len()];
    for e in &es {
        let key = (e.get("name").cloned(), tags_of(e));
        let Some(i) = (0..gs.len())
            .find(|&i| !used[i] && (gs[i].get("name").cloned(), tags_of(&gs[i])) == key)
        else {
            return Err(format!("no series for {key:?}; got {got}"));
        };
        used[i] = true;
        rows_match(&gs[i], e).map_err(|m| format!("series {key:?}: {m}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(s: &str) -> Value {
        serde_json::from_str(s).unwrap()
    }

    #[test]
    fn no_series_forms_are_equal() {
        for a in [r#"{}"#, r#"{"series":null}"#, r#"{"series":[]}"#] {
            for b in [r#"{}"#, r#"{"series":null}"#, r#"{"series":[]}"#] {
                assert_eq!(bodies_match(&body(a), &body(b), false), Ok(()), "{a} {b}");
            }
        }
    }

    #[test]
    fn numbers_compare_with_tolerance_and_times_as_instants() {
        let exp = body(
            r#"{"series":[{"name":"cpu","columns":["time","v"],"values":[["1971-01-01T00:00:10Z",10]]}]}"#,
        );
        let got = body(
            r#"{"series":[{"name":"cpu","tags":{},"columns":["time","v"],"values":[["1971-01-01T00:00:10.000Z",10.0000000000001]]}]}"#,
        );
        assert_eq!(bodies_match(&got, &exp, false), Ok(()));
        let off = body(
            r#"{"series":[{"name":"cpu","columns":["time","v"],"values":[["1971-01-01T00:00:10Z",10.1]]}]}"#,
        );
        assert!(bodies_match(&off, &exp, false).is_err());
        let late = body(
            r#"{"series":[{"name":"cpu","columns":["time","v"],"values":[["1971-01-01T00:00:11Z",10]]}]}"#,
        );
        assert!(bodies_match(&late, &exp, false).is_err());
    }

    #[test]
    fn booleans_are_not_numbers_and_columns_keep_order() {
        let exp = body(
            r#"{"series":[{"name":"m","columns":["time","b"],"values":[["1971-01-01T00:00:00Z",true]]}]}"#,
        );
        let got = body(
            r#"{"series":[{"name":"m","columns":["time","b"],"values":[["1971-01-01T00:00:00Z",1]]}]}"#,
        );
        assert!(bodies_match(&got, &exp, false).is_err());
        let swapped = body(
            r#"{"series":[{"name":"m","columns":["b","time"],"values":[[true,"1971-01-01T00:00:00Z"]]}]}"#,
        );
        assert!(bodies_match(&swapped, &exp, false).is_err());
    }

    #[test]
    fn series_order_matters_unless_ignored() {
        let a = r#"{"name":"m","tags":{"h":"a"},"columns":["time"],"values":[["1971-01-01T00:00:00Z"]]}"#;
        let b = r#"{"name":"m","tags":{"h":"b"},"columns":["time"],"values":[["1971-01-01T00:00:00Z"]]}"#;
        let ab = body(&format!(r#"{{"series":[{a},{b}]}}"#));
        let ba = body(&format!(r#"{{"series":[{b},{a}]}}"#));
        assert!(bodies_match(&ab, &ba, false).is_err());
        assert_eq!(bodies_match(&ab, &ba, true), Ok(()));
        let aa = body(&format!(r#"{{"series":[{a},{a}]}}"#));
        assert!(bodies_match(&aa, &ab, true).is_err());
    }
}
