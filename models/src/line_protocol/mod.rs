//! InfluxDB 1.x line protocol: the `/write` body, recordings and `influxDBOut`.
//!
//! The parser is a port of the scanning rules of InfluxDB 1.x `models.ParsePointsWithPrecision`
//! (which Kapacitor uses for `/write`), so the same bodies are accepted and refused with the same
//! reasons: `unable to parse '<line>': <reason>`. It is our own rather than the
//! `influxdb-line-protocol` crate because it sits on the write hot path and was measured several
//! times faster (see `BENCHMARKS.md`); that crate remains as a differential-test oracle.
//!
//! Deliberate differences from Go, each stricter or kinder without accepting garbage:
//! * a trailing `\r` is removed from every line, so CRLF bodies parse (Go refuses them);
//! * a comment line ends at its first newline (Go lets a `"` in a comment swallow later lines);
//! * text after a closing string quote (`f="a"b`) is an `invalid field format` (Go keeps it);
//! * the line quoted in an error is cut to [`MAX_QUOTED_LINE`] bytes.
//!
//! Partial failure: InfluxDB 1.x (and Kapacitor) write the lines that parsed and answer 400
//! `partial write:\n<errors>` for the others. [`parse_partial`] gives exactly that split;
//! [`parse`] is the all-or-nothing form (first bad line is the error, no points). Which one
//! `/write` uses is apid's decision.

mod encode;
mod scan;

use crate::point::{FieldValue, Point};
use crate::precision::Precision;
use serde::ser::{Serialize, SerializeMap, SerializeStruct, Serializer};
use std::borrow::Cow;
use std::fmt;

pub use encode::{escape_field_key, escape_measurement, escape_string_field, escape_tag};

/// Lines quoted in errors are cut to this many bytes, so one huge bad line cannot make a
/// huge error body.
pub const MAX_QUOTED_LINE: usize = 1024;

/// InfluxDB's limit on the escaped series key (measurement plus tags).
pub const MAX_KEY_LENGTH: usize = 65_535;

/// The earliest and latest timestamps InfluxDB accepts (`models.MinNanoTime`/`MaxNanoTime`).
pub const MIN_NANO_TIME: i64 = i64::MIN + 2;
pub const MAX_NANO_TIME: i64 = i64::MAX - 1;

/// Why one line was refused. `Display` gives InfluxDB's wording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseErrorKind {
    MissingMeasurement,
    MissingFields,
    MissingTagKey,
    MissingTagValue,
    InvalidTagFormat,
    DuplicateTags,
    MissingFieldKey,
    MissingFieldValue,
    InvalidFieldFormat,
    UnbalancedQuotes,
    InvalidNumber,
    InvalidFloat,
    InvalidBoolean,
    /// An integer field outside i64; holds the digits.
    IntegerOutOfRange(String),
    BadTimestamp,
    /// The timestamp token is not an i64 (a lone `-`, or too many digits).
    TimestampSyntax {
        token: String,
        out_of_range: bool,
    },
    TimeOutOfRange,
    /// Non-space text after the timestamp.
    InvalidPoint,
    MaxKeyLength(usize),
}

impl fmt::Display for ParseErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ParseErrorKind::*;
        match self {
            MissingMeasurement => f.write_str("missing measurement"),
            MissingFields => f.write_str("missing fields"),
            MissingTagKey => f.write_str("missing tag key"),
            MissingTagValue => f.write_str("missing tag value"),
            InvalidTagFormat => f.write_str("invalid tag format"),
            DuplicateTags => f.write_str("duplicate tags"),
            MissingFieldKey => f.write_str("missing field key"),
            MissingFieldValue => f.write_str("missing field value"),
            InvalidFieldFormat => f.write_str("invalid field format"),
            UnbalancedQuotes => f.write_str("unbalanced quotes"),
            InvalidNumber => f.write_str("invalid number"),
            InvalidFloat => f.write_str("invalid float"),
            InvalidBoolean => f.write_str("invalid boolean"),
            IntegerOutOfRange(digits) => write!(
                f,
                "unable to parse integer {digits}: strconv.ParseInt: parsing {digits:?}: value out of range"
            ),
            BadTimestamp => f.write_str("bad timestamp"),
            TimestampSyntax {
                token,
                out_of_range,
            } => write!(
                f,
                "strconv.ParseInt: parsing {token:?}: {}",
                if *out_of_range {
                    "value out of range"
                } else {
                    "invalid syntax"
                }
            ),
            TimeOutOfRange => write!(f, "time outside range {MIN_NANO_TIME} - {MAX_NANO_TIME}"),
            InvalidPoint => f.write_str("point is invalid"),
            MaxKeyLength(n) => write!(f, "max key length exceeded: {n} > {MAX_KEY_LENGTH}"),
        }
    }
}

/// One refused line: where it is, what it said, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unable to parse '{text}': {kind}")]
pub struct ParseError {
    /// 1-based number of the (physical) line where the refused point starts.
    pub line: usize,
    /// The line as written, without leading whitespace and line ending, cut to
    /// [`MAX_QUOTED_LINE`] bytes.
    pub text: String,
    pub kind: ParseErrorKind,
}

