//! The data model templates are executed against.
//!
//! Go templates walk arbitrary Go values through reflection; we model the handful of Go types
//! Kapacitor passes to its templates (structs of strings, `map[string]string`,
//! `map[string]interface{}`, `time.Time`, `time.Duration` and the scalars found in fields).

use std::borrow::Cow;
use std::collections::BTreeMap;

/// A Go value as seen by a template.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Value {
    /// Go `nil` (a nil `interface{}`); also the value of a missing `map[string]interface{}` key.
    #[default]
    Nil,
    Bool(bool),
    /// Go `int64` (also used for untyped integer constants and `len` results).
    Int(i64),
    /// Go `uint64`.
    Uint(u64),
    /// Go `float64`.
    Float(f64),
    Str(String),
    /// `time.Time` in UTC, as nanoseconds since the Unix epoch.
    Time(i64),
    /// `time.Duration` in nanoseconds.
    Duration(i64),
    /// `map[string]T`.
    Map(Map),
    /// `[]interface{}`.
    Slice(Vec<Value>),
    /// A Go struct with named, exported fields.
    Struct(Struct),
}

/// The element type of a [`Map`], which decides the zero value `index` returns for a missing key
/// (Go's `map[string]string` gives `""`, `map[string]interface{}` gives `nil`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Kind {
    /// `interface{}`: missing keys are `nil`.
    #[default]
    Any,
    Bool,
    Int,
    Uint,
    Float,
    Str,
    Duration,
    /// Nested `map[string]interface{}`; its zero value is a nil (empty) map.
    Map,
    /// `[]interface{}`; its zero value is a nil (empty) slice.
    Slice,
}

impl Kind {
    /// The Go spelling of the type, for error messages and `%T`-like output.
    pub fn go_type(self) -> &'static str {
        match self {
            Kind::Any => "interface {}",
            Kind::Bool => "bool",
            Kind::Int => "int64",
            Kind::Uint => "uint64",
            Kind::Float => "float64",
            Kind::Str => "string",
            Kind::Duration => "time.Duration",
            Kind::Map => "map[string]interface {}",
            Kind::Slice => "[]interface {}",
        }
    }

    /// Go's zero value of this type.
    pub fn zero(self) -> Value {
        match self {
            Kind::Any => Value::Nil,
            Kind::Bool => Value::Bool(false),
            Kind::Int => Value::Int(0),
            Kind::Uint => Value::Uint(0),
            Kind::Float => Value::Float(0.0),
            Kind::Str => Value::Str(String::new()),
            Kind::Duration => Value::Duration(0),
            Kind::Map => Value::Map(Map::new(Kind::Any)),
            Kind::Slice => Value::Slice(Vec::new()),
        }
    }
}

/// A Go `map[string]T`: entries are kept sorted, which is also the order Go's `range` and `%v`
/// use.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Map {
    entries: BTreeMap<String, Value>,
    elem: Kind,
}

impl Map {
    pub fn new(elem: Kind) -> Map {
        Map::empty(elem)
    }

    /// An empty map; `const` so that zero values can live in statics.
    pub const fn empty(elem: Kind) -> Map {
        Map {
            entries: BTreeMap::new(),
            elem,
        }
    }

    /// A `map[string]string`.
    pub fn strings<K, V, I>(iter: I) -> Map
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Map {
            entries: iter
                .into_iter()
                .map(|(k, v)| (k.into(), Value::Str(v.into())))
                .collect(),
            elem: Kind::Str,
        }
    }

    /// A map with the given element kind built from `(key, value)` pairs.
    pub fn from_entries<K, I>(elem: Kind, iter: I) -> Map
    where
        I: IntoIterator<Item = (K, Value)>,
        K: Into<String>,
    {
        Map {
            entries: iter.into_iter().map(|(k, v)| (k.into(), v)).collect(),
            elem,
        }
    }

    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<Value>) -> Option<Value> {
        self.entries.insert(key.into(), value.into())
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.entries.get(key)
    }

    pub fn elem(&self) -> Kind {
        self.elem
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Entries in sorted key order.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Value)> {
        self.entries.iter()
    }

    /// The Go spelling of this map's type.
    pub fn go_type(&self) -> String {
        format!("map[string]{}", self.elem.go_type())
    }
}

/// One field of a [`Struct`].
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub name: Cow<'static, str>,
    pub value: Value,
    /// An embedded (anonymous) struct field: its fields are promoted, and `encoding/json`
    /// flattens it into the outer object, as Kapacitor's `messageInfo` embeds `idInfo`.
    pub embedded: bool,
}

/// A Go struct value: a type name (used in `can't evaluate field X in type T`) and its exported
/// fields in declaration order (the order `%v` and `json` use).
#[derive(Debug, Clone, PartialEq)]
pub struct Struct {
    type_name: Cow<'static, str>,
    fields: Vec<Field>,
}

