//! JSON text exactly as Go's `encoding/json` writes it, for bodies that clients compare
//! byte for byte with Kapacitor's (httpOut, alert data, API responses).
//!
//! serde_json differs from Go in three visible ways, which is why this writer exists:
//! floats (`10.0` vs Go's `10`, `1e21` vs `1e+21`), HTML escaping (Go writes `<` as
//! `\u003c` by default) and U+2028/U+2029 (escaped by Go). Object keys are written in the
//! order the value holds them: Go sorts map keys and keeps struct field order, so callers
//! build maps sorted (BTreeMap) and structs in declaration order (serde_json's
//! `preserve_order` is on in this workspace).

use serde_json::{Number, Value};
use std::fmt::Write;

const HEX: &[u8; 16] = b"0123456789abcdef";

/// A float64 as Go's `encoding/json` prints it: shortest round-trip digits, plain notation
/// unless the magnitude is below 1e-6 or at least 1e21, then `e` notation with a sign and
/// no zero padding (`1e+21`, `1e-7`). Non-finite values have no JSON form; Go refuses to
/// marshal them and we print `null` instead.
pub fn go_json_float(f: f64) -> String {
    let mut out = String::with_capacity(24);
    push_float(&mut out, f);
    out
}

/// [`go_json_float`] appending to a buffer.
pub fn push_float(out: &mut String, f: f64) {
    if !f.is_finite() {
        out.push_str("null");
        return;
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let start = out.len();
        let _ = write!(out, "{f:e}");
        // Rust writes `1e21`; Go writes `1e+21`. Negative exponents already agree (`1e-7`).
        if let Some(e) = out[start..].find('e') {
            let at = start + e + 1;
            if out.as_bytes().get(at) != Some(&b'-') {
                out.insert(at, '+');
            }
        }
    } else {
        let _ = write!(out, "{f}");
    }
}

/// A JSON string literal as `json.Marshal` writes it (HTML characters escaped).
pub fn push_str(out: &mut String, s: &str) {
    push_str_opts(out, s, true);
}

