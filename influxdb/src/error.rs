//! The one error type of the crate. Each variant says whether trying again later can help,
//! because callers (influxDBOut retries, the subscription loop, batch ticks) decide on that.

use std::fmt;

/// What went wrong talking to InfluxDB or preparing a request for it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// The configuration cannot work (bad URL, unreadable TLS file, bad option value).
    #[error("invalid InfluxDB configuration: {0}")]
    Config(String),
    /// No URL of the cluster answered (connection refused, timeout, TLS failure).
    #[error("InfluxDB unreachable: {0}")]
    Unreachable(String),
    /// The server answered with an error; `status` is the HTTP status and `message` the
    /// server's own text (the `error` field of its JSON body when there is one).
    #[error("{}", ServerText(*.status, .message))]
    Server { status: u16, message: String },
    /// The server answered 200 but could not run a statement (bad query, missing database).
    #[error("{0}")]
    Query(String),
    /// The answer was not the JSON InfluxDB sends.
    #[error("unexpected response from InfluxDB: {0}")]
    Protocol(String),
    /// Bad input from our caller (a query text, a batch query property, a cron expression).
    #[error("{0}")]
    Invalid(String),
}

struct ServerText<'a>(u16, &'a String);

impl fmt::Display for ServerText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InfluxDB returned HTTP {}: {}", self.0, self.1)
    }
}

impl Error {
    /// True when the same request may succeed later: the server was down or overloaded.
    /// Client errors (bad points, unknown database, bad query) are not retried.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Unreachable(_) => true,
            Error::Server { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
