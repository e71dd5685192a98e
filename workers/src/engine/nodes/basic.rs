//! Point-by-point nodes: stream, from, where, eval, groupBy, default, delete, shift, sample,
//! changeDetect, stateDuration/stateCount, log, noOp, httpOut, union.

use super::NodeImpl;
use crate::engine::Cx;
use crate::engine::held::{HeldMsg, KEEP_PLAIN};
use crate::engine::lambda::{Lambda, State, Value, to_field};
use crate::engine::msg::{BatchMsg, Dims, Group, GroupMap, Msg, Nulls, PointMsg, add_null};
use crate::engine::props::NodeSpec;
use crate::engine::result::{Row, result_json};
use crate::engine::{EngineError, timeutil};
use kapacitor_models::{Batch, FieldValue, Fields, Point, Tags};
use std::collections::HashSet;
use std::sync::Arc;
use tickscript::ast::{BinaryOp, Expr};
use tickscript::pipeline::Arg;

/// `stream`: the task's source. Points are delivered to its children by the task itself.
pub struct Source;
impl NodeImpl for Source {
    fn on_msg(&mut self, _port: usize, msg: Msg, cx: &mut Cx) {
        cx.emit(msg);
    }
}

/// How a node sets a message's dimensions (from().groupBy, groupBy node).
enum DimSpec {
    Fixed(Arc<Dims>),
    /// `*`: every tag of the point, minus the excluded ones.
    All {
        by_name: bool,
        exclude: Vec<String>,
    },
}

impl DimSpec {
    fn parse(
        spec: &NodeSpec,
        args: &[Arg],
        by_name: bool,
        exclude: Vec<String>,
    ) -> Result<(DimSpec, bool), EngineError> {
        if args.iter().any(|a| matches!(a, Arg::Star)) {
            return Ok((DimSpec::All { by_name, exclude }, true));
        }
        let mut tags = spec.strs(args, "groupBy")?;
        tags.sort();
        tags.dedup();
        Ok((
            DimSpec::Fixed(Arc::new(Dims {
                tag_names: tags,
                by_name,
            })),
            false,
        ))
    }

    fn group(&self, cx: &mut Cx, name: &str, tags: &Tags) -> Group {
        match self {
            DimSpec::Fixed(d) => cx.groups().group(name, tags, d),
            DimSpec::All { by_name, exclude } => {
                let d = Dims {
                    tag_names: tags
                        .keys()
                        .filter(|k| !exclude.contains(k))
                        .cloned()
                        .collect(),
                    by_name: *by_name,
                };
                let d = cx.groups().dims(d);
                cx.groups().group(name, tags, &d)
            }
        }
    }
}

/// `from()`: selects points by database, retention policy, measurement and a where lambda,
/// then sets the group.
pub struct From {
    db: String,
    rp: String,
    measurement: String,
    filter: Option<(Lambda, State)>,
    dims: DimSpec,
    truncate: i64,
    round: i64,
    fixed_dims: Option<Arc<Dims>>,
}

/// Joins several `.where()` lambdas with AND, as Kapacitor's `FromNode.Where` does.
fn and_lambdas(spec: &NodeSpec, name: &str) -> Result<Option<Lambda>, EngineError> {
    let mut expr: Option<Expr> = None;
    for p in spec.props(name) {
        let e = match p.args.as_slice() {
            [Arg::Lambda(e)] => e.clone(),
            [Arg::Bool(b)] => Expr::Bool(*b, p.pos),
            _ => return Err(spec.err(format!(".{name}() takes one lambda"))),
        };
        expr = Some(match expr {
            None => e,
            Some(prev) => Expr::Binary {
                op: BinaryOp::And,
                lhs: Box::new(prev),
                rhs: Box::new(e),
                pos: p.pos,
            },
        });
    }
    expr.map(|e| Lambda::compile(&e).map_err(|m| spec.err(m)))
        .transpose()
}

impl From {
    pub fn new(spec: &NodeSpec) -> Result<Self, EngineError> {
        let filter = and_lambdas(spec, "where")?.map(|l| {
            let s = l.new_state();
            (l, s)
        });
        let by_name = spec.flag("groupByMeasurement")?;
        let args = spec
            .prop("groupBy")
            .map(|p| p.args.clone())
            .unwrap_or_default();
        let (dims, _) = DimSpec::parse(spec, &args, by_name, Vec::new())?;
        let truncate = spec.prop_duration("truncate")?.unwrap_or(0);
        let round = spec.prop_duration("round")?.unwrap_or(0);
        if truncate < 0 || round < 0 {
            return Err(spec.err("truncate and round must not be negative"));
        }
        let fixed_dims = match &dims {
            DimSpec::Fixed(d) => Some(d.clone()),
            _ => None,
        };
        Ok(From {
            db: spec.prop_str("database")?.unwrap_or_default(),
            rp: spec.prop_str("retentionPolicy")?.unwrap_or_default(),
            measurement: spec.prop_str("measurement")?.unwrap_or_default(),
            filter,
            dims,
            truncate,
            round,
            fixed_dims,
        })
    }
}

