//! Scanning one body into lines and one line into a [`PointRef`], following the byte rules of
//! InfluxDB 1.x `models/points.go` (`scanLine`, `scanKey`, `scanFields`, `scanNumber`,
//! `scanBoolean`, `scanTime`). Two escape rules coexist there and are kept: in the measurement
//! and tags a byte is escaped when the byte before it is a backslash; in the fields a
//! backslash consumes the byte after it.
//!
//! All delimiters are ASCII, and UTF-8 continuation bytes never equal an ASCII byte, so every
//! position we slice at is a char boundary.

use super::{MAX_KEY_LENGTH, MAX_NANO_TIME, MIN_NANO_TIME, ParseErrorKind, PointRef};
use crate::point::FieldValue;
use crate::precision::Precision;
use std::borrow::Cow;

use ParseErrorKind as E;

fn is_ws(c: u8) -> bool {
    c == b' ' || c == b'\t' || c == 0
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && is_ws(b[i]) {
        i += 1;
    }
    i
}

/// Finds the logical line starting at `pos`. Returns the line without leading whitespace and
/// line ending (`None` for a blank or comment line), the position after it, and how many
/// physical newlines it consumed. A newline inside a quoted string field value, or escaped by
/// a backslash, does not end the line.
pub(super) fn next_line(body: &str, pos: usize) -> (Option<&str>, usize, usize) {
    let b = body.as_bytes();
    let start = skip_ws(b, pos);
    let mut newlines = 0;
    let end;
    let first_nl = memchr_newline(body, start);
    let simple = || {
        let seg = &b[start..first_nl];
        !seg.contains(&b'"') && !seg.contains(&b'\\')
    };
    // Only a quote or a backslash can carry a line past its first newline; most lines have
    // neither, and the memchr-backed searches are much faster than the byte loop below.
    if b.get(start) == Some(&b'#') || simple() {
        end = first_nl;
    } else {
        let mut i = start;
        let (mut quoted, mut in_fields) = (false, false);
        let (mut equals, mut commas) = (0u32, 0u32);
        while i < b.len() {
            let c = b[i];
            if c == b'\\' {
                if b.get(i + 1) == Some(&b'\n') {
                    newlines += 1;
                }
                i += 2;
                continue;
            }
            if c == b' ' {
                in_fields = true;
            }
            if in_fields && !quoted && c == b'=' {
                equals += 1;
            } else if in_fields && !quoted && c == b',' {
                commas += 1;
            } else if in_fields && c == b'"' && equals > commas {
                quoted = !quoted;
            } else if c == b'\n' {
                if !quoted {
                    break;
                }
                newlines += 1;
            }
            i += 1;
        }
        end = i.min(b.len());
    }
    let next = end + 1;
    if end < b.len() {
        newlines += 1;
    }
    let mut line_end = end;
    if line_end > start && b[line_end - 1] == b'\r' {
        line_end -= 1;
    }
    if line_end <= start || b[start] == b'#' {
        return (None, next, newlines);
    }
    (body.get(start..line_end), next, newlines)
}

/// Position of the first `\n` at or after `from` (a char boundary), or the end.
fn memchr_newline(body: &str, from: usize) -> usize {
    // `str::find` with an ASCII char goes through core's memchr.
    body.get(from..)
        .and_then(|s| s.find('\n'))
        .map_or(body.len(), |p| from + p)
}

/// Reusable per-line buffers, so a long body does not allocate them per line.
#[derive(Default)]
pub(super) struct Scratch {
    tags: Vec<(usize, usize, usize)>,
    fields: Vec<RawField>,
}

/// A field as scanned: key `[key_start, eq)`, value `(eq, end)`. Numbers and booleans are
/// parsed while scanning (as Go validates them there); strings are decoded afterwards.
struct RawField {
    key_start: usize,
    eq: usize,
    end: usize,
    value: Option<FieldValue>,
}

