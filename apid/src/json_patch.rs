//! RFC 6902 JSON Patch, for `PATCH /alerts/topics/<t>/handlers/<id>`: `add`, `remove`,
//! `replace`, `move`, `copy` and `test`, with RFC 6901 pointers (`~0`, `~1`, `-` to append).
//! A page of code instead of a crate: the documents are small handler specs.

use serde_json::Value;

/// Parses a patch document (a JSON array of operations).
pub fn decode(body: &[u8]) -> Result<Vec<Value>, String> {
    match serde_json::from_slice::<Value>(body).map_err(|e| e.to_string())? {
        Value::Array(ops) => {
            for op in &ops {
                if !op.get("op").is_some_and(Value::is_string) {
                    return Err(format!("operation without an \"op\": {op}"));
                }
            }
            Ok(ops)
        }
        other => Err(format!(
            "a patch is a JSON array of operations, not {other}"
        )),
    }
}

/// Applies every operation in order to a copy of `doc`; all or nothing.
pub fn apply(doc: &Value, ops: &[Value]) -> Result<Value, String> {
    let mut out = doc.clone();
    for op in ops {
        apply_one(&mut out, op)?;
    }
    Ok(out)
}

fn str_field<'a>(op: &'a Value, key: &str) -> Result<&'a str, String> {
    op.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("operation {op} lacks {key:?}"))
}

fn value_field(op: &Value) -> Result<Value, String> {
    op.get("value")
        .cloned()
        .ok_or_else(|| format!("operation {op} lacks \"value\""))
}

fn apply_one(doc: &mut Value, op: &Value) -> Result<(), String> {
    let path = str_field(op, "path")?;
    match str_field(op, "op")? {
        "add" => add(doc, path, value_field(op)?),
        "remove" => remove(doc, path).map(drop),
        "replace" => {
            let target = get_mut(doc, path)?;
            *target = value_field(op)?;
            Ok(())
        }
        "move" => {
            let from = str_field(op, "from")?;
            if path.starts_with(&format!("{from}/")) {
                return Err(format!("cannot move {from:?} into its own child {path:?}"));
            }
            let v = remove(doc, from)?;
            add(doc, path, v)
        }
        "copy" => {
            let v = get_mut(doc, str_field(op, "from")?)?.clone();
            add(doc, path, v)
        }
        "test" => {
            let want = value_field(op)?;
            let got = get_mut(doc, path)?;
            if *got == want {
                Ok(())
            } else {
                Err(format!("test failed: {path:?} is {got}, not {want}"))
            }
        }
        other => Err(format!("unknown patch operation {other:?}")),
    }
}

/// The unescaped tokens of a pointer; `""` is the whole document.
fn tokens(path: &str) -> Result<Vec<String>, String> {
    if path.is_empty() {
        return Ok(Vec::new());
    }
    let Some(rest) = path.strip_prefix('/') else {
        return Err(format!("invalid JSON pointer {path:?}"));
    };
    Ok(rest
        .split('/')
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect())
}

fn index(tok: &str, len: usize, allow_end: bool) -> Result<usize, String> {
    if allow_end && tok == "-" {
        return Ok(len);
    }
    let i: usize = tok
        .parse()
        .map_err(|_| format!("invalid array index {tok:?}"))?;
    if i > len || (!allow_end && i == len) {
        return Err(format!("array index {i} out of bounds"));
    }
    Ok(i)
}

fn child_mut<'a>(v: &'a mut Value, tok: &str, path: &str) -> Result<&'a mut Value, String> {
    match v {
        Value::Object(m) => m
            .get_mut(tok)
            .ok_or_else(|| format!("path {path:?} does not exist")),
        Value::Array(a) => {
            let i = index(tok, a.len(), false)?;
            Ok(&mut a[i])
        }
        _ => Err(format!("path {path:?} does not exist")),
    }
}

fn get_mut<'a>(doc: &'a mut Value, path: &str) -> Result<&'a mut Value, String> {
    let mut cur = doc;
    for tok in tokens(path)? {
        cur = child_mut(cur, &tok, path)?;
    }
    Ok(cur)
}

/// The parent of the pointer's target and the last token.
fn parent_mut<'a>(doc: &'a mut Value, path: &str) -> Result<(&'a mut Value, String), String> {
    let mut toks = tokens(path)?;
    let last = toks
        .pop()
        .ok_or_else(|| "cannot add or remove the whole document".to_string())?;
    let mut cur = doc;
    for tok in toks {
        cur = child_mut(cur, &tok, path)?;
    }
    Ok((cur, last))
}

fn add(doc: &mut Value, path: &str, v: Value) -> Result<(), String> {
    if path.is_empty() {
        *doc = v;
        return Ok(());
    }
    let (parent, last) = parent_mut(doc, path)?;
    match parent {
        Value::Object(m) => {
            m.insert(last, v);
            Ok(())
        }
        Value::Array(a) => {
            let i = index(&last, a.len(), true)?;
            a.insert(i, v);
            Ok(())
        }
        _ => Err(format!("path {path:?} does not exist")),
    }
}

fn remove(doc: &mut Value, path: &str) -> Result<Value, String> {
    let (parent, last) = parent_mut(doc, path)?;
    match parent {
        Value::Object(m) => m
            .shift_remove(&last)
            .ok_or_else(|| format!("path {path:?} does not exist")),
        Value::Array(a) => {
            let i = index(&last, a.len(), false)?;
            Ok(a.remove(i))
        }
        _ => Err(format!("path {path:?} does not exist")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn patch(doc: Value, ops: &str) -> Result<Value, String> {
        apply(&doc, &decode(ops.as_bytes())?)
    }

    #[test]
    fn operations_of_rfc_6902() {
        let doc = json!({"id": "h", "options": {"channel": "#a", "to": ["x"]}, "match": ""});
        let out = patch(
            doc.clone(),
            r##"[{"op":"replace","path":"/options/channel","value":"#b"},
                {"op":"add","path":"/options/to/-","value":"y"},
                {"op":"add","path":"/options/to/0","value":"w"},
                {"op":"copy","from":"/id","path":"/options/a~1b"},
                {"op":"move","from":"/match","path":"/m"},
                {"op":"test","path":"/options/to/1","value":"x"},
                {"op":"remove","path":"/options/to/2"}]"##,
        )
        .unwrap();
        assert_eq!(
            out,
            json!({"id": "h", "options": {"channel": "#b", "to": ["w", "x"], "a/b": "h"}, "m": ""})
        );
    }

    #[test]
    fn failures_leave_a_clear_error() {
        let doc = json!({"id": "h", "options": {}});
        for (ops, want) in [
            (
                r#"[{"op":"replace","path":"/nope","value":1}]"#,
                "does not exist",
            ),
            (r#"[{"op":"test","path":"/id","value":"x"}]"#, "test failed"),
            (r#"[{"op":"frob","path":"/id"}]"#, "unknown patch operation"),
            (r#"[{"path":"/id"}]"#, "without an \"op\""),
            (r#"{"op":"add"}"#, "JSON array"),
            (
                r#"[{"op":"add","path":"id","value":1}]"#,
                "invalid JSON pointer",
            ),
        ] {
            let e = patch(doc.clone(), ops).unwrap_err();
            assert!(e.contains(want), "{ops}: {e}");
        }
    }
}
