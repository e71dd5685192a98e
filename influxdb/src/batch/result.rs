//! InfluxDB query results to batches, as Kapacitor's `ResultToBufferedBatches`.

use crate::error::{Error, Result};
use crate::response::QueryResult;
use kapacitor_models::time_fmt::parse_rfc3339;
use kapacitor_models::{Batch, FieldValue, Fields, Point};
use serde_json::Value;

/// One batch per series, in the order InfluxDB sent them: name and tags from the series,
/// one point per row that has at least one non-null value. Numbers become floats (as in
/// Kapacitor, whose client decodes every JSON number as float64); nulls are left out. The
/// batch time is the latest point time, or `stop` when the query is grouped by time or
/// has no points.
pub fn results_to_batches(
    results: &[QueryResult],
    stop: i64,
    grouped_by_time: bool,
) -> Result<Vec<Batch>> {
    let mut out = Vec::new();
    for res in results {
        if let Some(e) = &res.error {
            return Err(Error::Query(e.clone()));
        }
        for s in &res.series {
            let mut b = Batch {
                name: s.name.clone(),
                tags: s.tags.clone(),
                time: 0,
                points: Vec::with_capacity(s.values.len()),
            };
            let mut tmax: Option<i64> = None;
            for row in &s.values {
                let mut fields = Fields::new();
                let mut t: Option<i64> = None;
                for (col, v) in s.columns.iter().zip(row) {
                    if col == "time" {
                        t = Some(match v {
                            Value::String(ts) => parse_rfc3339(ts).map_err(|e| {
                                Error::Protocol(format!("unexpected time format: {e}"))
                            })?,
                            // An epoch answer (`epoch=ns`) is also understood.
                            Value::Number(n) => n.as_i64().ok_or_else(|| {
                                Error::Protocol(format!("unexpected time value: {n}"))
                            })?,
                            other => {
                                return Err(Error::Protocol(format!(
                                    "unexpected time value: {other}"
                                )));
                            }
                        });
                        continue;
                    }
                    let fv = match v {
                        Value::Null => continue,
                        Value::Number(n) => FieldValue::Float(n.as_f64().unwrap_or(f64::NAN)),
                        Value::String(s) => FieldValue::Str(s.clone()),
                        Value::Bool(b) => FieldValue::Bool(*b),
                        other => FieldValue::Str(other.to_string()),
                    };
                    fields.insert(col.clone(), fv);
                }
                if fields.is_empty() {
                    continue;
                }
                if let Some(t) = t {
                    tmax = Some(tmax.map_or(t, |m: i64| m.max(t)));
                }
                b.points.push(Point {
                    name: s.name.clone(),
                    tags: s.tags.clone(),
                    fields,
                    time: t.unwrap_or(stop),
                });
            }
            b.time = match tmax {
                Some(t) if !grouped_by_time => t,
                _ => stop,
            };
            out.push(b);
        }
    }
    Ok(out)
}
