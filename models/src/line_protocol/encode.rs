//! Writing points as line protocol, the way InfluxDB 1.x `Point.PrecisionString` does, so
//! that our own parser (and InfluxDB's) reads back the same point.
//!
//! What line protocol cannot carry, in Go as here: a newline in a measurement, tag or field
//! key; a backslash at the end of a measurement, tag key or tag value (it would escape the
//! separator after it); a backslash in a field key followed by `,`, `=`, ` ` or `"`; a
//! measurement starting with `#` (read back as a comment). Left out because they have no
//! line-protocol form: tags with an empty key or value (as Go does), fields with an empty
//! key, and floats that are NaN or infinite.

use crate::point::{FieldValue, Point};
use crate::precision::Precision;
use std::fmt::Write;

fn push_escaped(out: &mut String, s: &str, special: &[u8]) {
    let mut last = 0;
    for (i, b) in s.bytes().enumerate() {
        if special.contains(&b) {
            out.push_str(&s[last..i]);
            out.push('\\');
            last = i;
        }
    }
    out.push_str(&s[last..]);
}

fn escaped(s: &str, special: &[u8]) -> String {
    let mut out = String::with_capacity(s.len() + 4);
    push_escaped(&mut out, s, special);
    out
}

const MEASUREMENT_SPECIAL: &[u8] = b", ";
const TAG_SPECIAL: &[u8] = b", =";
const FIELD_KEY_SPECIAL: &[u8] = b", =\"";
const STRING_SPECIAL: &[u8] = b"\"\\";

/// A measurement name with `,` and space escaped.
pub fn escape_measurement(s: &str) -> String {
    escaped(s, MEASUREMENT_SPECIAL)
}

/// A tag key or value with `,`, space and `=` escaped.
pub fn escape_tag(s: &str) -> String {
    escaped(s, TAG_SPECIAL)
}

/// A field key with `,`, space, `=` and `"` escaped.
pub fn escape_field_key(s: &str) -> String {
    escaped(s, FIELD_KEY_SPECIAL)
}

/// The inside of a quoted string field value: `"` and `\` escaped.
pub fn escape_string_field(s: &str) -> String {
    escaped(s, STRING_SPECIAL)
}

impl Point {
    /// This point as one line of line protocol (no newline), its timestamp in `precision`
    /// units (truncated toward zero, as Go's integer division does).
    pub fn to_line_protocol(&self, precision: Precision) -> String {
        let mut out = String::with_capacity(64 + self.name.len());
        self.push_line_protocol(&mut out, precision);
        out
    }

    /// [`Point::to_line_protocol`] appending to a buffer (add the `\n` between lines yourself).
    pub fn push_line_protocol(&self, out: &mut String, precision: Precision) {
        push_escaped(out, &self.name, MEASUREMENT_SPECIAL);
        for (k, v) in &self.tags {
            // As Go's `Tags.HashKey`: a tag with an empty value is not written (line protocol
            // has no empty tag values), and neither is one with an empty key.
            if k.is_empty() || v.is_empty() {
                continue;
            }
            out.push(',');
            push_escaped(out, k, TAG_SPECIAL);
            out.push('=');
            push_escaped(out, v, TAG_SPECIAL);
        }
        let mut sep = ' ';
        for (k, v) in &self.fields {
            if k.is_empty() || matches!(v, FieldValue::Float(f) if !f.is_finite()) {
                continue;
            }
            out.push(sep);
            sep = ',';
            push_escaped(out, k, FIELD_KEY_SPECIAL);
            out.push('=');
            match v {
                FieldValue::Float(f) => {
                    let _ = write!(out, "{f}");
                }
                FieldValue::Int(i) => {
                    let _ = write!(out, "{i}i");
                }
                FieldValue::Str(s) => {
                    out.push('"');
                    push_escaped(out, s, STRING_SPECIAL);
                    out.push('"');
                }
                FieldValue::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            }
        }
        let _ = write!(out, " {}", self.time / precision.multiplier());
    }
}
