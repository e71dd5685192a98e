//! Points as nodes hold them (window buffers, union and join queues): compact, and turned back
//! into `models::Point` when they are emitted.
//!
//! Why: a `Point` is a name, two `BTreeMap`s and a string per key and value; each map allocates
//! an 11-slot node, so a point with two tags and two fields costs ~1.25 KiB of heap. A window of
//! 10 s at a million points per second held gigabytes. A [`HeldPoint`] is 40 bytes plus its
//! field values: the measurement name and tags are one interned [`Series`], the field names
//! one interned [`FieldKeys`], shared by every point that has them, and the values a boxed
//! slice in the order of the names (a null field of `join.fill('null')` is a `Null` value).
//!
//! The [`Interner`] belongs to the task (one per worker). It forgets what no held point uses
//! any more when [`Interner::sweep`] runs (every tick), so a cardinality bomb that passed is
//! not kept forever.

use super::msg::{Group, Msg, Nulls, PointMsg};
use hashbrown::{DefaultHashBuilder, HashTable};
use kapacitor_models::{FieldValue, Fields, Point, Tags};
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::Arc;

/// A measurement name and its tags, shared by every held point of that series.
#[derive(Debug)]
pub struct Series {
    hash: u64,
    name: Arc<str>,
    /// Sorted by key; keys are interned.
    tags: Box<[(Arc<str>, Box<str>)]>,
}

impl Series {
    fn matches(&self, name: &str, tags: &Tags) -> bool {
        *self.name == *name
            && self.tags.len() == tags.len()
            && self
                .tags
                .iter()
                .zip(tags)
                .all(|((k, v), (pk, pv))| **k == **pk && **v == **pv)
    }

    fn tags(&self) -> Tags {
        let mut tags = Tags::new();
        for (k, v) in self.tags.iter() {
            tags.insert(String::from(&**k), String::from(&**v));
        }
        tags
    }
}

/// The sorted names of a point's fields and null fields.
#[derive(Debug)]
pub struct FieldKeys {
    hash: u64,
    names: Box<[Arc<str>]>,
}

/// A field value without its name; `Null` stands for a null field (see `msg::Nulls`).
#[derive(Debug, Clone)]
enum Value {
    Float(f64),
    Int(i64),
    Bool(bool),
    /// Boxed, so that a value is 16 bytes: the values of a point with one, two or four fields
    /// are then a power-of-two allocation, which mimalloc serves on its fast path (the Rust
    /// `mimalloc` crate asks for every block through `mi_malloc_aligned`, whose fallback for
    /// other sizes over-allocates).
    Str(Box<Box<str>>),
    Null,
}

impl Value {
    fn from_field(v: FieldValue) -> Value {
        match v {
            FieldValue::Float(f) => Value::Float(f),
            FieldValue::Int(i) => Value::Int(i),
            FieldValue::Bool(b) => Value::Bool(b),
            FieldValue::Str(s) => Value::Str(Box::new(s.into_boxed_str())),
        }
    }

    fn into_field(self) -> Option<FieldValue> {
        Some(match self {
            Value::Float(f) => FieldValue::Float(f),
            Value::Int(i) => FieldValue::Int(i),
            Value::Bool(b) => FieldValue::Bool(b),
            Value::Str(s) => FieldValue::Str(s.into_string()),
            Value::Null => return None,
        })
    }

    fn to_field(&self) -> Option<FieldValue> {
        Some(match self {
            Value::Float(f) => FieldValue::Float(*f),
            Value::Int(i) => FieldValue::Int(*i),
            Value::Bool(b) => FieldValue::Bool(*b),
            Value::Str(s) => FieldValue::Str(String::from(&***s)),
            Value::Null => return None,
        })
    }
}

/// A point while a node holds it. Equal, once turned back, to the point it was made from.
#[derive(Debug, Clone)]
pub struct HeldPoint {
    series: Arc<Series>,
    keys: Arc<FieldKeys>,
    values: Box<[Value]>,
    pub time: i64,
}

