//! `KAPACITOR_*` environment overrides, named the way Kapacitor names them.
//!
//! The effective configuration is turned into a TOML tree; every leaf gets the name
//! `KAPACITOR_` + its key path upper-cased with `-` -> `_` and array elements by index
//! (`KAPACITOR_INFLUXDB_0_URLS_0`). A set variable replaces the leaf, parsed as the leaf's
//! current TOML type, and the tree is decoded again so every section's own checks apply.
//! Only existing elements are reachable, as in Kapacitor; in addition a whole scalar array can
//! be set as a comma-separated list (`KAPACITOR_SMTP_TO=a@x,b@x`), which is the only way to
//! fill an array that is empty by default.

use crate::{Config, ConfigError};
use serde::Deserialize;
use std::collections::BTreeMap;
use toml::{Table, Value};

const PREFIX: &str = "KAPACITOR";

/// Arrays of tables that Kapacitor also addresses without an index when they hold one element
/// (`KAPACITOR_KUBERNETES_ENABLED`).
const IMPLICIT_SINGLE: &[&str] = &["kubernetes", "slack", "discord", "mqtt", "swarm"];

/// Maps whose keys come from the user (`KAPACITOR_HTTPPOST_0_HEADERS_Example=...` adds one).
fn is_open_map(key: &str) -> bool {
    matches!(
        key,
        "headers"
            | "env"
            | "subscriptions"
            | "excluded-subscriptions"
            | "sasl_extensions"
            | "sasl-oauth-params"
            | "labels"
    )
}

fn env_segment(key: &str) -> String {
    key.to_uppercase().replace('-', "_")
}

pub(crate) fn apply(cfg: &Config, env: &[(String, String)]) -> Result<Config, ConfigError> {
    let vars: BTreeMap<&str, &str> = env
        .iter()
        .filter(|(k, v)| k.starts_with("KAPACITOR_") && !v.is_empty())
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    if vars.is_empty() {
        return Ok(cfg.clone());
    }
    let base = to_table(cfg)?;
    let mut root = base.clone();
    let mut applied = Vec::new();
    walk_table(&mut root, PREFIX, true, &vars, &mut applied)?;
    if applied.is_empty() {
        return Ok(cfg.clone());
    }
    match decode(root) {
        Ok(c) => Ok(c),
        Err(all_err) => {
            // Find the variable to blame: the first that fails on its own.
            for name in &applied {
                let one: BTreeMap<&str, &str> = vars
                    .iter()
                    .filter(|(k, _)| **k == name)
                    .map(|(k, v)| (*k, *v))
                    .collect();
                let mut t = base.clone();
                walk_table(&mut t, PREFIX, true, &one, &mut Vec::new())?;
                if let Err(e) = decode(t) {
                    return Err(ConfigError(format!("{name}={:?}: {e}", one[name.as_str()])));
                }
            }
            Err(ConfigError(format!(
                "environment overrides {}: {all_err}",
                applied.join(", ")
            )))
        }
    }
}

fn to_table(cfg: &Config) -> Result<Table, ConfigError> {
    match Value::try_from(cfg) {
        Ok(Value::Table(t)) => Ok(t),
        Ok(_) => Err(ConfigError("configuration is not a table".into())),
        Err(e) => Err(ConfigError(format!("encoding configuration: {e}"))),
    }
}

fn decode(t: Table) -> Result<Config, String> {
    let cfg = Config::deserialize(Value::Table(t)).map_err(|e| e.to_string())?;
    cfg.check_discovery().map_err(|e| e.0)?;
    Ok(cfg)
}

