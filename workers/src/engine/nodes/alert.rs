//! `alert()`: level evaluation, history, flapping, state changes and the event data, as
//! Kapacitor's alert node computes them (alert.go). Handlers are not run here: events are
//! queued for the alerting service (`Task::drain_alert_events`); what this node forwards to its
//! children (and so to httpOut) is exactly what Kapacitor forwards.

use super::NodeImpl;
use crate::engine::lambda::{Lambda, State};
use crate::engine::msg::{Group, GroupMap, Msg};
use crate::engine::props::NodeSpec;
use crate::engine::{Cx, EngineError, TaskContext};
use gotmpl::kapacitor::{ServerInfo, details_info, id_info, message_info};
use gotmpl::{FuncMap, Kind, Map, Template, Value as G};
use kapacitor_models::Row;
use kapacitor_models::{FieldValue, Fields, Point, Tags};
use tickscript::pipeline::{Arg, Property};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Level {
    #[default]
    Ok = 0,
    Info = 1,
    Warning = 2,
    Critical = 3,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Ok => "OK",
            Level::Info => "INFO",
            Level::Warning => "WARNING",
            Level::Critical => "CRITICAL",
        }
    }
    fn from_idx(i: usize) -> Level {
        match i {
            1 => Level::Info,
            2 => Level::Warning,
            3 => Level::Critical,
            _ => Level::Ok,
        }
    }
}

/// The last state of an event id before the task (re)started, from its topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestoredEvent {
    pub level: Level,
    /// Time of the last event, nanoseconds since the epoch.
    pub time: i64,
    /// How long the incident had lasted at that event, nanoseconds.
    pub duration: i64,
}

impl Level {
    /// `OK`, `INFO`, `WARNING`, `CRITICAL` (any case); `None` for anything else.
    pub fn parse(s: &str) -> Option<Level> {
        match s.to_ascii_uppercase().as_str() {
            "OK" => Some(Level::Ok),
            "INFO" => Some(Level::Info),
            "WARNING" => Some(Level::Warning),
            "CRITICAL" => Some(Level::Critical),
            _ => None,
        }
    }
}

/// One alert event, for the alerting service (topics, handlers).
#[derive(Debug, Clone, PartialEq)]
pub struct AlertEvent {
    pub task: String,
    /// `alert4`
    pub node: String,
    pub id: String,
    pub message: String,
    pub details: String,
    /// Nanoseconds since the epoch.
    pub time: i64,
    /// Nanoseconds.
    pub duration: i64,
    /// `OK`, `INFO`, `WARNING`, `CRITICAL`.
    pub level: String,
    /// The level of the previous event of this node for this group.
    pub previous_level: String,
    pub recoverable: bool,
    /// The alert data as an InfluxQL row (stream: the point; batch: the whole batch).
    pub data: Row,
    /// Topic given with `.topic()`, if any.
    pub topic: Option<String>,
    /// `.category()`.
    pub category: Option<String>,
    /// Handler and inhibitor properties of the node as written (`post`, `log`, `inhibit`, ...),
    /// for the alerting service to build the handlers from.
    pub handlers: Vec<Property>,
}

const MAX_WEIGHT: f64 = 1.2;
const WEIGHT_DIFF: f64 = 1.5;

pub struct Alert {
    levels: [Option<Lambda>; 4],
    resets: [Option<Lambda>; 4],
    id_tmpl: Template,
    message_tmpl: Template,
    details_tmpl: Template,
    history: usize,
    flapping: Option<(f64, f64)>,
    state_changes_only: Option<i64>,
    no_recoveries: bool,
    all: bool,
    topic: Option<String>,
    category: Option<String>,
    level_tag: Option<String>,
    level_field: Option<String>,
    message_field: Option<String>,
    duration_field: Option<String>,
    id_tag: Option<String>,
    id_field: Option<String>,
    handlers: Vec<Property>,
    server: ServerInfo,
    states: GroupMap<GroupState>,
    counters: Counters,
    /// Event states from before a restart, by event id, taken by the first group with that id.
    restored: std::collections::HashMap<String, RestoredEvent>,
}

#[derive(Default)]
struct Counters {
    alerts: i64,
    oks: i64,
    infos: i64,
    warns: i64,
    crits: i64,
    inhibited: i64,
}