impl HeldPoint {
    /// The point and its null fields.
    pub fn into_point(mut self) -> (Point, Nulls) {
        let mut fields = Fields::new();
        let mut nulls = Nulls::new();
        let values = std::mem::take(&mut self.values);
        for (k, v) in self.keys.names.iter().zip(values.into_vec()) {
            match v.into_field() {
                Some(v) => {
                    fields.insert(String::from(&**k), v);
                }
                None => nulls.push(String::from(&**k)),
            }
        }
        (self.point(fields), nulls)
    }

    /// A copy of the point and its null fields.
    #[cfg(test)]
    pub fn to_point(&self) -> (Point, Nulls) {
        let mut fields = Fields::new();
        let mut nulls = Nulls::new();
        for (k, v) in self.keys.names.iter().zip(self.values.iter()) {
            match v.to_field() {
                Some(v) => {
                    fields.insert(String::from(&**k), v);
                }
                None => nulls.push(String::from(&**k)),
            }
        }
        (self.point(fields), nulls)
    }

    fn point(&self, fields: Fields) -> Point {
        Point {
            name: String::from(&*self.series.name),
            tags: self.series.tags(),
            fields,
            time: self.time,
        }
    }

    /// The value of field `name` (`None` also for a null field, as a `Point` has none).
    pub fn field(&self, name: &str) -> Option<FieldValue> {
        let i = self.keys.names.iter().position(|k| **k == *name)?;
        self.values[i].to_field()
    }

    pub fn tag(&self, name: &str) -> Option<&str> {
        self.series
            .tags
            .iter()
            .find(|(k, _)| **k == *name)
            .map(|(_, v)| &**v)
    }

    pub fn tags(&self) -> Tags {
        self.series.tags()
    }

    /// The fields (not the null ones).
    pub fn fields(&self) -> Fields {
        let mut fields = Fields::new();
        for (k, v) in self.keys.names.iter().zip(self.values.iter()) {
            if let Some(v) = v.to_field() {
                fields.insert(String::from(&**k), v);
            }
        }
        fields
    }
}

/// A point of a batch as a node that reads held batches sees it (see `BatchMsg::held`).
#[derive(Debug, Clone, Copy)]
pub enum PointRef<'a> {
    Point(&'a Point),
    Held(&'a HeldPoint),
}

impl PointRef<'_> {
    pub fn time(&self) -> i64 {
        match self {
            PointRef::Point(p) => p.time,
            PointRef::Held(h) => h.time,
        }
    }

    pub fn field(&self, name: &str) -> Option<FieldValue> {
        match self {
            PointRef::Point(p) => p.fields.get(name).cloned(),
            PointRef::Held(h) => h.field(name),
        }
    }

    pub fn tag(&self, name: &str) -> Option<&str> {
        match self {
            PointRef::Point(p) => p.tags.get(name).map(String::as_str),
            PointRef::Held(h) => h.tag(name),
        }
    }

    pub fn tags(&self) -> Tags {
        match self {
            PointRef::Point(p) => p.tags.clone(),
            PointRef::Held(h) => h.tags(),
        }
    }

    pub fn fields(&self) -> Fields {
        match self {
            PointRef::Point(p) => p.fields.clone(),
            PointRef::Held(h) => h.fields(),
        }
    }
}

/// A message a node keeps for a while (union's queues, join's sets): as it came while the node
/// keeps few, compact beyond [`KEEP_PLAIN`], where holding pays for the conversions.
#[derive(Debug)]
pub enum HeldMsg {
    Plain(Msg),
    Point { p: HeldPoint, group: Group },
}

/// How many messages a union queue or join group keeps as they came before it keeps them
/// compact. Below it messages go on soon (every parent is sending); above, a parent lags and
/// the buffer may grow to its bound.
pub const KEEP_PLAIN: usize = 64;

