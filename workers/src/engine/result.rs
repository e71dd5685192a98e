//! InfluxQL-style result rows as Kapacitor's httpOut serves them (Go `encoding/json` of
//! `models.Result`). The engine keeps rows with typed cells rather than `models::Row`'s
//! `serde_json::Value`s: httpOut re-renders a row on every point, so avoiding the JSON value
//! tree matters; the writer follows Go's number, string and map-key rules byte for byte.

use super::msg::{BatchMsg, PointMsg};
use kapacitor_models::{FieldValue, Tags};

#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Time(i64),
    Value(FieldValue),
    Str(String),
    Null,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub name: String,
    pub tags: Tags,
    pub columns: Vec<String>,
    pub values: Vec<Vec<Cell>>,
}

impl Row {
    /// A point as a row: `tags` = all point tags, columns = time + sorted fields, null fields
    /// (`join.fill('null')`) among them with a `null` value.
    pub fn from_point(pm: &PointMsg) -> Row {
        let p = &pm.p;
        let mut columns = Vec::with_capacity(p.fields.len() + pm.nulls.len() + 1);
        columns.push("time".to_string());
        let mut vals = Vec::with_capacity(columns.capacity());
        vals.push(Cell::Time(p.time));
        if pm.nulls.is_empty() {
            for (k, v) in &p.fields {
                columns.push(k.clone());
                vals.push(Cell::Value(v.clone()));
            }
        } else {
            let mut cells: Vec<(&String, Cell)> = p
                .fields
                .iter()
                .map(|(k, v)| (k, Cell::Value(v.clone())))
                .chain(pm.nulls.iter().map(|k| (k, Cell::Null)))
                .collect();
            cells.sort_by(|a, b| a.0.cmp(b.0));
            for (k, c) in cells {
                columns.push(k.clone());
                vals.push(c);
            }
        }
        Row {
            name: p.name.clone(),
            tags: p.tags.clone(),
            columns,
            values: vec![vals],
        }
    }

    /// A batch as a row: `tags` = the batch (group) tags, columns = time + sorted(fields and
    /// null fields of the first point ∪ its tags that are not group tags), one value row per
    /// point; a point without a column's field or tag has `null` there.
    pub fn from_batch(b: &BatchMsg) -> Row {
        let mut row = Row {
            name: b.b.name.clone(),
            tags: b.b.tags.clone(),
            columns: Vec::new(),
            values: Vec::new(),
        };
        let Some(first) = b.b.points.first() else {
            return row;
        };
        let mut cols: Vec<String> = first.fields.keys().cloned().collect();
        cols.extend(b.point_nulls(0).iter().cloned());
        for t in first.tags.keys() {
            if !b.b.tags.contains_key(t) && !first.fields.contains_key(t) {
                cols.push(t.clone());
            }
        }
        cols.sort();
        cols.dedup();
        row.columns.push("time".into());
        row.values =
            b.b.points
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    let nulls = b.point_nulls(i);
                    let mut v = Vec::with_capacity(cols.len() + 1);
                    v.push(Cell::Time(p.time));
                    for c in &cols {
                        v.push(if let Some(f) = p.fields.get(c) {
                            Cell::Value(f.clone())
                        } else if nulls.contains(c) {
                            Cell::Null
                        } else if let Some(t) = p.tags.get(c) {
                            Cell::Str(t.clone())
                        } else {
                            Cell::Null
                        });
                    }
                    v
                })
                .collect();
        row.columns.extend(cols);
        row
    }

    /// The same row as a `models::Row` (alert event data), cell for cell.
    pub fn to_models(&self) -> kapacitor_models::Row {
        use kapacitor_models::time_fmt::rfc3339_nano;
        use serde_json::Value;
        let cell = |c: &Cell| match c {
            Cell::Time(t) => Value::String(rfc3339_nano(*t)),
            Cell::Value(v) => Value::from(v),
            Cell::Str(s) => Value::String(s.clone()),
            Cell::Null => Value::Null,
        };
        kapacitor_models::Row {
            name: self.name.clone(),
            tags: self.tags.clone(),
            columns: self.columns.clone(),
            values: self
                .values
                .iter()
                .map(|r| r.iter().map(cell).collect())
                .collect(),
        }
    }

    pub fn write_json(&self, out: &mut String) {
        out.push('{');
        let mut first = true;
        if !self.name.is_empty() {
            out.push_str("\"name\":");
            write_str(out, &self.name);
            first = false;
        }
        if !self.tags.is_empty() {
            if !first {
                out.push(',');
            }
            out.push_str("\"tags\":{");
            for (i, (k, v)) in self.tags.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_str(out, k);
                out.push(':');
                write_str(out, v);
            }
            out.push('}');
            first = false;
        }
        if !self.columns.is_empty() {
            if !first {
                out.push(',');
            }
            out.push_str("\"columns\":[");
            for (i, c) in self.columns.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_str(out, c);
            }
            out.push(']');
            first = false;
        }
        if !self.values.is_empty() {
            if !first {
                out.push(',');
            }
            out.push_str("\"values\":[");
            for (i, r) in self.values.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push('[');
                for (j, c) in r.iter().enumerate() {
                    if j > 0 {
                        out.push(',');
                    }
                    write_cell(out, c);
                }
                out.push(']');
            }
            out.push(']');
        }
        out.push('}');
    }

    pub fn to_json(&self) -> String {
        let mut s = String::new();
        self.write_json(&mut s);
        s
    }
}