fn walk_table(
    table: &mut Table,
    prefix: &str,
    top: bool,
    vars: &BTreeMap<&str, &str>,
    applied: &mut Vec<String>,
) -> Result<(), ConfigError> {
    let siblings: Vec<String> = table
        .keys()
        .map(|k| format!("{prefix}_{}", env_segment(k)))
        .collect();
    for (key, value) in table.iter_mut() {
        let name = format!("{prefix}_{}", env_segment(key));
        match value {
            Value::Table(t) => {
                if is_open_map(key) {
                    let lists = key == "subscriptions" || key == "excluded-subscriptions";
                    let others: Vec<&str> = siblings
                        .iter()
                        .map(String::as_str)
                        .filter(|s| *s != name)
                        .collect();
                    add_map_entries(t, &name, lists, &others, vars, applied)?;
                }
                walk_table(t, &name, false, vars, applied)?;
            }
            Value::Array(items) => {
                let scalars = items.iter().all(|v| !v.is_table());
                if scalars && let Some(&raw) = vars.get(name.as_str()) {
                    *items = split_list(raw, items.first(), &name)?;
                    applied.push(name.clone());
                }
                if top
                    && items.len() == 1
                    && IMPLICIT_SINGLE.contains(&key.as_str())
                    && let Some(Value::Table(t)) = items.first_mut()
                {
                    walk_table(t, &name, false, vars, applied)?;
                }
                for (i, item) in items.iter_mut().enumerate() {
                    let item_name = format!("{name}_{i}");
                    match item {
                        Value::Table(t) => walk_table(t, &item_name, false, vars, applied)?,
                        Value::Array(_) => {}
                        leaf => set_leaf(leaf, &item_name, vars, applied)?,
                    }
                }
            }
            leaf => set_leaf(leaf, &name, vars, applied)?,
        }
    }
    Ok(())
}

/// Adds keys named only by the environment to a user-keyed map; existing keys are left to the
/// normal walk. The key keeps the case it has in the variable name.
#[allow(clippy::too_many_arguments)]
fn add_map_entries(
    map: &mut Table,
    name: &str,
    lists: bool,
    siblings: &[&str],
    vars: &BTreeMap<&str, &str>,
    applied: &mut Vec<String>,
) -> Result<(), ConfigError> {
    let prefix = format!("{name}_");
    let existing: Vec<String> = map.keys().map(|k| env_segment(k)).collect();
    // Values of a map are all of one type; an existing value tells which.
    let sample = map.values().next().cloned();
    for (var, raw) in vars.range(prefix.as_str()..) {
        let Some(key) = var.strip_prefix(prefix.as_str()) else {
            break;
        };
        // `subscriptions` and `subscriptions-sync-interval` share a prefix: a sibling's
        // variable is never a map key.
        if siblings
            .iter()
            .any(|s| *var == *s || var.starts_with(&format!("{s}_")))
        {
            continue;
        }
        let upper = key.to_uppercase();
        if key.is_empty()
            || existing
                .iter()
                .any(|e| upper == *e || upper.starts_with(&format!("{e}_")))
        {
            continue;
        }
        let value = match &sample {
            Some(Value::Array(a)) => Value::Array(split_list(raw, a.first(), var)?),
            Some(Value::Table(_)) => continue,
            _ if lists => Value::Array(split_list(raw, None, var)?),
            _ => Value::String((*raw).to_string()),
        };
        map.insert(key.to_string(), value);
        applied.push((*var).to_string());
    }
    Ok(())
}

fn set_leaf(
    leaf: &mut Value,
    name: &str,
    vars: &BTreeMap<&str, &str>,
    applied: &mut Vec<String>,
) -> Result<(), ConfigError> {
    if let Some(&raw) = vars.get(name) {
        *leaf = parse_like(leaf, raw, name)?;
        applied.push(name.to_string());
    }
    Ok(())
}

fn split_list(raw: &str, sample: Option<&Value>, name: &str) -> Result<Vec<Value>, ConfigError> {
    let proto = sample.cloned().unwrap_or(Value::String(String::new()));
    raw.split(',')
        .map(|part| parse_like(&proto, part.trim(), name))
        .collect()
}

