//! Messages that travel on the edges of a task's DAG, and the group identity they carry.

use super::held::{HeldPoint, Interner};
use kapacitor_models::{Batch, Point, Tags};
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// The dimensions a stream is grouped by: sorted tag names, and whether the measurement name is
/// part of the group (`groupByMeasurement`/`byMeasurement`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Dims {
    pub tag_names: Vec<String>,
    pub by_name: bool,
}

/// One group (tag set) of a stream: Kapacitor's `GroupID` string plus the group's tags.
#[derive(Debug)]
pub struct GroupInfo {
    /// Kapacitor's group ID: `[name "\n"] k=v,k=v` over the sorted dimensions; "" when not
    /// grouped. Alert templates print it as `.Group`.
    pub id: String,
    pub tags: Tags,
    pub dims: Arc<Dims>,
}

/// A shared, interned group. Interning makes equality and hashing a pointer operation, which
/// matters because every stateful node looks its per-group state up on every message.
#[derive(Debug, Clone)]
pub struct Group(pub Arc<GroupInfo>);

impl PartialEq for Group {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}
impl Eq for Group {}
impl Hash for Group {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (Arc::as_ptr(&self.0) as usize).hash(state)
    }
}

impl Group {
    pub fn id(&self) -> &str {
        &self.0.id
    }
    pub fn tags(&self) -> &Tags {
        &self.0.tags
    }
    pub fn dims(&self) -> &Arc<Dims> {
        &self.0.dims
    }
}

/// Hashes a `Group` by its (interned) pointer: a multiply instead of SipHash over the address,
/// since every stateful node looks up its group on every message.
#[derive(Default, Clone, Copy)]
pub struct PtrHasher(u64);

