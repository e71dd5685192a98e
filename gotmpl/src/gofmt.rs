//! Go's `fmt` package, for the value kinds of [`Value`]: `Fprint` (`%v`), `Sprint`, `Sprintln`
//! and `Sprintf` with Go's flags, widths, precisions and `%!verb(type=value)` error forms.

use std::fmt::Write;

use crate::strconv::{append_float, quote, quote_rune};
use crate::timefmt::{duration_string, time_string};
use crate::value::Value;

/// Flags, width and precision of one verb.
#[derive(Debug, Default, Clone, Copy)]
struct Spec {
    plus: bool,
    /// `%+v`: struct field names; the `+` then no longer applies to numbers.
    plus_v: bool,
    minus: bool,
    sharp: bool,
    space: bool,
    zero: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

impl Spec {
    fn write_padding(&self, out: &mut String, n: usize) {
        let c = if self.zero { '0' } else { ' ' };
        out.extend(std::iter::repeat_n(c, n));
    }

    /// Go's `fmt.pad`: pads to the width (counted in runes) on the left, or on the right with `-`.
    fn pad(&self, out: &mut String, s: &str) {
        let Some(w) = self.width else {
            out.push_str(s);
            return;
        };
        let n = s.chars().count();
        if n >= w {
            out.push_str(s);
        } else if self.minus {
            out.push_str(s);
            self.write_padding(out, w - n);
        } else {
            self.write_padding(out, w - n);
            out.push_str(s);
        }
    }

    fn truncate<'s>(&self, s: &'s str) -> &'s str {
        match self.prec {
            Some(p) => match s.char_indices().nth(p) {
                Some((i, _)) => &s[..i],
                None => s,
            },
            None => s,
        }
    }
}

/// `fmt.Fprint(out, v)`: Go's `%v` with no flags.
pub fn print_value(out: &mut String, v: &Value) {
    match v {
        // Fast paths for what alert templates print most.
        Value::Str(s) => out.push_str(s),
        Value::Float(f) => crate::strconv::format_float_v(out, *f),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        _ => print_arg(out, v, 'v', &Spec::default(), 0),
    }
}

/// `fmt.Sprint(args...)`: a space between operands when neither side is a string.
pub fn sprint(out: &mut String, args: &[&Value]) {
    let mut prev_string = false;
    for (i, a) in args.iter().enumerate() {
        let is_string = matches!(a, Value::Str(_));
        if i > 0 && !is_string && !prev_string {
            out.push(' ');
        }
        print_value(out, a);
        prev_string = is_string;
    }
}

/// `fmt.Sprintln(args...)`: always a space between operands, and a final newline.
pub fn sprintln(out: &mut String, args: &[&Value]) {
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        print_value(out, a);
    }
    out.push('\n');
}

fn bad_verb(out: &mut String, v: &Value, verb: char) {
    out.push_str("%!");
    out.push(verb);
    out.push('(');
    if matches!(v, Value::Nil) {
        out.push_str("<nil>");
    } else {
        out.push_str(&v.go_type());
        out.push('=');
        print_arg(out, v, 'v', &Spec::default(), 0);
    }
    out.push(')');
}