pub(super) fn parse_line<'a>(
    line: &'a str,
    precision: Precision,
    now_ns: i64,
    scratch: &mut Scratch,
) -> Result<PointRef<'a>, ParseErrorKind> {
    let b = line.as_bytes();
    let (name_end, has_tags) = scan_measurement(b)?;
    let key_end = if has_tags {
        scan_tags(b, name_end + 1, &mut scratch.tags)?
    } else {
        scratch.tags.clear();
        name_end
    };
    if key_end > MAX_KEY_LENGTH {
        return Err(E::MaxKeyLength(key_end));
    }
    let mut tags = Vec::with_capacity(scratch.tags.len());
    for &(k, eq, end) in &scratch.tags {
        tags.push((
            unescape(&line[k..eq], TAG_ESCAPES),
            unescape(&line[eq + 1..end], TAG_ESCAPES),
        ));
    }
    if !tags.is_sorted_by(|a, b| a.0 <= b.0) {
        tags.sort_by(|a, b| a.0.cmp(&b.0));
    }
    if tags.windows(2).any(|w| w[0].0 == w[1].0) {
        return Err(E::DuplicateTags);
    }

    let fields_end = scan_fields(line, key_end, &mut scratch.fields)?;
    let mut fields = Vec::with_capacity(scratch.fields.len());
    for f in scratch.fields.drain(..) {
        let size = key_end + 4 + (f.eq - f.key_start);
        if size > MAX_KEY_LENGTH {
            return Err(E::MaxKeyLength(size));
        }
        let raw_key = line.get(f.key_start..f.eq).ok_or(E::InvalidFieldFormat)?;
        let key = unescape(raw_key, NAME_ESCAPES);
        if key.is_empty() {
            return Err(E::MissingFieldKey);
        }
        let value = match f.value {
            Some(v) => v,
            None => decode_string(line.get(f.eq + 1..f.end).ok_or(E::InvalidFieldFormat)?)?,
        };
        fields.push((key, value));
    }
    if !fields.is_sorted_by(|a, b| a.0 < b.0) {
        // Stable, so equal keys stay in line order; the merge keeps the last value, as
        // assigning into Go's map does.
        fields.sort_by(|a, b| a.0.cmp(&b.0));
        fields.dedup_by(|later, kept| {
            if later.0 == kept.0 {
                std::mem::swap(&mut later.1, &mut kept.1);
                true
            } else {
                false
            }
        });
    }

    let time = scan_time(line, fields_end, precision, now_ns)?;
    Ok(PointRef {
        name: unescape(&line[..name_end], NAME_ESCAPES),
        tags,
        fields,
        time,
    })
}

/// Returns the end of the measurement and whether tags follow (`,`) or fields (` `).
fn scan_measurement(b: &[u8]) -> Result<(usize, bool), ParseErrorKind> {
    if b.first().is_none_or(|&c| c == b',') {
        return Err(E::MissingMeasurement);
    }
    let mut i = 0;
    loop {
        i += 1;
        if i >= b.len() {
            return Err(E::MissingFields);
        }
        if b[i - 1] == b'\\' {
            continue;
        }
        match b[i] {
            b',' => return Ok((i, true)),
            b' ' => return Ok((i, false)),
            _ => {}
        }
    }
}

/// Scans `key=value` pairs from `i` to the unescaped space before the fields, recording
/// `(key_start, eq, value_end)` per tag. Returns the position of that space.
fn scan_tags(
    b: &[u8],
    mut i: usize,
    out: &mut Vec<(usize, usize, usize)>,
) -> Result<usize, ParseErrorKind> {
    out.clear();
    let unescaped = |i: usize, c: u8| b[i] == c && b[i - 1] != b'\\';
    loop {
        let key_start = i;
        if b.get(i)
            .is_none_or(|&c| c == b' ' || c == b',' || c == b'=')
        {
            return Err(E::MissingTagKey);
        }
        loop {
            i += 1;
            if i >= b.len() || unescaped(i, b' ') || unescaped(i, b',') {
                return Err(E::MissingTagValue);
            }
            if unescaped(i, b'=') {
                break;
            }
        }
        let eq = i;
        i += 1;
        if b.get(i).is_none_or(|&c| c == b',' || c == b' ') {
            return Err(E::MissingTagValue);
        }
        loop {
            i += 1;
            if i >= b.len() {
                return Err(E::MissingFields);
            }
            if unescaped(i, b'=') {
                return Err(E::InvalidTagFormat);
            }
            if unescaped(i, b',') {
                out.push((key_start, eq, i));
                i += 1;
                break;
            }
            if unescaped(i, b' ') {
                out.push((key_start, eq, i));
                return Ok(i);
            }
        }
    }
}