struct GroupState {
    history: Vec<Level>,
    idx: usize,
    flapping: bool,
    changed: bool,
    first_triggered: i64,
    last_triggered: i64,
    expired: bool,
    last_event_level: Level,
    /// The rendered id and the name and tags it was rendered from: the id template sees only
    /// those (and constants), so it is rendered again only when they change.
    id_cache: Option<(String, Tags, String)>,
    level_states: [Option<State>; 4],
    reset_states: [Option<State>; 4],
}

impl Alert {
    pub fn new(spec: &NodeSpec, ctx: &TaskContext) -> Result<Self, EngineError> {
        let lam = |name: &str| spec.prop_lambda(name);
        let levels = [None, lam("info")?, lam("warn")?, lam("crit")?];
        let resets = [
            None,
            lam("infoReset")?,
            lam("warnReset")?,
            lam("critReset")?,
        ];
        let funcs = FuncMap::kapacitor();
        let tmpl = |name: &str, default: &str, html: bool| -> Result<Template, EngineError> {
            let src = spec.prop_str(name)?.unwrap_or_else(|| default.to_string());
            Template::builder(name)
                .html(html)
                .funcs(&funcs)
                .parse(&src)
                .map_err(|e| spec.err(format!(".{name}(): {e}")))
        };
        let id_tmpl = tmpl("id", gotmpl::kapacitor::DEFAULT_ID, false)?;
        let message_tmpl = tmpl("message", gotmpl::kapacitor::DEFAULT_MESSAGE, false)?;
        let details_tmpl = tmpl("details", gotmpl::kapacitor::DEFAULT_DETAILS, true)?;
        let history = spec.prop_int("history")?.unwrap_or(21).max(2) as usize;
        let flapping = match spec.prop("flapping") {
            None => None,
            Some(p) => match p.args.as_slice() {
                [lo, hi] => {
                    let (lo, hi) = (
                        crate::engine::props::arg_f64(lo),
                        crate::engine::props::arg_f64(hi),
                    );
                    match (lo, hi) {
                        (Some(lo), Some(hi)) if lo <= 1.0 && hi <= 1.0 => Some((lo, hi)),
                        _ => {
                            return Err(spec.err(
                                "alert flap thresholds are percentages and should be between 0 and 1",
                            ));
                        }
                    }
                }
                _ => return Err(spec.err(".flapping() takes a low and a high threshold")),
            },
        };
        let state_changes_only = match spec.prop("stateChangesOnly") {
            None => None,
            Some(p) => match p.args.as_slice() {
                [] => Some(0),
                [Arg::Duration(d)] if *d >= 0 => Some(*d),
                _ => return Err(spec.err(".stateChangesOnly() takes an optional duration")),
            },
        };
        let handlers = spec
            .node
            .props
            .iter()
            // Handlers, and `.inhibit()`s: the alerting service reads both from the event.
            .filter(|p| kapacitor_alert::is_handler_property(&p.name) || p.name == "inhibit")
            .cloned()
            .collect();
        Ok(Alert {
            levels,
            resets,
            id_tmpl,
            message_tmpl,
            details_tmpl,
            history,
            flapping,
            state_changes_only,
            no_recoveries: spec.flag("noRecoveries")?,
            all: spec.flag("all")?,
            topic: spec.prop_str("topic")?,
            category: spec.prop_str("category")?,
            level_tag: spec.prop_str("levelTag")?,
            level_field: spec.prop_str("levelField")?,
            message_field: spec.prop_str("messageField")?,
            duration_field: spec.prop_str("durationField")?,
            id_tag: spec.prop_str("idTag")?,
            id_field: spec.prop_str("idField")?,
            handlers,
            server: ServerInfo {
                hostname: ctx.hostname.clone(),
                cluster_id: ctx.cluster_id.clone(),
                server_id: ctx.server_id.clone(),
            },
            states: GroupMap::default(),
            restored: std::collections::HashMap::new(),
            counters: Counters::default(),
        })
    }

    fn new_state(&self) -> GroupState {
        let mk = |l: &Option<Lambda>| l.as_ref().map(|l| l.new_state());
        GroupState {
            history: vec![Level::Ok; self.history],
            idx: 0,
            flapping: false,
            changed: false,
            first_triggered: 0,
            last_triggered: 0,
            expired: false,
            last_event_level: Level::Ok,
            id_cache: None,
            level_states: [
                None,
                mk(&self.levels[1]),
                mk(&self.levels[2]),
                mk(&self.levels[3]),
            ],
            reset_states: [
                None,
                mk(&self.resets[1]),
                mk(&self.resets[2]),
                mk(&self.resets[3]),
            ],
        }
    }