fn print_arg(out: &mut String, v: &Value, verb: char, spec: &Spec, depth: usize) {
    match v {
        Value::Nil => {
            if depth > 0 || verb == 'v' {
                spec.pad(out, "<nil>");
            } else {
                bad_verb(out, v, verb);
            }
        }
        Value::Bool(b) => match verb {
            't' | 'v' => spec.pad(out, if *b { "true" } else { "false" }),
            _ => bad_verb(out, v, verb),
        },
        Value::Int(i) => fmt_integer(out, v, i.unsigned_abs(), *i < 0, verb, spec),
        Value::Uint(u) => fmt_integer(out, v, *u, false, verb, spec),
        Value::Float(f) => match verb {
            'v' => fmt_float(out, *f, b'g', -1, spec),
            'g' | 'G' => fmt_float(out, *f, verb as u8, -1, spec),
            'f' | 'F' | 'e' | 'E' => fmt_float(out, *f, verb as u8, 6, spec),
            _ => bad_verb(out, v, verb),
        },
        Value::Str(s) => fmt_string(out, v, s, verb, spec),
        Value::Time(t) => {
            // time.Time is a fmt.Stringer; other verbs would print its private fields.
            let mut s = String::new();
            time_string(&mut s, *t);
            fmt_string(out, v, &s, verb, spec);
        }
        Value::Duration(d) => match verb {
            'v' | 's' | 'x' | 'X' | 'q' => {
                let mut s = String::new();
                duration_string(&mut s, *d);
                fmt_string(out, v, &s, verb, spec);
            }
            _ => fmt_integer(out, v, d.unsigned_abs(), *d < 0, verb, spec),
        },
        Value::Map(m) => {
            out.push_str("map[");
            for (i, (k, val)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                match verb {
                    'v' | 's' | 'q' | 'x' | 'X' => fmt_string(out, v, k, verb, spec),
                    _ => {
                        let _ = write!(out, "%!{verb}(string={k})");
                    }
                }
                out.push(':');
                print_arg(out, val, verb, spec, depth + 1);
            }
            out.push(']');
        }
        Value::Slice(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                print_arg(out, item, verb, spec, depth + 1);
            }
            out.push(']');
        }
        Value::Struct(st) => {
            out.push('{');
            for (i, f) in st.fields().iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                if spec.plus_v {
                    out.push_str(&f.name);
                    out.push(':');
                }
                print_arg(out, &f.value, verb, spec, depth + 1);
            }
            out.push('}');
        }
    }
}

fn fmt_string(out: &mut String, v: &Value, s: &str, verb: char, spec: &Spec) {
    match verb {
        'v' | 's' => spec.pad(out, spec.truncate(s)),
        'q' => {
            let mut q = String::with_capacity(s.len() + 2);
            quote(&mut q, spec.truncate(s));
            spec.pad(out, &q);
        }
        'x' | 'X' => {
            let bytes = s.as_bytes();
            let bytes = match spec.prec {
                Some(p) if p < bytes.len() => &bytes[..p],
                _ => bytes,
            };
            let mut h = String::with_capacity(bytes.len() * 2);
            for (i, b) in bytes.iter().enumerate() {
                if spec.space && i > 0 {
                    h.push(' ');
                }
                if spec.sharp && (spec.space || i == 0) {
                    h.push_str(if verb == 'x' { "0x" } else { "0X" });
                }
                if verb == 'x' {
                    let _ = write!(h, "{b:02x}");
                } else {
                    let _ = write!(h, "{b:02X}");
                }
            }
            spec.pad(out, &h);
        }
        _ => bad_verb(out, v, verb),
    }
}