impl Hasher for PtrHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0.rotate_left(5) ^ *b as u64).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }
    fn write_usize(&mut self, n: usize) {
        self.0 = (self.0.rotate_left(5) ^ n as u64).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

/// A map keyed by group.
pub type GroupMap<V> = HashMap<Group, V, std::hash::BuildHasherDefault<PtrHasher>>;

/// Interns groups by their ID so that the same tag set is always the same `Group`.
#[derive(Default)]
pub struct GroupTable {
    groups: HashMap<String, Group>,
    dims: HashMap<Dims, Arc<Dims>>,
    buf: String,
}

impl GroupTable {
    pub fn dims(&mut self, d: Dims) -> Arc<Dims> {
        if let Some(a) = self.dims.get(&d) {
            return a.clone();
        }
        let a = Arc::new(d.clone());
        self.dims.insert(d, a.clone());
        a
    }

    /// The group of a point named `name` with tags `tags` under `dims`.
    pub fn group(&mut self, name: &str, tags: &Tags, dims: &Arc<Dims>) -> Group {
        self.buf.clear();
        if dims.by_name {
            self.buf.push_str(name);
            if !dims.tag_names.is_empty() {
                self.buf.push('\n');
            }
        }
        for (i, t) in dims.tag_names.iter().enumerate() {
            if i > 0 {
                self.buf.push(',');
            }
            self.buf.push_str(t);
            self.buf.push('=');
            if let Some(v) = tags.get(t) {
                self.buf.push_str(v);
            }
        }
        if let Some(g) = self.groups.get(self.buf.as_str())
            && (Arc::ptr_eq(&g.0.dims, dims) || *g.0.dims == **dims)
        {
            return g.clone();
        }
        let gtags: Tags = dims
            .tag_names
            .iter()
            .map(|t| (t.clone(), tags.get(t).cloned().unwrap_or_default()))
            .collect();
        let g = Group(Arc::new(GroupInfo {
            id: self.buf.clone(),
            tags: gtags,
            dims: dims.clone(),
        }));
        self.groups.insert(self.buf.clone(), g.clone());
        g
    }
}

/// Sorted names of a point's fields whose value is null (Go `nil`). Only `join.fill('null')`
/// makes them and `models::FieldValue` has no null, so they travel beside the point; empty (no
/// allocation) almost always. A name is never both a field and a null.
pub type Nulls = Vec<String>;

/// Adds `name` to `nulls`, keeping them sorted and unique.
pub fn add_null(nulls: &mut Nulls, name: String) {
    if let Err(i) = nulls.binary_search(&name) {
        nulls.insert(i, name);
    }
}

/// A point with its group.
#[derive(Debug, Clone)]
pub struct PointMsg {
    pub p: Point,
    pub group: Group,
    pub nulls: Nulls,
}

impl PointMsg {
    pub fn new(p: Point, group: Group) -> PointMsg {
        PointMsg {
            p,
            group,
            nulls: Nulls::new(),
        }
    }
}

/// A whole batch (begin, points, end in one value) with its group. `b.tags` are the group's tags.
#[derive(Debug, Clone)]
pub struct BatchMsg {
    pub b: Batch,
    pub group: Group,
    /// The null fields of each point: empty, or one entry per point of `b.points`. A node that
    /// rebuilds the points keeps this in step or clears it; if the lengths still differ the
    /// nulls are ignored ([`BatchMsg::point_nulls`]) rather than put on the wrong point.
    pub nulls: Vec<Nulls>,
    /// The points, when they are still in their held form (a window's batch; `b.points` and
    /// `nulls` are empty then). Only a node whose `NodeImpl::reads_held` says so sees them:
    /// the engine turns them into `b.points` ([`BatchMsg::unhold`]) for every other node.
    /// Boxed so that a `Msg` stays as small as before (every node moves messages around).
    #[allow(clippy::box_collection)]
    pub held: Option<Box<Vec<HeldPoint>>>,
}

impl BatchMsg {
    pub fn new(b: Batch, group: Group) -> BatchMsg {
        BatchMsg {
            b,
            group,
            nulls: Vec::new(),
            held: None,
        }
    }

    /// Moves the points (and their null fields) to `held`.
    pub fn hold(&mut self, interner: &mut Interner) {
        if self.b.points.is_empty() {
            return;
        }
        let mut nulls = std::mem::take(&mut self.nulls);
        if nulls.len() != self.b.points.len() {
            nulls.clear();
        }
        let mut nulls = nulls.into_iter();
        let mut held: Vec<HeldPoint> = Vec::with_capacity(self.b.points.len());
        for p in std::mem::take(&mut self.b.points) {
            let h = interner.hold(p, nulls.next().unwrap_or_default(), held.last());
            held.push(h);
        }
        self.held = Some(Box::new(held));
    }

    /// Moves the held points to `b.points` (and their null fields to `nulls`).
    pub fn unhold(&mut self) {
        let Some(held) = self.held.take() else {
            return;
        };
        let mut points = Vec::with_capacity(held.len());
        // Allocated only once a point has a null field (then one entry per point).
        let mut nulls: Vec<Nulls> = Vec::new();
        let mut any_nulls = false;
        for h in *held {
            let (p, n) = h.into_point();
            if !any_nulls && !n.is_empty() {
                any_nulls = true;
                nulls.resize_with(points.len(), Nulls::new);
            }
            if any_nulls {
                nulls.push(n);
            }
            points.push(p);
        }
        self.b.points = points;
        self.nulls = nulls;
    }

    /// Number of points, held or not.
    pub fn len(&self) -> usize {
        self.b.points.len() + self.held.as_ref().map_or(0, |h| h.len())
    }

    /// The null fields of point `i`.
    pub fn point_nulls(&self, i: usize) -> &[String] {
        if self.nulls.len() == self.b.points.len() {
            self.nulls.get(i).map_or(&[], Vec::as_slice)
        } else {
            &[]
        }
    }
}

#[derive(Debug, Clone)]
pub enum Msg {
    Point(PointMsg),
    Batch(BatchMsg),
    /// A barrier: no more data of this group older than `time` will come.
    Barrier {
        group: Group,
        time: i64,
    },
    /// Drop all state of this group.
    Delete {
        group: Group,
    },
}

impl Msg {
    pub fn group(&self) -> &Group {
        match self {
            Msg::Point(p) => &p.group,
            Msg::Batch(b) => &b.group,
            Msg::Barrier { group, .. } | Msg::Delete { group } => group,
        }
    }

    /// The message's time: point time, batch tmax, barrier time.
    pub fn time(&self) -> Option<i64> {
        match self {
            Msg::Point(p) => Some(p.p.time),
            Msg::Batch(b) => Some(b.b.time),
            Msg::Barrier { time, .. } => Some(*time),
            Msg::Delete { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Messages are moved several times per node; past 128 bytes each move is a `memcpy`
    /// call (+5% instructions per point when `BatchMsg` grew to 136 bytes).
    #[test]
    fn a_message_stays_small() {
        assert!(
            std::mem::size_of::<Msg>() <= 120,
            "{}",
            std::mem::size_of::<Msg>()
        );
    }
}
