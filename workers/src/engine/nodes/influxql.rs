//! The InfluxQL function nodes (`mean`, `top`, `derivative`'s siblings `difference`, ...).
//!
//! On a batch a reducer runs over the batch's points and emits a point (aggregates and
//! selectors) or a batch (`top`, `bottom`, `distinct`, `holtWinters`). On a stream, points of a
//! group with equal time are reduced together and emitted when a point with a different time
//! arrives. Stream transformations (`elapsed`, `difference`, `movingAverage`,
//! `cumulativeSum`) emit one output per input point and keep their state per group.

use super::NodeImpl;
use crate::engine::Cx;
use crate::engine::EngineError;
use crate::engine::held::{HeldPoint, PointRef};
use crate::engine::msg::{BatchMsg, Group, GroupMap, Msg, PointMsg};
use crate::engine::props::{NodeSpec, arg_f64};
use kapacitor_models::{Batch, FieldValue, Fields, Point, Tags};
use std::cmp::Ordering;
use tickscript::pipeline::Arg;

mod holt_winters;

const NAMES: &[&str] = &[
    "count",
    "distinct",
    "mean",
    "median",
    "mode",
    "spread",
    "sum",
    "first",
    "last",
    "min",
    "max",
    "percentile",
    "top",
    "bottom",
    "stddev",
    "elapsed",
    "difference",
    "derivative",
    "movingAverage",
    "cumulativeSum",
    "holtWinters",
    "holtWintersWithFit",
];

pub fn is_influxql(kind: &str) -> bool {
    NAMES.contains(&kind)
}

#[derive(Debug, Clone)]
enum Func {
    Count,
    Distinct,
    Mean,
    Median,
    Mode,
    Spread,
    Sum,
    First,
    Last,
    Min,
    Max,
    Percentile(f64),
    Top(usize, Vec<String>),
    Bottom(usize, Vec<String>),
    Stddev,
    HoltWinters {
        h: usize,
        m: usize,
        interval: i64,
        fit: bool,
    },
    // Stream transformations.
    Elapsed(i64),
    Difference,
    MovingAverage(usize),
    CumulativeSum,
}

impl Func {
    fn is_transformation(&self) -> bool {
        matches!(
            self,
            Func::Elapsed(_) | Func::Difference | Func::MovingAverage(_) | Func::CumulativeSum
        )
    }
    fn empty_ok(&self) -> bool {
        matches!(self, Func::Count | Func::Sum)
    }
    fn emits_batch(&self) -> bool {
        matches!(
            self,
            Func::Distinct | Func::Top(..) | Func::Bottom(..) | Func::HoltWinters { .. }
        )
    }
}

