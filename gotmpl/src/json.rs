//! Go's `encoding/json` output for [`Value`]s, as Kapacitor's `json` template function produces
//! it (HTML-safe escaping, sorted map keys, struct fields in declaration order with embedded
//! structs flattened, RFC 3339 times, durations as integer nanoseconds).

use std::fmt::Write;

use crate::strconv::append_json_float;
use crate::timefmt::time_rfc3339;
use crate::value::{Struct, Value};

/// `json.Marshal(v)`. The only error Go can hit for our values is a non-finite float.
pub fn marshal(out: &mut String, v: &Value) -> Result<(), String> {
    match v {
        Value::Nil => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) | Value::Duration(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Uint(u) => {
            let _ = write!(out, "{u}");
        }
        Value::Float(f) => {
            if !f.is_finite() {
                let mut s = String::new();
                crate::strconv::append_float(&mut s, *f, b'g', -1);
                return Err(format!("json: unsupported value: {s}"));
            }
            append_json_float(out, *f);
        }
        Value::Str(s) => string(out, s),
        Value::Time(t) => {
            out.push('"');
            time_rfc3339(out, *t);
            out.push('"');
        }
        Value::Map(m) => {
            out.push('{');
            for (i, (k, val)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                string(out, k);
                out.push(':');
                marshal(out, val)?;
            }
            out.push('}');
        }
        Value::Slice(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                marshal(out, item)?;
            }
            out.push(']');
        }
        Value::Struct(s) => {
            out.push('{');
            let mut first = true;
            struct_fields(out, s, &mut first)?;
            out.push('}');
        }
    }
    Ok(())
}

fn struct_fields(out: &mut String, s: &Struct, first: &mut bool) -> Result<(), String> {
    for f in s.fields() {
        if let (true, Value::Struct(inner)) = (f.embedded, &f.value) {
            struct_fields(out, inner, first)?;
            continue;
        }
        if !*first {
            out.push(',');
        }
        *first = false;
        string(out, &f.name);
        out.push(':');
        marshal(out, &f.value)?;
    }
    Ok(())
}

/// A JSON string with Go's escaping: `<`, `>`, `&`, U+2028 and U+2029 become `\u` escapes so
/// the output is safe inside HTML `<script>`.
pub fn string(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    let mut last = 0;
    for (i, c) in s.char_indices() {
        let rep: Option<&str> = match c {
            '"' => Some("\\\""),
            '\\' => Some("\\\\"),
            '\n' => Some("\\n"),
            '\r' => Some("\\r"),
            '\t' => Some("\\t"),
            '\u{8}' => Some("\\b"),
            '\u{c}' => Some("\\f"),
            '\u{2028}' => Some("\\u2028"),
            '\u{2029}' => Some("\\u2029"),
            _ => None,
        };
        let needs_hex = (c as u32) < 0x20 || matches!(c, '<' | '>' | '&');
        if rep.is_none() && !needs_hex {
            continue;
        }
        out.push_str(&s[last..i]);
        match rep {
            Some(r) => out.push_str(r),
            None => {
                let b = c as u32 as usize;
                out.push_str("\\u00");
                out.push(HEX[b >> 4] as char);
                out.push(HEX[b & 0xf] as char);
            }
        }
        last = i + c.len_utf8();
    }
    out.push_str(&s[last..]);
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::{Kind, Map};

    fn j(v: &Value) -> String {
        let mut s = String::new();
        marshal(&mut s, v).unwrap();
        s
    }

    #[test]
    fn marshals_like_encoding_json() {
        let inner = Struct::new("kapacitor.idInfo")
            .with("Name", "cpu")
            .with("Tags", Map::strings([("host", "a<b>&c")]));
        let outer = Struct::new("kapacitor.messageInfo")
            .embed(inner)
            .with(
                "Fields",
                Map::from_entries(Kind::Any, [("v", Value::Float(1e21)), ("n", Value::Nil)]),
            )
            .with("Time", Value::Time(10_000_000_000))
            .with("Duration", Value::Duration(1_500_000_000));
        assert_eq!(
            j(&Value::Struct(outer)),
            r#"{"Name":"cpu","Tags":{"host":"a\u003cb\u003e\u0026c"},"Fields":{"n":null,"v":1e+21},"Time":"1970-01-01T00:00:10Z","Duration":1500000000}"#
        );
        assert_eq!(
            j(&Value::Str("q\"\\\n\u{1}\u{2028}".into())),
            r#""q\"\\\n\u0001\u2028""#
        );
        assert_eq!(
            j(&Value::Slice(vec![Value::Int(1), Value::Bool(true)])),
            "[1,true]"
        );
        let mut s = String::new();
        assert_eq!(
            marshal(&mut s, &Value::Float(f64::NAN)).unwrap_err(),
            "json: unsupported value: NaN"
        );
    }
}