/// A JSON string literal; `escape_html: false` is `json.Encoder.SetEscapeHTML(false)`.
pub fn push_str_opts(out: &mut String, s: &str, escape_html: bool) {
    out.push('"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, c) in s.char_indices() {
        let esc: Option<&str> = match c {
            '"' => Some("\\\""),
            '\\' => Some("\\\\"),
            '\n' => Some("\\n"),
            '\r' => Some("\\r"),
            '\t' => Some("\\t"),
            // Go 1.22+ writes these two short forms.
            '\u{8}' => Some("\\b"),
            '\u{c}' => Some("\\f"),
            '\u{2028}' => Some("\\u2028"),
            '\u{2029}' => Some("\\u2029"),
            '<' | '>' | '&' if escape_html => None,
            c if (c as u32) < 0x20 => None,
            _ => continue,
        };
        out.push_str(&s[start..i]);
        match esc {
            Some(e) => out.push_str(e),
            None => {
                let b = bytes[i];
                out.push_str("\\u00");
                out.push(HEX[(b >> 4) as usize] as char);
                out.push(HEX[(b & 0xf) as usize] as char);
            }
        }
        start = i + c.len_utf8();
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// A number: integers as integers, floats by [`push_float`].
pub fn push_number(out: &mut String, n: &Number) {
    if n.is_f64() {
        push_float(out, n.as_f64().unwrap_or(f64::NAN));
    } else {
        // Integers print the same in Go and serde_json.
        let _ = write!(out, "{n}");
    }
}

/// Any JSON value, compact, Go style.
pub fn push_value(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => push_number(out, n),
        Value::String(s) => push_str(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_value(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_str(out, k);
                out.push(':');
                push_value(out, item);
            }
            out.push('}');
        }
    }
}

/// A whole value as `json.Marshal` would return it.
pub fn to_string(v: &Value) -> String {
    let mut out = String::new();
    push_value(&mut out, v);
    out
}

/// A JSON number for an `f64`, keeping it a float so that [`push_value`] formats it the Go
/// way; `null` for NaN and infinities, which JSON cannot hold.
pub fn float_value(f: f64) -> Value {
    Number::from_f64(f).map_or(Value::Null, Value::Number)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn floats_match_go_encoding_json() {
        // Expected strings are what Go 1.22's json.Marshal(float64) prints.
        let cases: [(f64, &str); 18] = [
            (10.0, "10"),
            (0.1, "0.1"),
            (97.1, "97.1"),
            (-0.0, "-0"),
            (0.0, "0"),
            (1e20, "100000000000000000000"),
            (1e21, "1e+21"),
            (1.5e21, "1.5e+21"),
            (123456789e300, "1.23456789e+308"),
            (1e-6, "0.000001"),
            (1e-7, "1e-7"),
            (1.25e-7, "1.25e-7"),
            (1e-10, "1e-10"),
            (5e-324, "5e-324"),
            (-2.5e-8, "-2.5e-8"),
            (f64::MAX, "1.7976931348623157e+308"),
            (0.30000000000000004, "0.30000000000000004"),
            (-1234.5, "-1234.5"),
        ];
        for (f, want) in cases {
            assert_eq!(go_json_float(f), want, "{f:?}");
        }
        assert_eq!(go_json_float(f64::NAN), "null");
        assert_eq!(go_json_float(f64::NEG_INFINITY), "null");
    }

    proptest::proptest! {
        #[test]
        fn floats_read_back_exactly_and_switch_notation_at_go_thresholds(bits in proptest::num::u64::ANY) {
            let f = f64::from_bits(bits);
            proptest::prop_assume!(f.is_finite());
            let text = go_json_float(f);
            proptest::prop_assert_eq!(text.parse::<f64>().ok(), Some(f), "{}", text);
            let abs = f.abs();
            let exp = abs != 0.0 && !(1e-6..1e21).contains(&abs);
            proptest::prop_assert_eq!(text.contains('e'), exp, "{}", text);
            proptest::prop_assert!(!text.contains("e0") && !text.contains("e-0"), "{}", text);
        }

        #[test]
        fn strings_are_valid_json_for_any_text(s in "(?s).{0,40}") {
            let mut out = String::new();
            push_str(&mut out, &s);
            proptest::prop_assert_eq!(serde_json::from_str::<String>(&out).ok(), Some(s));
        }
    }

    #[test]
    fn strings_escape_like_go() {
        let mut out = String::new();
        push_str(
            &mut out,
            "a\"b\\c\n\r\t\u{8}\u{c}\u{1}<>&\u{2028}\u{2029}\u{7f}é😀",
        );
        assert_eq!(
            out,
            r#""a\"b\\c\n\r\t\b\f\u0001\u003c\u003e\u0026\u2028\u2029"#.to_string() + "\u{7f}é😀\""
        );
        let mut raw = String::new();
        push_str_opts(&mut raw, "<a&b>", false);
        assert_eq!(raw, r#""<a&b>""#);
    }

    #[test]
    fn values_keep_object_order_and_number_kinds() {
        let v = json!({"z": 1, "a": [10.0, 3, -4, null, true, "x"], "m": {"k": 1e21}});
        assert_eq!(
            to_string(&v),
            r#"{"z":1,"a":[10,3,-4,null,true,"x"],"m":{"k":1e+21}}"#
        );
        assert_eq!(to_string(&json!(u64::MAX)), "18446744073709551615");
        assert_eq!(float_value(f64::NAN), Value::Null);
        assert_eq!(to_string(&float_value(2.0)), "2");
    }

    #[test]
    fn output_is_valid_json_that_decodes_to_the_same_value() {
        let v = json!({"s": "\u{0}\u{1f}<tag>", "f": [1.5e-9, 2e22, 0.5]});
        let text = to_string(&v);
        let back: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, v);
    }
}