pub fn build(spec: &NodeSpec) -> Result<Box<dyn NodeImpl>, EngineError> {
    if spec.node.kind == "derivative" {
        return Ok(Box::new(Derivative::new(spec)?));
    }
    let kind = spec.node.kind.as_str();
    let (field_idx, func) = match kind {
        "top" | "bottom" => {
            let n = match spec.arg(0) {
                Some(Arg::Int(n)) if *n > 0 => *n as usize,
                _ => return Err(spec.err(format!("{kind} needs a positive count"))),
            };
            let extra = spec.strs(spec.node.args.get(2..).unwrap_or(&[]), kind)?;
            (
                1,
                if kind == "top" {
                    Func::Top(n, extra)
                } else {
                    Func::Bottom(n, extra)
                },
            )
        }
        _ => {
            let f = match kind {
                "count" => Func::Count,
                "distinct" => Func::Distinct,
                "mean" => Func::Mean,
                "median" => Func::Median,
                "mode" => Func::Mode,
                "spread" => Func::Spread,
                "sum" => Func::Sum,
                "first" => Func::First,
                "last" => Func::Last,
                "min" => Func::Min,
                "max" => Func::Max,
                "stddev" => Func::Stddev,
                "difference" => Func::Difference,
                "cumulativeSum" => Func::CumulativeSum,
                "percentile" => match spec.arg(1).and_then(arg_f64) {
                    Some(p) if (0.0..=100.0).contains(&p) => Func::Percentile(p),
                    _ => return Err(spec.err("percentile needs a value between 0 and 100")),
                },
                "elapsed" => {
                    let unit = match spec.arg(1) {
                        Some(a) => spec.duration(a, "elapsed unit")?,
                        None => 1_000_000_000,
                    };
                    if unit <= 0 {
                        return Err(spec.err("elapsed unit must be positive"));
                    }
                    Func::Elapsed(unit)
                }
                "movingAverage" => match spec.arg(1) {
                    Some(Arg::Int(n)) if *n > 0 => Func::MovingAverage(*n as usize),
                    _ => return Err(spec.err("movingAverage needs a positive window size")),
                },
                "holtWinters" | "holtWintersWithFit" => {
                    let h = match spec.arg(1) {
                        Some(Arg::Int(n)) if *n >= 0 => *n as usize,
                        _ => return Err(spec.err("holtWinters needs h >= 0")),
                    };
                    let m = match spec.arg(2) {
                        Some(Arg::Int(n)) if *n >= 0 => *n as usize,
                        _ => return Err(spec.err("holtWinters needs m >= 0")),
                    };
                    let interval = match spec.arg(3) {
                        Some(a) => spec.duration(a, "holtWinters interval")?,
                        None => return Err(spec.err("holtWinters needs an interval")),
                    };
                    Func::HoltWinters {
                        h,
                        m,
                        interval,
                        fit: kind == "holtWintersWithFit",
                    }
                }
                _ => return Err(spec.err(format!("unknown function {kind}"))),
            };
            (0, f)
        }
    };
    let field = match spec.arg(field_idx) {
        Some(Arg::Str(s)) => s.clone(),
        _ => return Err(spec.err(format!("{kind} needs a field name"))),
    };
    let as_ = spec.prop_str("as")?.unwrap_or_else(|| {
        if kind == "holtWintersWithFit" {
            "holtWinters".into()
        } else {
            kind.into()
        }
    });
    let point_times = spec.flag("usePointTimes")?
        || func.is_transformation()
        || matches!(func, Func::HoltWinters { .. });
    Ok(Box::new(InfluxQl {
        func,
        field,
        as_,
        point_times,
        contexts: GroupMap::default(),
        trans: GroupMap::default(),
    }))
}

/// The points of one reduction: a batch's (maybe still held) or a stream context's.
#[derive(Clone, Copy)]
enum Points<'a> {
    Points(&'a [Point]),
    Held(&'a [HeldPoint]),
}

impl<'a> Points<'a> {
    fn len(&self) -> usize {
        match self {
            Points::Points(p) => p.len(),
            Points::Held(h) => h.len(),
        }
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn iter(self) -> impl Iterator<Item = PointRef<'a>> {
        let (points, held) = match self {
            Points::Points(p) => (p, &[][..]),
            Points::Held(h) => (&[][..], h),
        };
        points
            .iter()
            .map(PointRef::Point)
            .chain(held.iter().map(PointRef::Held))
    }
}

/// The values of one reduction: the field value of each contributing point, with the point.
struct Input<'a> {
    vals: Vec<(PointRef<'a>, FieldValue)>,
}

enum Output {
    /// An aggregate value (time = reduction time, tags = group tags).
    Value(FieldValue),
    /// A selected point (simple selectors): its time, tags and fields are used.
    Select(usize, FieldValue),
    /// A batch of `(point time, value, point tags)`.
    Batch(Vec<(i64, FieldValue, Option<Tags>)>),
    Nothing,
}

fn fv_cmp(a: &FieldValue, b: &FieldValue) -> Ordering {
    match (a, b) {
        (FieldValue::Float(x), FieldValue::Float(y)) => x.partial_cmp(y).unwrap_or(Ordering::Equal),
        (FieldValue::Int(x), FieldValue::Int(y)) => x.cmp(y),
        (FieldValue::Str(x), FieldValue::Str(y)) => x.cmp(y),
        (FieldValue::Bool(x), FieldValue::Bool(y)) => x.cmp(y),
        _ => Ordering::Equal,
    }
}

fn as_f64(v: &FieldValue) -> f64 {
    match v {
        FieldValue::Float(f) => *f,
        FieldValue::Int(i) => *i as f64,
        _ => f64::NAN,
    }
}

fn type_name(v: &FieldValue) -> &'static str {
    match v {
        FieldValue::Float(_) => "float64",
        FieldValue::Int(_) => "int64",
        FieldValue::Str(_) => "string",
        FieldValue::Bool(_) => "bool",
    }
}

