//! Splits a `batch|query()` SELECT into its clauses so the time range, GROUP BY and fill
//! can be injected, without a full InfluxQL parser: clause keywords are only recognised
//! outside strings, quoted identifiers, regexes and parentheses (subqueries).

use crate::error::{Error, Result};

/// The clauses of one SELECT statement, each as the user's text (whitespace collapsed).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SelectParts {
    /// `SELECT … [INTO …] FROM …`, everything before WHERE/GROUP BY/…
    pub head: String,
    pub condition: Option<String>,
    pub group_by: Option<String>,
    pub fill: Option<String>,
    /// ORDER BY, LIMIT, OFFSET, SLIMIT, SOFFSET, tz(): kept in the user's order.
    pub tail: String,
    /// Whether the condition has an OR outside parentheses; it is then parenthesised before
    /// the time range is ANDed to it (Kapacitor does not, which changes the query's meaning).
    pub condition_has_top_level_or: bool,
    /// Whether the condition refers to `time`.
    pub condition_mentions_time: bool,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    /// A bare word (keyword, identifier, number, duration).
    Word(String),
    /// Anything else, verbatim: quoted identifiers, strings, regexes, operators, punctuation.
    Other(String),
    Open,
    Close,
    Semicolon,
}

fn lex(q: &str) -> Result<Vec<(Tok, bool)>> {
    // (token, preceded by whitespace)
    let mut out = Vec::new();
    let b = q.as_bytes();
    let mut i = 0;
    let mut space = false;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            space = true;
            i += 1;
            continue;
        }
        if c == b'-' && b.get(i + 1) == Some(&b'-') {
            // InfluxQL line comment.
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
            space = true;
            continue;
        }
        let start = i;
        let tok = match c {
            b'\'' | b'"' => {
                i += 1;
                loop {
                    match b.get(i) {
                        None => {
                            return Err(Error::Invalid(format!(
                                "failed to parse InfluxQL query: unterminated {} at offset {start}",
                                if c == b'"' {
                                    "quoted identifier"
                                } else {
                                    "string"
                                }
                            )));
                        }
                        Some(b'\\') => i += 2,
                        Some(&x) if x == c => {
                            i += 1;
                            break;
                        }
                        Some(_) => i += 1,
                    }
                }
                Tok::Other(q[start..i].to_string())
            }
            b'/' if matches!(out.last(), Some((Tok::Other(op), _)) if op == "=~" || op == "!~") => {
                i += 1;
                loop {
                    match b.get(i) {
                        None => {
                            return Err(Error::Invalid(format!(
                                "failed to parse InfluxQL query: unterminated regex at offset {start}"
                            )));
                        }
                        Some(b'\\') => i += 2,
                        Some(b'/') => {
                            i += 1;
                            break;
                        }
                        Some(_) => i += 1,
                    }
                }
                Tok::Other(q[start..i].to_string())
            }
            b'(' => {
                i += 1;
                Tok::Open
            }
            b')' => {
                i += 1;
                Tok::Close
            }
            b';' => {
                i += 1;
                Tok::Semicolon
            }
            c if c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80 => {
                while i < b.len()
                    && (b[i].is_ascii_alphanumeric()
                        || b[i] == b'_'
                        || b[i] == b'.'
                        || b[i] >= 0x80)
                {
                    i += 1;
                }
                Tok::Word(q[start..i].to_string())
            }
            _ => {
                // Operators: keep two-character ones together so `=~` is recognised.
                let two = q.get(i..i + 2);
                i += match two {
                    Some("=~" | "!~" | "!=" | "<>" | "<=" | ">=" | "::") => 2,
                    _ => q[i..].chars().next().map_or(1, char::len_utf8),
                };
                Tok::Other(q[start..i].to_string())
            }
        };
        out.push((tok, space));
        space = false;
    }
    Ok(out)
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Clause {
    Head,
    Where,
    GroupBy,
    Fill,
    Tail,
}

fn word_is(t: &Tok, kw: &str) -> bool {
    matches!(t, Tok::Word(w) if w.eq_ignore_ascii_case(kw))
}

