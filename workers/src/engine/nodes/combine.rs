//! `combine(lambdas...)` and `flatten()`: both buffer the points of a group that share a time
//! (rounded to `.tolerance()`) and act when a point with another time arrives.

use super::NodeImpl;
use crate::engine::lambda::{Lambda, State};
use crate::engine::msg::{BatchMsg, Group, GroupMap, Msg, PointMsg};
use crate::engine::props::NodeSpec;
use crate::engine::{Cx, EngineError, timeutil};
use kapacitor_models::{Batch, Fields, Point, Tags};
use std::collections::BTreeMap;

struct Buffer {
    time: i64,
    name: String,
    points: Vec<Point>,
}

/// `combine`: emits every combination of buffered points that match the lambdas in order.
pub struct Combine {
    lambdas: Vec<Lambda>,
    names: Vec<String>,
    delimiter: String,
    tolerance: i64,
    max: i64,
    buffers: GroupMap<Buffer>,
    batch_buffers: GroupMap<(i64, BTreeMap<i64, Buffer>)>,
    states: GroupMap<Vec<State>>,
}

impl Combine {
    pub fn new(spec: &NodeSpec) -> Result<Self, EngineError> {
        let lambdas = spec
            .node
            .args
            .iter()
            .map(|a| spec.lambda(a))
            .collect::<Result<Vec<_>, _>>()?;
        if lambdas.len() < 2 {
            return Err(spec.err("must specify at least two expressions"));
        }
        let names = spec
            .prop_strs("as")?
            .ok_or_else(|| spec.err("combine requires .as() naming each expression"))?;
        if names.len() != lambdas.len() {
            return Err(spec.err("must specify the same number of expressions and names"));
        }
        let delimiter = spec.prop_str("delimiter")?.unwrap_or_else(|| ".".into());
        let max = spec.prop_int("max")?.unwrap_or(1_000_000);
        Ok(Combine {
            lambdas,
            names,
            delimiter,
            tolerance: spec.prop_duration("tolerance")?.unwrap_or(0).max(0),
            max,
            buffers: GroupMap::default(),
            batch_buffers: GroupMap::default(),
            states: GroupMap::default(),
        })
    }

    fn combine(&mut self, group: &Group, buf: Buffer, cx: &mut Cx) {
        if buf.points.is_empty() {
            return;
        }
        let l = self.lambdas.len();
        let states = self
            .states
            .entry(group.clone())
            .or_insert_with(|| self.lambdas.iter().map(|x| x.new_state()).collect());
        let mut matches = vec![vec![false; buf.points.len()]; l];
        for (idx, p) in buf.points.iter().enumerate() {
            for (i, lam) in self.lambdas.iter().enumerate() {
                matches[i][idx] = match lam.eval_bool(p, &mut states[i]) {
                    Ok(b) => b,
                    Err(e) => {
                        cx.error(format!("evaluating lambda expression: {e}"));
                        false
                    }
                };
            }
        }
        let n = buf.points.len();
        let k = l;
        if n < k {
            return;
        }
        let mut count: i64 = 1;
        for i in 0..k as i64 {
            count = count.saturating_mul(n as i64 - i) / (i + 1);
        }
        if count > self.max {
            cx.error(format!(
                "refusing to perform combination as total combinations {count} exceeds max combinations {}",
                self.max
            ));
            return;
        }
        let dims = group.dims().tag_names.clone();
        let mut indices: Vec<usize> = (0..k).collect();
        loop {
            let mut remaining = indices.clone();
            let mut set: Vec<&Point> = Vec::with_capacity(l);
            for m in matches.iter() {
                match remaining.iter().position(|&ix| m[ix]) {
                    Some(pos) => set.push(&buf.points[remaining.remove(pos)]),
                    None => break,
                }
            }
            if set.len() == l {
                let mut fields = Fields::new();
                let mut tags = Tags::new();
                for (i, p) in set.iter().enumerate() {
                    for (f, v) in &p.fields {
                        fields.insert(
                            format!("{}{}{}", self.names[i], self.delimiter, f),
                            v.clone(),
                        );
                    }
                    for (t, v) in &p.tags {
                        if dims.contains(t) {
                            tags.insert(t.clone(), v.clone());
                        } else {
                            tags.insert(
                                format!("{}{}{}", self.names[i], self.delimiter, t),
                                v.clone(),
                            );
                        }
                    }
                }
                cx.emit(Msg::Point(PointMsg {
                    p: Point {
                        name: buf.name.clone(),
                        tags,
                        fields,
                        time: timeutil::round(set[0].time, self.tolerance),
                    },
                    group: group.clone(),
                }));
            }
            // Next combination of n choose k.
            let mut i = k as isize - 1;
            while i >= 0 && indices[i as usize] == i as usize + n - k {
                i -= 1;
            }
            if i < 0 {
                break;
            }
            let i = i as usize;
            indices[i] += 1;
            for j in i + 1..k {
                indices[j] = indices[j - 1] + 1;
            }
        }
    }
}