fn numeric(name: &str, v: &FieldValue) -> Result<(), String> {
    match v {
        FieldValue::Float(_) | FieldValue::Int(_) => Ok(()),
        v => Err(format!("cannot apply {name} to {} field", type_name(v))),
    }
}

impl Func {
    fn name(&self) -> &'static str {
        match self {
            Func::Count => "count",
            Func::Distinct => "distinct",
            Func::Mean => "mean",
            Func::Median => "median",
            Func::Mode => "mode",
            Func::Spread => "spread",
            Func::Sum => "sum",
            Func::First => "first",
            Func::Last => "last",
            Func::Min => "min",
            Func::Max => "max",
            Func::Percentile(_) => "percentile",
            Func::Top(..) => "top",
            Func::Bottom(..) => "bottom",
            Func::Stddev => "stddev",
            Func::HoltWinters { .. } => "holtWinters",
            Func::Elapsed(_) => "elapsed",
            Func::Difference => "difference",
            Func::MovingAverage(_) => "movingAverage",
            Func::CumulativeSum => "cumulativeSum",
        }
    }

    /// Reduces a whole set of values (batch, or stream points of one time).
    fn reduce(&self, inp: &Input) -> Result<Output, String> {
        let vals = &inp.vals;
        let Some((_, first)) = vals.first() else {
            return Ok(match self {
                Func::Count => Output::Value(FieldValue::Int(0)),
                Func::Sum => Output::Value(FieldValue::Float(0.0)),
                _ => Output::Nothing,
            });
        };
        let is_int = matches!(first, FieldValue::Int(_));
        Ok(match self {
            Func::Count => Output::Value(FieldValue::Int(vals.len() as i64)),
            Func::Sum => {
                numeric("sum", first)?;
                if is_int {
                    let mut s = 0i64;
                    for (_, v) in vals {
                        if let FieldValue::Int(i) = v {
                            s = s.wrapping_add(*i);
                        }
                    }
                    Output::Value(FieldValue::Int(s))
                } else {
                    Output::Value(FieldValue::Float(vals.iter().map(|(_, v)| as_f64(v)).sum()))
                }
            }
            Func::Mean => {
                numeric("mean", first)?;
                let s: f64 = vals.iter().map(|(_, v)| as_f64(v)).sum();
                Output::Value(FieldValue::Float(s / vals.len() as f64))
            }
            Func::Median => {
                numeric("median", first)?;
                let mut xs: Vec<f64> = vals.iter().map(|(_, v)| as_f64(v)).collect();
                xs.sort_by(|a, b| a.partial_cmp(b).unwrap_or(Ordering::Equal));
                let n = xs.len();
                let m = if n.is_multiple_of(2) {
                    let lo = xs[n / 2 - 1];
                    let hi = xs[n / 2];
                    lo + (hi - lo) / 2.0
                } else {
                    xs[n / 2]
                };
                Output::Value(FieldValue::Float(m))
            }
            Func::Mode => {
                numeric("mode", first)?;
                let mut xs: Vec<&FieldValue> = vals.iter().map(|(_, v)| v).collect();
                xs.sort_by(|a, b| fv_cmp(a, b));
                let (mut best, mut best_n) = (xs[0], 0usize);
                let mut i = 0;
                while i < xs.len() {
                    let mut j = i;
                    while j < xs.len() && fv_cmp(xs[j], xs[i]) == Ordering::Equal {
                        j += 1;
                    }
                    if j - i > best_n {
                        best_n = j - i;
                        best = xs[i];
                    }
                    i = j;
                }
                Output::Value(best.clone())
            }
            Func::Spread => {
                numeric("spread", first)?;
                if is_int {
                    let it = vals.iter().filter_map(|(_, v)| match v {
                        FieldValue::Int(i) => Some(*i),
                        _ => None,
                    });
                    let (mn, mx) = it.fold((i64::MAX, i64::MIN), |(a, b), x| (a.min(x), b.max(x)));
                    Output::Value(FieldValue::Int(mx.wrapping_sub(mn)))
                } else {
                    let (mn, mx) = vals
                        .iter()
                        .map(|(_, v)| as_f64(v))
                        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
                            (a.min(x), b.max(x))
                        });
                    Output::Value(FieldValue::Float(mx - mn))
                }
            }
            Func::Stddev => {
                numeric("stddev", first)?;
                if vals.len() < 2 {
                    return Ok(Output::Nothing);
                }
                let xs: Vec<f64> = vals.iter().map(|(_, v)| as_f64(v)).collect();
                let n = xs.len() as f64;
                let mean = xs.iter().sum::<f64>() / n;
                let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1.0);
                Output::Value(FieldValue::Float(var.sqrt()))
            }
            Func::First | Func::Last => {
                let mut best = 0;
                for (i, (p, v)) in vals.iter().enumerate().skip(1) {
                    let (bp, bv) = &vals[best];
                    let (t, bt) = (p.time(), bp.time());
                    let better = if matches!(self, Func::First) {
                        t < bt || (t == bt && fv_cmp(v, bv) == Ordering::Less)
                    } else {
                        t > bt || (t == bt && fv_cmp(v, bv) == Ordering::Greater)
                    };
                    if better {
                        best = i;
                    }
                }
                Output::Select(best, vals[best].1.clone())
            }
            Func::Min | Func::Max => {
                numeric(self.name(), first)?;
                let mut best = 0;
                for (i, (p, v)) in vals.iter().enumerate().skip(1) {
                    let (bp, bv) = &vals[best];
                    let c = fv_cmp(v, bv);
                    let want = if matches!(self, Func::Min) {
                        Ordering::Less
                    } else {
                        Ordering::Greater
                    };
                    if c == want || (c == Ordering::Equal && p.time() < bp.time()) {
                        best = i;
                    }
                }
                Output::Select(best, vals[best].1.clone())
            }
            Func::Percentile(pct) => {
                numeric("percentile", first)?;
                let n = vals.len();
                let i = ((n as f64) * pct / 100.0 + 0.5).floor() as i64 - 1;
                if i < 0 || i as usize >= n {
                    return Ok(Output::Nothing);
                }
                let mut idx: Vec<usize> = (0..n).collect();
                idx.sort_by(|&a, &b| fv_cmp(&vals[a].1, &vals[b].1));
                let sel = idx[i as usize];
                Output::Select(sel, vals[sel].1.clone())
            }
            Func::Distinct => {
                let mut seen: Vec<(i64, &FieldValue)> = Vec::new();
                for (p, v) in vals {
                    if !seen.iter().any(|(_, s)| *s == v) {
                        seen.push((p.time(), v));
                    }
                }
                seen.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| fv_cmp(a.1, b.1)));
                Output::Batch(
                    seen.into_iter()
                        .map(|(t, v)| (t, v.clone(), None))
                        .collect(),
                )
            }
            Func::Top(n, tags) | Func::Bottom(n, tags) => {
                numeric(self.name(), first)?;
                let top = matches!(self, Func::Top(..));
                let mut idx: Vec<usize> = (0..vals.len()).collect();
                idx.sort_by(|&a, &b| {
                    let c = fv_cmp(&vals[a].1, &vals[b].1);
                    let c = if top { c.reverse() } else { c };
                    c.then_with(|| vals[a].0.time().cmp(&vals[b].0.time()))
                });
                if !tags.is_empty() {
                    let key = |i: usize| -> Vec<String> {
                        let p = vals[i].0;
                        tags.iter()
                            .map(|t| match p.field(t) {
                                Some(f) => format!("{f:?}"),
                                None => p.tag(t).unwrap_or_default().to_string(),
                            })
                            .collect()
                    };
                    let mut seen = std::collections::HashSet::new();
                    idx.retain(|&i| seen.insert(key(i)));
                }
                idx.truncate(*n);
                idx.sort_by_key(|&i| vals[i].0.time());
                Output::Batch(
                    idx.into_iter()
                        .map(|i| (vals[i].0.time(), vals[i].1.clone(), Some(vals[i].0.tags())))
                        .collect(),
                )
            }
            Func::HoltWinters {
                h,
                m,
                interval,
                fit,
            } => {
                numeric("holtWinters", first)?;
                let pts: Vec<(i64, f64)> =
                    vals.iter().map(|(p, v)| (p.time(), as_f64(v))).collect();
                let out = holt_winters::forecast(&pts, *h, *m, *interval, *fit);
                Output::Batch(
                    out.into_iter()
                        .map(|(t, v)| (t, FieldValue::Float(v), None))
                        .collect(),
                )
            }
            Func::Elapsed(_) | Func::Difference | Func::MovingAverage(_) | Func::CumulativeSum => {
                return Err("internal: transformation reduced as aggregate".into());
            }
        })
    }
}

