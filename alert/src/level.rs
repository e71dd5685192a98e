//! Alert levels, ordered OK < INFO < WARNING < CRITICAL as Kapacitor orders them.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Level {
    #[default]
    Ok = 0,
    Info = 1,
    Warning = 2,
    Critical = 3,
}

impl Level {
    pub const ALL: [Level; 4] = [Level::Ok, Level::Info, Level::Warning, Level::Critical];

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Ok => "OK",
            Level::Info => "INFO",
            Level::Warning => "WARNING",
            Level::Critical => "CRITICAL",
        }
    }

    /// The integer `level()` returns in a `match` expression.
    pub fn as_int(self) -> i64 {
        self as i64
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error text is Kapacitor's (`alert.ParseLevel`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown alert level '{0}'")]
pub struct ParseLevelError(pub String);

impl FromStr for Level {
    type Err = ParseLevelError;

    /// Case-insensitive, as `min-level=warning` is accepted by the API.
    fn from_str(s: &str) -> Result<Level, ParseLevelError> {
        let up = s.to_ascii_uppercase();
        match Level::ALL.into_iter().find(|l| l.as_str() == up) {
            Some(l) => Ok(l),
            None => Err(ParseLevelError(up)),
        }
    }
}

impl Serialize for Level {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Level {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Level, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}
