//! `join(nodes...)`: joins points (or batches) of its parents that fall on the same time
//! (rounded to `.tolerance()`), per group, like Kapacitor's join.go: a set is emitted when
//! every parent contributed, or, for outer joins (`.fill()`), as soon as every parent has moved
//! past its time. With `.on(tags...)` less specific points are matched to the more specific
//! groups that share those tags.

use super::NodeImpl;
use crate::engine::held::{HeldMsg, KEEP_PLAIN};
use crate::engine::msg::{BatchMsg, Dims, Group, GroupMap, Msg, Nulls, PointMsg, add_null};
use crate::engine::props::NodeSpec;
use crate::engine::{Cx, EngineError, timeutil};
use kapacitor_models::{Batch, FieldValue, Fields, Point};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use tickscript::pipeline::{Arg, Pipeline};

#[derive(Debug, Clone)]
enum Fill {
    /// Inner join.
    None,
    /// Outer join; missing fields are left out (our field model has no null value).
    Null,
    Number(FieldValue),
}

/// Per-group buffer bound for `.on()` matching, so a silent parent cannot make the join grow
/// without limit.
const MAX_BUFFERED: usize = 10_000;

pub struct Join {
    names: Vec<String>,
    delimiter: String,
    stream_name: Option<String>,
    tolerance: i64,
    fill: Fill,
    on: Vec<String>,
    delete_all: bool,
    parents: usize,
    groups: GroupMap<JoinGroup>,
    low_marks: HashMap<(usize, Group), i64>,
    match_buf: GroupMap<VecDeque<(usize, Msg)>>,
    specific_buf: GroupMap<VecDeque<(usize, Msg)>>,
    reported: HashSet<usize>,
    all_reported: bool,
}

struct JoinSet {
    time: i64,
    /// Compact once the group has many sets waiting (a parent lags).
    values: Vec<Option<HeldMsg>>,
    size: usize,
    first: usize,
}

impl JoinSet {
    fn new(time: i64, n: usize) -> Self {
        JoinSet {
            time,
            values: (0..n).map(|_| None).collect(),
            size: 0,
            first: n,
        }
    }
}

struct JoinGroup {
    sets: BTreeMap<i64, VecDeque<JoinSet>>,
    /// Latest time seen per parent; `None` is Go's zero time.
    head: Vec<Option<i64>>,
    oldest: Option<i64>,
}

impl Join {
    pub fn new(spec: &NodeSpec, _pipeline: &Pipeline) -> Result<Self, EngineError> {
        let parents = spec.node.parents.len();
        let names = spec
            .prop_strs("as")?
            .ok_or_else(|| spec.err("join requires .as() naming each parent"))?;
        if names.len() != parents {
            return Err(spec.err(format!(
                "number of prefixes specified by 'as' ({}) must match the number of joined streams ({parents})",
                names.len()
            )));
        }
        let mut seen = HashSet::new();
        for n in &names {
            if n.is_empty() {
                return Err(spec.err("must provide a prefix name for each joined stream via 'as'"));
            }
            if !seen.insert(n) {
                return Err(spec.err(format!(
                    "cannot use the same prefix name {n:?} more than once"
                )));
            }
        }
        let fill = match spec.prop("fill").and_then(|p| p.args.first()) {
            None => Fill::None,
            Some(Arg::Str(s)) if s == "null" => Fill::Null,
            Some(Arg::Str(s)) if s == "none" => Fill::None,
            Some(Arg::Int(i)) => Fill::Number(FieldValue::Int(*i)),
            Some(Arg::Float(f)) => Fill::Number(FieldValue::Float(*f)),
            Some(_) => return Err(spec.err("fill must be 'null', 'none' or a number")),
        };
        let mut on = spec.prop_strs("on")?.unwrap_or_default();
        on.sort();
        let tolerance = spec.prop_duration("tolerance")?.unwrap_or(0);
        if tolerance < 0 {
            return Err(spec.err("tolerance must not be negative"));
        }
        Ok(Join {
            names,
            delimiter: spec.prop_str("delimiter")?.unwrap_or_else(|| ".".into()),
            stream_name: spec.prop_str("streamName")?.filter(|s| !s.is_empty()),
            tolerance,
            fill,
            on,
            delete_all: spec.flag("deleteAll")?,
            parents,
            groups: GroupMap::default(),
            low_marks: HashMap::new(),
            match_buf: GroupMap::default(),
            specific_buf: GroupMap::default(),
            reported: HashSet::new(),
            all_reported: false,
        })
    }

    fn round(&self, t: i64) -> i64 {
        timeutil::round(t, self.tolerance)
    }