impl NodeImpl for From {
    fn accepts_dbrp(&self, db: &str, rp: &str) -> bool {
        (self.db.is_empty() || self.db == db) && (self.rp.is_empty() || self.rp == rp)
    }

    fn on_msg(&mut self, _port: usize, msg: Msg, cx: &mut Cx) {
        let Msg::Point(mut pm) = msg else {
            return;
        };
        if !self.measurement.is_empty() && pm.p.name != self.measurement {
            return;
        }
        if let Some((l, st)) = &mut self.filter {
            match l.eval_bool(&pm.p, st) {
                Ok(true) => {}
                Ok(false) => return,
                Err(e) => {
                    cx.error(format!("failed to evaluate WHERE expression: {e}"));
                    return;
                }
            }
        }
        if self.truncate > 0 {
            pm.p.time = timeutil::truncate(pm.p.time, self.truncate);
        }
        if self.round > 0 {
            pm.p.time = timeutil::round(pm.p.time, self.round);
        }
        pm.group = match &self.fixed_dims {
            Some(d) if d.tag_names.is_empty() && !d.by_name => pm.group,
            _ => self.dims.group(cx, &pm.p.name, &pm.p.tags),
        };
        cx.emit(Msg::Point(pm));
    }
}

/// `where(lambda)`: drops points (and batch points) for which the lambda is false.
pub struct Where {
    lambda: Lambda,
    states: GroupMap<State>,
}

impl Where {
    pub fn new(spec: &NodeSpec) -> Result<Self, EngineError> {
        let lambda = match spec.arg(0) {
            Some(a) => spec.lambda(a)?,
            None => return Err(spec.err("where needs a lambda")),
        };
        Ok(Where {
            lambda,
            states: GroupMap::default(),
        })
    }
}