/// Running state of a stream transformation in one group (or one batch).
#[derive(Default)]
struct TransState {
    prev: Option<(i64, FieldValue)>,
    window: std::collections::VecDeque<f64>,
    sum: Option<FieldValue>,
}

impl TransState {
    fn step(&mut self, f: &Func, t: i64, v: &FieldValue) -> Result<Option<FieldValue>, String> {
        Ok(match f {
            Func::Elapsed(unit) => {
                let out = self
                    .prev
                    .as_ref()
                    .map(|(pt, _)| FieldValue::Int((t - pt) / unit));
                self.prev = Some((t, v.clone()));
                out
            }
            Func::Difference => {
                numeric("difference", v)?;
                let out = match (&self.prev, v) {
                    (Some((_, FieldValue::Int(a))), FieldValue::Int(b)) => {
                        Some(FieldValue::Int(b.wrapping_sub(*a)))
                    }
                    (Some((_, a)), b) => Some(FieldValue::Float(as_f64(b) - as_f64(a))),
                    (None, _) => None,
                };
                self.prev = Some((t, v.clone()));
                out
            }
            Func::MovingAverage(n) => {
                numeric("movingAverage", v)?;
                self.window.push_back(as_f64(v));
                if self.window.len() > *n {
                    self.window.pop_front();
                }
                if self.window.len() == *n {
                    Some(FieldValue::Float(
                        self.window.iter().sum::<f64>() / *n as f64,
                    ))
                } else {
                    None
                }
            }
            Func::CumulativeSum => {
                numeric("cumulativeSum", v)?;
                let next = match (&self.sum, v) {
                    (None, v) => v.clone(),
                    (Some(FieldValue::Int(a)), FieldValue::Int(b)) => {
                        FieldValue::Int(a.wrapping_add(*b))
                    }
                    (Some(a), b) => FieldValue::Float(as_f64(a) + as_f64(b)),
                };
                self.sum = Some(next.clone());
                Some(next)
            }
            _ => None,
        })
    }
}

