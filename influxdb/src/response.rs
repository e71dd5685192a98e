//! The JSON InfluxDB 1.x answers `/query` with, and the error bodies of `/query` and `/write`.

use crate::error::{Error, Result};
use kapacitor_models::Row;
use serde::Deserialize;

/// The result of one statement: its series, or the server's error for it.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
pub struct QueryResult {
    #[serde(default)]
    pub statement_id: usize,
    /// Series in the order InfluxDB returned them (name, tags, columns, values).
    #[serde(default)]
    pub series: Vec<Row>,
    #[serde(default)]
    pub messages: Vec<Message>,
    #[serde(default)]
    pub error: Option<String>,
}

/// An informational message InfluxDB attaches to a result (e.g. deprecation warnings).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Message {
    pub level: String,
    pub text: String,
}

#[derive(Deserialize)]
struct Response {
    #[serde(default)]
    results: Vec<QueryResult>,
    #[serde(default)]
    error: Option<String>,
}

/// Parses a 200 answer of `/query`. A top-level or per-statement `error` becomes
/// [`Error::Query`] with the server's text, so a bad query never looks like an empty result.
pub fn parse_query_response(body: &[u8]) -> Result<Vec<QueryResult>> {
    let resp: Response = serde_json::from_slice(body).map_err(|e| {
        Error::Protocol(format!(
            "{e} in {:?}",
            String::from_utf8_lossy(&body[..body.len().min(200)])
        ))
    })?;
    if let Some(err) = resp.error {
        return Err(Error::Query(err));
    }
    if let Some(err) = resp.results.iter().find_map(|r| r.error.clone()) {
        return Err(Error::Query(err));
    }
    Ok(resp.results)
}

/// The server's text from an error body: the `error` field of its JSON, else the raw text.
pub fn error_text(body: &[u8]) -> String {
    #[derive(Deserialize)]
    struct ErrorBody {
        error: String,
    }
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(b) => b.error,
        Err(_) => String::from_utf8_lossy(body).trim().to_string(),
    }
}

/// The first column of every row of every series, as strings (`SHOW DATABASES`,
/// `SHOW RETENTION POLICIES`). Rows whose first value is not a string are skipped.
pub fn first_column_strings(results: &[QueryResult]) -> Vec<String> {
    results
        .iter()
        .flat_map(|r| &r.series)
        .flat_map(|s| &s.values)
        .filter_map(|row| row.first().and_then(|v| v.as_str()).map(str::to_string))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_series() {
        let body = br#"{"results":[{"statement_id":0,"series":[{"name":"cpu","tags":{"host":"a"},"columns":["time","value"],"values":[["2020-01-01T00:00:00Z",1.5]]}]}]}"#;
        let res = parse_query_response(body).unwrap();
        assert_eq!(res.len(), 1);
        let s = &res[0].series[0];
        assert_eq!(s.name, "cpu");
        assert_eq!(s.tags["host"], "a");
        assert_eq!(s.columns, ["time", "value"]);
        assert_eq!(s.values[0][1], serde_json::json!(1.5));
    }

    #[test]
    fn statement_error_is_an_error_with_server_text() {
        let body = br#"{"results":[{"statement_id":0,"error":"database not found: nope"}]}"#;
        assert_eq!(
            parse_query_response(body),
            Err(Error::Query("database not found: nope".into()))
        );
        let body = br#"{"error":"error parsing query: found EOF"}"#;
        assert_eq!(
            parse_query_response(body),
            Err(Error::Query("error parsing query: found EOF".into()))
        );
    }

    #[test]
    fn garbage_is_a_protocol_error() {
        assert!(matches!(
            parse_query_response(b"<html>"),
            Err(Error::Protocol(_))
        ));
    }

    #[test]
    fn error_text_prefers_json_field() {
        assert_eq!(error_text(br#"{"error":"partial write"}"#), "partial write");
        assert_eq!(error_text(b"plain\n"), "plain");
    }
}
