//! Go's `strconv` number and string layouts (`FormatFloat`, `Quote`), on top of Rust's correctly
//! rounded float-to-decimal conversion.
//!
//! Rust's `{:e}` gives the same shortest round-trip digits as Go's Ryū path, and `{:.Ne}` /
//! `{:.N}` round the exact binary value half-to-even like Go's `decimal.Round`; only the layout
//! rules differ, and those are reproduced here.

use std::fmt::Write;

/// Decimal digits of a finite, non-negative float: value = 0.d₁d₂… × 10^dp.
struct Digits {
    buf: [u8; 40],
    nd: usize,
    dp: i32,
}

impl Digits {
    fn digits(&self) -> &[u8] {
        &self.buf[..self.nd]
    }

    /// Parses Rust's `{:e}` layout (`1.2345e-7`, `5e20`, `0e0`).
    fn from_exp_layout(s: &str) -> Option<Digits> {
        let (mant, exp) = s.split_once('e')?;
        let exp: i32 = exp.parse().ok()?;
        let mut d = Digits {
            buf: [0; 40],
            nd: 0,
            dp: exp + 1,
        };
        for b in mant.bytes().filter(u8::is_ascii_digit) {
            *d.buf.get_mut(d.nd)? = b;
            d.nd += 1;
        }
        Some(d)
    }

    /// Shortest digits that round-trip.
    fn shortest(abs: f64) -> Digits {
        let mut tmp = StackStr::new();
        // A shortest f64 in `{:e}` layout is at most 24 bytes, so this cannot overflow.
        let _ = write!(tmp, "{abs:e}");
        Digits::from_exp_layout(tmp.as_str()).unwrap_or(Digits {
            buf: [b'0'; 40],
            nd: 1,
            dp: 1,
        })
    }

    /// `n` significant digits (1 ≤ n ≤ 40), trailing zeros trimmed as Go's `decimal` does.
    fn significant(abs: f64, n: usize) -> Digits {
        let s = format!("{:.*e}", n.saturating_sub(1), abs);
        let mut d = Digits::from_exp_layout(&s).unwrap_or(Digits {
            buf: [b'0'; 40],
            nd: 1,
            dp: 1,
        });
        while d.nd > 1 && d.buf[d.nd - 1] == b'0' {
            d.nd -= 1;
        }
        d
    }
}

/// A fixed-capacity string for short, allocation-free formatting.
pub(crate) struct StackStr {
    buf: [u8; 64],
    len: usize,
}