/// Stream points of one group with the same time, waiting for a different time.
struct StreamContext {
    time: i64,
    name: String,
    points: Vec<Point>,
}

pub struct InfluxQl {
    func: Func,
    field: String,
    as_: String,
    point_times: bool,
    contexts: GroupMap<StreamContext>,
    trans: GroupMap<TransState>,
}

impl InfluxQl {
    /// Collects the values of the field; points missing it or of another type than the first
    /// are errors (logged, counted) and skipped.
    fn input<'a>(&self, pts: Points<'a>, cx: &mut Cx) -> Input<'a> {
        let mut vals: Vec<(PointRef, FieldValue)> = Vec::with_capacity(pts.len());
        for p in pts.iter() {
            match p.field(&self.field) {
                None => cx.error(format!(
                    "field {} missing from point cannot aggregate",
                    self.field
                )),
                Some(v) => {
                    if let Some((_, f)) = vals.first()
                        && std::mem::discriminant(f) != std::mem::discriminant(&v)
                    {
                        cx.error(format!(
                            "field {} has wrong type: got {} exp {}",
                            self.field,
                            type_name(&v),
                            type_name(f)
                        ));
                        continue;
                    }
                    vals.push((p, v));
                }
            }
        }
        Input { vals }
    }

    /// Reduces `pts` and emits the result as a point or batch of `group` at `time`.
    /// `tags` are the output point's tags: the group's for a stream, the batch's own for a
    /// batch (a `default()`/`delete()` upstream may have changed them).
    fn reduce_emit(
        &self,
        name: &str,
        group: &Group,
        tags: &Tags,
        time: i64,
        pts: Points,
        cx: &mut Cx,
    ) {
        let inp = self.input(pts, cx);
        if inp.vals.is_empty() && !(self.func.empty_ok() && pts.is_empty()) {
            return;
        }
        let out = match self.func.reduce(&inp) {
            Ok(o) => o,
            Err(e) => {
                cx.error(e);
                return;
            }
        };
        match out {
            Output::Nothing => {}
            Output::Value(v) => {
                let mut fields = Fields::new();
                fields.insert(self.as_.clone(), v);
                cx.emit(Msg::Point(PointMsg {
                    nulls: Default::default(),
                    p: Point {
                        name: name.to_string(),
                        tags: tags.clone(),
                        fields,
                        time,
                    },
                    group: group.clone(),
                }));
            }
            Output::Select(i, v) => {
                let sel = inp.vals[i].0;
                let mut fields = sel.fields();
                if self.as_ != self.field {
                    fields.remove(&self.field);
                }
                fields.insert(self.as_.clone(), v);
                cx.emit(Msg::Point(PointMsg {
                    nulls: Default::default(),
                    p: Point {
                        name: name.to_string(),
                        tags: sel.tags(),
                        fields,
                        time: if self.point_times { sel.time() } else { time },
                    },
                    group: group.clone(),
                }));
            }
            Output::Batch(items) => {
                let gtags = group.tags();
                let mut tmax = time;
                let points = items
                    .into_iter()
                    .map(|(t, v, tags)| {
                        let t = if self.point_times { t } else { time };
                        tmax = tmax.max(t);
                        let mut fields = Fields::new();
                        fields.insert(self.as_.clone(), v);
                        let tags = match tags {
                            Some(mut pt) if !pt.is_empty() => {
                                for (k, v) in gtags {
                                    pt.insert(k.clone(), v.clone());
                                }
                                pt
                            }
                            _ => gtags.clone(),
                        };
                        Point {
                            name: name.to_string(),
                            tags,
                            fields,
                            time: t,
                        }
                    })
                    .collect();
                cx.emit(Msg::Batch(BatchMsg {
                    nulls: Default::default(),
                    b: Batch {
                        name: name.to_string(),
                        tags: gtags.clone(),
                        time: tmax,
                        points,
                    },
                    group: group.clone(),
                    held: None,
                }));
            }
        }
    }

    fn transform_point(&mut self, pm: PointMsg, cx: &mut Cx) {
        let v = match pm.p.fields.get(&self.field) {
            Some(v) => v.clone(),
            None => {
                cx.error(format!(
                    "field {} missing from point cannot aggregate",
                    self.field
                ));
                return;
            }
        };
        let st = self.trans.entry(pm.group.clone()).or_default();
        match st.step(&self.func, pm.p.time, &v) {
            Ok(Some(out)) => {
                let mut fields = Fields::new();
                fields.insert(self.as_.clone(), out);
                cx.emit(Msg::Point(PointMsg {
                    nulls: Default::default(),
                    p: Point {
                        name: pm.p.name,
                        tags: pm.group.tags().clone(),
                        fields,
                        time: pm.p.time,
                    },
                    group: pm.group,
                }));
            }
            Ok(None) => {}
            Err(e) => cx.error(e),
        }
    }

    fn transform_batch(&mut self, mut bm: BatchMsg, cx: &mut Cx) {
        let mut st = TransState::default();
        let pts = std::mem::take(&mut bm.b.points);
        // The points are rebuilt: null fields do not follow them.
        bm.nulls.clear();
        for p in pts {
            let Some(v) = p.fields.get(&self.field) else {
                cx.error(format!(
                    "field {} missing from point cannot aggregate",
                    self.field
                ));
                continue;
            };
            match st.step(&self.func, p.time, v) {
                Ok(Some(out)) => {
                    let mut fields = Fields::new();
                    fields.insert(self.as_.clone(), out);
                    bm.b.points.push(Point {
                        name: p.name,
                        tags: p.tags,
                        fields,
                        time: p.time,
                    });
                }
                Ok(None) => {}
                Err(e) => cx.error(e),
            }
        }
        cx.emit(Msg::Batch(bm));
    }
}