/// Scans the field set starting at `i` (at or before its leading whitespace). Returns the
/// position just after it.
fn scan_fields(line: &str, i: usize, out: &mut Vec<RawField>) -> Result<usize, ParseErrorKind> {
    let b = line.as_bytes();
    out.clear();
    let start = skip_ws(b, i);
    let mut i = start;
    let mut quoted = false;
    let (mut equals, mut commas) = (0usize, 0usize);
    let mut key_start = start;
    while i < b.len() {
        let c = b[i];
        if c == b'\\' && i + 1 < b.len() {
            i += 2;
            continue;
        }
        if c == b'"' && equals > commas {
            quoted = !quoted;
            i += 1;
            continue;
        }
        if c == b'=' && !quoted {
            equals += 1;
            let before = b[i - 1];
            let escaped_before = i >= 2 && b[i - 2] == b'\\';
            if (before == b' ' || before == b',') && !escaped_before {
                return Err(E::MissingFieldKey);
            }
            let Some(&next) = b.get(i + 1) else {
                return Err(E::MissingFieldValue);
            };
            if next == b',' || next == b' ' {
                return Err(E::MissingFieldValue);
            }
            let eq = i;
            let scanned = if next.is_ascii_digit() || matches!(next, b'.' | b'-' | b'N' | b'n') {
                Some(scan_number(line, i + 1)?)
            } else if next != b'"' {
                Some(scan_boolean(b, i + 1)?)
            } else {
                None
            };
            let (end, value) = match scanned {
                Some((end, v)) => (end, Some(v)),
                None => (usize::MAX, None),
            };
            out.push(RawField {
                key_start,
                eq,
                end,
                value,
            });
            if end != usize::MAX {
                i = end;
                continue;
            }
        }
        if c == b',' && !quoted {
            commas += 1;
            close_string_value(out, i);
            key_start = i + 1;
        }
        if c == b' ' && !quoted {
            break;
        }
        i += 1;
    }
    let i = i.min(b.len());
    if quoted {
        return Err(E::UnbalancedQuotes);
    }
    if equals == 0 || commas + 1 != equals {
        return Err(E::InvalidFieldFormat);
    }
    close_string_value(out, i);
    Ok(i)
}

fn close_string_value(out: &mut [RawField], at: usize) {
    if let Some(last) = out.last_mut()
        && last.end == usize::MAX
    {
        last.end = at;
    }
}

fn scan_number(line: &str, start: usize) -> Result<(usize, FieldValue), ParseErrorKind> {
    let b = line.as_bytes();
    let mut i = start;
    let negative = b.get(i) == Some(&b'-');
    if negative {
        i += 1;
        if i == b.len() {
            return Err(E::InvalidNumber);
        }
    }
    let (mut is_int, mut is_unsigned, mut decimal, mut scientific) = (false, false, false, false);
    while i < b.len() {
        let c = b[i];
        if c == b',' || c == b' ' {
            break;
        }
        if (c == b'i' || c == b'u') && i > start && !(is_int || is_unsigned) {
            is_int = c == b'i';
            is_unsigned = c == b'u';
            i += 1;
            continue;
        }
        if c == b'.' {
            if decimal {
                return Err(E::InvalidNumber);
            }
            decimal = true;
        }
        if i > start && (c == b'e' || c == b'E') {
            scientific = true;
            i += 1;
            continue;
        }
        if (c == b'+' || c == b'-') && matches!(b[i - 1], b'e' | b'E') {
            i += 1;
            continue;
        }
        if !(c.is_ascii_digit() || c == b'.') {
            return Err(E::InvalidNumber);
        }
        i += 1;
    }
    if (is_int || is_unsigned) && (decimal || scientific) {
        return Err(E::InvalidNumber);
    }
    let digits = i - start - usize::from(is_int) - usize::from(decimal) - usize::from(negative);
    if digits == 0 {
        return Err(E::InvalidNumber);
    }
    // Only ASCII bytes were accepted above, so both ends are char boundaries.
    let text = line.get(start..i).ok_or(E::InvalidNumber)?;
    if is_int {
        let Some(digits) = text.strip_suffix('i') else {
            return Err(E::InvalidNumber);
        };
        let v = digits
            .parse::<i64>()
            .map_err(|_| E::IntegerOutOfRange(digits.to_string()))?;
        Ok((i, FieldValue::Int(v)))
    } else if is_unsigned {
        // Unsigned integers are off in 1.x unless a test hook enables them.
        Err(E::InvalidNumber)
    } else {
        match text.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok((i, FieldValue::Float(v))),
            _ => Err(E::InvalidFloat),
        }
    }
}