    fn eval_level(&self, st: &mut GroupState, l: usize, p: &Point, cx: &mut Cx) -> bool {
        let (Some(lam), Some(s)) = (&self.levels[l], st.level_states[l].as_mut()) else {
            return false;
        };
        match lam.eval_bool(p, s) {
            Ok(b) => b,
            Err(e) => {
                cx.error(format!(
                    "error evaluating expression for level {}: {e}",
                    Level::from_idx(l).as_str()
                ));
                false
            }
        }
    }

    /// alert.go `determineLevel`.
    fn determine_level(
        &self,
        st: &mut GroupState,
        current: Level,
        p: &Point,
        cx: &mut Cx,
    ) -> Level {
        let cur = current as usize;
        for l in (cur + 1..=3).rev() {
            if self.eval_level(st, l, p, cx) {
                return Level::from_idx(l);
            }
        }
        if let (Some(r), Some(s)) = (&self.resets[cur], st.reset_states[cur].as_mut()) {
            match r.eval_bool(p, s) {
                Ok(false) => return current,
                Ok(true) => {}
                Err(e) => cx.error(format!(
                    "error evaluating reset expression for current level: {e}"
                )),
            }
        }
        for l in (1..=cur).rev() {
            if self.eval_level(st, l, p, cx) {
                return Level::from_idx(l);
            }
        }
        Level::Ok
    }

    fn id_data(&self, cx: &Cx, name: &str, group: &Group, tags: &Tags) -> gotmpl::Struct {
        let g = if group.id().is_empty() {
            "nil"
        } else {
            group.id()
        };
        id_info(
            name,
            &cx.task().task_id,
            g,
            Map::strings(tags.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
            &self.server,
        )
    }

    fn counters_add(&mut self, l: Level) {
        self.counters.alerts += 1;
        match l {
            Level::Ok => self.counters.oks += 1,
            Level::Info => self.counters.infos += 1,
            Level::Warning => self.counters.warns += 1,
            Level::Critical => self.counters.crits += 1,
        }
    }

    /// Renders the event texts and queues the event. Returns (id, message, duration).
    #[allow(clippy::too_many_arguments)]
    fn event(
        &mut self,
        cx: &mut Cx,
        id: String,
        name: &str,
        group: &Group,
        tags: &Tags,
        fields: &Fields,
        level: Level,
        time: i64,
        duration: i64,
        data: Row,
        previous: Level,
    ) -> Result<String, String> {
        let mut fmap = Map::new(Kind::Any);
        for (k, v) in fields {
            fmap.insert(k.clone(), field_value(v));
        }
        let info = message_info(
            self.id_data(cx, name, group, tags),
            &id,
            fmap,
            level.as_str(),
            time,
            duration,
        );
        let message = self
            .message_tmpl
            .execute(&info.clone().into())
            .map_err(|e| e.to_string())?;
        let details = self
            .details_tmpl
            .execute(&details_info(info, &message).into())
            .map_err(|e| e.to_string())?;
        self.counters_add(level);
        cx.alert(AlertEvent {
            task: cx.task().task_id.clone(),
            node: cx.node_name().to_string(),
            id,
            message: message.clone(),
            details,
            time,
            duration,
            level: level.as_str().into(),
            previous_level: previous.as_str().into(),
            recoverable: !self.no_recoveries,
            data,
            topic: self.topic.clone(),
            category: self.category.clone(),
            handlers: self.handlers.clone(),
        });
        Ok(message)
    }

    fn augment(
        &self,
        tags: &mut Tags,
        fields: Option<&mut Fields>,
        id: &str,
        msg: &str,
        l: Level,
        dur: i64,
    ) {
        if let Some(t) = &self.level_tag {
            tags.insert(t.clone(), l.as_str().into());
        }
        if let Some(t) = &self.id_tag {
            tags.insert(t.clone(), id.into());
        }
        if let Some(fields) = fields {
            if let Some(f) = &self.level_field {
                fields.insert(f.clone(), FieldValue::Str(l.as_str().into()));
            }
            if let Some(f) = &self.message_field {
                fields.insert(f.clone(), FieldValue::Str(msg.into()));
            }
            if let Some(f) = &self.id_field {
                fields.insert(f.clone(), FieldValue::Str(id.into()));
            }
            if let Some(f) = &self.duration_field {
                fields.insert(f.clone(), FieldValue::Int(dur));
            }
        }
    }

    fn cached_id(
        &self,
        st: &mut GroupState,
        cx: &Cx,
        name: &str,
        group: &Group,
        tags: &Tags,
    ) -> Result<String, String> {
        if let Some((n, t, id)) = &st.id_cache
            && n == name
            && t == tags
        {
            return Ok(id.clone());
        }
        let id = self.render_id(cx, name, group, tags)?;
        st.id_cache = Some((name.to_string(), tags.clone(), id.clone()));
        Ok(id)
    }

    fn render_id(&self, cx: &Cx, name: &str, group: &Group, tags: &Tags) -> Result<String, String> {
        self.id_tmpl
            .execute(&self.id_data(cx, name, group, tags).into())
            .map_err(|e| e.to_string())
    }
}

fn field_value(v: &FieldValue) -> G {
    match v {
        FieldValue::Float(f) => G::from(*f),
        FieldValue::Int(i) => G::from(*i),
        FieldValue::Str(s) => G::from(s.as_str()),
        FieldValue::Bool(b) => G::from(*b),
    }
}

impl GroupState {
    fn current(&self) -> Level {
        self.history[self.idx]
    }

