//! Task and template vars in Kapacitor's JSON shape:
//! `{"name": {"type": "duration", "value": 60000000000, "description": ""}}`.
//!
//! Durations are integer nanoseconds on output and either nanoseconds or a duration string
//! (`"1m"`, `"1h30m"`) on input; lambdas are the expression text (`"\"usage_idle\" < 10"`),
//! regexes the pattern, lists `[{"type":"string","value":"host"}]`, and star is `null`.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value as Json};

use crate::parser::parse_duration_literal;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VarType {
    Bool,
    Int,
    Float,
    String,
    Regex,
    Duration,
    Lambda,
    List,
    Star,
}

impl VarType {
    pub fn as_str(self) -> &'static str {
        match self {
            VarType::Bool => "bool",
            VarType::Int => "int",
            VarType::Float => "float",
            VarType::String => "string",
            VarType::Regex => "regex",
            VarType::Duration => "duration",
            VarType::Lambda => "lambda",
            VarType::List => "list",
            VarType::Star => "star",
        }
    }

    /// The type named in a `var x <type>` declaration.
    pub fn from_decl(s: &str) -> Option<VarType> {
        Some(match s {
            "bool" => VarType::Bool,
            "int" => VarType::Int,
            "float" => VarType::Float,
            "string" => VarType::String,
            "regex" => VarType::Regex,
            "duration" => VarType::Duration,
            "lambda" => VarType::Lambda,
            "list" => VarType::List,
            "star" => VarType::Star,
            _ => return None,
        })
    }
}

impl fmt::Display for VarType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The value of a var; `Null` for a required template var that has no value yet.
#[derive(Debug, Clone, PartialEq)]
pub enum VarValue {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    String(String),
    /// Go RE2 pattern.
    Regex(String),
    /// Nanoseconds.
    Duration(i64),
    /// The expression text, without `lambda:`.
    Lambda(String),
    List(Vec<Var>),
    Star,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Var {
    pub ty: VarType,
    pub value: VarValue,
    pub description: String,
}

impl Var {
    pub fn new(ty: VarType, value: VarValue) -> Var {
        Var {
            ty,
            value,
            description: String::new(),
        }
    }

    fn to_json(&self, with_description: bool) -> Json {
        let mut m = Map::new();
        m.insert("type".into(), Json::String(self.ty.as_str().into()));
        let value = match &self.value {
            VarValue::Null | VarValue::Star => Json::Null,
            VarValue::Bool(b) => Json::Bool(*b),
            VarValue::Int(i) | VarValue::Duration(i) => Json::from(*i),
            VarValue::Float(f) => serde_json::Number::from_f64(*f).map_or(Json::Null, Json::Number),
            VarValue::String(s) | VarValue::Regex(s) | VarValue::Lambda(s) => {
                Json::String(s.clone())
            }
            VarValue::List(items) => Json::Array(items.iter().map(|v| v.to_json(false)).collect()),
        };
        m.insert("value".into(), value);
        if with_description {
            m.insert("description".into(), Json::String(self.description.clone()));
        }
        Json::Object(m)
    }