fn scan_boolean(b: &[u8], start: usize) -> Result<(usize, FieldValue), ParseErrorKind> {
    let mut i = start + 1;
    while i < b.len() && b[i] != b',' && b[i] != b' ' {
        i += 1;
    }
    let v = match b.get(start..i) {
        Some(b"t" | b"T" | b"true" | b"True" | b"TRUE") => true,
        Some(b"f" | b"F" | b"false" | b"False" | b"FALSE") => false,
        _ => return Err(E::InvalidBoolean),
    };
    Ok((i, FieldValue::Bool(v)))
}

/// A quoted string value. Text after the closing quote is refused (Go would keep it).
fn decode_string(raw: &str) -> Result<FieldValue, ParseErrorKind> {
    let b = raw.as_bytes();
    let mut i = 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' if i == b.len() - 1 => {
                return Ok(FieldValue::Str(
                    unescape(&raw[1..i], STRING_ESCAPES).into_owned(),
                ));
            }
            b'"' => return Err(E::InvalidFieldFormat),
            _ => i += 1,
        }
    }
    Err(E::UnbalancedQuotes)
}

fn scan_time(
    line: &str,
    i: usize,
    precision: Precision,
    now_ns: i64,
) -> Result<i64, ParseErrorKind> {
    let b = line.as_bytes();
    let start = skip_ws(b, i);
    let mut i = start;
    while i < b.len() && b[i] != b' ' {
        if !(b[i].is_ascii_digit() || (i == start && b[i] == b'-')) {
            return Err(E::BadTimestamp);
        }
        i += 1;
    }
    if i == start {
        return Ok(precision.truncate(now_ns));
    }
    let token = line.get(start..i).ok_or(E::BadTimestamp)?;
    let ts = token.parse::<i64>().map_err(|e| E::TimestampSyntax {
        token: token.to_string(),
        out_of_range: matches!(
            e.kind(),
            std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow
        ),
    })?;
    let ns = ts
        .checked_mul(precision.multiplier())
        .filter(|ns| (MIN_NANO_TIME..=MAX_NANO_TIME).contains(ns))
        .ok_or(E::TimeOutOfRange)?;
    if b[i..].iter().any(|&c| c != b' ') {
        return Err(E::InvalidPoint);
    }
    Ok(ns)
}

/// `\,` `\"` `\ ` `\=` (Go's `escape.Unescape`): measurement names and field keys.
const NAME_ESCAPES: &[u8] = b",\" =";
/// `\,` `\ ` `\=`: tag keys and values.
const TAG_ESCAPES: &[u8] = b", =";
/// `\"` `\\`: string field values.
const STRING_ESCAPES: &[u8] = b"\"\\";

/// Removes the backslash before any byte of `set`, left to right; other backslashes stay.
fn unescape<'a>(s: &'a str, set: &[u8]) -> Cow<'a, str> {
    let b = s.as_bytes();
    if !b.contains(&b'\\') {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let (mut last, mut i) = (0, 0);
    while i + 1 < b.len() {
        if b[i] == b'\\' && set.contains(&b[i + 1]) {
            out.push_str(&s[last..i]);
            last = i + 1;
            i += 2;
        } else {
            i += 1;
        }
    }
    out.push_str(&s[last..]);
    Cow::Owned(out)
}