    fn add_event(&mut self, t: i64, l: Level, flapping: Option<(f64, f64)>, sco: Option<i64>) {
        self.changed = self.history[self.idx] != l;
        self.idx = (self.idx + 1) % self.history.len();
        self.history[self.idx] = l;
        if let Some((low, high)) = flapping {
            let p = self.percent_change();
            if self.flapping && p < low {
                self.flapping = false;
            } else if !self.flapping && p > high {
                self.flapping = true;
            }
        }
        let d = sco.unwrap_or(0);
        self.expired = !self.changed && d != 0 && t - self.last_triggered >= d;
    }

    fn percent_change(&self) -> f64 {
        let l = self.history.len();
        let mut changes = 0.0;
        let mut weight = MAX_WEIGHT / WEIGHT_DIFF;
        let step = (MAX_WEIGHT - weight) / (l - 1) as f64;
        for i in 0..l - 1 {
            let c = (i + self.idx) % l;
            let p = if c == 0 { l - 1 } else { c - 1 };
            if self.history[c] != self.history[p] {
                changes += weight;
            }
            weight += step;
        }
        changes / (l - 1) as f64
    }

    fn triggered(&mut self, t: i64) {
        self.last_triggered = t;
        let p = if self.idx == 0 {
            self.history.len() - 1
        } else {
            self.idx - 1
        };
        if self.history[p] == Level::Ok {
            self.first_triggered = t;
        }
    }

    fn duration(&self) -> i64 {
        self.last_triggered - self.first_triggered
    }