/// Parses `raw` as a value of the same TOML type as `current`.
fn parse_like(current: &Value, raw: &str, name: &str) -> Result<Value, ConfigError> {
    let bad = |what: &str| ConfigError(format!("{name}={raw:?}: invalid {what}"));
    Ok(match current {
        Value::Boolean(_) => Value::Boolean(parse_go_bool(raw).ok_or_else(|| bad("boolean"))?),
        Value::Integer(_) => Value::Integer(parse_go_int(raw).ok_or_else(|| bad("integer"))?),
        Value::Float(_) => Value::Float(raw.trim().parse().map_err(|_| bad("number"))?),
        _ => Value::String(raw.to_string()),
    })
}

/// Go's `strconv.ParseBool`.
pub(crate) fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Go's `strconv.ParseInt(s, 0, 64)`: sign, then `0x`/`0o`/`0b`/leading-`0` bases, with
/// underscores allowed only after a base prefix.
pub(crate) fn parse_go_int(s: &str) -> Option<i64> {
    let (neg, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let lower = body.to_ascii_lowercase();
    let (radix, digits, prefixed) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d.to_string(), true)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d.to_string(), true)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d.to_string(), true)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, lower[1..].to_string(), true)
    } else {
        (10, lower.clone(), false)
    };
    if digits.contains('_') && (!prefixed || digits.ends_with('_') || digits.contains("__")) {
        return None;
    }
    let digits = digits.replace('_', "");
    if digits.is_empty() || digits.starts_with(['+', '-']) {
        return None;
    }
    let magnitude = u64::from_str_radix(&digits, radix).ok()?;
    if neg {
        if magnitude > i64::MAX as u64 + 1 {
            None
        } else {
            Some((magnitude as i64).wrapping_neg())
        }
    } else {
        i64::try_from(magnitude).ok()
    }
}

/// Every overridable leaf of `cfg` with its variable name and current value.
#[cfg(test)]
pub(crate) fn leaves(cfg: &Config) -> Vec<(String, Value)> {
    fn walk(v: &Value, name: &str, out: &mut Vec<(String, Value)>) {
        match v {
            Value::Table(t) => {
                for (k, v) in t {
                    walk(v, &format!("{name}_{}", env_segment(k)), out);
                }
            }
            Value::Array(a) => {
                for (i, v) in a.iter().enumerate() {
                    walk(v, &format!("{name}_{i}"), out);
                }
            }
            leaf => out.push((name.to_string(), leaf.clone())),
        }
    }
    let mut out = Vec::new();
    walk(
        &Value::Table(to_table(cfg).expect("config encodes")),
        PREFIX,
        &mut out,
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_bools() {
        for t in ["1", "t", "T", "TRUE", "true", "True"] {
            assert_eq!(parse_go_bool(t), Some(true));
        }
        for f in ["0", "f", "F", "FALSE", "false", "False"] {
            assert_eq!(parse_go_bool(f), Some(false));
        }
        for bad in ["yes", "tRUE", "", "2"] {
            assert_eq!(parse_go_bool(bad), None);
        }
    }

    #[test]
    fn go_ints() {
        assert_eq!(parse_go_int("42"), Some(42));
        assert_eq!(parse_go_int("-42"), Some(-42));
        assert_eq!(parse_go_int("+7"), Some(7));
        assert_eq!(parse_go_int("0x1F"), Some(31));
        assert_eq!(parse_go_int("0o17"), Some(15));
        assert_eq!(parse_go_int("017"), Some(15));
        assert_eq!(parse_go_int("0b101"), Some(5));
        assert_eq!(parse_go_int("0x_1_0"), Some(16));
        assert_eq!(parse_go_int("0"), Some(0));
        assert_eq!(parse_go_int("-9223372036854775808"), Some(i64::MIN));
        for bad in [
            "",
            "-",
            "1_000",
            "9223372036854775808",
            "abc",
            "0x",
            "1.5",
            "--1",
            "08",
        ] {
            assert_eq!(parse_go_int(bad), None, "{bad}");
        }
    }
}
