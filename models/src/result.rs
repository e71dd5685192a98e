//! InfluxQL-style results (`models.Result` / `models.Row` in Kapacitor), the JSON that
//! `httpOut` serves and alert data carries.
//!
//! Go declares `Row{Name, Tags, Columns, Values}` all `omitempty`, and `Result{Series}`
//! without it, so an empty result is `{"series":null}`. For the exact bytes Kapacitor
//! writes use [`Result::to_go_json`]; the serde derives give the same shape through
//! serde_json (useful for decoding), but serde_json prints `10.0` where Go prints `10`.
//!
//! Values are `serde_json::Value` because a row is a JSON thing (it is also what comes back
//! from InfluxDB queries). Times in the `time` column are RFC 3339 strings. serde_json values
//! cannot go through postcard (it has no self-describing `deserialize_any`): send rendered
//! JSON text over IPC instead.

use crate::go_json;
use crate::point::{Batch, FieldValue, Point, Tags};
use crate::time_fmt::rfc3339_nano;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One series of a result.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Row {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "Tags::is_empty")]
    pub tags: Tags,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub columns: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<Vec<Value>>,
}

/// What `httpOut` serves and alert data carries: a list of rows, or null.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Result {
    /// `None` is Go's nil slice (`"series":null`); `Some(vec![])` prints `[]`.
    #[serde(default)]
    pub series: Option<Vec<Row>>,
}

impl From<&FieldValue> for Value {
    fn from(v: &FieldValue) -> Value {
        match v {
            FieldValue::Float(f) => go_json::float_value(*f),
            FieldValue::Int(i) => Value::from(*i),
            FieldValue::Str(s) => Value::String(s.clone()),
            FieldValue::Bool(b) => Value::Bool(*b),
        }
    }
}

fn time_value(ns: i64) -> Value {
    Value::String(rfc3339_nano(ns))
}

impl Row {
    /// A stream point as Kapacitor shows it: `tags` are all the point's tags, `columns` are
    /// `time` and the field names in sorted order, one row of values.
    pub fn from_point(p: &Point) -> Row {
        let mut columns = Vec::with_capacity(p.fields.len() + 1);
        columns.push("time".to_string());
        columns.extend(p.fields.keys().cloned());
        let mut row = Vec::with_capacity(columns.len());
        row.push(time_value(p.time));
        row.extend(p.fields.values().map(Value::from));
        Row {
            name: p.name.clone(),
            tags: p.tags.clone(),
            columns,
            values: vec![row],
        }
    }

    /// A batch as Kapacitor shows it (`BatchToRow`): `tags` are the group's tags; the columns
    /// are `time` then, sorted together, the fields of the **first** point and its tags that
    /// are not group tags. Kapacitor takes the columns from the first point only, so a column
    /// that only later points have is not shown; a point lacking a column gets `null`. An
    /// empty batch has no columns and no values.
    pub fn from_batch(b: &Batch) -> Row {
        let mut row = Row {
            name: b.name.clone(),
            tags: b.tags.clone(),
            columns: Vec::new(),
            values: Vec::new(),
        };
        let Some(first) = b.points.first() else {
            return row;
        };
        let mut names: Vec<&String> = first
            .fields
            .keys()
            .chain(first.tags.keys().filter(|t| !b.tags.contains_key(*t)))
            .collect();
        names.sort_unstable();
        names.dedup();
        row.columns.reserve(names.len() + 1);
        row.columns.push("time".to_string());
        row.columns.extend(names.iter().map(|n| n.to_string()));
        row.values = b
            .points
            .iter()
            .map(|p| {
                let mut vals = Vec::with_capacity(names.len() + 1);
                vals.push(time_value(p.time));
                vals.extend(names.iter().map(|c| {
                    if let Some(f) = p.fields.get(*c) {
                        Value::from(f)
                    } else if let Some(t) = p.tags.get(*c) {
                        Value::String(t.clone())
                    } else {
                        Value::Null
                    }
                }));
                vals
            })
            .collect();
        row
    }

    /// Appends this row as Go's `encoding/json` writes it.
    pub fn push_go_json(&self, out: &mut String) {
        out.push('{');
        let mut first = true;
        let mut key = |out: &mut String, k: &str| {
            if !first {
                out.push(',');
            }
            first = false;
            out.push('"');
            out.push_str(k);
            out.push_str("\":");
        };
        if !self.name.is_empty() {
            key(out, "name");
            go_json::push_str(out, &self.name);
        }
        if !self.tags.is_empty() {
            key(out, "tags");
            out.push('{');
            for (i, (k, v)) in self.tags.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                go_json::push_str(out, k);
                out.push(':');
                go_json::push_str(out, v);
            }
            out.push('}');
        }
        if !self.columns.is_empty() {
            key(out, "columns");
            out.push('[');
            for (i, c) in self.columns.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                go_json::push_str(out, c);
            }
            out.push(']');
        }
        if !self.values.is_empty() {
            key(out, "values");
            out.push('[');
            for (i, vals) in self.values.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push('[');
                for (j, v) in vals.iter().enumerate() {
                    if j > 0 {
                        out.push(',');
                    }
                    go_json::push_value(out, v);
                }
                out.push(']');
            }
            out.push(']');
        }
        out.push('}');
    }

    /// This row as Go's `encoding/json` writes it.
    pub fn to_go_json(&self) -> String {
        let mut out = String::with_capacity(128);
        self.push_go_json(&mut out);
        out
    }
}

impl Result {
    /// No series: `{"series":null}`.
    pub fn empty() -> Result {
        Result { series: None }
    }

    pub fn from_rows(rows: Vec<Row>) -> Result {
        Result { series: Some(rows) }
    }

