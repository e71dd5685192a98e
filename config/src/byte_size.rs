//! Sizes in bytes, written as an integer or a string with a unit (`"32MiB"`, `"1GB"`,
//! `"512KB"`, `"1.5GiB"`, `"100m"`).
//!
//! Units, case-insensitive, with optional blanks before them: none or `B` (bytes); `KB`,
//! `MB`, `GB`, `TB` (powers of 1000, as go-humanize reads them); `KiB`, `MiB`, `GiB`, `TiB`
//! (powers of 1024); and the single letters `k`, `m`, `g`, `t`, which are powers of 1024 as
//! in InfluxDB 1.x's configuration (`cache-max-memory-size = "1g"`). A fraction is rounded
//! down to whole bytes. Printed with the largest 1024-based unit that divides the value, else
//! the largest 1000-based one, else in bytes (`"32MiB"`, `"1GB"`, `"1000B"`), which reads back
//! to the same value.

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// A configuration size in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Hash)]
pub struct ByteSize(pub u64);

/// Why a size was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid size {text:?}: {why}")]
pub struct ByteSizeError {
    text: String,
    why: String,
}

const UNITS: &[(&str, u64)] = &[
    ("", 1),
    ("b", 1),
    ("kb", 1_000),
    ("mb", 1_000_000),
    ("gb", 1_000_000_000),
    ("tb", 1_000_000_000_000),
    ("kib", 1 << 10),
    ("mib", 1 << 20),
    ("gib", 1 << 30),
    ("tib", 1 << 40),
    ("k", 1 << 10),
    ("m", 1 << 20),
    ("g", 1 << 30),
    ("t", 1 << 40),
];

const PRINT_UNITS: &[(&str, u64)] = &[
    ("TiB", 1 << 40),
    ("GiB", 1 << 30),
    ("MiB", 1 << 20),
    ("KiB", 1 << 10),
    ("TB", 1_000_000_000_000),
    ("GB", 1_000_000_000),
    ("MB", 1_000_000),
    ("KB", 1_000),
];

impl ByteSize {
    pub const fn b(n: u64) -> ByteSize {
        ByteSize(n)
    }

    pub const fn kib(n: u64) -> ByteSize {
        ByteSize(n << 10)
    }

    pub const fn mib(n: u64) -> ByteSize {
        ByteSize(n << 20)
    }

    pub const fn gib(n: u64) -> ByteSize {
        ByteSize(n << 30)
    }

    pub const fn as_u64(self) -> u64 {
        self.0
    }

    pub fn parse(text: &str) -> Result<ByteSize, ByteSizeError> {
        let err = |why: &str| ByteSizeError {
            text: text.to_string(),
            why: why.to_string(),
        };
        let s = text.trim();
        let split = s
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(s.len());
        let (number, unit) = s.split_at(split);
        let unit = unit.trim_start().to_ascii_lowercase();
        if number.is_empty() {
            return Err(err(if s.starts_with('-') {
                "a size cannot be negative"
            } else {
                "expected a number of bytes, optionally with a unit (e.g. 32MiB, 1GB, 512KB)"
            }));
        }
        let Some(&(_, scale)) = UNITS.iter().find(|(u, _)| *u == unit) else {
            return Err(err(
                "unknown unit (use B, KB, MB, GB, TB, KiB, MiB, GiB, TiB, or k, m, g, t for powers of 1024)",
            ));
        };
        let too_large = || err("too large");
        let bytes = match number.split_once('.') {
            None => number
                .parse::<u64>()
                .map_err(|_| too_large())?
                .checked_mul(scale)
                .ok_or_else(too_large)?,
            Some((int, frac)) => {
                if (int.is_empty() && frac.is_empty()) || frac.contains('.') {
                    return Err(err("invalid number"));
                }
                let v: f64 = number.parse().map_err(|_| err("invalid number"))?;
                let bytes = (v * scale as f64).floor();
                if bytes >= u64::MAX as f64 {
                    return Err(too_large());
                }
                bytes as u64
            }
        };
        Ok(ByteSize(bytes))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 > 0 {
            for (unit, scale) in PRINT_UNITS {
                if self.0.is_multiple_of(*scale) {
                    return write!(f, "{}{unit}", self.0 / scale);
                }
            }
        }
        write!(f, "{}B", self.0)
    }
}

impl FromStr for ByteSize {
    type Err = ByteSizeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ByteSize::parse(s)
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = ByteSize;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a size: a number of bytes or a string such as \"32MiB\" or \"1GB\"")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ByteSize, E> {
                Ok(ByteSize(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ByteSize, E> {
                u64::try_from(v)
                    .map(ByteSize)
                    .map_err(|_| E::custom(format!("invalid size {v}: a size cannot be negative")))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ByteSize, E> {
                ByteSize::parse(v).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn units() {
        let ok = |s: &str| ByteSize::parse(s).unwrap().0;
        assert_eq!(ok("0"), 0);
        assert_eq!(ok("123"), 123);
        assert_eq!(ok("123B"), 123);
        assert_eq!(ok("32MiB"), 32 << 20);
        assert_eq!(ok("32 mib"), 32 << 20);
        assert_eq!(ok(" 1GB "), 1_000_000_000);
        assert_eq!(ok("512KB"), 512_000);
        assert_eq!(ok("512kib"), 512 << 10);
        assert_eq!(ok("1g"), 1 << 30);
        assert_eq!(ok("100m"), 100 << 20);
        assert_eq!(ok("1.5GiB"), 3 << 29);
        assert_eq!(ok("0.5k"), 512);
        assert_eq!(ok("1TiB"), 1 << 40);
        for (bad, why) in [
            ("", "expected a number"),
            ("MiB", "expected a number"),
            ("-1MiB", "negative"),
            ("12XB", "unknown unit"),
            ("1.2.3MB", "invalid number"),
            (".", "invalid number"),
            ("99999999999999999999", "too large"),
            ("20000000TiB", "too large"),
            ("1e3", "unknown unit"),
        ] {
            let e = ByteSize::parse(bad).unwrap_err().to_string();
            assert!(
                e.contains(why) && e.contains(&format!("{bad:?}")),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn printing() {
        assert_eq!(ByteSize::mib(32).to_string(), "32MiB");
        assert_eq!(ByteSize::gib(1).to_string(), "1GiB");
        assert_eq!(ByteSize(1_000_000_000).to_string(), "1GB");
        assert_eq!(ByteSize(1_536).to_string(), "1536B");
        assert_eq!(ByteSize(1_024_000).to_string(), "1000KiB");
        assert_eq!(ByteSize(1000).to_string(), "1KB");
        assert_eq!(ByteSize(1001).to_string(), "1001B");
        assert_eq!(ByteSize(0).to_string(), "0B");
    }

    proptest! {
        #[test]
        fn printed_sizes_read_back(n in any::<u64>()) {
            prop_assert_eq!(ByteSize::parse(&ByteSize(n).to_string()).unwrap(), ByteSize(n));
        }
    }
}