impl NodeImpl for Combine {
    fn on_msg(&mut self, _port: usize, msg: Msg, cx: &mut Cx) {
        match msg {
            Msg::Point(pm) => {
                let t = timeutil::round(pm.p.time, self.tolerance);
                let mut p = pm.p;
                p.time = t;
                match self.buffers.get_mut(&pm.group) {
                    Some(b) if b.time == t => b.points.push(p),
                    Some(b) => {
                        let old = std::mem::replace(
                            b,
                            Buffer {
                                time: t,
                                name: p.name.clone(),
                                points: vec![p],
                            },
                        );
                        self.combine(&pm.group, old, cx);
                    }
                    None => {
                        self.buffers.insert(
                            pm.group.clone(),
                            Buffer {
                                time: t,
                                name: p.name.clone(),
                                points: vec![p],
                            },
                        );
                    }
                }
            }
            Msg::Batch(bm) => {
                let t = timeutil::round(bm.b.time, self.tolerance);
                let entry = self
                    .batch_buffers
                    .entry(bm.group.clone())
                    .or_insert_with(|| (t, BTreeMap::new()));
                let mut flush = Vec::new();
                if entry.0 != t {
                    entry.0 = t;
                    flush = std::mem::take(&mut entry.1).into_values().collect();
                }
                for mut p in bm.b.points {
                    let pt = timeutil::round(p.time, self.tolerance);
                    p.time = pt;
                    entry
                        .1
                        .entry(pt)
                        .or_insert_with(|| Buffer {
                            time: pt,
                            name: bm.b.name.clone(),
                            points: Vec::new(),
                        })
                        .points
                        .push(p);
                }
                for b in flush {
                    self.combine(&bm.group, b, cx);
                }
            }
            Msg::Delete { ref group } => {
                self.buffers.remove(group);
                self.batch_buffers.remove(group);
                self.states.remove(group);
                cx.emit(msg);
            }
            other => cx.emit(other),
        }
    }

    fn cardinality(&self) -> usize {
        self.states.len()
    }
}

/// A batch being flattened: its time, name, tags and points by (rounded) time.
type BatchBuffer = (i64, String, Tags, BTreeMap<i64, Vec<Point>>);

/// `flatten()`: merges the points of one time into one point whose field names are prefixed
/// with the values of the `.on()` tags.
pub struct Flatten {
    on: Vec<String>,
    delimiter: String,
    tolerance: i64,
    drop_original: bool,
    buffers: GroupMap<Buffer>,
    batch_buffers: GroupMap<BatchBuffer>,
}

impl Flatten {
    pub fn new(spec: &NodeSpec) -> Result<Self, EngineError> {
        Ok(Flatten {
            on: spec.prop_strs("on")?.unwrap_or_default(),
            delimiter: spec.prop_str("delimiter")?.unwrap_or_else(|| ".".into()),
            tolerance: spec.prop_duration("tolerance")?.unwrap_or(0).max(0),
            drop_original: spec.flag("dropOriginalFieldName")?,
            buffers: GroupMap::default(),
            batch_buffers: GroupMap::default(),
        })
    }

    fn flatten(&self, points: &[Point], cx: &mut Cx) -> Fields {
        let mut fields = Fields::new();
        'points: for p in points {
            let mut prefix = String::new();
            for t in &self.on {
                match p.tags.get(t) {
                    Some(v) => {
                        prefix.push_str(v);
                        prefix.push_str(&self.delimiter);
                    }
                    None => {
                        cx.error(format!("point missing tag {t:?} for flatten operation"));
                        continue 'points;
                    }
                }
            }
            for (f, v) in &p.fields {
                let name = if self.drop_original {
                    prefix
                        .strip_suffix(self.delimiter.as_str())
                        .unwrap_or(&prefix)
                        .to_string()
                } else {
                    format!("{prefix}{f}")
                };
                fields.insert(name, v.clone());
            }
        }
        fields
    }
}

impl NodeImpl for Flatten {
    fn on_msg(&mut self, _port: usize, msg: Msg, cx: &mut Cx) {
        match msg {
            Msg::Point(pm) => {
                let t = timeutil::round(pm.p.time, self.tolerance);
                let flush = match self.buffers.get(&pm.group) {
                    Some(b) => b.time != t,
                    None => false,
                };
                if flush {
                    let b = self.buffers.remove(&pm.group).expect("checked above");
                    let fields = self.flatten(&b.points, cx);
                    cx.emit(Msg::Point(PointMsg {
                        p: Point {
                            name: b.name,
                            tags: pm.group.tags().clone(),
                            fields,
                            time: b.time,
                        },
                        group: pm.group.clone(),
                    }));
                }
                let b = self
                    .buffers
                    .entry(pm.group.clone())
                    .or_insert_with(|| Buffer {
                        time: t,
                        name: pm.p.name.clone(),
                        points: Vec::new(),
                    });
                b.points.push(pm.p);
            }
            Msg::Batch(bm) => {
                let t = timeutil::round(bm.b.time, self.tolerance);
                let mut flushed = None;
                {
                    let e = self
                        .batch_buffers
                        .entry(bm.group.clone())
                        .or_insert_with(|| {
                            (t, bm.b.name.clone(), bm.b.tags.clone(), BTreeMap::new())
                        });
                    if e.0 != t {
                        flushed = Some((e.0, e.1.clone(), e.2.clone(), std::mem::take(&mut e.3)));
                        e.0 = t;
                    }
                    for p in bm.b.points {
                        e.3.entry(timeutil::round(p.time, self.tolerance))
                            .or_default()
                            .push(p);
                    }
                }
                if let Some((bt, name, tags, pts)) = flushed {
                    let points = pts
                        .into_iter()
                        .map(|(pt, ps)| Point {
                            name: name.clone(),
                            tags: tags.clone(),
                            fields: self.flatten(&ps, cx),
                            time: pt,
                        })
                        .collect();
                    cx.emit(Msg::Batch(BatchMsg {
                        b: Batch {
                            name,
                            tags,
                            time: bt,
                            points,
                        },
                        group: bm.group,
                    }));
                }
            }
            Msg::Delete { ref group } => {
                self.buffers.remove(group);
                self.batch_buffers.remove(group);
                cx.emit(msg);
            }
            other => cx.emit(other),
        }
    }

    fn cardinality(&self) -> usize {
        self.buffers.len() + self.batch_buffers.len()
    }
}