/// Re-joins tokens with single spaces where the text had whitespace.
fn render(toks: &[(Tok, bool)]) -> String {
    let mut s = String::new();
    for (i, (t, space)) in toks.iter().enumerate() {
        if i > 0 && *space {
            s.push(' ');
        }
        s.push_str(match t {
            Tok::Word(w) | Tok::Other(w) => w,
            Tok::Open => "(",
            Tok::Close => ")",
            Tok::Semicolon => ";",
        });
    }
    s
}

/// Splits `q`, checking it is exactly one SELECT statement (Kapacitor's errors).
pub fn split(q: &str) -> Result<SelectParts> {
    let toks = lex(q)?;
    let statements = toks
        .split(|(t, _)| *t == Tok::Semicolon)
        .filter(|s| !s.is_empty())
        .count();
    if statements != 1 {
        return Err(Error::Invalid(format!(
            "query must be a single select statement, got {statements} statements"
        )));
    }
    let toks: Vec<_> = toks
        .into_iter()
        .filter(|(t, _)| *t != Tok::Semicolon)
        .collect();
    if !toks.first().is_some_and(|(t, _)| word_is(t, "SELECT")) {
        return Err(Error::Invalid(format!(
            "query is not a select statement {:?}",
            q.trim()
        )));
    }
    let mut depth = 0i32;
    let mut clause = Clause::Head;
    let mut parts: Vec<(Clause, Vec<(Tok, bool)>)> = vec![(Clause::Head, Vec::new())];
    let mut i = 0;
    let mut parts_out = SelectParts::default();
    while i < toks.len() {
        let (t, sp) = &toks[i];
        match t {
            Tok::Open => depth += 1,
            Tok::Close => {
                depth -= 1;
                if depth < 0 {
                    return Err(Error::Invalid(
                        "failed to parse InfluxQL query: unbalanced ')'".into(),
                    ));
                }
            }
            _ => {}
        }
        if depth == 0 {
            let next_is = |kw| toks.get(i + 1).is_some_and(|(n, _)| word_is(n, kw));
            let new_clause = if word_is(t, "WHERE") {
                Some((Clause::Where, 1))
            } else if word_is(t, "GROUP") && next_is("BY") {
                Some((Clause::GroupBy, 2))
            } else if word_is(t, "FILL") && toks.get(i + 1).is_some_and(|(n, _)| *n == Tok::Open) {
                Some((Clause::Fill, 0))
            } else if (word_is(t, "ORDER") && next_is("BY"))
                || ["LIMIT", "OFFSET", "SLIMIT", "SOFFSET"]
                    .iter()
                    .any(|k| word_is(t, k))
                || (word_is(t, "TZ") && toks.get(i + 1).is_some_and(|(n, _)| *n == Tok::Open))
            {
                Some((Clause::Tail, 0))
            } else {
                None
            };
            if let Some((c, skip)) = new_clause {
                if c != Clause::Tail || clause != Clause::Tail {
                    if parts.iter().any(|(pc, _)| *pc == c) {
                        return Err(Error::Invalid(format!(
                            "failed to parse InfluxQL query: repeated {} clause",
                            match c {
                                Clause::Where => "WHERE",
                                Clause::GroupBy => "GROUP BY",
                                Clause::Fill => "fill",
                                _ => "ORDER BY/LIMIT",
                            }
                        )));
                    }
                    clause = c;
                    parts.push((c, Vec::new()));
                }
                if c == Clause::Tail {
                    parts.last_mut().expect("pushed").1.push((t.clone(), true));
                }
                i += if c == Clause::Tail { 1 } else { skip };
                if c == Clause::Fill {
                    parts.last_mut().expect("pushed").1.push((t.clone(), false));
                    i += 1;
                }
                continue;
            }
        }
        if clause == Clause::Where && depth == 0 && word_is(t, "OR") {
            parts_out.condition_has_top_level_or = true;
        }
        if clause == Clause::Where
            && (word_is(t, "time") || matches!(t, Tok::Other(s) if s == "\"time\""))
        {
            parts_out.condition_mentions_time = true;
        }
        parts
            .last_mut()
            .expect("head exists")
            .1
            .push((t.clone(), *sp));
        i += 1;
    }
    if depth != 0 {
        return Err(Error::Invalid(
            "failed to parse InfluxQL query: unbalanced '('".into(),
        ));
    }
    for (c, toks) in parts {
        let text = render(&toks);
        match c {
            Clause::Head => parts_out.head = text,
            Clause::Where => parts_out.condition = Some(text),
            Clause::GroupBy => parts_out.group_by = Some(text),
            Clause::Fill => parts_out.fill = Some(text),
            Clause::Tail => {
                if !parts_out.tail.is_empty() {
                    parts_out.tail.push(' ');
                }
                parts_out.tail.push_str(&text);
            }
        }
    }
    if !parts_out
        .head
        .split(' ')
        .any(|w| w.eq_ignore_ascii_case("FROM"))
    {
        return Err(Error::Invalid(
            "failed to parse InfluxQL query: found no FROM clause".into(),
        ));
    }
    if parts_out.condition.as_deref() == Some("") {
        return Err(Error::Invalid(
            "failed to parse InfluxQL query: WHERE without a condition".into(),
        ));
    }
    Ok(parts_out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_clauses() {
        let p = split(
            "SELECT mean(\"value\")\n  FROM \"telegraf\".\"autogen\".cpu\n  WHERE host = 'a' AND (x = 1 OR y = 2)\n  GROUP BY host fill(0) ORDER BY time DESC LIMIT 10 tz('UTC')",
        )
        .unwrap();
        assert_eq!(
            p.head,
            r#"SELECT mean("value") FROM "telegraf"."autogen".cpu"#
        );
        assert_eq!(
            p.condition.as_deref(),
            Some("host = 'a' AND (x = 1 OR y = 2)")
        );
        assert!(!p.condition_has_top_level_or);
        assert_eq!(p.group_by.as_deref(), Some("host"));
        assert_eq!(p.fill.as_deref(), Some("fill(0)"));
        assert_eq!(p.tail, "ORDER BY time DESC LIMIT 10 tz('UTC')");
    }

    #[test]
    fn keywords_inside_strings_regexes_and_subqueries_are_text() {
        let p = split(
            "SELECT max(v) FROM (SELECT v FROM db.rp.m WHERE a = 'b' GROUP BY c) WHERE s = 'x WHERE y' AND h =~ /a WHERE|b/",
        )
        .unwrap();
        assert_eq!(
            p.head,
            "SELECT max(v) FROM (SELECT v FROM db.rp.m WHERE a = 'b' GROUP BY c)"
        );
        assert_eq!(
            p.condition.as_deref(),
            Some("s = 'x WHERE y' AND h =~ /a WHERE|b/")
        );
        assert!(p.group_by.is_none());
    }

    #[test]
    fn detects_or_and_time() {
        let p = split("SELECT v FROM m WHERE a = 1 OR b = 2").unwrap();
        assert!(p.condition_has_top_level_or);
        let p = split("SELECT v FROM m WHERE time > now() - 1h").unwrap();
        assert!(p.condition_mentions_time);
    }

    #[test]
    fn kapacitor_errors() {
        assert_eq!(
            split("SELECT value FROM db.rp.m; DROP DATABASE _internal").unwrap_err(),
            Error::Invalid("query must be a single select statement, got 2 statements".into())
        );
        assert_eq!(
            split("DROP DATABASE _internal").unwrap_err(),
            Error::Invalid("query is not a select statement \"DROP DATABASE _internal\"".into())
        );
        assert!(split("SELECT v FROM m WHERE a = 'x").is_err());
        assert!(split("SELECT mean(v FROM m").is_err());
        assert!(split("SELECT v").is_err());
        assert!(split("").is_err());
        assert!(split("SELECT v FROM m; ").is_ok());
    }
}
