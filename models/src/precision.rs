//! Timestamp precision of `/write?precision=` and of recorded line protocol.

use std::fmt;
use std::str::FromStr;

/// The unit of the integer timestamps in a line-protocol body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Precision {
    #[default]
    Nanosecond,
    Microsecond,
    Millisecond,
    Second,
    Minute,
    Hour,
}

/// A `precision` value that names no unit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid precision {0:?} (use n, u, ms, s, m or h)")]
pub struct PrecisionError(pub String);

impl Precision {
    /// Parses the query-parameter spelling. The empty string is nanoseconds, as InfluxDB 1.x
    /// treats a missing `precision`; `us`, `µs` and `μs` (micro sign or Greek mu, with or
    /// without the `s`) are accepted as spellings of `u`.
    pub fn parse(s: &str) -> Result<Precision, PrecisionError> {
        Ok(match s {
            "" | "n" | "ns" => Precision::Nanosecond,
            "u" | "us" | "µ" | "µs" | "μ" | "μs" => Precision::Microsecond,
            "ms" => Precision::Millisecond,
            "s" => Precision::Second,
            "m" => Precision::Minute,
            "h" => Precision::Hour,
            other => return Err(PrecisionError(other.to_string())),
        })
    }

    /// Nanoseconds per unit.
    pub const fn multiplier(self) -> i64 {
        match self {
            Precision::Nanosecond => 1,
            Precision::Microsecond => 1_000,
            Precision::Millisecond => 1_000_000,
            Precision::Second => 1_000_000_000,
            Precision::Minute => 60_000_000_000,
            Precision::Hour => 3_600_000_000_000,
        }
    }

    /// The canonical short spelling (`n`, `u`, `ms`, `s`, `m`, `h`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Precision::Nanosecond => "n",
            Precision::Microsecond => "u",
            Precision::Millisecond => "ms",
            Precision::Second => "s",
            Precision::Minute => "m",
            Precision::Hour => "h",
        }
    }

    /// `now` truncated down to a whole unit, which is what a point without a timestamp gets
    /// (InfluxDB's `SetPrecision`). Go truncates relative to year 1, whose offset from the Unix
    /// epoch is a whole number of hours, so truncating relative to the epoch is the same.
    pub const fn truncate(self, now_ns: i64) -> i64 {
        now_ns - now_ns.rem_euclid(self.multiplier())
    }
}

impl FromStr for Precision {
    type Err = PrecisionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Precision::parse(s)
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_spelling() {
        let cases = [
            ("", Precision::Nanosecond),
            ("n", Precision::Nanosecond),
            ("ns", Precision::Nanosecond),
            ("u", Precision::Microsecond),
            ("us", Precision::Microsecond),
            ("µ", Precision::Microsecond),
            ("µs", Precision::Microsecond),
            ("μs", Precision::Microsecond),
            ("ms", Precision::Millisecond),
            ("s", Precision::Second),
            ("m", Precision::Minute),
            ("h", Precision::Hour),
        ];
        for (s, p) in cases {
            assert_eq!(Precision::parse(s), Ok(p), "{s:?}");
        }
    }

    #[test]
    fn rejects_unknown_with_influx_message() {
        let err = Precision::parse("d").unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"invalid precision "d" (use n, u, ms, s, m or h)"#
        );
        assert!(Precision::parse("S").is_err());
    }

    #[test]
    fn truncates_down_including_before_epoch() {
        assert_eq!(Precision::Second.truncate(1_999_999_999), 1_000_000_000);
        assert_eq!(Precision::Second.truncate(-1), -1_000_000_000);
        assert_eq!(Precision::Nanosecond.truncate(-7), -7);
        assert_eq!(
            Precision::Hour.truncate(3_600_000_000_001),
            3_600_000_000_000
        );
    }

    #[test]
    fn round_trips_canonical_spelling() {
        for p in [
            Precision::Nanosecond,
            Precision::Microsecond,
            Precision::Millisecond,
            Precision::Second,
            Precision::Minute,
            Precision::Hour,
        ] {
            assert_eq!(p.as_str().parse::<Precision>(), Ok(p));
        }
    }
}