    /// One row for one point (`pointMessage.ToResult`).
    pub fn from_point(p: &Point) -> Result {
        Result::from_rows(vec![Row::from_point(p)])
    }

    /// One row for one batch (`batchMessage.ToResult`).
    pub fn from_batch(b: &Batch) -> Result {
        Result::from_rows(vec![Row::from_batch(b)])
    }

    /// Appends this result as Go's `encoding/json` writes it.
    pub fn push_go_json(&self, out: &mut String) {
        out.push_str("{\"series\":");
        match &self.series {
            None => out.push_str("null"),
            Some(rows) => {
                out.push('[');
                for (i, r) in rows.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    r.push_go_json(out);
                }
                out.push(']');
            }
        }
        out.push('}');
    }

    /// The exact body Kapacitor's `httpOut` serves for this result (`json.Marshal`, no newline).
    pub fn to_go_json(&self) -> String {
        let mut out = String::with_capacity(256);
        self.push_go_json(&mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::point::Fields;
    use serde_json::json;

    const T1971: i64 = 31_536_000_000_000_000;

    fn tags(kv: &[(&str, &str)]) -> Tags {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn fields(kv: &[(&str, FieldValue)]) -> Fields {
        kv.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
    }

    fn point(t: i64, tg: &[(&str, &str)], f: &[(&str, FieldValue)]) -> Point {
        Point {
            name: "cpu".into(),
            tags: tags(tg),
            fields: fields(f),
            time: t,
        }
    }

    #[test]
    fn empty_result_is_series_null() {
        assert_eq!(Result::empty().to_go_json(), r#"{"series":null}"#);
        assert_eq!(Result::from_rows(vec![]).to_go_json(), r#"{"series":[]}"#);
        assert_eq!(
            serde_json::to_string(&Result::empty()).unwrap(),
            r#"{"series":null}"#
        );
    }

    #[test]
    fn point_row_matches_kapacitor_bytes() {
        let p = point(
            T1971 + 10_000_000_000,
            &[("type", "idle"), ("host", "serverA")],
            &[
                ("value", FieldValue::Float(97.1)),
                ("count", FieldValue::Int(10)),
                ("mean", FieldValue::Float(10.0)),
                ("msg", FieldValue::Str("a<b".into())),
                ("ok", FieldValue::Bool(true)),
            ],
        );
        assert_eq!(
            Result::from_point(&p).to_go_json(),
            concat!(
                r#"{"series":[{"name":"cpu","tags":{"host":"serverA","type":"idle"},"#,
                r#""columns":["time","count","mean","msg","ok","value"],"#,
                r#""values":[["1971-01-01T00:00:10Z",10,10,"a\u003cb",true,97.1]]}]}"#
            )
        );
    }

    #[test]
    fn tags_are_omitted_when_empty() {
        let p = point(
            T1971 + 500_000_000,
            &[],
            &[("value", FieldValue::Float(1.0))],
        );
        assert_eq!(
            Row::from_point(&p).to_go_json(),
            r#"{"name":"cpu","columns":["time","value"],"values":[["1971-01-01T00:00:00.5Z",1]]}"#
        );
    }

    #[test]
    fn batch_row_adds_non_group_tags_as_columns_from_first_point() {
        let b = Batch {
            name: "cpu".into(),
            tags: tags(&[("host", "A")]),
            time: T1971 + 10_000_000_000,
            points: vec![
                point(
                    T1971,
                    &[("host", "A"), ("type", "idle")],
                    &[("value", FieldValue::Float(1.5))],
                ),
                // Lacks `value`, has an extra field that the first point lacks.
                point(
                    T1971 + 1_000_000_000,
                    &[("host", "A"), ("type", "user")],
                    &[("other", FieldValue::Int(3))],
                ),
            ],
        };
        let row = Row::from_batch(&b);
        assert_eq!(row.columns, ["time", "type", "value"]);
        assert_eq!(
            row.values,
            vec![
                vec![json!("1971-01-01T00:00:00Z"), json!("idle"), json!(1.5)],
                vec![json!("1971-01-01T00:00:01Z"), json!("user"), Value::Null],
            ]
        );
        assert_eq!(
            row.to_go_json(),
            concat!(
                r#"{"name":"cpu","tags":{"host":"A"},"columns":["time","type","value"],"#,
                r#""values":[["1971-01-01T00:00:00Z","idle",1.5],["1971-01-01T00:00:01Z","user",null]]}"#
            )
        );
    }

    #[test]
    fn empty_batch_has_no_columns_or_values() {
        let b = Batch {
            name: "cpu".into(),
            tags: Tags::new(),
            time: 0,
            points: vec![],
        };
        assert_eq!(Row::from_batch(&b).to_go_json(), r#"{"name":"cpu"}"#);
    }

    #[test]
    fn decodes_kapacitor_body_and_reencodes_it_identically() {
        let body = concat!(
            r#"{"series":[{"name":"cpu","tags":{"host":"serverA"},"columns":["time","mean"],"#,
            r#""values":[["1971-01-01T00:00:10Z",90.38281469458698],["1971-01-01T00:00:11Z",1e-7]]}]}"#
        );
        let r: Result = serde_json::from_str(body).unwrap();
        assert_eq!(r.series.as_ref().unwrap()[0].tags["host"], "serverA");
        assert_eq!(r.to_go_json(), body);
        let null: Result = serde_json::from_str(r#"{"series":null}"#).unwrap();
        assert_eq!(null, Result::empty());
    }

    #[test]
    fn non_finite_floats_become_null() {
        let p = point(0, &[], &[("v", FieldValue::Float(f64::NAN))]);
        assert_eq!(Row::from_point(&p).values[0][1], Value::Null);
    }
}