impl NodeImpl for InfluxQl {
    fn on_msg(&mut self, _port: usize, msg: Msg, cx: &mut Cx) {
        match msg {
            Msg::Point(pm) => {
                if self.func.is_transformation() {
                    self.transform_point(pm, cx);
                    return;
                }
                let flush = match self.contexts.get(&pm.group) {
                    Some(c) => c.time != pm.p.time,
                    None => false,
                };
                if flush && let Some(c) = self.contexts.remove(&pm.group) {
                    let pts = Points::Points(&c.points);
                    self.reduce_emit(&c.name, &pm.group, pm.group.tags(), c.time, pts, cx);
                }
                let c = self
                    .contexts
                    .entry(pm.group.clone())
                    .or_insert_with(|| StreamContext {
                        time: pm.p.time,
                        name: pm.p.name.clone(),
                        points: Vec::new(),
                    });
                c.points.push(pm.p);
            }
            Msg::Batch(mut bm) => {
                if self.func.is_transformation() {
                    bm.unhold();
                    self.transform_batch(bm, cx);
                    return;
                }
                if bm.len() == 0 && !self.func.empty_ok() {
                    return;
                }
                let pts = match &bm.held {
                    Some(held) => Points::Held(held),
                    None => Points::Points(&bm.b.points),
                };
                self.reduce_emit(&bm.b.name, &bm.group, &bm.b.tags, bm.b.time, pts, cx);
            }
            Msg::Delete { ref group } => {
                self.contexts.remove(group);
                self.trans.remove(group);
                cx.emit(msg);
            }
            other => cx.emit(other),
        }
        let _ = self.func.emits_batch();
    }