impl HeldMsg {
    /// `m` compact: a point as a [`HeldPoint`], a batch's points in `BatchMsg::held`.
    pub fn compact(m: Msg, interner: &mut Interner) -> HeldMsg {
        match m {
            Msg::Point(pm) => HeldMsg::Point {
                p: interner.hold(pm.p, pm.nulls, None),
                group: pm.group,
            },
            Msg::Batch(mut bm) => {
                bm.hold(interner);
                HeldMsg::Plain(Msg::Batch(bm))
            }
            other => HeldMsg::Plain(other),
        }
    }

    pub fn time(&self) -> Option<i64> {
        match self {
            HeldMsg::Plain(m) => m.time(),
            HeldMsg::Point { p, .. } => Some(p.time),
        }
    }

    /// The message again; a batch may still have held points (the engine converts them for
    /// nodes that do not read them).
    pub fn release(self) -> Msg {
        match self {
            HeldMsg::Plain(m) => m,
            HeldMsg::Point { p, group } => {
                let (p, nulls) = p.into_point();
                Msg::Point(PointMsg { p, group, nulls })
            }
        }
    }
}

/// The task's tables of measurement names, tag keys, series, field names and field name sets.
#[derive(Default)]
pub struct Interner {
    hasher: DefaultHashBuilder,
    strings: HashTable<Arc<str>>,
    series: HashTable<Arc<Series>>,
    keys: HashTable<Arc<FieldKeys>>,
    /// The last series and key set made or found: consecutive points usually share them.
    last_series: Option<Arc<Series>>,
    last_keys: Option<Arc<FieldKeys>>,
}

impl Interner {
    /// The held form of `p` with null fields `nulls` (sorted, none also a field). `like` is a
    /// point the caller holds that is probably of the same series and fields (the previous
    /// one of the group): when it is, no table is searched.
    pub fn hold(&mut self, p: Point, nulls: Nulls, like: Option<&HeldPoint>) -> HeldPoint {
        let series = match like {
            Some(h) if h.series.matches(&p.name, &p.tags) => h.series.clone(),
            _ => self.series(&p.name, &p.tags),
        };
        let keys = match like {
            Some(h) if same_names(&h.keys, &p.fields, &nulls) => h.keys.clone(),
            _ => self.keys(&p.fields, &nulls),
        };
        let values: Box<[Value]> = if nulls.is_empty() {
            p.fields.into_values().map(Value::from_field).collect()
        } else {
            // Merge in name order, as `keys` lists them.
            let mut values = Vec::with_capacity(keys.names.len());
            let mut nulls = nulls.iter().peekable();
            for (k, v) in p.fields {
                while nulls.next_if(|n| n.as_str() < k.as_str()).is_some() {
                    values.push(Value::Null);
                }
                values.push(Value::from_field(v));
            }
            values.extend(nulls.map(|_| Value::Null));
            values.into_boxed_slice()
        };
        HeldPoint {
            series,
            keys,
            values,
            time: p.time,
        }
    }

    /// Forgets names, series and key sets that no held point uses.
    pub fn sweep(&mut self) {
        self.last_series = None;
        self.last_keys = None;
        self.series.retain(|s| Arc::strong_count(s) > 1);
        self.keys.retain(|k| Arc::strong_count(k) > 1);
        self.strings.retain(|s| Arc::strong_count(s) > 1);
        let hasher = &self.hasher;
        self.series.shrink_to_fit(|s| s.hash);
        self.keys.shrink_to_fit(|k| k.hash);
        self.strings.shrink_to_fit(|s| hasher.hash_one(&**s));
    }

    /// Number of series, key sets and strings known, for tests.
    #[cfg(test)]
    fn sizes(&self) -> (usize, usize, usize) {
        (self.series.len(), self.keys.len(), self.strings.len())
    }