    fn from_json(j: &Json) -> Result<Var, String> {
        let obj = j.as_object().ok_or("a var must be an object")?;
        let ty: VarType = match obj.get("type") {
            Some(t) => serde_json::from_value(t.clone()).map_err(|_| {
                format!(
                    "invalid var type {t}; expected one of bool, int, float, string, regex, \
                     duration, lambda, list, star"
                )
            })?,
            None => return Err("a var needs a \"type\"".into()),
        };
        let description = match obj.get("description") {
            None | Some(Json::Null) => String::new(),
            Some(Json::String(s)) => s.clone(),
            Some(other) => return Err(format!("var description must be a string, got {other}")),
        };
        let raw = obj.get("value").unwrap_or(&Json::Null);
        let bad = || format!("invalid value {raw} for var of type {ty}");
        let value = match (ty, raw) {
            (VarType::Star, _) => VarValue::Star,
            (_, Json::Null) => VarValue::Null,
            (VarType::Bool, Json::Bool(b)) => VarValue::Bool(*b),
            (VarType::Int, Json::Number(n)) => VarValue::Int(n.as_i64().ok_or_else(bad)?),
            (VarType::Float, Json::Number(n)) => VarValue::Float(n.as_f64().ok_or_else(bad)?),
            (VarType::String, Json::String(s)) => VarValue::String(s.clone()),
            (VarType::Regex, Json::String(s)) => VarValue::Regex(s.clone()),
            (VarType::Lambda, Json::String(s)) => VarValue::Lambda(s.clone()),
            (VarType::Duration, Json::Number(n)) => VarValue::Duration(n.as_i64().ok_or_else(bad)?),
            (VarType::Duration, Json::String(s)) => {
                VarValue::Duration(parse_duration_string(s).ok_or_else(bad)?)
            }
            (VarType::List, Json::Array(items)) => VarValue::List(
                items
                    .iter()
                    .map(Var::from_json)
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            _ => return Err(bad()),
        };
        Ok(Var {
            ty,
            value,
            description,
        })
    }
}

/// A duration string as accepted for duration vars: one or more `<int><unit>` segments
/// (`1m`, `1h30m`, `500ms`), units `ns u µ ms s m h d w`, optionally negative.
fn parse_duration_string(s: &str) -> Option<i64> {
    let (neg, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    if rest.is_empty() {
        return None;
    }
    let mut total: i64 = 0;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit())?;
        let unit_len = rest[digits..]
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len() - digits);
        let seg = &rest[..digits + unit_len];
        let nanos = if seg.ends_with("ns") {
            seg[..digits].parse::<i64>().ok()?
        } else {
            parse_duration_literal(seg)?
        };
        total = total.checked_add(nanos)?;
        rest = &rest[digits + unit_len..];
    }
    Some(if neg { -total } else { total })
}

impl Serialize for Var {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_json(true).serialize(s)
    }
}

impl<'de> Deserialize<'de> for Var {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let j = Json::deserialize(d)?;
        Var::from_json(&j).map_err(D::Error::custom)
    }
}

/// Task vars by name.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Vars(pub BTreeMap<String, Var>);

impl Vars {
    pub fn new() -> Vars {
        Vars::default()
    }

    pub fn get(&self, name: &str) -> Option<&Var> {
        self.0.get(name)
    }

    pub fn insert(&mut self, name: impl Into<String>, var: Var) {
        self.0.insert(name.into(), var);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kapacitor_json_shapes_round_trip() {
        let json = r#"{
            "crit": {"type": "lambda", "value": "\"usage_idle\" < 10", "description": "d"},
            "every": {"type": "duration", "value": "1m"},
            "groups": {"type": "list", "value": [{"type": "string", "value": "host"}, {"type": "star"}]},
            "n": {"type": "int", "value": 6},
            "x": {"type": "float", "value": 6},
            "req": {"type": "string", "value": null, "description": ""},
            "s": {"type": "star", "value": null}
        }"#;
        let vars: Vars = serde_json::from_str(json).unwrap();
        assert_eq!(
            vars.get("every").unwrap().value,
            VarValue::Duration(60_000_000_000)
        );
        assert_eq!(vars.get("x").unwrap().value, VarValue::Float(6.0));
        assert_eq!(vars.get("req").unwrap().value, VarValue::Null);
        let out = serde_json::to_value(&vars).unwrap();
        assert_eq!(out["every"]["value"], serde_json::json!(60_000_000_000i64));
        assert_eq!(out["crit"]["description"], "d");
        assert_eq!(
            out["groups"]["value"],
            serde_json::json!([{"type": "string", "value": "host"}, {"type": "star", "value": null}])
        );
        let back: Vars = serde_json::from_value(out).unwrap();
        assert_eq!(back, vars);
    }

    #[test]
    fn bad_values_are_rejected_with_the_type() {
        let err = serde_json::from_str::<Vars>(r#"{"n": {"type": "int", "value": "six"}}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("var of type int"), "{err}");
        let err = serde_json::from_str::<Vars>(r#"{"n": {"type": "integer", "value": 1}}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("invalid var type"), "{err}");
    }

    #[test]
    fn duration_strings() {
        assert_eq!(parse_duration_string("1h30m"), Some(5_400_000_000_000));
        assert_eq!(parse_duration_string("250ms"), Some(250_000_000));
        assert_eq!(parse_duration_string("-10s"), Some(-10_000_000_000));
        assert_eq!(parse_duration_string("10"), None);
        assert_eq!(parse_duration_string("1x"), None);
    }
}