/// Go's `fmt.fmtInteger` for the verbs integers accept.
fn fmt_integer(out: &mut String, v: &Value, u: u64, negative: bool, verb: char, spec: &Spec) {
    let (base, upper) = match verb {
        'v' | 'd' => (10, false),
        'b' => (2, false),
        'o' | 'O' => (8, false),
        'x' => (16, false),
        'X' => (16, true),
        'c' => {
            let c = if negative {
                '\u{fffd}'
            } else {
                u32::try_from(u)
                    .ok()
                    .and_then(char::from_u32)
                    .unwrap_or('\u{fffd}')
            };
            let mut b = [0u8; 4];
            spec.pad(out, c.encode_utf8(&mut b));
            return;
        }
        'q' => {
            let mut q = String::new();
            let r = if negative {
                -1
            } else {
                i64::try_from(u).unwrap_or(-1)
            };
            quote_rune(&mut q, r);
            spec.pad(out, &q);
            return;
        }
        'U' => {
            let mut s = String::new();
            if negative {
                s.push('-');
            }
            let _ = write!(s, "U+{u:04X}");
            spec.pad(out, &s);
            return;
        }
        _ => return bad_verb(out, v, verb),
    };
    let mut digits = match base {
        2 => format!("{u:b}"),
        8 => format!("{u:o}"),
        16 if upper => format!("{u:X}"),
        16 => format!("{u:x}"),
        _ => format!("{u}"),
    };
    // Two ways to ask for leading zeros: %.3d, or %03d (only when no precision is given).
    let mut min_digits = 0;
    if let Some(p) = spec.prec {
        if p == 0 && u == 0 {
            let mut s = *spec;
            s.zero = false;
            s.write_padding(out, spec.width.unwrap_or(0));
            return;
        }
        min_digits = p;
    } else if spec.zero
        && !spec.minus
        && let Some(w) = spec.width
    {
        min_digits = w;
        if negative || spec.plus || spec.space {
            min_digits = min_digits.saturating_sub(1);
        }
    }
    if digits.len() < min_digits {
        digits.insert_str(0, &"0".repeat(min_digits - digits.len()));
    }
    let mut s = String::with_capacity(digits.len() + 3);
    if negative {
        s.push('-');
    } else if spec.plus {
        s.push('+');
    } else if spec.space {
        s.push(' ');
    }
    if spec.sharp {
        match base {
            2 => s.push_str("0b"),
            8 if !digits.starts_with('0') => s.push('0'),
            16 => s.push_str(if upper { "0X" } else { "0x" }),
            _ => {}
        }
    }
    if verb == 'O' {
        s.push_str("0o");
    }
    s.push_str(&digits);
    // Zero padding was done above as precision; the rest pads with spaces.
    let mut sp = *spec;
    sp.zero = false;
    sp.pad(out, &s);
}

/// Go's `fmt.fmtFloat`.
fn fmt_float(out: &mut String, f: f64, verb: u8, default_prec: i32, spec: &Spec) {
    let prec = spec.prec.map_or(default_prec, |p| p.min(1000) as i32);
    let mut num = String::with_capacity(24);
    append_float(&mut num, f, verb, prec);
    let (sign, body) = match num.as_bytes().first() {
        Some(b'-') => ('-', &num[1..]),
        Some(b'+') => ('+', &num[1..]),
        _ => ('+', num.as_str()),
    };
    let sign = if spec.space && sign == '+' && !spec.plus {
        ' '
    } else {
        sign
    };
    if body == "Inf" || body == "NaN" {
        let mut s = String::with_capacity(4);
        if body == "Inf" || spec.space || spec.plus {
            s.push(sign);
        }
        s.push_str(body);
        let mut sp = *spec;
        sp.zero = false;
        sp.pad(out, &s);
        return;
    }
    if spec.plus || sign != '+' {
        let len = body.chars().count() + 1;
        match spec.width {
            Some(w) if spec.zero && !spec.minus && w > len => {
                out.push(sign);
                spec.write_padding(out, w - len);
                out.push_str(body);
            }
            _ => {
                let mut s = String::with_capacity(len);
                s.push(sign);
                s.push_str(body);
                spec.pad(out, &s);
            }
        }
        return;
    }
    spec.pad(out, body);
}