    fn series(&mut self, name: &str, tags: &Tags) -> Arc<Series> {
        if let Some(s) = &self.last_series
            && s.matches(name, tags)
        {
            return s.clone();
        }
        let mut h = self.hasher.build_hasher();
        name.hash(&mut h);
        for (k, v) in tags {
            k.hash(&mut h);
            v.hash(&mut h);
        }
        let hash = h.finish();
        let s = match self.series.find(hash, |s| s.matches(name, tags)) {
            Some(s) => s.clone(),
            None => {
                let s = Arc::new(Series {
                    hash,
                    name: self.string(name),
                    tags: tags
                        .iter()
                        .map(|(k, v)| (self.string(k), Box::from(v.as_str())))
                        .collect(),
                });
                self.series.insert_unique(hash, s.clone(), |s| s.hash);
                s
            }
        };
        self.last_series = Some(s.clone());
        s
    }

    fn keys(&mut self, fields: &Fields, nulls: &Nulls) -> Arc<FieldKeys> {
        let names = || merged(fields.keys(), nulls.iter());
        let same = |k: &FieldKeys| same_names(k, fields, nulls);
        if let Some(k) = &self.last_keys
            && same(k)
        {
            return k.clone();
        }
        let mut h = self.hasher.build_hasher();
        for n in names() {
            n.hash(&mut h);
        }
        let hash = h.finish();
        let k = match self.keys.find(hash, |k| same(k)) {
            Some(k) => k.clone(),
            None => {
                let k = Arc::new(FieldKeys {
                    hash,
                    names: names().map(|n| self.string(n)).collect(),
                });
                self.keys.insert_unique(hash, k.clone(), |k| k.hash);
                k
            }
        };
        self.last_keys = Some(k.clone());
        k
    }

    fn string(&mut self, s: &str) -> Arc<str> {
        let hash = self.hasher.hash_one(s);
        if let Some(a) = self.strings.find(hash, |a| **a == *s) {
            return a.clone();
        }
        let a: Arc<str> = Arc::from(s);
        let hasher = &self.hasher;
        self.strings
            .insert_unique(hash, a.clone(), |a| hasher.hash_one(&**a));
        a
    }
}

/// Whether `k` names exactly the fields and null fields of a point.
fn same_names(k: &FieldKeys, fields: &Fields, nulls: &Nulls) -> bool {
    k.names.len() == fields.len() + nulls.len()
        && k.names
            .iter()
            .zip(merged(fields.keys(), nulls.iter()))
            .all(|(a, b)| **a == *b)
}

