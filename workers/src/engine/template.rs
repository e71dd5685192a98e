//! A minimal Go text/template renderer for alert `.id()`, `.message()` and `.details()`.
//! TEMP until gotmpl lands: supports literal text, `{{ .A.B }}`, `{{ index .M "k" }}`,
//! `{{ json . }}`/`{{ jsonCompact . }}` and the `{{-`/`-}}` trim markers; anything else is a
//! compile error (the task fails to start instead of rendering something wrong).

use serde_json::Value as J;

#[derive(Debug, Clone)]
enum Part {
    Text(String),
    Path(Vec<String>),
    Index(Vec<String>, String),
    Json(Vec<String>, bool),
}

#[derive(Debug, Clone)]
pub struct Template {
    parts: Vec<Part>,
    /// html/template escaping of the output (alert details).
    html: bool,
}

fn parse_path(s: &str) -> Result<Vec<String>, String> {
    if s == "." {
        return Ok(Vec::new());
    }
    if !s.starts_with('.') {
        return Err(format!("unsupported template operand {s:?}"));
    }
    Ok(s[1..].split('.').map(|x| x.to_string()).collect())
}

impl Template {
    pub fn parse(src: &str, html: bool) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut rest = src;
        let mut trim_next = false;
        while let Some(start) = rest.find("{{") {
            let mut text = &rest[..start];
            if trim_next {
                text = text.trim_start();
            }
            let after = &rest[start + 2..];
            let end = after
                .find("}}")
                .ok_or_else(|| "unclosed action in template".to_string())?;
            let mut action = &after[..end];
            if let Some(a) = action.strip_prefix('-') {
                text = text.trim_end();
                action = a;
            }
            trim_next = false;
            if let Some(a) = action.strip_suffix('-') {
                trim_next = true;
                action = a;
            }
            if !text.is_empty() {
                parts.push(Part::Text(text.to_string()));
            }
            let words: Vec<&str> = action.split_whitespace().collect();
            let part = match words.as_slice() {
                [p] => Part::Path(parse_path(p)?),
                ["index", p, k] => {
                    let k = k
                        .strip_prefix('"')
                        .and_then(|k| k.strip_suffix('"'))
                        .ok_or_else(|| format!("index key must be a string literal, got {k}"))?;
                    Part::Index(parse_path(p)?, k.to_string())
                }
                ["json", p] => Part::Json(parse_path(p)?, false),
                ["jsonCompact", p] => Part::Json(parse_path(p)?, true),
                _ => return Err(format!("unsupported template action {{{{{action}}}}}")),
            };
            parts.push(part);
            rest = &after[end + 2..];
        }
        let text = if trim_next { rest.trim_start() } else { rest };
        if !text.is_empty() {
            parts.push(Part::Text(text.to_string()));
        }
        Ok(Template { parts, html })
    }

    pub fn render(&self, data: &J) -> Result<String, String> {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Path(path) => {
                    let v = lookup(data, path)?;
                    self.push(&mut out, &fmt_value(v));
                }
                Part::Index(path, k) => {
                    let v = lookup(data, path)?;
                    match v {
                        J::Object(m) => {
                            if let Some(x) = m.get(k) {
                                self.push(&mut out, &fmt_value(x));
                            } else {
                                // Go: index of a missing map key yields the zero value.
                                self.push(&mut out, "<no value>");
                            }
                        }
                        _ => return Err("index of a non-map value".into()),
                    }
                }
                Part::Json(path, compact) => {
                    let v = lookup(data, path)?;
                    let s = if *compact {
                        serde_json::to_string(v)
                    } else {
                        serde_json::to_string(v)
                    }
                    .map_err(|e| e.to_string())?;
                    self.push(&mut out, &s);
                }
            }
        }
        Ok(out)
    }

    fn push(&self, out: &mut String, s: &str) {
        if !self.html {
            out.push_str(s);
            return;
        }
        for c in s.chars() {
            match c {
                '<' => out.push_str("&lt;"),
                '>' => out.push_str("&gt;"),
                '&' => out.push_str("&amp;"),
                '"' => out.push_str("&#34;"),
                '\'' => out.push_str("&#39;"),
                c => out.push(c),
            }
        }
    }
}

fn lookup<'a>(data: &'a J, path: &[String]) -> Result<&'a J, String> {
    let mut v = data;
    for k in path {
        v = match v {
            J::Object(m) => m.get(k).unwrap_or(&J::Null),
            _ => return Err(format!("can't evaluate field {k}")),
        };
    }
    Ok(v)
}

/// Go's `%v` for the values alert templates see.
fn fmt_value(v: &J) -> String {
    match v {
        J::Null => "<no value>".into(),
        J::Bool(b) => b.to_string(),
        J::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.to_string()
            } else {
                go_float(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        J::String(s) => s.clone(),
        J::Array(a) => format!(
            "[{}]",
            a.iter().map(fmt_value).collect::<Vec<_>>().join(" ")
        ),
        J::Object(m) => format!(
            "map[{}]",
            m.iter()
                .map(|(k, v)| format!("{k}:{}", fmt_value(v)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
    }
}

/// Go's `%v` of a float64 (strconv `g`, shortest): exponent form below 1e-4 and from 1e6 up.
pub fn go_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    if f == 0.0 {
        return "0".into();
    }
    let e = format!("{f:e}");
    let (mant, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mant}e{sign}{:02}", exp.abs())
    } else {
        format!("{f}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_paths_and_index() {
        let t = Template::parse("kapacitor/{{ .Name }}/{{ index .Tags \"host\" }}", false).unwrap();
        let d = serde_json::json!({"Name": "cpu", "Tags": {"host": "a"}});
        assert_eq!(t.render(&d).unwrap(), "kapacitor/cpu/a");
        assert!(Template::parse("{{ if .X }}", false).is_err());
    }
}
