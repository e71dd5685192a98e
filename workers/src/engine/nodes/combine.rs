//! `combine(lambdas...)` and `flatten()`: both buffer the points of a group that share a time
//! (rounded to `.tolerance()`) and act when a point with another time arrives. A batch is
//! handled on its own, as in Kapacitor since 1.4: its consecutive points of one time are
//! combined/flattened and the last time is flushed at the end of the batch, so nothing is
//! held back until the next batch.

use super::NodeImpl;
use crate::engine::lambda::{Lambda, State};
use crate::engine::msg::{BatchMsg, Group, GroupMap, Msg, PointMsg};
use crate::engine::props::NodeSpec;
use crate::engine::{Cx, EngineError, timeutil};
use kapacitor_models::{Batch, Fields, Point, Tags};

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
                    nulls: Default::default(),
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
                let mut cur: Option<Buffer> = None;
                for mut p in bm.b.points {
                    let t = timeutil::round(p.time, self.tolerance);
                    p.time = t;
                    match &mut cur {
                        Some(b) if b.time == t => b.points.push(p),
                        _ => {
                            if let Some(done) = cur.take() {
                                self.combine(&bm.group, done, cx);
                            }
                            cur = Some(Buffer {
                                time: t,
                                name: bm.b.name.clone(),
                                points: vec![p],
                            });
                        }
                    }
                }
                if let Some(done) = cur {
                    self.combine(&bm.group, done, cx);
                }
            }
            Msg::Delete { ref group } => {
                self.buffers.remove(group);
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

/// `flatten()`: merges the points of one time into one point whose field names are prefixed
/// with the values of the `.on()` tags.
pub struct Flatten {
    on: Vec<String>,
    delimiter: String,
    tolerance: i64,
    drop_original: bool,
    buffers: GroupMap<Buffer>,
}

impl Flatten {
    pub fn new(spec: &NodeSpec) -> Result<Self, EngineError> {
        Ok(Flatten {
            on: spec.prop_strs("on")?.unwrap_or_default(),
            delimiter: spec.prop_str("delimiter")?.unwrap_or_else(|| ".".into()),
            tolerance: spec.prop_duration("tolerance")?.unwrap_or(0).max(0),
            drop_original: spec.flag("dropOriginalFieldName")?,
            buffers: GroupMap::default(),
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
                        nulls: Default::default(),
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
                let tags = bm.group.tags().clone();
                let mut points = Vec::new();
                let mut same_time: Vec<Point> = Vec::new();
                let mut cur_t = None;
                for p in bm.b.points {
                    let t = timeutil::round(p.time, self.tolerance);
                    if cur_t != Some(t) {
                        if let Some(ct) = cur_t
                            && !same_time.is_empty()
                        {
                            points.push(Point {
                                name: bm.b.name.clone(),
                                tags: tags.clone(),
                                fields: self.flatten(&same_time, cx),
                                time: ct,
                            });
                            same_time.clear();
                        }
                        cur_t = Some(t);
                    }
                    same_time.push(p);
                }
                if let Some(ct) = cur_t
                    && !same_time.is_empty()
                {
                    points.push(Point {
                        name: bm.b.name.clone(),
                        tags: tags.clone(),
                        fields: self.flatten(&same_time, cx),
                        time: ct,
                    });
                }
                cx.emit(Msg::Batch(BatchMsg {
                    nulls: Default::default(),
                    b: Batch {
                        name: bm.b.name,
                        tags,
                        time: bm.b.time,
                        points,
                    },
                    group: bm.group,
                    held: None,
                }));
            }
            Msg::Delete { ref group } => {
                self.buffers.remove(group);
                cx.emit(msg);
            }
            other => cx.emit(other),
        }
    }

    fn cardinality(&self) -> usize {
        self.buffers.len()
    }
}