impl Struct {
    /// `type_name` is the Go type as `reflect` prints it, e.g. `kapacitor.messageInfo`.
    pub fn new(type_name: impl Into<Cow<'static, str>>) -> Struct {
        Struct {
            type_name: type_name.into(),
            fields: Vec::new(),
        }
    }

    /// Adds a named field (builder style).
    pub fn with(mut self, name: impl Into<Cow<'static, str>>, value: impl Into<Value>) -> Struct {
        self.push(name, value);
        self
    }

    /// Adds an embedded struct whose fields are promoted into this one.
    pub fn embed(mut self, inner: Struct) -> Struct {
        let name = inner
            .type_name
            .rsplit('.')
            .next()
            .unwrap_or_default()
            .to_owned();
        self.fields.push(Field {
            name: Cow::Owned(name),
            value: Value::Struct(inner),
            embedded: true,
        });
        self
    }

    pub fn push(&mut self, name: impl Into<Cow<'static, str>>, value: impl Into<Value>) {
        self.fields.push(Field {
            name: name.into(),
            value: value.into(),
            embedded: false,
        });
    }

    pub fn type_name(&self) -> &str {
        &self.type_name
    }

    pub fn fields(&self) -> &[Field] {
        &self.fields
    }

    /// Looks a field up like Go's `FieldByName`: own fields first, then promoted fields of
    /// embedded structs, shallowest first.
    pub fn get(&self, name: &str) -> Option<&Value> {
        if let Some(f) = self.fields.iter().find(|f| f.name == name) {
            return Some(&f.value);
        }
        self.fields
            .iter()
            .find_map(|f| match (&f.value, f.embedded) {
                (Value::Struct(inner), true) => inner.get(name),
                _ => None,
            })
    }
}

impl Value {
    /// The Go spelling of the value's dynamic type, as `fmt` prints it in `%!d(string=x)`.
    pub fn go_type(&self) -> Cow<'static, str> {
        match self {
            Value::Nil => Cow::Borrowed("<nil>"),
            Value::Bool(_) => Cow::Borrowed("bool"),
            Value::Int(_) => Cow::Borrowed("int64"),
            Value::Uint(_) => Cow::Borrowed("uint64"),
            Value::Float(_) => Cow::Borrowed("float64"),
            Value::Str(_) => Cow::Borrowed("string"),
            Value::Time(_) => Cow::Borrowed("time.Time"),
            Value::Duration(_) => Cow::Borrowed("time.Duration"),
            Value::Map(m) => Cow::Owned(m.go_type()),
            Value::Slice(_) => Cow::Borrowed("[]interface {}"),
            Value::Struct(s) => Cow::Owned(s.type_name.to_string()),
        }
    }

    /// Go's notion of "empty" used by `if`, `with`, `and`, `or` and `not`.
    pub fn is_true(&self) -> bool {
        match self {
            Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) | Value::Duration(i) => *i != 0,
            Value::Uint(u) => *u != 0,
            Value::Float(f) => *f != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::Map(m) => !m.is_empty(),
            Value::Slice(s) => !s.is_empty(),
            // Go structs (time.Time included) are always true.
            Value::Time(_) | Value::Struct(_) => true,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Value {
        Value::Bool(v)
    }
}
impl From<i64> for Value {
    fn from(v: i64) -> Value {
        Value::Int(v)
    }
}
impl From<i32> for Value {
    fn from(v: i32) -> Value {
        Value::Int(v.into())
    }
}
impl From<u64> for Value {
    fn from(v: u64) -> Value {
        Value::Uint(v)
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Value {
        Value::Float(v)
    }
}
impl From<String> for Value {
    fn from(v: String) -> Value {
        Value::Str(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Value {
        Value::Str(v.to_owned())
    }
}
impl From<Map> for Value {
    fn from(v: Map) -> Value {
        Value::Map(v)
    }
}
impl From<Struct> for Value {
    fn from(v: Struct) -> Value {
        Value::Struct(v)
    }
}
impl From<Vec<Value>> for Value {
    fn from(v: Vec<Value>) -> Value {
        Value::Slice(v)
    }
}

/// JSON as Go's `encoding/json` decodes it into `interface{}`, except that integers that fit are
/// kept as integers (Kapacitor fields are typed, JSON numbers are not).
impl From<serde_json::Value> for Value {
    fn from(v: serde_json::Value) -> Value {
        match v {
            serde_json::Value::Null => Value::Nil,
            serde_json::Value::Bool(b) => Value::Bool(b),
            serde_json::Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Value::Int(i)
                } else if let Some(u) = n.as_u64() {
                    Value::Uint(u)
                } else {
                    Value::Float(n.as_f64().unwrap_or(f64::NAN))
                }
            }
            serde_json::Value::String(s) => Value::Str(s),
            serde_json::Value::Array(a) => Value::Slice(a.into_iter().map(Value::from).collect()),
            serde_json::Value::Object(o) => Value::Map(Map::from_entries(
                Kind::Any,
                o.into_iter().map(|(k, v)| (k, v.into())),
            )),
        }
    }
}