    fn msg_parts(m: &Msg) -> (&str, &Group, i64) {
        match m {
            Msg::Point(p) => (&p.p.name, &p.group, p.p.time),
            Msg::Batch(b) => (&b.b.name, &b.group, b.b.time),
            Msg::Barrier { group, time } => ("", group, *time),
            Msg::Delete { group } => ("", group, 0),
        }
    }

    fn match_points(&mut self, src: usize, m: Msg, cx: &mut Cx) {
        if !self.all_reported {
            self.reported.insert(src);
            self.all_reported = self.reported.len() == self.parents;
        }
        let (name, group, time) = Self::msg_parts(&m);
        let t = self.round(time);
        let dims = cx.groups().dims(Dims {
            tag_names: self.on.clone(),
            by_name: group.dims().by_name,
        });
        let gid = {
            let (name, gtags) = (name.to_string(), group.tags().clone());
            cx.groups().group(&name, &gtags, &dims)
        };
        let specific = group.dims().tag_names.len() > self.on.len();
        self.low_marks.insert((src, gid.clone()), t);
        // Go's zero time sorts before every real time; `None` plays that role here.
        let mut low: Option<i64> = None;
        if self.all_reported {
            for s in 0..self.parents {
                let lm = self.low_marks.get(&(s, gid.clone())).copied();
                let before = match (lm, low) {
                    (None, Some(_)) => true,
                    (Some(a), Some(b)) => a < b,
                    _ => false,
                };
                if low.is_none() || before {
                    low = lm;
                }
            }
        }
        let before_low = |x: i64| low.is_some_and(|l| x < l);
        if self.all_reported {
            let mut send = Vec::new();
            if let Some(buf) = self.specific_buf.get_mut(&gid) {
                while let Some((_, pm)) = buf.front() {
                    let st = timeutil::round(Self::msg_parts(pm).2, self.tolerance);
                    if before_low(st) {
                        send.push(buf.pop_front().expect("front exists"));
                    } else {
                        break;
                    }
                }
            }
            for (s, pm) in send {
                self.collect_specific(s, pm, cx);
            }
        }
        if specific {
            let mut matched = false;
            let mut to_send = Vec::new();
            if let Some(matches) = self.match_buf.get_mut(&gid) {
                let mut i = 0;
                while i < matches.len() {
                    let pt = timeutil::round(Self::msg_parts(&matches[i].1).2, self.tolerance);
                    if pt == t {
                        to_send.push(matches[i].clone());
                        matched = true;
                    }
                    if !before_low(pt) {
                        break;
                    }
                    i += 1;
                }
                if self.all_reported {
                    matches.drain(..i.min(matches.len()));
                }
            }
            let mut m = Some(m);
            for (ms, mm) in to_send {
                let sp = m.as_ref().expect("specific message").clone();
                self.send_match(src, sp, ms, mm, cx);
            }
            if !matched {
                let m = m.take().expect("specific message");
                if self.all_reported && before_low(t) {
                    self.collect_specific(src, m, cx);
                } else {
                    let buf = self.specific_buf.entry(gid).or_default();
                    buf.push_back((src, m));
                    if buf.len() > MAX_BUFFERED {
                        buf.pop_front();
                        cx.error("join: dropped an unmatched point, too many buffered");
                    }
                }
            }
        } else {
            let buf = self.match_buf.entry(gid.clone()).or_default();
            buf.push_back((src, m.clone()));
            if buf.len() > MAX_BUFFERED {
                buf.pop_front();
                cx.error("join: dropped a match point, too many buffered");
            }
            let mut send = Vec::new();
            if let Some(buf) = self.specific_buf.get_mut(&gid) {
                while let Some((_, sp)) = buf.front() {
                    let st = timeutil::round(Self::msg_parts(sp).2, self.tolerance);
                    if st == t {
                        send.push(buf.pop_front().expect("front exists"));
                    } else {
                        break;
                    }
                }
            }
            for (ss, sp) in send {
                self.send_match(ss, sp, src, m.clone(), cx);
            }
        }
    }

    /// The matched (less specific) message takes the specific one's group and tags; both go
    /// to the specific group.
    fn send_match(&mut self, ssrc: usize, specific: Msg, msrc: usize, matched: Msg, cx: &mut Cx) {
        let sgroup = specific.group().clone();
        let new_matched = match matched {
            Msg::Point(mut pm) => {
                pm.p.tags = sgroup.tags().clone();
                pm.group = sgroup.clone();
                Msg::Point(pm)
            }
            Msg::Batch(mut bm) => {
                bm.b.tags = sgroup.tags().clone();
                bm.group = sgroup.clone();
                Msg::Batch(bm)
            }
            other => other,
        };
        self.collect(ssrc, specific, cx);
        self.collect(msrc, new_matched, cx);
    }

