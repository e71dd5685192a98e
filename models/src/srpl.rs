//! The `.srpl` stream-recording text format of Kapacitor's integration tests (and of the
//! conformance vectors): records of three lines, database, retention policy, one line of line
//! protocol. Timestamps in the conformance files are seconds.

use std::fmt;

/// One recorded point: where it was written, and the line-protocol text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SrplRecord {
    pub db: String,
    pub rp: String,
    pub line: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SrplError {
    /// The file ends inside a record; `line` is the 1-based line where that record starts.
    #[error("line {line}: incomplete record (a record is db, rp and a line-protocol line)")]
    Incomplete { line: usize },
    /// A record whose database or line is empty.
    #[error("line {line}: empty {what}")]
    Empty { line: usize, what: &'static str },
    /// The last token of the point line is not an integer timestamp.
    #[error("line {line}: no integer timestamp at the end of {text:?}")]
    NoTimestamp { line: usize, text: String },
}

/// Splits an `.srpl` file into records. Accepts `\n` or `\r\n` and a missing final newline.
/// Blank lines between records are not part of the format and are refused as an empty db.
pub fn parse_srpl(text: &str) -> Result<Vec<SrplRecord>, SrplError> {
    let mut lines = text.lines().enumerate().peekable();
    let mut out = Vec::new();
    while let Some((i, db)) = lines.next() {
        let line_no = i + 1;
        // A trailing empty line after the last record is just the file's final newline
        // written twice; tolerate it only at the very end.
        if db.is_empty() && lines.peek().is_none() {
            break;
        }
        let (Some((_, rp)), Some((_, point))) = (lines.next(), lines.next()) else {
            return Err(SrplError::Incomplete { line: line_no });
        };
        if db.is_empty() {
            return Err(SrplError::Empty {
                line: line_no,
                what: "database",
            });
        }
        if point.trim().is_empty() {
            return Err(SrplError::Empty {
                line: line_no + 2,
                what: "point line",
            });
        }
        out.push(SrplRecord {
            db: db.to_string(),
            rp: rp.to_string(),
            line: point.to_string(),
        });
    }
    Ok(out)
}

impl SrplRecord {
    /// The trailing integer timestamp token of the point line, as written (unit-less).
    pub fn timestamp(&self) -> Option<i64> {
        let (_, ts) = self.line.trim_end().rsplit_once(' ')?;
        ts.parse().ok()
    }

    /// The point line with its trailing timestamp replaced (joined with one space, as the
    /// conformance runner does).
    pub fn with_timestamp(&self, ts: i64) -> Option<String> {
        let (head, old) = self.line.trim_end().rsplit_once(' ')?;
        old.parse::<i64>().ok()?;
        Some(format!("{} {ts}", head.trim_end()))
    }
}

/// Seconds from the Unix epoch to 1971-01-01T00:00:00Z, the zero of the conformance clock.
pub const CONFORMANCE_EPOCH_S: i64 = 31_536_000;

/// Rewrites every record's timestamp (seconds) so that the first record lands on
/// [`CONFORMANCE_EPOCH_S`] and the rest keep their offsets from it: `ts - first + epoch`.
/// Returns the line-protocol body, lines joined by `\n`, in file order.
pub fn rebased_body(records: &[SrplRecord]) -> Result<String, SrplError> {
    let mut out = String::new();
    let mut first = None;
    for (n, r) in records.iter().enumerate() {
        let no_ts = || SrplError::NoTimestamp {
            line: n * 3 + 3,
            text: r.line.clone(),
        };
        let ts = r.timestamp().ok_or_else(no_ts)?;
        let base = *first.get_or_insert(ts);
        let shifted = ts
            .checked_sub(base)
            .and_then(|d| d.checked_add(CONFORMANCE_EPOCH_S))
            .ok_or_else(no_ts)?;
        if n > 0 {
            out.push('\n');
        }
        out.push_str(&r.with_timestamp(shifted).ok_or_else(no_ts)?);
    }
    Ok(out)
}

impl fmt::Display for SrplRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}\n{}\n{}", self.db, self.rp, self.line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "dbname\nrpname\ncpu,type=idle,host=serverA value=97.1 0000000001\n\
        dbname\nrpname\ncpu,type=idle,host=serverB value=96.4  0000000011";

    #[test]
    fn parses_records_without_final_newline() {
        let recs = parse_srpl(SAMPLE).unwrap();
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[0].db, "dbname");
        assert_eq!(recs[0].rp, "rpname");
        assert_eq!(
            recs[1].line,
            "cpu,type=idle,host=serverB value=96.4  0000000011"
        );
        assert_eq!(recs[1].timestamp(), Some(11));
        let crlf = SAMPLE.replace('\n', "\r\n") + "\r\n";
        assert_eq!(parse_srpl(&crlf).unwrap(), recs);
    }

    #[test]
    fn refuses_incomplete_and_blank_records() {
        assert_eq!(
            parse_srpl("db\nrp\n"),
            Err(SrplError::Incomplete { line: 1 })
        );
        assert_eq!(
            parse_srpl("db\nrp\ncpu v=1 1\n\ndb\nrp\ncpu v=1 2\n"),
            Err(SrplError::Empty {
                line: 4,
                what: "database"
            })
        );
        assert!(parse_srpl("db\nrp\n   \n").is_err());
    }

    #[test]
    fn rebases_to_1971_keeping_offsets_and_file_order() {
        let recs = parse_srpl(&format!("{SAMPLE}\ndb\nrp\nmem v=1i 0000000005\n")).unwrap();
        assert_eq!(
            rebased_body(&recs).unwrap(),
            "cpu,type=idle,host=serverA value=97.1 31536000\n\
             cpu,type=idle,host=serverB value=96.4 31536010\n\
             mem v=1i 31536004"
        );
    }

    #[test]
    fn rebase_names_the_line_without_timestamp() {
        let recs = parse_srpl("db\nrp\ncpu v=1 1\ndb\nrp\ncpu v=1\n").unwrap();
        assert!(matches!(
            rebased_body(&recs),
            Err(SrplError::NoTimestamp { line: 6, .. })
        ));
    }
}