/// `fmt.Sprintf(format, args...)`.
pub fn sprintf(out: &mut String, format: &str, args: &[&Value]) {
    let mut arg_num = 0;
    let bytes = format.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        while i < bytes.len() && bytes[i] != b'%' {
            i += 1;
        }
        out.push_str(&format[start..i]);
        if i >= bytes.len() {
            break;
        }
        i += 1; // skip '%'
        let mut spec = Spec::default();
        while i < bytes.len() {
            match bytes[i] {
                b'#' => spec.sharp = true,
                b'0' => spec.zero = !spec.minus,
                b'+' => spec.plus = true,
                b'-' => {
                    spec.minus = true;
                    spec.zero = false;
                }
                b' ' => spec.space = true,
                _ => break,
            }
            i += 1;
        }
        // Width: digits or '*'.
        if i < bytes.len() && bytes[i] == b'*' {
            i += 1;
            match args.get(arg_num) {
                Some(Value::Int(w)) if w.unsigned_abs() <= 1_000_000 => {
                    if *w < 0 {
                        spec.minus = true;
                        spec.zero = false;
                    }
                    spec.width = Some(w.unsigned_abs() as usize);
                }
                _ => out.push_str("%!(BADWIDTH)"),
            }
            arg_num += 1;
        } else {
            let (n, next) = parse_num(bytes, i);
            spec.width = n;
            i = next;
        }
        // Precision.
        if i < bytes.len() && bytes[i] == b'.' {
            i += 1;
            if i < bytes.len() && bytes[i] == b'*' {
                i += 1;
                match args.get(arg_num) {
                    Some(Value::Int(p)) if (0..=1_000_000).contains(p) => {
                        spec.prec = Some(*p as usize)
                    }
                    _ => out.push_str("%!(BADPREC)"),
                }
                arg_num += 1;
            } else {
                let (n, next) = parse_num(bytes, i);
                spec.prec = Some(n.unwrap_or(0));
                i = next;
            }
        }
        let Some(verb) = format[i..].chars().next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        i += verb.len_utf8();
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(arg_num) else {
            out.push_str("%!");
            out.push(verb);
            out.push_str("(MISSING)");
            continue;
        };
        arg_num += 1;
        if verb == 'T' {
            spec.pad(out, &arg.go_type());
            continue;
        }
        // %#v would be Go syntax; we print it like %v.
        if verb == 'v' && spec.plus {
            spec.plus = false;
            spec.plus_v = true;
        }
        print_arg(out, arg, verb, &spec, 0);
    }
    if arg_num < args.len() {
        out.push_str("%!(EXTRA ");
        for (k, a) in args[arg_num..].iter().enumerate() {
            if k > 0 {
                out.push_str(", ");
            }
            if matches!(a, Value::Nil) {
                out.push_str("<nil>");
            } else {
                out.push_str(&a.go_type());
                out.push('=');
                print_arg(out, a, 'v', &Spec::default(), 0);
            }
        }
        out.push(')');
    }
}