    fn collect_specific(&mut self, src: usize, m: Msg, cx: &mut Cx) {
        self.collect(src, m, cx);
    }

    fn group_mut(&mut self, g: &Group) -> &mut JoinGroup {
        let n = self.parents;
        self.groups.entry(g.clone()).or_insert_with(|| JoinGroup {
            sets: BTreeMap::new(),
            head: vec![None; n],
            oldest: None,
        })
    }

    fn collect(&mut self, src: usize, m: Msg, cx: &mut Cx) {
        let (_, group, time) = Self::msg_parts(&m);
        let group = group.clone();
        let t = self.round(time);
        let n = self.parents;
        let g = self.group_mut(&group);
        if g.oldest.is_none_or(|o| t < o) {
            g.oldest = Some(t);
        }
        let many = g.sets.len() >= KEEP_PLAIN;
        let sets = g.sets.entry(t).or_default();
        let idx = match sets.iter().position(|s| s.values[src].is_none()) {
            Some(i) => i,
            None => {
                sets.push_back(JoinSet::new(t, n));
                sets.len() - 1
            }
        };
        let set = &mut sets[idx];
        if src < set.first {
            set.first = src;
        }
        set.values[src] = Some(if many {
            HeldMsg::compact(m, cx.held())
        } else {
            HeldMsg::Plain(m)
        });
        set.size += 1;
        g.head[src] = Some(t);
        let only_ready = g.only_ready();
        self.emit(&group, only_ready, cx);
    }

    fn barrier(&mut self, src: usize, group: &Group, time: i64, cx: &mut Cx) {
        let t = self.round(time);
        let g = self.group_mut(group);
        if g.oldest.is_none_or(|o| t < o) {
            g.oldest = Some(t);
        }
        g.head[src] = Some(t);
        let only_ready = g.only_ready();
        self.emit(group, only_ready, cx);
    }

    fn emit(&mut self, group: &Group, mut only_ready: bool, cx: &mut Cx) {
        loop {
            let Some(g) = self.groups.get_mut(group) else {
                return;
            };
            if g.sets.is_empty() {
                return;
            }
            let oldest = match g.oldest {
                Some(o) if g.sets.contains_key(&o) => o,
                _ => *g.sets.keys().next().expect("sets not empty"),
            };
            let mut ready = Vec::new();
            {
                let sets = g.sets.get_mut(&oldest).expect("oldest set exists");
                while let Some(s) = sets.front() {
                    if s.size == self.parents || !only_ready {
                        ready.push(sets.pop_front().expect("front exists"));
                    } else {
                        break;
                    }
                }
                if sets.is_empty() {
                    g.sets.remove(&oldest);
                }
            }
            g.oldest = g.sets.keys().next().copied();
            let next_only_ready = g.only_ready();
            for s in ready {
                self.emit_set(s, cx);
            }
            if only_ready {
                return;
            }
            only_ready = next_only_ready;
        }
    }