impl ParseError {
    fn new(line: usize, text: &str, kind: ParseErrorKind) -> ParseError {
        let mut end = text.len().min(MAX_QUOTED_LINE);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        ParseError {
            line,
            text: text[..end].to_string(),
            kind,
        }
    }
}

/// InfluxDB's message for a set of refused lines: one `unable to parse` per line, joined by
/// newlines (prefix it with `partial write:\n` when some points were accepted).
pub fn join_errors(errors: &[ParseError]) -> String {
    errors
        .iter()
        .map(ParseError::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// A parsed point that borrows from the body where no unescaping was needed. Tags and fields
/// are sorted by key with unique keys (a repeated field key keeps its last value, as the map
/// in Go does), so it converts to a [`Point`] without re-sorting, and it serialises (serde)
/// exactly like the `Point` it stands for: apid can encode it for IPC without building one.
#[derive(Debug, Clone, PartialEq)]
pub struct PointRef<'a> {
    pub name: Cow<'a, str>,
    pub tags: Vec<(Cow<'a, str>, Cow<'a, str>)>,
    pub fields: Vec<(Cow<'a, str>, FieldValue)>,
    /// Nanoseconds since the Unix epoch.
    pub time: i64,
}

impl PointRef<'_> {
    /// The owned point.
    pub fn to_point(&self) -> Point {
        Point {
            name: self.name.to_string(),
            tags: self
                .tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            fields: self
                .fields
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
            time: self.time,
        }
    }

    /// The owned point, reusing the strings that were already allocated.
    pub fn into_point(self) -> Point {
        Point {
            name: self.name.into_owned(),
            tags: self
                .tags
                .into_iter()
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
            fields: self
                .fields
                .into_iter()
                .map(|(k, v)| (k.into_owned(), v))
                .collect(),
            time: self.time,
        }
    }

    /// Value of tag `key`, if present.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .binary_search_by(|(k, _)| k.as_ref().cmp(key))
            .ok()
            .map(|i| self.tags[i].1.as_ref())
    }
}

/// Serialises a sorted pair list as a map, which is how `BTreeMap` serialises.
struct PairsAsMap<'s, K, V>(&'s [(K, V)]);

impl<K: AsRef<str>, V: Serialize> Serialize for PairsAsMap<'_, K, V> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0 {
            map.serialize_entry(k.as_ref(), v)?;
        }
        map.end()
    }
}

impl Serialize for PointRef<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // Field names, order and struct name mirror the derived `Serialize` of `Point`.
        let mut st = s.serialize_struct("Point", 4)?;
        st.serialize_field("name", self.name.as_ref())?;
        st.serialize_field("tags", &PairsAsMap(&self.tags))?;
        st.serialize_field("fields", &PairsAsMap(&self.fields))?;
        st.serialize_field("time", &self.time)?;
        st.end()
    }
}

/// Iterator over the points of a body, in order, one `Result` per non-blank, non-comment line.
pub struct Lines<'a> {
    body: &'a str,
    pos: usize,
    /// 1-based physical line number of the next line.
    line_no: usize,
    precision: Precision,
    now_ns: i64,
    scratch: scan::Scratch,
}

impl<'a> Iterator for Lines<'a> {
    type Item = Result<PointRef<'a>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        while self.pos < self.body.len() {
            let line_no = self.line_no;
            let (line, next, newlines) = scan::next_line(self.body, self.pos);
            self.pos = next;
            self.line_no += newlines;
            if let Some(line) = line {
                return Some(
                    scan::parse_line(line, self.precision, self.now_ns, &mut self.scratch)
                        .map_err(|kind| ParseError::new(line_no, line, kind)),
                );
            }
        }
        None
    }
}

/// The points of `body` as they are parsed, borrowing where possible. `now_ns` is the time
/// given to points without a timestamp (truncated to `precision`).
pub fn lines(body: &str, precision: Precision, now_ns: i64) -> Lines<'_> {
    Lines {
        body,
        pos: 0,
        line_no: 1,
        precision,
        now_ns,
        scratch: scan::Scratch::default(),
    }
}

/// All points of `body`, or the first refused line and no points at all.
pub fn parse(body: &str, precision: Precision, now_ns: i64) -> Result<Vec<Point>, ParseError> {
    let mut points = Vec::with_capacity(line_count_hint(body));
    for r in lines(body, precision, now_ns) {
        points.push(r?.into_point());
    }
    Ok(points)
}

/// An upper bound of the points in `body`, so the result vector is allocated once.
fn line_count_hint(body: &str) -> usize {
    body.bytes().filter(|&b| b == b'\n').count() + 1
}

/// InfluxDB 1.x's partial-write split: every point that parsed, and every line that did not.
pub fn parse_partial(
    body: &str,
    precision: Precision,
    now_ns: i64,
) -> (Vec<Point>, Vec<ParseError>) {
    let mut points = Vec::with_capacity(line_count_hint(body));
    let mut errors = Vec::new();
    for r in lines(body, precision, now_ns) {
        match r {
            Ok(p) => points.push(p.into_point()),
            Err(e) => errors.push(e),
        }
    }
    (points, errors)
}

#[cfg(test)]
mod tests;