    fn reads_held(&self) -> bool {
        true
    }

    fn cardinality(&self) -> usize {
        self.contexts.len() + self.trans.len()
    }
}

/// `derivative(field)`: rate of change between consecutive points of a group.
pub struct Derivative {
    field: String,
    as_: String,
    unit: i64,
    non_negative: bool,
    prev: GroupMap<(i64, f64)>,
}

impl Derivative {
    fn new(spec: &NodeSpec) -> Result<Self, EngineError> {
        let field = match spec.arg(0) {
            Some(Arg::Str(s)) => s.clone(),
            _ => return Err(spec.err("derivative needs a field name")),
        };
        let unit = spec.prop_duration("unit")?.unwrap_or(1_000_000_000);
        if unit <= 0 {
            return Err(spec.err("derivative unit must be positive"));
        }
        Ok(Derivative {
            as_: spec.prop_str("as")?.unwrap_or_else(|| field.clone()),
            field,
            unit,
            non_negative: spec.flag("nonNegative")?,
            prev: GroupMap::default(),
        })
    }

    /// Returns `(store current as previous, value to emit)`.
    fn step(
        &self,
        prev: Option<(i64, f64)>,
        p: &Point,
        cx: &mut Cx,
    ) -> (Option<(i64, f64)>, Option<f64>) {
        let cur = match p.fields.get(&self.field) {
            Some(FieldValue::Float(f)) => *f,
            Some(FieldValue::Int(i)) => *i as f64,
            _ => {
                cx.error(format!(
                    "cannot apply derivative to type of field {:?}",
                    self.field
                ));
                return (None, None);
            }
        };
        let store = Some((p.time, cur));
        let Some((pt, pv)) = prev else {
            return (store, None);
        };
        let elapsed = (p.time - pt) as f64;
        if elapsed == 0.0 {
            cx.error("cannot perform derivative elapsed time was 0");
            return (store, None);
        }
        let diff = cur - pv;
        if self.non_negative && diff < 0.0 {
            return (store, None);
        }
        (store, Some(diff / (elapsed / self.unit as f64)))
    }
}

impl NodeImpl for Derivative {
    fn on_msg(&mut self, _port: usize, msg: Msg, cx: &mut Cx) {
        match msg {
            Msg::Point(mut pm) => {
                let prev = self.prev.get(&pm.group).copied();
                let (store, out) = self.step(prev, &pm.p, cx);
                if let Some(s) = store {
                    self.prev.insert(pm.group.clone(), s);
                }
                if let Some(v) = out {
                    pm.p.fields.insert(self.as_.clone(), FieldValue::Float(v));
                    cx.emit(Msg::Point(pm));
                }
            }
            Msg::Batch(mut bm) => {
                let mut prev = None;
                let pts = std::mem::take(&mut bm.b.points);
                // The points are rebuilt: null fields do not follow them.
                bm.nulls.clear();
                for mut p in pts {
                    let (store, out) = self.step(prev, &p, cx);
                    if store.is_some() {
                        prev = store;
                    }
                    if let Some(v) = out {
                        p.fields.insert(self.as_.clone(), FieldValue::Float(v));
                        bm.b.points.push(p);
                    }
                }
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