/// `{"series":[...]}`, or `{"series":null}` for `None`.
pub fn result_json<'a>(rows: Option<impl Iterator<Item = &'a Row>>) -> String {
    let mut s = String::from("{\"series\":");
    match rows {
        None => s.push_str("null"),
        Some(rows) => {
            s.push('[');
            for (i, r) in rows.enumerate() {
                if i > 0 {
                    s.push(',');
                }
                r.write_json(&mut s);
            }
            s.push(']');
        }
    }
    s.push('}');
    s
}

pub fn write_cell(out: &mut String, c: &Cell) {
    match c {
        Cell::Time(t) => {
            out.push('"');
            kapacitor_models::time_fmt::push_rfc3339_nano(out, *t);
            out.push('"');
        }
        Cell::Value(v) => write_field(out, v),
        Cell::Str(s) => write_str(out, s),
        Cell::Null => out.push_str("null"),
    }
}

pub fn write_field(out: &mut String, v: &FieldValue) {
    match v {
        FieldValue::Float(f) => write_float(out, *f),
        FieldValue::Int(i) => out.push_str(&i.to_string()),
        FieldValue::Str(s) => write_str(out, s),
        FieldValue::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
    }
}

/// Go's encoding/json float format: shortest representation, plain notation between 1e-6 and
/// 1e21, exponent notation (`1e+21`, `1e-7`) outside. NaN/Inf cannot be encoded in JSON; Go
/// fails the whole response, we write `null` for that cell instead.
pub fn write_float(out: &mut String, f: f64) {
    if !f.is_finite() {
        out.push_str("null");
        return;
    }
    let a = f.abs();
    if a != 0.0 && !(1e-6..1e21).contains(&a) {
        let s = format!("{f:e}");
        // Rust writes `1e21`/`1e-7`; Go writes `1e+21`/`1e-07` then trims to `1e-7`.
        if let Some(pos) = s.find('e') {
            let (m, e) = s.split_at(pos);
            let e = &e[1..];
            out.push_str(m);
            out.push('e');
            if !e.starts_with('-') {
                out.push('+');
            }
            out.push_str(e);
        } else {
            out.push_str(&s);
        }
    } else {
        out.push_str(&format!("{f}"));
    }
}

/// A JSON string with Go's escaping (including its HTML-safe `\u003c`, `\u003e`, `\u0026`).
pub fn write_str(out: &mut String, s: &str) {
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use kapacitor_models::Point;

    fn f(x: f64) -> String {
        let mut s = String::new();
        write_float(&mut s, x);
        s
    }

    #[test]
    fn floats_like_go() {
        assert_eq!(f(10.0), "10");
        assert_eq!(f(97.1), "97.1");
        assert_eq!(f(1e21), "1e+21");
        assert_eq!(f(1e-7), "1e-7");
        assert_eq!(f(0.0), "0");
        assert_eq!(f(-2.5), "-2.5");
    }

    #[test]
    fn point_row_json() {
        let mut p = Point {
            name: "cpu".into(),
            tags: Tags::new(),
            fields: Default::default(),
            time: 31_536_000_000_000_000,
        };
        p.tags.insert("host".into(), "a<b".into());
        p.fields.insert("value".into(), FieldValue::Float(1.0));
        let mut pm = PointMsg::new(p, nil_group());
        assert_eq!(
            Row::from_point(&pm).to_json(),
            r#"{"name":"cpu","tags":{"host":"a\u003cb"},"columns":["time","value"],"values":[["1971-01-01T00:00:00Z",1]]}"#
        );
        // Null fields are columns too, in key order, with a JSON null.
        pm.nulls = vec!["a".into(), "z".into()];
        assert_eq!(
            Row::from_point(&pm).to_json(),
            r#"{"name":"cpu","tags":{"host":"a\u003cb"},"columns":["time","a","value","z"],"values":[["1971-01-01T00:00:00Z",null,1,null]]}"#
        );
    }

    fn nil_group() -> crate::engine::msg::Group {
        let mut gt = crate::engine::msg::GroupTable::default();
        let dims = gt.dims(Default::default());
        gt.group("cpu", &Tags::new(), &dims)
    }
}
