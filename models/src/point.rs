use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A field value as InfluxDB 1.x knows it. Unsigned integers are not part of 1.x line protocol.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum FieldValue {
    Float(f64),
    Int(i64),
    Str(String),
    Bool(bool),
}

/// Tags sorted by key (InfluxDB's canonical series order).
pub type Tags = BTreeMap<String, String>;
/// Fields sorted by key, which is also the column order httpOut prints.
pub type Fields = BTreeMap<String, FieldValue>;

/// One point of a stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// Measurement name.
    pub name: String,
    pub tags: Tags,
    pub fields: Fields,
    /// Nanoseconds since the Unix epoch.
    pub time: i64,
}

/// A bounded group of points of one group (tag set) emitted at once, e.g. by a window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Batch {
    pub name: String,
    /// The group's tags (the dimensions the batch was grouped by).
    pub tags: Tags,
    /// Batch time (`tmax`), nanoseconds.
    pub time: i64,
    pub points: Vec<Point>,
}