    /// Continues from a state of before the restart: its level is the current one (so a
    /// state-changes-only alert does not fire again, and a recovery is one) and the incident
    /// keeps its start (durations continue).
    fn restore(&mut self, r: RestoredEvent) {
        self.history[self.idx] = r.level;
        self.last_event_level = r.level;
        if r.level != Level::Ok {
            self.last_triggered = r.time;
            self.first_triggered = r.time - r.duration;
        }
    }
}

impl NodeImpl for Alert {
    fn on_msg(&mut self, _port: usize, msg: Msg, cx: &mut Cx) {
        match msg {
            Msg::Point(mut pm) => {
                let (mut st, fresh) = match self.states.remove(&pm.group) {
                    Some(st) => (st, false),
                    None => (self.new_state(), true),
                };
                let id = match self.cached_id(&mut st, cx, &pm.p.name, &pm.group, &pm.p.tags) {
                    Ok(id) => id,
                    Err(e) => {
                        self.states.insert(pm.group.clone(), st);
                        cx.error(format!("failed to render alert id: {e}"));
                        return;
                    }
                };
                if fresh && let Some(r) = self.restored.remove(&id) {
                    st.restore(r);
                }
                let cur = st.current();
                let l = self.determine_level(&mut st, cur, &pm.p, cx);
                st.add_event(pm.p.time, l, self.flapping, self.state_changes_only);
                let suppressed = (self.flapping.is_some() && st.flapping)
                    || (self.state_changes_only.is_some() && !st.changed && !st.expired);
                let mut out = None;
                if !suppressed && (l != Level::Ok || st.changed) {
                    st.triggered(pm.p.time);
                    if !(self.no_recoveries && l == Level::Ok) {
                        let dur = st.duration();
                        let prev = st.last_event_level;
                        st.last_event_level = l;
                        match self.event(
                            cx,
                            id.clone(),
                            &pm.p.name,
                            &pm.group,
                            &pm.p.tags,
                            &pm.p.fields,
                            l,
                            pm.p.time,
                            dur,
                            crate::engine::result::Row::from_point(&pm).to_models(),
                            prev,
                        ) {
                            Ok(message) => {
                                self.augment(
                                    &mut pm.p.tags,
                                    Some(&mut pm.p.fields),
                                    &id,
                                    &message,
                                    l,
                                    dur,
                                );
                                out = Some(Msg::Point(pm.clone()));
                            }
                            Err(e) => cx.error(format!("failed to render alert: {e}")),
                        }
                    }
                }
                self.states.insert(pm.group.clone(), st);
                if let Some(m) = out {
                    cx.emit(m);
                }
            }
            Msg::Batch(mut bm) => {
                if bm.b.points.is_empty() {
                    return;
                }
                let (mut st, fresh) = match self.states.remove(&bm.group) {
                    Some(st) => (st, false),
                    None => (self.new_state(), true),
                };
                let id = match self.cached_id(&mut st, cx, &bm.b.name, &bm.group, &bm.b.tags) {
                    Ok(id) => id,
                    Err(e) => {
                        self.states.insert(bm.group.clone(), st);
                        cx.error(format!("failed to render alert id: {e}"));
                        return;
                    }
                };
                if fresh && let Some(r) = self.restored.remove(&id) {
                    st.restore(r);
                }
                let cur = st.current();
                let mut lowest = Level::Critical;
                let mut highest = Level::Ok;
                let mut hi_idx: Option<usize> = None;
                for (i, p) in bm.b.points.iter().enumerate() {
                    let l = self.determine_level(&mut st, cur, p, cx);
                    if l < lowest {
                        lowest = l;
                    }
                    if l > highest || hi_idx.is_none() {
                        highest = l;
                        hi_idx = Some(i);
                    }
                }
                let hi = hi_idx.unwrap_or(0);
                let l = if self.all { lowest } else { highest };
                let t = if self.all || l == Level::Ok {
                    bm.b.time
                } else {
                    bm.b.points[hi].time
                };
                st.add_event(t, l, self.flapping, self.state_changes_only);
                let fire = (st.changed && l == Level::Ok)
                    || (l != Level::Ok
                        && !((self.flapping.is_some() && st.flapping)
                            || (self.state_changes_only.is_some() && !st.changed && !st.expired)));
                let mut out = None;
                if fire {
                    st.triggered(t);
                    if !(self.no_recoveries && l == Level::Ok) {
                        let dur = st.duration();
                        let prev = st.last_event_level;
                        st.last_event_level = l;
                        let fields = bm.b.points[hi].fields.clone();
                        let tags = bm.b.tags.clone();
                        let row = crate::engine::result::Row::from_batch(&bm).to_models();
                        match self.event(
                            cx,
                            id.clone(),
                            &bm.b.name.clone(),
                            &bm.group,
                            &tags,
                            &fields,
                            l,
                            t,
                            dur,
                            row,
                            prev,
                        ) {
                            Ok(message) => {
                                for p in &mut bm.b.points {
                                    self.augment(
                                        &mut p.tags,
                                        Some(&mut p.fields),
                                        &id,
                                        &message,
                                        l,
                                        dur,
                                    );
                                }
                                self.augment(&mut bm.b.tags, None, &id, &message, l, dur);
                                out = Some(Msg::Batch(bm.clone()));
                            }
                            Err(e) => cx.error(format!("failed to render alert: {e}")),
                        }
                    }
                }
                self.states.insert(bm.group.clone(), st);
                if let Some(m) = out {
                    cx.emit(m);
                }
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

    fn alert_topic(&self) -> Option<Option<&str>> {
        Some(self.topic.as_deref())
    }

    fn restore_alert_states(&mut self, states: std::collections::HashMap<String, RestoredEvent>) {
        self.restored = states;
    }

    fn counters(&self, out: &mut Vec<(&'static str, i64)>) {
        out.push(("alerts_triggered", self.counters.alerts));
        out.push(("oks_triggered", self.counters.oks));
        out.push(("infos_triggered", self.counters.infos));
        out.push(("warns_triggered", self.counters.warns));
        out.push(("crits_triggered", self.counters.crits));
        out.push(("alerts_inhibited", self.counters.inhibited));
    }
}
