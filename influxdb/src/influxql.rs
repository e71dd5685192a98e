//! The few pieces of InfluxQL text we generate: identifiers, string literals, durations.
//! They follow influxql's `QuoteIdent`, `QuoteString` and `FormatDuration` so that the text
//! sent to InfluxDB is what Kapacitor would send.

/// Statement keywords that force quoting of an identifier (influxql's `tokstr` keywords).
const KEYWORDS: &[&str] = &[
    "ALL",
    "ALTER",
    "ANALYZE",
    "ANY",
    "AS",
    "ASC",
    "BEGIN",
    "BY",
    "CARDINALITY",
    "CREATE",
    "CONTINUOUS",
    "DATABASE",
    "DATABASES",
    "DEFAULT",
    "DELETE",
    "DESC",
    "DESTINATIONS",
    "DIAGNOSTICS",
    "DISTINCT",
    "DROP",
    "DURATION",
    "END",
    "EVERY",
    "EXACT",
    "EXPLAIN",
    "FIELD",
    "FOR",
    "FROM",
    "GRANT",
    "GRANTS",
    "GROUP",
    "GROUPS",
    "IN",
    "INF",
    "INSERT",
    "INTO",
    "KEY",
    "KEYS",
    "KILL",
    "LIMIT",
    "MEASUREMENT",
    "MEASUREMENTS",
    "NAME",
    "OFFSET",
    "ON",
    "ORDER",
    "PASSWORD",
    "POLICY",
    "POLICIES",
    "PRIVILEGES",
    "QUERIES",
    "QUERY",
    "READ",
    "REPLICATION",
    "RESAMPLE",
    "RETENTION",
    "REVOKE",
    "SELECT",
    "SERIES",
    "SET",
    "SHARD",
    "SHARDS",
    "SLIMIT",
    "SOFFSET",
    "STATS",
    "SUBSCRIPTION",
    "SUBSCRIPTIONS",
    "TAG",
    "TO",
    "USER",
    "USERS",
    "VALUES",
    "WHERE",
    "WITH",
    "WRITE",
    "AND",
    "OR",
    "TRUE",
    "FALSE",
];

/// Whether `s` can be written bare in InfluxQL (influxql's `IdentNeedsQuotes`, negated).
pub fn is_bare_ident(s: &str) -> bool {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(s))
}

/// An identifier, always double-quoted: `"my db"`. Always quoting is valid InfluxQL and
/// needs no keyword list to stay correct as InfluxQL grows.
pub fn quote_ident(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// An identifier quoted only when needed, as influxql prints `VarRef`s (`host`, `"my tag"`).
pub fn ident(s: &str) -> String {
    if is_bare_ident(s) {
        s.to_string()
    } else {
        quote_ident(s)
    }
}

/// A string literal: `'it\'s'`.
pub fn quote_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\'' => out.push_str("\\'"),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// influxql's `FormatDuration`: the largest unit that divides the value exactly.
pub fn format_duration(ns: i64) -> String {
    const UNITS: [(i64, &str); 7] = [
        (7 * 24 * 3_600_000_000_000, "w"),
        (24 * 3_600_000_000_000, "d"),
        (3_600_000_000_000, "h"),
        (60_000_000_000, "m"),
        (1_000_000_000, "s"),
        (1_000_000, "ms"),
        (1_000, "u"),
    ];
    if ns == 0 {
        return "0s".to_string();
    }
    for (unit, suffix) in UNITS {
        if ns % unit == 0 {
            return format!("{}{suffix}", ns / unit);
        }
    }
    format!("{ns}ns")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(quote_ident("kapacitor-abc"), r#""kapacitor-abc""#);
        assert_eq!(quote_ident(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(quote_string("it's"), r"'it\'s'");
        assert_eq!(ident("host"), "host");
        assert_eq!(ident("my tag"), r#""my tag""#);
        assert_eq!(ident("select"), r#""select""#);
        assert_eq!(ident("1abc"), r#""1abc""#);
    }

    #[test]
    fn durations_use_the_largest_exact_unit() {
        assert_eq!(format_duration(0), "0s");
        assert_eq!(format_duration(10_000_000_000), "10s");
        assert_eq!(format_duration(90_000_000_000), "90s");
        assert_eq!(format_duration(120_000_000_000), "2m");
        assert_eq!(format_duration(3_600_000_000_000), "1h");
        assert_eq!(format_duration(86_400_000_000_000), "1d");
        assert_eq!(format_duration(604_800_000_000_000), "1w");
        assert_eq!(format_duration(1_500_000_000), "1500ms");
        assert_eq!(format_duration(1_500), "1500ns");
        assert_eq!(format_duration(2_000), "2u");
        assert_eq!(format_duration(-10_000_000_000), "-10s");
    }
}