    fn emit_set(&self, set: JoinSet, cx: &mut Cx) {
        // The rest reads points as they came.
        let values: Vec<Option<Msg>> = set
            .values
            .into_iter()
            .map(|v| {
                v.map(|h| match h.release() {
                    Msg::Batch(mut bm) => {
                        bm.unhold();
                        Msg::Batch(bm)
                    }
                    m => m,
                })
            })
            .collect();
        let Some(Some(first)) = values.get(set.first) else {
            return;
        };
        let name = self
            .stream_name
            .clone()
            .unwrap_or_else(|| Self::msg_parts(first).0.to_string());
        match first {
            Msg::Point(fp) => {
                let mut fields = Fields::new();
                let mut nulls = Nulls::new();
                for (i, v) in values.iter().enumerate() {
                    match v {
                        Some(Msg::Point(p)) => {
                            for (k, v) in &p.p.fields {
                                fields.insert(self.key(i, k), v.clone());
                            }
                        }
                        Some(_) => {
                            cx.error("join: cannot join a point with a batch");
                            return;
                        }
                        None => match &self.fill {
                            Fill::None => return,
                            // Kapacitor sets each field of the first point, prefixed, to nil.
                            Fill::Null => {
                                for k in fp.p.fields.keys() {
                                    add_null(&mut nulls, self.key(i, k));
                                }
                            }
                            Fill::Number(n) => {
                                for k in fp.p.fields.keys() {
                                    fields.insert(self.key(i, k), n.clone());
                                }
                            }
                        },
                    }
                }
                cx.emit(Msg::Point(PointMsg {
                    p: Point {
                        name,
                        tags: fp.group.tags().clone(),
                        fields,
                        time: set.time,
                    },
                    group: fp.group.clone(),
                    nulls,
                }));
            }
            Msg::Batch(fb) => {
                let batches: Vec<Option<&BatchMsg>> = values
                    .iter()
                    .map(|v| match v {
                        Some(Msg::Batch(b)) => Some(b),
                        _ => None,
                    })
                    .collect();
                let n = batches.len();
                let mut idx = vec![0usize; n];
                let mut empty = vec![false; n];
                let mut empty_count = 0;
                let mut field_names: Option<Vec<String>> = None;
                let mut points = Vec::new();
                let mut point_nulls = Vec::new();
                'outer: while empty_count < n {
                    let mut chosen: Vec<Option<&Point>> = vec![None; n];
                    let mut set_time: Option<i64> = None;
                    let mut count = 0;
                    for i in 0..n {
                        if empty[i] {
                            continue;
                        }
                        let Some(b) = batches[i] else {
                            empty_count += 1;
                            empty[i] = true;
                            continue;
                        };
                        if idx[i] == b.b.points.len() {
                            empty_count += 1;
                            empty[i] = true;
                            continue;
                        }
                        let bp = &b.b.points[idx[i]];
                        let t = self.round(bp.time);
                        let st = *set_time.get_or_insert(t);
                        if t < st {
                            set_time = Some(t);
                            for j in 0..n {
                                if chosen[j].is_some() {
                                    idx[j] -= 1;
                                }
                                chosen[j] = None;
                            }
                            chosen[i] = Some(bp);
                            idx[i] += 1;
                            count = 1;
                        } else if t == st {
                            if field_names.is_none() {
                                field_names = Some(bp.fields.keys().cloned().collect());
                            }
                            chosen[i] = Some(bp);
                            idx[i] += 1;
                            count += 1;
                        }
                    }
                    if count == 0 {
                        continue;
                    }
                    let mut fields = Fields::new();
                    let mut nulls = Nulls::new();
                    for (i, bp) in chosen.iter().enumerate() {
                        match bp {
                            Some(bp) => {
                                for (k, v) in &bp.fields {
                                    fields.insert(self.key(i, k), v.clone());
                                }
                            }
                            None => match &self.fill {
                                Fill::None => continue 'outer,
                                Fill::Null => {
                                    for k in field_names.iter().flatten() {
                                        add_null(&mut nulls, self.key(i, k));
                                    }
                                }
                                Fill::Number(v) => {
                                    for k in field_names.iter().flatten() {
                                        fields.insert(self.key(i, k), v.clone());
                                    }
                                }
                            },
                        }
                    }
                    points.push(Point {
                        name: name.clone(),
                        tags: fb.b.tags.clone(),
                        fields,
                        time: set_time.unwrap_or(set.time),
                    });
                    point_nulls.push(nulls);
                }
                if point_nulls.iter().all(Vec::is_empty) {
                    point_nulls.clear();
                }
                cx.emit(Msg::Batch(BatchMsg {
                    b: Batch {
                        name,
                        tags: fb.b.tags.clone(),
                        time: set.time,
                        points,
                    },
                    group: fb.group.clone(),
                    nulls: point_nulls,
                    held: None,
                }));
            }
            _ => {}
        }
    }

    fn key(&self, i: usize, k: &str) -> String {
        format!("{}{}{}", self.names[i], self.delimiter, k)
    }
}

impl JoinGroup {
    /// Kapacitor's `checkOnlyReadSets`: only complete sets may go while some parent has not
    /// moved past the oldest time.
    fn only_ready(&self) -> bool {
        let Some(oldest) = self.oldest else {
            return true;
        };
        self.head.iter().any(|h| h.is_none_or(|h| h <= oldest))
    }
}

impl NodeImpl for Join {
    fn on_msg(&mut self, port: usize, msg: Msg, cx: &mut Cx) {
        match msg {
            Msg::Point(_) | Msg::Batch(_) => {
                if self.on.is_empty() {
                    self.collect(port, msg, cx);
                } else {
                    self.match_points(port, msg, cx);
                }
            }
            Msg::Barrier { ref group, time } => {
                let g = group.clone();
                self.barrier(port, &g, time, cx);
                cx.emit(msg);
            }
            Msg::Delete { ref group } => {
                self.groups.remove(group);
                self.match_buf.remove(group);
                self.specific_buf.remove(group);
                if self.delete_all {
                    self.low_marks.clear();
                } else {
                    let g = group.clone();
                    self.low_marks
                        .retain(|(s, gg), _| !(*s == port && *gg == g));
                }
                cx.emit(msg);
            }
        }
    }

    fn cardinality(&self) -> usize {
        self.groups.len()
    }
}