impl NodeImpl for Where {
    fn on_msg(&mut self, _port: usize, msg: Msg, cx: &mut Cx) {
        match msg {
            Msg::Point(pm) => {
                let st = self
                    .states
                    .entry(pm.group.clone())
                    .or_insert_with(|| self.lambda.new_state());
                match self.lambda.eval_bool(&pm.p, st) {
                    Ok(true) => cx.emit(Msg::Point(pm)),
                    Ok(false) => {}
                    Err(e) => cx.error(format!("error while evaluating expression: {e}")),
                }
            }
            Msg::Batch(mut bm) => {
                let st = self
                    .states
                    .entry(bm.group.clone())
                    .or_insert_with(|| self.lambda.new_state());
                let mut errs = Vec::new();
                let keep: Vec<bool> =
                    bm.b.points
                        .iter()
                        .map(|p| match self.lambda.eval_bool(p, st) {
                            Ok(b) => b,
                            Err(e) => {
                                errs.push(e);
                                false
                            }
                        })
                        .collect();
                let mut k = keep.iter();
                bm.b.points.retain(|_| k.next().copied().unwrap_or(false));
                if bm.nulls.len() == keep.len() {
                    let mut k = keep.iter();
                    bm.nulls.retain(|_| k.next().copied().unwrap_or(false));
                }
                for e in errs {
                    cx.error(format!("error while evaluating expression: {e}"));
                }
                cx.emit(Msg::Batch(bm));
            }
            Msg::Delete { ref group } => {
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

/// `eval(lambdas...)`: computes new fields (or tags) from each point.
pub struct Eval {
    lambdas: Vec<Lambda>,
    as_: Vec<String>,
    tags: HashSet<String>,
    keep: Option<Vec<String>>,
    states: GroupMap<Vec<State>>,
}

impl Eval {
    pub fn new(spec: &NodeSpec) -> Result<Self, EngineError> {
        let lambdas = spec
            .node
            .args
            .iter()
            .map(|a| spec.lambda(a))
            .collect::<Result<Vec<_>, _>>()?;
        let as_ = spec
            .prop_strs("as")?
            .ok_or_else(|| spec.err("eval requires .as() naming each expression"))?;
        if as_.len() != lambdas.len() {
            return Err(spec.err(format!(
                "must provide one name per expression via the 'As' property: got {} names for {} expressions",
                as_.len(),
                lambdas.len()
            )));
        }
        let tags: HashSet<String> = spec
            .prop_strs("tags")?
            .unwrap_or_default()
            .into_iter()
            .collect();
        for t in &tags {
            if !as_.contains(t) {
                return Err(spec.err(format!("tag {t:?} is not one of the names given to .as()")));
            }
        }
        let keep = if spec.has("keep") {
            Some(spec.prop_strs("keep")?.unwrap_or_default())
        } else {
            None
        };
        Ok(Eval {
            lambdas,
            as_,
            tags,
            keep,
            states: GroupMap::default(),
        })
    }

    /// Evaluates the expressions on `p` (fields, tags, time) whose null fields are `nulls`;
    /// returns the new fields, tags and null fields (nulls stay only where fields are kept and
    /// not assigned).
    fn eval(
        &self,
        states: &mut [State],
        p: &Point,
        nulls: &[String],
    ) -> Result<(Fields, Tags, Nulls), String> {
        // Later expressions see earlier results, as in Kapacitor's scope.
        let mut scope: Option<Point> = None;
        let mut vals: Vec<Value> = Vec::with_capacity(self.lambdas.len());
        for (i, l) in self.lambdas.iter().enumerate() {
            let v = l.eval(scope.as_ref().unwrap_or(p), &mut states[i])?;
            if let Value::Missing = v {
                return Err(format!("no field or tag exists for {}", self.as_[i]));
            }
            if i + 1 < self.lambdas.len() {
                let s = scope.get_or_insert_with(|| p.clone());
                if let Some(f) = to_field(&v) {
                    s.tags.remove(&self.as_[i]);
                    s.fields.insert(self.as_[i].clone(), f);
                }
            }
            vals.push(v);
        }
        let get_var = |name: &str| -> Option<&Value> {
            self.as_.iter().rposition(|a| a == name).map(|i| &vals[i])
        };
        let mut fields = Fields::new();
        let mut out_nulls = Nulls::new();
        match &self.keep {
            Some(list) if !list.is_empty() => {
                for f in list {
                    if let Some(v) = get_var(f) {
                        if let Some(fv) = to_field(v) {
                            fields.insert(f.clone(), fv);
                        }
                    } else if let Some(v) = p.fields.get(f) {
                        fields.insert(f.clone(), v.clone());
                    } else if nulls.contains(f) {
                        add_null(&mut out_nulls, f.clone());
                    } else {
                        return Err(format!("cannot keep field {f:?}, field does not exist"));
                    }
                }
            }
            Some(_) => {
                // `.keep()` without names keeps every result as a field, including those also
                // made tags by `.tags()` (Kapacitor copies the whole `.as()` list here).
                fields = p.fields.clone();
                for (i, a) in self.as_.iter().enumerate() {
                    if let Some(fv) = to_field(&vals[i]) {
                        fields.insert(a.clone(), fv);
                    }
                }
                out_nulls.extend(nulls.iter().filter(|n| !fields.contains_key(*n)).cloned());
            }
            None => {
                for (i, a) in self.as_.iter().enumerate() {
                    if self.tags.contains(a) {
                        continue;
                    }
                    match to_field(&vals[i]) {
                        Some(fv) => {
                            fields.insert(a.clone(), fv);
                        }
                        None => {
                            return Err(format!(
                                "cannot store a {} as field {a:?}",
                                vals[i].type_name()
                            ));
                        }
                    }
                }
            }
        }
        let mut tags = p.tags.clone();
        for t in &self.tags {
            match get_var(t) {
                Some(Value::Str(s)) => {
                    tags.insert(t.clone(), s.to_string());
                }
                Some(v) => {
                    return Err(format!(
                        "result of a tag expression must be of type string, got {}",
                        v.type_name()
                    ));
                }
                None => {}
            }
        }
        Ok((fields, tags, out_nulls))
    }

    fn states(&mut self, g: &Group) -> Vec<State> {
        self.states
            .remove(g)
            .unwrap_or_else(|| self.lambdas.iter().map(|l| l.new_state()).collect())
    }
}

impl NodeImpl for Eval {
    fn on_msg(&mut self, _port: usize, msg: Msg, cx: &mut Cx) {
        match msg {
            Msg::Point(mut pm) => {
                let mut st = self.states(&pm.group);
                let r = self.eval(&mut st, &pm.p, &pm.nulls);
                self.states.insert(pm.group.clone(), st);
                match r {
                    Ok((f, t, n)) => {
                        pm.p.fields = f;
                        pm.p.tags = t;
                        pm.nulls = n;
                        cx.emit(Msg::Point(pm));
                    }
                    Err(e) => cx.error(format!("error evaluating expression: {e}")),
                }
            }
            Msg::Batch(mut bm) => {
                let mut st = self.states(&bm.group);
                let mut errs = Vec::new();
                let pts = std::mem::take(&mut bm.b.points);
                let in_nulls = std::mem::take(&mut bm.nulls);
                let in_step = in_nulls.len() == pts.len();
                let mut out_nulls = Vec::new();
                for (i, mut p) in pts.into_iter().enumerate() {
                    let nulls = if in_step { in_nulls[i].as_slice() } else { &[] };
                    match self.eval(&mut st, &p, nulls) {
                        Ok((f, t, n)) => {
                            p.fields = f;
                            p.tags = t;
                            bm.b.points.push(p);
                            out_nulls.push(n);
                        }
                        Err(e) => errs.push(e),
                    }
                }
                if out_nulls.iter().any(|n| !n.is_empty()) {
                    bm.nulls = out_nulls;
                }
                self.states.insert(bm.group.clone(), st);
                for e in errs {
                    cx.error(format!("error evaluating expression: {e}"));
                }
                cx.emit(Msg::Batch(bm));
            }
            Msg::Delete { ref group } => {
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

/// `groupBy(tags...)`: regroups points; regroups batches, buffering the new batches until a
/// batch with a different time arrives (several input groups of one time can feed one output
/// group), like Kapacitor.
pub struct GroupBy {
    dims: DimSpec,
    buffered: Vec<(Group, Batch)>,
    last_time: Option<i64>,
}

impl GroupBy {
    pub fn new(spec: &NodeSpec) -> Result<Self, EngineError> {
        let by_name = spec.flag("byMeasurement")?;
        let exclude = spec.prop_strs("exclude")?.unwrap_or_default();
        let (dims, _) = DimSpec::parse(spec, &spec.node.args, by_name, exclude)?;
        Ok(GroupBy {
            dims,
            buffered: Vec::new(),
            last_time: None,
        })
    }

    fn flush(&mut self, t: i64, cx: &mut Cx) {
        if self.last_time != Some(t) {
            self.last_time = Some(t);
            for (group, mut b) in self.buffered.drain(..) {
                // Points of several input batches interleave; downstream nodes (flatten,
                // combine, derivative) expect time order, as Kapacitor sorts here too.
                b.points.sort_by_key(|p| p.time);
                cx.emit(Msg::Batch(BatchMsg::new(b, group)));
            }
        }
    }
}

impl NodeImpl for GroupBy {
    fn on_msg(&mut self, _port: usize, msg: Msg, cx: &mut Cx) {
        match msg {
            Msg::Point(mut pm) => {
                pm.group = self.dims.group(cx, &pm.p.name, &pm.p.tags);
                cx.emit(Msg::Point(pm));
            }
            Msg::Batch(bm) => {
                self.flush(bm.b.time, cx);
                let Batch {
                    name, time, points, ..
                } = bm.b;
                for p in points {
                    let g = self.dims.group(cx, &name, &p.tags);
                    match self.buffered.iter_mut().find(|(bg, _)| *bg == g) {
                        Some((_, b)) => b.points.push(p),
                        None => {
                            let tags = g.tags().clone();
                            self.buffered.push((
                                g,
                                Batch {
                                    name: name.clone(),
                                    tags,
                                    time,
                                    points: vec![p],
                                },
                            ));
                        }
                    }
                }
            }
            Msg::Barrier { time, .. } => {
                self.flush(time, cx);
                cx.emit(msg);
            }
            other => cx.emit(other),
        }
    }

    fn cardinality(&self) -> usize {
        self.buffered.len()
    }
}

/// After a node changed a batch's tags: the batch's group follows them under the same
/// dimensions, as Kapacitor recomputes the group ID when a batch's tags are set.
fn regroup(bm: &mut BatchMsg, cx: &mut Cx) {
    let dims = bm.group.dims().clone();
    bm.group = cx.groups().group(&bm.b.name, &bm.b.tags, &dims);
}

/// `default()`: fills missing fields and missing or empty tags.
pub struct Default {
    fields: Vec<(String, FieldValue)>,
    tags: Vec<(String, String)>,
    fields_defaulted: i64,
    tags_defaulted: i64,
}

pub fn arg_field(a: &Arg) -> Option<FieldValue> {
    Some(match a {
        Arg::Float(f) => FieldValue::Float(*f),
        Arg::Int(i) => FieldValue::Int(*i),
        Arg::Str(s) => FieldValue::Str(s.clone()),
        Arg::Bool(b) => FieldValue::Bool(*b),
        Arg::Duration(d) => FieldValue::Int(*d),
        _ => return None,
    })
}

impl Default {
    pub fn new(spec: &NodeSpec) -> Result<Self, EngineError> {
        let mut fields = Vec::new();
        for p in spec.props("field") {
            match p.args.as_slice() {
                [Arg::Str(n), v] => match arg_field(v) {
                    Some(v) => fields.push((n.clone(), v)),
                    None => return Err(spec.err(".field() value must be a number, string or bool")),
                },
                _ => return Err(spec.err(".field() takes a name and a value")),
            }
        }
        let mut tags = Vec::new();
        for p in spec.props("tag") {
            match p.args.as_slice() {
                [Arg::Str(n), Arg::Str(v)] => tags.push((n.clone(), v.clone())),
                _ => return Err(spec.err(".tag() takes a name and a string value")),
            }
        }
        Ok(Default {
            fields,
            tags,
            fields_defaulted: 0,
            tags_defaulted: 0,
        })
    }

    /// A missing field and a null one (`join.fill('null')`) are both defaulted, as Kapacitor
    /// tests `fields[name] == nil`.
    fn apply(&mut self, p: &mut Point, nulls: &mut Nulls) {
        for (k, v) in &self.fields {
            if !p.fields.contains_key(k) {
                p.fields.insert(k.clone(), v.clone());
                if let Ok(i) = nulls.binary_search(k) {
                    nulls.remove(i);
                }
                self.fields_defaulted += 1;
            }
        }
        for (k, v) in &self.tags {
            if p.tags.get(k).is_none_or(|t| t.is_empty()) {
                p.tags.insert(k.clone(), v.clone());
                self.tags_defaulted += 1;
            }
        }
    }
}

impl NodeImpl for Default {
    fn on_msg(&mut self, _port: usize, msg: Msg, cx: &mut Cx) {
        match msg {
            Msg::Point(mut pm) => {
                self.apply(&mut pm.p, &mut pm.nulls);
                cx.emit(Msg::Point(pm));
            }
            Msg::Batch(mut bm) => {
                let in_step = bm.nulls.len() == bm.b.points.len();
                let mut none = Nulls::new();
                for (i, p) in bm.b.points.iter_mut().enumerate() {
                    let nulls = if in_step { &mut bm.nulls[i] } else { &mut none };
                    self.apply(p, nulls);
                }
                let mut changed = false;
                for (k, v) in &self.tags {
                    if bm.b.tags.get(k).is_none_or(|t| t.is_empty()) {
                        bm.b.tags.insert(k.clone(), v.clone());
                        changed = true;
                    }
                }
                if changed {
                    regroup(&mut bm, cx);
                }
                cx.emit(Msg::Batch(bm));
            }
            other => cx.emit(other),
        }
    }

    fn counters(&self, out: &mut Vec<(&'static str, i64)>) {
        out.push(("fields_defaulted", self.fields_defaulted));
        out.push(("tags_defaulted", self.tags_defaulted));
    }
}

/// `delete()`: removes fields and tags.
pub struct Delete {
    fields: Vec<String>,
    tags: Vec<String>,
    fields_deleted: i64,
    tags_deleted: i64,
}

impl Delete {
    pub fn new(spec: &NodeSpec) -> Result<Self, EngineError> {
        let mut fields = Vec::new();
        for p in spec.props("field") {
            fields.extend(spec.strs(&p.args, ".field()")?);
        }
        let mut tags = Vec::new();
        for p in spec.props("tag") {
            tags.extend(spec.strs(&p.args, ".tag()")?);
        }
        Ok(Delete {
            fields,
            tags,
            fields_deleted: 0,
            tags_deleted: 0,
        })
    }

    fn apply(&mut self, p: &mut Point, nulls: &mut Nulls) {
        for f in &self.fields {
            if p.fields.remove(f).is_some() {
                self.fields_deleted += 1;
            } else if let Ok(i) = nulls.binary_search(f) {
                nulls.remove(i);
                self.fields_deleted += 1;
            }
        }
        for t in &self.tags {
            if p.tags.remove(t).is_some() {
                self.tags_deleted += 1;
            }
        }
    }

    /// The group after deleting tags: a deleted tag that was a group dimension stops being one
    /// (Kapacitor drops it from the dimensions and recomputes the group ID), so the groups that
    /// differed only by that tag merge downstream.
    fn without_deleted_dims(&self, group: &Group, name: &str, tags: &Tags, cx: &mut Cx) -> Group {
        let dims = group.dims();
        if !dims.tag_names.iter().any(|d| self.tags.contains(d)) {
            return group.clone();
        }
        let kept = Dims {
            tag_names: dims
                .tag_names
                .iter()
                .filter(|d| !self.tags.contains(*d))
                .cloned()
                .collect(),
            by_name: dims.by_name,
        };
        let dims = cx.groups().dims(kept);
        cx.groups().group(name, tags, &dims)
    }
}

impl NodeImpl for Delete {
    fn on_msg(&mut self, _port: usize, msg: Msg, cx: &mut Cx) {
        match msg {
            Msg::Point(mut pm) => {
                self.apply(&mut pm.p, &mut pm.nulls);
                pm.group = self.without_deleted_dims(&pm.group, &pm.p.name, &pm.p.tags, cx);
                cx.emit(Msg::Point(pm));
            }
            Msg::Batch(mut bm) => {
                let in_step = bm.nulls.len() == bm.b.points.len();
                let mut none = Nulls::new();
                for (i, p) in bm.b.points.iter_mut().enumerate() {
                    let nulls = if in_step { &mut bm.nulls[i] } else { &mut none };
                    self.apply(p, nulls);
                }
                for t in &self.tags {
                    bm.b.tags.remove(t);
                }
                bm.group = self.without_deleted_dims(&bm.group, &bm.b.name, &bm.b.tags, cx);
                cx.emit(Msg::Batch(bm));
            }
            other => cx.emit(other),
        }
    }

    fn counters(&self, out: &mut Vec<(&'static str, i64)>) {
        out.push(("fields_deleted", self.fields_deleted));
        out.push(("tags_deleted", self.tags_deleted));
    }
}

/// `shift(d)`: moves points and batches in time.
pub struct Shift {
    d: i64,
}

impl Shift {
    pub fn new(spec: &NodeSpec) -> Result<Self, EngineError> {
        let d = match spec.arg(0) {
            Some(a) => spec.duration(a, "shift")?,
            None => return Err(spec.err("shift needs a duration")),
        };
        Ok(Shift { d })
    }
}

impl NodeImpl for Shift {
    fn on_msg(&mut self, _port: usize, msg: Msg, cx: &mut Cx) {
        match msg {
            Msg::Point(mut pm) => {
                pm.p.time += self.d;
                cx.emit(Msg::Point(pm));
            }
            Msg::Batch(mut bm) => {
                bm.b.time += self.d;
                for p in &mut bm.b.points {
                    p.time += self.d;
                }
                cx.emit(Msg::Batch(bm));
            }
            Msg::Barrier { group, time } => cx.emit(Msg::Barrier {
                group,
                time: time + self.d,
            }),
            other => cx.emit(other),
        }
    }
}

/// `sample(n)` keeps every n-th message of a group; `sample(d)` keeps messages whose time is
/// a multiple of d.
pub struct Sample {
    n: i64,
    d: i64,
    counts: GroupMap<i64>,
}

impl Sample {
    pub fn new(spec: &NodeSpec) -> Result<Self, EngineError> {
        let (n, d) = match spec.arg(0) {
            Some(Arg::Int(n)) if *n > 0 => (*n, 0),
            Some(Arg::Duration(d)) if *d > 0 => (0, *d),
            _ => return Err(spec.err("sample needs a positive count or duration")),
        };
        Ok(Sample {
            n,
            d,
            counts: GroupMap::default(),
        })
    }

    fn keep(&mut self, g: &Group, t: i64) -> bool {
        if self.d > 0 {
            timeutil::truncate(t, self.d) == t
        } else {
            let c = self.counts.entry(g.clone()).or_insert(0);
            let keep = *c % self.n == 0;
            *c += 1;
            keep
        }
    }
}

impl NodeImpl for Sample {
    fn on_msg(&mut self, _port: usize, msg: Msg, cx: &mut Cx) {
        match &msg {
            Msg::Point(pm) => {
                if self.keep(&pm.group, pm.p.time) {
                    cx.emit(msg);
                }
            }
            Msg::Batch(bm) => {
                if self.keep(&bm.group, bm.b.time) {
                    cx.emit(msg);
                }
            }
            Msg::Delete { group } => {
                self.counts.remove(group);
                cx.emit(msg);
            }
            _ => cx.emit(msg),
        }
    }

    fn cardinality(&self) -> usize {
        self.counts.len()
    }
}

/// `changeDetect(fields...)`: passes a point only when one of the fields changed.
pub struct ChangeDetect {
    fields: Vec<String>,
    prev: GroupMap<Vec<Option<FieldValue>>>,
}

impl ChangeDetect {
    pub fn new(spec: &NodeSpec) -> Result<Self, EngineError> {
        let fields = spec.strs(&spec.node.args, "changeDetect")?;
        if fields.is_empty() {
            return Err(spec.err("changeDetect needs at least one field"));
        }
        Ok(ChangeDetect {
            fields,
            prev: GroupMap::default(),
        })
    }

    /// A point missing one of the fields is an error and does not count as a change.
    fn changed(&mut self, g: &Group, p: &Point, cx: &mut Cx) -> bool {
        if let Some(f) = self.fields.iter().find(|f| !p.fields.contains_key(*f)) {
            cx.error(format!("field {f:?} missing from point"));
            return false;
        }
        let cur: Vec<Option<FieldValue>> = self
            .fields
            .iter()
            .map(|f| p.fields.get(f).cloned())
            .collect();
        match self.prev.get_mut(g) {
            None => {
                self.prev.insert(g.clone(), cur);
                true
            }
            Some(prev) if *prev != cur => {
                *prev = cur;
                true
            }
            Some(_) => false,
        }
    }
}

impl NodeImpl for ChangeDetect {
    fn on_msg(&mut self, _port: usize, msg: Msg, cx: &mut Cx) {
        match msg {
            Msg::Point(pm) => {
                if self.changed(&pm.group, &pm.p, cx) {
                    cx.emit(Msg::Point(pm));
                }
            }
            Msg::Batch(mut bm) => {
                let g = bm.group.clone();
                let pts = std::mem::take(&mut bm.b.points);
                // The points are rebuilt: null fields do not follow them.
                bm.nulls.clear();
                bm.b.points = pts
                    .into_iter()
                    .filter(|p| self.changed(&g, p, cx))
                    .collect();
                cx.emit(Msg::Batch(bm));
            }
            Msg::Delete { ref group } => {
                self.prev.remove(group);
                cx.emit(msg);
            }
            other => cx.emit(other),
        }
    }

    fn cardinality(&self) -> usize {
        self.prev.len()
    }
}

/// `stateDuration(lambda)` / `stateCount(lambda)`.
pub struct StateTracking {
    lambda: Lambda,
    as_: String,
    /// `Some(unit)` for stateDuration.
    unit: Option<i64>,
    states: GroupMap<(State, Option<i64>, i64)>,
}

impl StateTracking {
    pub fn new(spec: &NodeSpec) -> Result<Self, EngineError> {
        let duration = spec.node.kind == "stateDuration";
        let lambda = match spec.arg(0) {
            Some(a) => spec.lambda(a)?,
            None => return Err(spec.err("needs a lambda")),
        };
        let as_ = spec.prop_str("as")?.unwrap_or_else(|| {
            if duration {
                "state_duration".into()
            } else {
                "state_count".into()
            }
        });
        let unit = if duration {
            let u = spec.prop_duration("unit")?.unwrap_or(1_000_000_000);
            if u <= 0 {
                return Err(spec.err("unit must be positive"));
            }
            Some(u)
        } else {
            None
        };
        Ok(StateTracking {
            lambda,
            as_,
            unit,
            states: GroupMap::default(),
        })
    }

    fn track(&mut self, g: &Group, p: &mut Point) -> Result<(), String> {
        let (st, start, count) = self
            .states
            .entry(g.clone())
            .or_insert_with(|| (self.lambda.new_state(), None, 0));
        let in_state = self.lambda.eval_bool(p, st)?;
        let v = match self.unit {
            Some(unit) => {
                if !in_state {
                    *start = None;
                    FieldValue::Float(-1.0)
                } else {
                    let s = *start.get_or_insert(p.time);
                    FieldValue::Float((p.time - s) as f64 / unit as f64)
                }
            }
            None => {
                if !in_state {
                    *count = 0;
                    FieldValue::Int(-1)
                } else {
                    *count += 1;
                    FieldValue::Int(*count)
                }
            }
        };
        p.fields.insert(self.as_.clone(), v);
        Ok(())
    }
}

impl NodeImpl for StateTracking {
    fn on_msg(&mut self, _port: usize, msg: Msg, cx: &mut Cx) {
        match msg {
            Msg::Point(mut pm) => match self.track(&pm.group.clone(), &mut pm.p) {
                Ok(()) => cx.emit(Msg::Point(pm)),
                Err(e) => cx.error(format!("error evaluating expression: {e}")),
            },
            Msg::Batch(mut bm) => {
                let g = bm.group.clone();
                // Each batch is tracked from scratch, as Kapacitor resets its tracker at the
                // beginning of a batch (the lambda's own state carries on).
                if let Some((_, start, count)) = self.states.get_mut(&g) {
                    *start = None;
                    *count = 0;
                }
                let pts = std::mem::take(&mut bm.b.points);
                // The points are rebuilt: null fields do not follow them.
                bm.nulls.clear();
                for mut p in pts {
                    match self.track(&g, &mut p) {
                        Ok(()) => bm.b.points.push(p),
                        Err(e) => cx.error(format!("error evaluating expression: {e}")),
                    }
                }
                cx.emit(Msg::Batch(bm));
            }
            Msg::Delete { ref group } => {
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

/// `log()`: logs every message and passes it on.
pub struct Log {
    level: String,
    prefix: String,
}

impl Log {
    pub fn new(spec: &NodeSpec) -> Result<Self, EngineError> {
        let level = spec
            .prop_str("level")?
            .unwrap_or_else(|| "INFO".into())
            .to_uppercase();
        if !matches!(level.as_str(), "DEBUG" | "INFO" | "WARN" | "ERROR") {
            return Err(spec.err(format!("invalid log level {level:?}")));
        }
        Ok(Log {
            level,
            prefix: spec.prop_str("prefix")?.unwrap_or_default(),
        })
    }
}

impl NodeImpl for Log {
    fn on_msg(&mut self, _port: usize, msg: Msg, cx: &mut Cx) {
        let body = match &msg {
            Msg::Point(p) => Some(Row::from_point(p).to_json()),
            Msg::Batch(b) => Some(Row::from_batch(b).to_json()),
            _ => None,
        };
        if let Some(body) = body {
            let node = cx.node_name();
            let prefix = &self.prefix;
            match self.level.as_str() {
                "DEBUG" => tracing::debug!(node, prefix, "{body}"),
                "ERROR" => tracing::error!(node, prefix, "{body}"),
                "WARN" => tracing::warn!(node, prefix, "{body}"),
                _ => tracing::info!(node, prefix, "{body}"),
            }
        }
        cx.emit(msg);
    }
}

pub struct NoOp;
impl NodeImpl for NoOp {
    fn on_msg(&mut self, _port: usize, msg: Msg, cx: &mut Cx) {
        cx.emit(msg);
    }
}

/// `httpOut(endpoint)`: keeps the latest row per group, in first-seen group order.
pub struct HttpOut {
    endpoint: String,
    rows: Vec<(Group, Latest)>,
    index: GroupMap<usize>,
    seen_any: bool,
}

/// What httpOut keeps of a group's latest message. A leaf httpOut (the usual case) keeps the
/// point itself and makes its row only when the endpoint is read: a row per point written
/// would copy every name, tag and field.
enum Latest {
    Row(Row),
    Point(PointMsg),
}

impl Latest {
    fn row(&self) -> std::borrow::Cow<'_, Row> {
        match self {
            Latest::Row(r) => std::borrow::Cow::Borrowed(r),
            Latest::Point(p) => std::borrow::Cow::Owned(Row::from_point(p)),
        }
    }
}

impl HttpOut {
    pub fn new(spec: &NodeSpec) -> Result<Self, EngineError> {
        let endpoint = match spec.arg(0) {
            Some(Arg::Str(s)) if !s.is_empty() => s.clone(),
            _ => return Err(spec.err("httpOut needs an endpoint name")),
        };
        Ok(HttpOut {
            endpoint,
            rows: Vec::new(),
            index: GroupMap::default(),
            seen_any: false,
        })
    }

    fn set(&mut self, g: &Group, latest: Latest) {
        self.seen_any = true;
        match self.index.get(g) {
            Some(&i) => self.rows[i].1 = latest,
            None => {
                self.index.insert(g.clone(), self.rows.len());
                self.rows.push((g.clone(), latest));
            }
        }
    }
}

impl NodeImpl for HttpOut {
    fn on_msg(&mut self, _port: usize, msg: Msg, cx: &mut Cx) {
        match msg {
            Msg::Point(p) if cx.is_leaf() => {
                let g = p.group.clone();
                self.set(&g, Latest::Point(p));
                return;
            }
            Msg::Point(ref p) => self.set(&p.group, Latest::Row(Row::from_point(p))),
            Msg::Batch(ref b) => self.set(&b.group, Latest::Row(Row::from_batch(b))),
            Msg::Delete { ref group } => {
                if let Some(i) = self.index.remove(group) {
                    self.rows.remove(i);
                    for (j, (g, _)) in self.rows.iter().enumerate().skip(i) {
                        self.index.insert(g.clone(), j);
                    }
                }
            }
            Msg::Barrier { .. } => {}
        }
        cx.emit(msg);
    }

    fn http_out(&self) -> Option<(&str, String)> {
        let body = if self.seen_any {
            let rows: Vec<_> = self.rows.iter().map(|(_, l)| l.row()).collect();
            result_json(Some(rows.iter().map(|r| r.as_ref())))
        } else {
            result_json(None::<std::iter::Empty<&Row>>)
        };
        Some((&self.endpoint, body))
    }

    fn cardinality(&self) -> usize {
        self.rows.len()
    }
}

/// `union(nodes...)`: merges its parents in time order, optionally renaming the measurement.
/// Like Kapacitor it buffers per parent and only emits up to the lowest time every parent has
/// reached, once each parent has sent something.
pub struct Union {
    rename: Option<String>,
    sources: Vec<std::collections::VecDeque<HeldMsg>>,
    low_marks: Vec<Option<i64>>,
}

/// Bound on what union buffers for one parent while waiting for the others; past it the
/// oldest messages are released out of order rather than growing without limit. Past
/// `KEEP_PLAIN` messages a queue keeps them compact (`held`).
const UNION_MAX_BUFFER: usize = 100_000;

impl Union {
    pub fn new(spec: &NodeSpec) -> Result<Self, EngineError> {
        let n = spec.node.parents.len().max(1);
        Ok(Union {
            rename: spec.prop_str("rename")?.filter(|s| !s.is_empty()),
            sources: (0..n).map(|_| std::collections::VecDeque::new()).collect(),
            low_marks: vec![None; n],
        })
    }

    fn renamed(&self, msg: Msg, cx: &mut Cx) -> Msg {
        let Some(name) = &self.rename else {
            return msg;
        };
        match msg {
            Msg::Point(mut pm) => {
                pm.p.name = name.clone();
                if pm.group.dims().by_name {
                    let d = pm.group.dims().clone();
                    pm.group = cx.groups().group(name, &pm.p.tags, &d);
                }
                Msg::Point(pm)
            }
            Msg::Batch(mut bm) => {
                bm.b.name = name.clone();
                for p in &mut bm.b.points {
                    p.name = name.clone();
                }
                if bm.group.dims().by_name {
                    let d = bm.group.dims().clone();
                    let tags = bm.b.tags.clone();
                    bm.group = cx.groups().group(name, &tags, &d);
                }
                Msg::Batch(bm)
            }
            other => other,
        }
    }

    fn emit_ready(&mut self, cx: &mut Cx, force: bool) {
        let mut mark: Option<i64> = None;
        let mut valid = 0;
        for (i, q) in self.sources.iter().enumerate() {
            let mut sm = self.low_marks[i];
            if let Some(t) = q.front().and_then(|m| m.time()) {
                sm = Some(t);
            }
            self.low_marks[i] = sm;
            if let Some(t) = sm {
                valid += 1;
                mark = Some(mark.map_or(t, |m: i64| m.min(t)));
            }
        }
        if valid != self.sources.len() && !force {
            return;
        }
        let Some(mark) = mark else { return };
        let mut emitted = true;
        while emitted {
            emitted = false;
            for q in &mut self.sources {
                if q.front().and_then(|m| m.time()).is_some_and(|t| t <= mark) {
                    let m = q.pop_front().expect("front exists");
                    cx.emit(m.release());
                    emitted = true;
                }
            }
        }
    }
}

impl NodeImpl for Union {
    fn on_msg(&mut self, port: usize, msg: Msg, cx: &mut Cx) {
        if let Msg::Delete { .. } = msg {
            cx.emit(msg);
            return;
        }
        let msg = self.renamed(msg, cx);
        let Some(q) = self.sources.get_mut(port) else {
            return;
        };
        let held = if q.len() < KEEP_PLAIN {
            HeldMsg::Plain(msg)
        } else {
            HeldMsg::compact(msg, cx.held())
        };
        q.push_back(held);
        let overfull = q.len() > UNION_MAX_BUFFER;
        self.emit_ready(cx, false);
        if overfull && let Some(m) = self.sources[port].pop_front() {
            cx.error("union buffer full waiting for a silent parent; releasing out of order");
            cx.emit(m.release());
        }
    }

    fn cardinality(&self) -> usize {
        self.sources.iter().map(|q| q.len()).sum()
    }
}