impl StackStr {
    pub(crate) fn new() -> StackStr {
        StackStr {
            buf: [0; 64],
            len: 0,
        }
    }
    pub(crate) fn as_str(&self) -> &str {
        // Only whole `&str`s are ever appended, so the contents stay valid UTF-8.
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

impl Write for StackStr {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        if end > self.buf.len() {
            return Err(std::fmt::Error);
        }
        self.buf[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Go's `%e` layout: `d.ddde±XX` with `prec` fraction digits and at least two exponent digits.
fn fmt_e(out: &mut String, d: &Digits, prec: usize, upper: bool) {
    let digits = d.digits();
    out.push(digits.first().map_or('0', |&c| c as char));
    if prec > 0 {
        out.push('.');
        let avail = &digits[1.min(digits.len())..];
        let take = avail.len().min(prec);
        for &c in &avail[..take] {
            out.push(c as char);
        }
        for _ in take..prec {
            out.push('0');
        }
    }
    out.push(if upper { 'E' } else { 'e' });
    let exp = if digits.is_empty() || digits == b"0" {
        0
    } else {
        d.dp - 1
    };
    out.push(if exp < 0 { '-' } else { '+' });
    let exp = exp.unsigned_abs();
    if exp < 10 {
        out.push('0');
    }
    let _ = write!(out, "{exp}");
}

/// Go's `%f` layout from digits: integer part, then `prec` fraction digits.
fn fmt_f(out: &mut String, d: &Digits, prec: usize) {
    let digits = d.digits();
    if d.dp > 0 {
        let dp = d.dp as usize;
        let m = digits.len().min(dp);
        for &c in &digits[..m] {
            out.push(c as char);
        }
        for _ in m..dp {
            out.push('0');
        }
    } else {
        out.push('0');
    }
    if prec > 0 {
        out.push('.');
        for i in 1..=prec as i64 {
            let j = d.dp as i64 + i - 1;
            let c = if j >= 0 && (j as usize) < digits.len() {
                digits[j as usize] as char
            } else {
                '0'
            };
            out.push(c);
        }
    }
}

/// `strconv.AppendFloat(out, v, fmt, prec, 64)` for `fmt` in `e E f F g G`; `prec < 0` means
/// the shortest representation. Writes the sign only when negative.
pub fn append_float(out: &mut String, v: f64, fmt: u8, prec: i32) {
    if v.is_nan() {
        out.push_str("NaN");
        return;
    }
    if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
        return;
    }
    if v.is_sign_negative() {
        out.push('-');
    }
    let abs = v.abs();
    let shortest = prec < 0;
    match fmt {
        b'f' | b'F' if !shortest => {
            let _ = write!(out, "{:.*}", prec as usize, abs);
        }
        b'e' | b'E' if !shortest => {
            let prec = prec as usize;
            let d = Digits::significant(abs, (prec + 1).min(40));
            fmt_e(out, &d, prec, fmt == b'E');
        }
        b'e' | b'E' => {
            let d = Digits::shortest(abs);
            fmt_e(out, &d, d.nd.saturating_sub(1), fmt == b'E');
        }
        b'f' | b'F' => {
            let d = Digits::shortest(abs);
            fmt_f(out, &d, (d.nd as i32 - d.dp).max(0) as usize);
        }
        _ => {
            // 'g' / 'G'
            let upper = fmt == b'G';
            let (d, mut p) = if shortest {
                let d = Digits::shortest(abs);
                let nd = d.nd as i32;
                (d, nd)
            } else {
                let p = prec.clamp(1, 40);
                (Digits::significant(abs, p as usize), p)
            };
            let nd = d.nd as i32;
            let mut eprec = p;
            if eprec > nd && nd >= d.dp {
                eprec = nd;
            }
            // "%e is used if the exponent from the conversion is less than -4 or greater than or
            // equal to the precision. If precision was the shortest possible, use precision 6
            // for this decision." (strconv/ftoa.go)
            if shortest {
                eprec = 6;
            }
            let exp = d.dp - 1;
            if exp < -4 || exp >= eprec {
                if p > nd {
                    p = nd;
                }
                fmt_e(out, &d, (p - 1).max(0) as usize, upper);
            } else {
                if p > d.dp {
                    p = nd;
                }
                fmt_f(out, &d, (p - d.dp).max(0) as usize);
            }
        }
    }
}

/// Go's `fmt` `%v` for a float64 (`strconv 'g'`, shortest).
pub fn format_float_v(out: &mut String, v: f64) {
    append_float(out, v, b'g', -1);
}

/// `encoding/json`'s float layout: `'f'` unless the exponent is < -6 or ≥ 21, and `e-07`
/// shortened to `e-7`.
pub fn append_json_float(out: &mut String, v: f64) {
    let abs = v.abs();
    let use_e = abs != 0.0 && !(1e-6..1e21).contains(&abs);
    let start = out.len();
    append_float(out, v, if use_e { b'e' } else { b'f' }, -1);
    if use_e {
        let bytes = out.as_bytes();
        let n = bytes.len();
        if n - start >= 4 && bytes[n - 4] == b'e' && bytes[n - 3] == b'-' && bytes[n - 2] == b'0' {
            let last = bytes[n - 1] as char;
            out.truncate(n - 2);
            out.push(last);
        }
    }
}

/// Whether Go's `strconv.IsPrint` would keep the rune unescaped. Go uses Unicode tables; we
/// approximate with "not a control character and not a lone format/separator code point",
/// which matches for the text alert templates handle.
fn is_print(c: char) -> bool {
    if c.is_control() {
        return false;
    }
    !matches!(
        c,
        '\u{00ad}' | '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{fff9}'..='\u{fffb}'
    ) && !('\u{200b}'..='\u{200f}').contains(&c)
        && !('\u{202a}'..='\u{202e}').contains(&c)
        && !('\u{2060}'..='\u{206f}').contains(&c)
}

fn append_escaped_rune(out: &mut String, c: char, quote: char) {
    if c == quote || c == '\\' {
        out.push('\\');
        out.push(c);
        return;
    }
    if is_print(c) {
        out.push(c);
        return;
    }
    match c {
        '\u{7}' => out.push_str("\\a"),
        '\u{8}' => out.push_str("\\b"),
        '\u{c}' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\u{b}' => out.push_str("\\v"),
        c if (c as u32) < 0x20 || c == '\u{7f}' => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c if (c as u32) < 0x10000 => {
            let _ = write!(out, "\\u{:04x}", c as u32);
        }
        c => {
            let _ = write!(out, "\\U{:08x}", c as u32);
        }
    }
}

/// `strconv.Quote`.
pub fn quote(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        append_escaped_rune(out, c, '"');
    }
    out.push('"');
}

/// `strconv.QuoteRune`; invalid code points become U+FFFD as in Go.
pub fn quote_rune(out: &mut String, r: i64) {
    let c = u32::try_from(r)
        .ok()
        .and_then(char::from_u32)
        .unwrap_or('\u{fffd}');
    out.push('\'');
    append_escaped_rune(out, c, '\'');
    out.push('\'');
}

/// `strconv.Unquote` for the literal forms the template lexer produces: `"..."`, `` `...` ``
/// and `'c'`. Returns the decoded text, or Go's error text.
pub fn unquote(lit: &str) -> Result<String, &'static str> {
    const SYNTAX: &str = "invalid syntax";
    let bytes = lit.as_bytes();
    if bytes.len() < 2 {
        return Err(SYNTAX);
    }
    let quote = bytes[0];
    if bytes[bytes.len() - 1] != quote {
        return Err(SYNTAX);
    }
    let body = &lit[1..lit.len() - 1];
    match quote {
        b'`' => {
            if body.contains('`') {
                return Err(SYNTAX);
            }
            // Go drops carriage returns from raw strings.
            Ok(body.replace('\r', ""))
        }
        b'"' | b'\'' => {
            let mut out = String::with_capacity(body.len());
            let mut chars = body.chars().peekable();
            let mut count = 0;
            while let Some(c) = chars.next() {
                count += 1;
                if c == quote as char || c == '\n' {
                    return Err(SYNTAX);
                }
                if c != '\\' {
                    out.push(c);
                    continue;
                }
                let e = chars.next().ok_or(SYNTAX)?;
                match e {
                    'a' => out.push('\u{7}'),
                    'b' => out.push('\u{8}'),
                    'f' => out.push('\u{c}'),
                    'n' => out.push('\n'),
                    'r' => out.push('\r'),
                    't' => out.push('\t'),
                    'v' => out.push('\u{b}'),
                    '\\' => out.push('\\'),
                    '\'' if quote == b'\'' => out.push('\''),
                    '"' if quote == b'"' => out.push('"'),
                    'x' | 'u' | 'U' => {
                        let n = match e {
                            'x' => 2,
                            'u' => 4,
                            _ => 8,
                        };
                        let mut v: u32 = 0;
                        for _ in 0..n {
                            let d = chars.next().and_then(|c| c.to_digit(16)).ok_or(SYNTAX)?;
                            v = v * 16 + d;
                        }
                        if e == 'x' {
                            if quote == b'\'' {
                                out.push(char::from_u32(v).ok_or(SYNTAX)?);
                            } else {
                                // A \x escape is a raw byte; a lone high byte is not valid
                                // UTF-8, so it is replaced like Go's output would display it.
                                out.push(if v < 0x80 {
                                    v as u8 as char
                                } else {
                                    '\u{fffd}'
                                });
                            }
                        } else {
                            out.push(char::from_u32(v).ok_or(SYNTAX)?);
                        }
                    }
                    '0'..='7' => {
                        let mut v = e.to_digit(8).unwrap_or(0);
                        for _ in 0..2 {
                            let d = chars.next().and_then(|c| c.to_digit(8)).ok_or(SYNTAX)?;
                            v = v * 8 + d;
                        }
                        if v > 255 {
                            return Err(SYNTAX);
                        }
                        out.push(if v < 0x80 {
                            v as u8 as char
                        } else {
                            '\u{fffd}'
                        });
                    }
                    _ => return Err(SYNTAX),
                }
            }
            if quote == b'\'' && count != 1 && out.chars().count() != 1 {
                return Err(SYNTAX);
            }
            Ok(out)
        }
        _ => Err(SYNTAX),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(f: f64) -> String {
        let mut s = String::new();
        format_float_v(&mut s, f);
        s
    }

    fn af(f: f64, fmt: u8, prec: i32) -> String {
        let mut s = String::new();
        append_float(&mut s, f, fmt, prec);
        s
    }

    #[test]
    fn percent_v_matches_go() {
        let table = [
            (-3.25, "-3.25"),
            (1e20, "1e+20"),
            (1e21, "1e+21"),
            (1234567.0, "1.234567e+06"),
            (123456.0, "123456"),
            (1e6, "1e+06"),
            (1.5e-7, "1.5e-07"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (10.0, "10"),
            (0.1, "0.1"),
            (0.0, "0"),
            (-0.0, "-0"),
            (72.5, "72.5"),
            (100.0, "100"),
            (1.0 / 3.0, "0.3333333333333333"),
            (1e100, "1e+100"),
            (f64::MAX, "1.7976931348623157e+308"),
            (5e-324, "5e-324"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
        ];
        for (f, want) in table {
            assert_eq!(v(f), want, "{f:e}");
        }
    }

    #[test]
    fn precision_layouts_match_go() {
        assert_eq!(af(1.23456, b'f', 3), "1.235");
        assert_eq!(af(0.125, b'f', 2), "0.12"); // exact tie rounds to even
        assert_eq!(af(2.5, b'f', 0), "2");
        assert_eq!(af(1234567.0, b'e', 6), "1.234567e+06");
        assert_eq!(af(1234567.0, b'e', 2), "1.23e+06");
        assert_eq!(af(0.0, b'e', 6), "0.000000e+00");
        assert_eq!(af(1.0, b'E', 1), "1.0E+00");
        assert_eq!(af(1234.0, b'g', 3), "1.23e+03");
        assert_eq!(af(1.0, b'g', 3), "1");
        assert_eq!(af(100.0, b'g', 3), "100");
        assert_eq!(af(0.0001234, b'g', 2), "0.00012");
        assert_eq!(af(123456789.0, b'g', -1), "1.23456789e+08");
        assert_eq!(af(1e20, b'f', -1), "100000000000000000000");
        assert_eq!(af(1.5e-7, b'e', -1), "1.5e-07");
    }

    #[test]
    fn json_floats_match_encoding_json() {
        let j = |f: f64| {
            let mut s = String::new();
            append_json_float(&mut s, f);
            s
        };
        assert_eq!(j(1e20), "100000000000000000000");
        assert_eq!(j(1e21), "1e+21");
        assert_eq!(j(1.5e-7), "1.5e-7");
        assert_eq!(j(0.000001), "0.000001");
        assert_eq!(j(-3.25), "-3.25");
        assert_eq!(j(10.0), "10");
    }

    #[test]
    fn quoting() {
        let q = |s: &str| {
            let mut o = String::new();
            quote(&mut o, s);
            o
        };
        assert_eq!(q("a\"b\\c\n\t\u{1}é"), r#""a\"b\\c\n\t\x01é""#);
        let mut o = String::new();
        quote_rune(&mut o, 'x' as i64);
        assert_eq!(o, "'x'");
        assert_eq!(unquote(r#""a\tb\u00e9\x41""#).unwrap(), "a\tbéA");
        assert_eq!(unquote("`raw\\n`").unwrap(), "raw\\n");
        assert_eq!(unquote("'\\n'").unwrap(), "\n");
        assert!(unquote(r#""bad\q""#).is_err());
    }
}