/// Parses a decimal width or precision; absurd values are capped so that a hostile format
/// cannot make us allocate gigabytes of padding.
fn parse_num(bytes: &[u8], mut i: usize) -> (Option<usize>, usize) {
    let start = i;
    let mut n: usize = 0;
    while i < bytes.len() && bytes[i].is_ascii_digit() {
        n = (n * 10 + usize::from(bytes[i] - b'0')).min(1_000_000);
        i += 1;
    }
    if i == start { (None, i) } else { (Some(n), i) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::{Map, Struct};

    fn f(format: &str, args: &[Value]) -> String {
        let refs: Vec<&Value> = args.iter().collect();
        let mut s = String::new();
        sprintf(&mut s, format, &refs);
        s
    }

    #[test]
    fn printf_verbs() {
        let x = || Value::Float(72.456);
        assert_eq!(f("%0.3f", &[Value::Float(0.0)]), "0.000");
        assert_eq!(f("%.2f", &[x()]), "72.46");
        assert_eq!(f("%f", &[x()]), "72.456000");
        assert_eq!(f("%e", &[x()]), "7.245600e+01");
        assert_eq!(f("%g", &[x()]), "72.456");
        assert_eq!(f("%v", &[Value::Float(1234567.0)]), "1.234567e+06");
        assert_eq!(f("%8.2f|", &[x()]), "   72.46|");
        assert_eq!(f("%-8.2f|", &[x()]), "72.46   |");
        assert_eq!(f("%08.2f", &[Value::Float(-72.456)]), "-0072.46");
        assert_eq!(f("%+.1f", &[x()]), "+72.5");
        assert_eq!(f("%d", &[Value::Int(-42)]), "-42");
        assert_eq!(f("%05d", &[Value::Int(-42)]), "-0042");
        assert_eq!(
            f("%5d|%-5d|", &[Value::Int(42), Value::Int(42)]),
            "   42|42   |"
        );
        assert_eq!(
            f(
                "%x %X %o %b",
                &[
                    Value::Int(255),
                    Value::Int(255),
                    Value::Int(8),
                    Value::Int(5)
                ]
            ),
            "ff FF 10 101"
        );
        assert_eq!(f("%#x", &[Value::Int(255)]), "0xff");
        assert_eq!(f("%c%c", &[Value::Int(72), Value::Int(105)]), "Hi");
        assert_eq!(f("%q", &[Value::Str("a\"b".into())]), r#""a\"b""#);
        assert_eq!(
            f("%s=%v", &[Value::Str("k".into()), Value::Bool(true)]),
            "k=true"
        );
        assert_eq!(f("%t", &[Value::Bool(false)]), "false");
        assert_eq!(f("%x", &[Value::Str("hi".into())]), "6869");
        assert_eq!(f("%.2s", &[Value::Str("héllo".into())]), "hé");
        assert_eq!(
            f(
                "%6s|%-6s|",
                &[Value::Str("ab".into()), Value::Str("ab".into())]
            ),
            "    ab|ab    |"
        );
        assert_eq!(f("100%%", &[]), "100%");
        assert_eq!(f("%v", &[Value::Duration(90_000_000_000)]), "1m30s");
        assert_eq!(f("%d", &[Value::Duration(5)]), "5");
        assert_eq!(f("%s", &[Value::Time(0)]), "1970-01-01 00:00:00 +0000 UTC");
        assert_eq!(f("%*d", &[Value::Int(4), Value::Int(7)]), "   7");
        assert_eq!(
            f(
                "%T %T %T",
                &[Value::Float(1.0), Value::Nil, Value::Duration(1)]
            ),
            "float64 <nil> time.Duration"
        );
    }

    #[test]
    fn printf_errors_like_go() {
        assert_eq!(f("%d", &[Value::Str("x".into())]), "%!d(string=x)");
        assert_eq!(f("%s", &[Value::Int(5)]), "%!s(int64=5)");
        assert_eq!(f("%d", &[Value::Float(1.5)]), "%!d(float64=1.5)");
        assert_eq!(f("%f", &[Value::Str("x".into())]), "%!f(string=x)");
        assert_eq!(f("%d", &[Value::Nil]), "%!d(<nil>)");
        assert_eq!(f("%v", &[Value::Nil]), "<nil>");
        assert_eq!(f("%d %d", &[Value::Int(1)]), "1 %!d(MISSING)");
        assert_eq!(
            f("%d", &[Value::Int(1), Value::Str("a".into())]),
            "1%!(EXTRA string=a)"
        );
        assert_eq!(f("abc%", &[]), "abc%!(NOVERB)");
        assert_eq!(f("%z", &[Value::Int(1)]), "%!z(int64=1)");
    }

    #[test]
    fn composite_values() {
        let mut m = Map::new(crate::value::Kind::Any);
        m.insert("b", Value::Float(2.5));
        m.insert("a", Value::Nil);
        let mut s = String::new();
        print_value(&mut s, &Value::Map(m));
        assert_eq!(s, "map[a:<nil> b:2.5]");

        let st = Struct::new("main.T")
            .with("A", "x")
            .with("B", Value::Slice(vec![1.into(), 2.into()]));
        let mut s = String::new();
        print_value(&mut s, &Value::Struct(st.clone()));
        assert_eq!(s, "{x [1 2]}");
        assert_eq!(f("%+v", &[Value::Struct(st)]), "{A:x B:[1 2]}");
    }

    #[test]
    fn sprint_spacing() {
        let one = Value::Int(1);
        let two = Value::Int(2);
        let a = Value::Str("a".into());
        let mut s = String::new();
        sprint(&mut s, &[&one, &two, &a, &one]);
        assert_eq!(s, "1 2a1");
        let mut s = String::new();
        sprintln(&mut s, &[&a, &one]);
        assert_eq!(s, "a 1\n");
    }
}