/// Two sorted lists of names as one sorted list.
fn merged<'a>(
    a: impl Iterator<Item = &'a String>,
    b: impl Iterator<Item = &'a String>,
) -> impl Iterator<Item = &'a str> {
    let mut a = a.peekable();
    let mut b = b.peekable();
    std::iter::from_fn(move || match (a.peek(), b.peek()) {
        (Some(x), Some(y)) if y < x => b.next().map(String::as_str),
        (Some(_), _) => a.next().map(String::as_str),
        (None, _) => b.next().map(String::as_str),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(name: &str, tags: &[(&str, &str)], fields: Vec<(&str, FieldValue)>) -> Point {
        Point {
            name: name.into(),
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            fields: fields
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            time: 42,
        }
    }

    #[test]
    fn a_value_is_16_bytes() {
        assert_eq!(std::mem::size_of::<Value>(), 16);
    }

    #[test]
    fn a_held_point_turns_back_into_the_same_point() {
        let mut i = Interner::default();
        let p = point(
            "cpu",
            &[("host", "a"), ("region", "eu")],
            vec![
                ("f", FieldValue::Float(1.5)),
                ("i", FieldValue::Int(-3)),
                ("s", FieldValue::Str("text".into())),
                ("b", FieldValue::Bool(true)),
            ],
        );
        let h = i.hold(p.clone(), Nulls::new(), None);
        assert_eq!(h.to_point(), (p.clone(), Nulls::new()));
        assert_eq!(h.into_point(), (p, Nulls::new()));
        let empty = point("", &[], vec![]);
        assert_eq!(i.hold(empty.clone(), vec![], None).into_point().0, empty);
    }

    #[test]
    fn null_fields_keep_their_names_between_the_fields() {
        let mut i = Interner::default();
        let p = point(
            "m",
            &[],
            vec![("b", FieldValue::Int(1)), ("d", FieldValue::Int(2))],
        );
        let nulls: Nulls = vec!["a".into(), "c".into(), "e".into()];
        let h = i.hold(p.clone(), nulls.clone(), None);
        assert_eq!(&*h.keys.names, &["a", "b", "c", "d", "e"].map(Arc::from));
        assert_eq!(h.to_point(), (p.clone(), nulls.clone()));
        assert_eq!(h.into_point(), (p, nulls));
    }

    #[test]
    fn points_of_one_series_share_it_and_other_series_do_not() {
        let mut i = Interner::default();
        let a1 = i.hold(point("cpu", &[("host", "a")], vec![]), vec![], None);
        let b = i.hold(point("cpu", &[("host", "b")], vec![]), vec![], None);
        let a2 = i.hold(point("cpu", &[("host", "a")], vec![]), vec![], None);
        let other_name = i.hold(point("mem", &[("host", "a")], vec![]), vec![], None);
        assert!(Arc::ptr_eq(&a1.series, &a2.series));
        assert!(!Arc::ptr_eq(&a1.series, &b.series));
        assert!(!Arc::ptr_eq(&a1.series, &other_name.series));
        // One "host" key for every series.
        assert!(Arc::ptr_eq(
            &a1.series.tags[0].0,
            &other_name.series.tags[0].0
        ));
        // A tag set that is a prefix of another is another series.
        let more = i.hold(
            point("cpu", &[("host", "a"), ("x", "")], vec![]),
            vec![],
            None,
        );
        assert!(!Arc::ptr_eq(&a1.series, &more.series));
        assert_eq!(more.into_point().0.tags.len(), 2);
    }

    #[test]
    fn sweep_forgets_only_what_no_point_holds() {
        let mut i = Interner::default();
        let keep = i.hold(
            point("cpu", &[("host", "a")], vec![("v", FieldValue::Int(1))]),
            vec![],
            None,
        );
        for n in 0..100 {
            let h = i.hold(
                point(
                    "cpu",
                    &[("host", &format!("h{n}"))],
                    vec![("w", FieldValue::Int(1))],
                ),
                vec![],
                None,
            );
            drop(h);
        }
        assert_eq!(i.sizes().0, 101);
        i.sweep();
        // "cpu", "host", "v" stay; the series and key set of `keep` stay.
        assert_eq!(i.sizes(), (1, 1, 3));
        let again = i.hold(
            point("cpu", &[("host", "a")], vec![("v", FieldValue::Int(2))]),
            vec![],
            Some(&keep),
        );
        assert!(Arc::ptr_eq(&keep.series, &again.series));
        assert!(Arc::ptr_eq(&keep.keys, &again.keys));
    }

    #[test]
    fn a_like_point_of_another_series_or_fields_is_not_used() {
        let mut i = Interner::default();
        let a = i.hold(
            point("cpu", &[("host", "a")], vec![("v", FieldValue::Int(1))]),
            vec![],
            None,
        );
        let b = point("cpu", &[("host", "b")], vec![("w", FieldValue::Int(2))]);
        let hb = i.hold(b.clone(), vec![], Some(&a));
        assert!(!Arc::ptr_eq(&a.series, &hb.series));
        assert!(!Arc::ptr_eq(&a.keys, &hb.keys));
        assert_eq!(hb.to_point().0, b);
        let a2 = i.hold(
            point("cpu", &[("host", "a")], vec![("v", FieldValue::Int(3))]),
            vec!["z".into()],
            Some(&a),
        );
        assert!(Arc::ptr_eq(&a.series, &a2.series));
        assert!(
            !Arc::ptr_eq(&a.keys, &a2.keys),
            "a null field is a name too"
        );
    }
}
