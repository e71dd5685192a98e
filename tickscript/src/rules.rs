//! Node settings that are valid one by one but not together, or out of range: the rules the
//! engine enforces when it builds a node, checked here so that a task is refused when it is
//! defined (HTTP 400 with the line and column) instead of being accepted and then failing to
//! start. The messages are Kapacitor's where Kapacitor has the same rule.
//!
//! The engine keeps its own checks; a rule added there belongs here too.

use crate::ast::Pos;
use crate::error::Error;
use crate::pipeline::{Arg, Node, Property, TaskType};

type Result<T> = std::result::Result<T, Error>;

/// Checks `node` (named `name`, e.g. `window2`) of a task of type `task_type`.
pub(crate) fn check_node(node: &Node, name: &str, task_type: TaskType) -> Result<()> {
    let r = Rules { node, name };
    match node.kind.as_str() {
        "window" => r.window(),
        "barrier" => r.barrier(),
        "stats" => r.interval_arg(0),
        "deadman" => r.interval_arg(1),
        "join" => r.join(),
        "from" => r.from(),
        "sample" => r.sample(),
        "stateDuration" => r.positive_prop("unit", "unit must be positive"),
        "derivative" => r.positive_prop("unit", "derivative unit must be positive"),
        "log" => r.log(),
        "httpOut" => r.http_out(),
        "httpPost" => r.http_post(),
        "eval" => r.eval(),
        "combine" => r.combine(),
        "alert" => r.alert(),
        "influxDBOut" => r.influxdb_out(task_type),
        "query" => r.query(),
        "top" | "bottom" | "percentile" | "elapsed" | "movingAverage" | "holtWinters"
        | "holtWintersWithFit" => r.influxql(),
        _ => Ok(()),
    }
}

struct Rules<'a> {
    node: &'a Node,
    name: &'a str,
}

impl Rules<'_> {
    fn err(&self, pos: Pos, msg: impl std::fmt::Display) -> Error {
        Error::at(pos, format!("{}: {msg}", self.name))
    }

    /// The last call of a property (later calls override earlier ones).
    fn last(&self, prop: &str) -> Option<&Property> {
        self.node.props.iter().rev().find(|p| p.name == prop)
    }

    /// A duration or int property's value, with the position to blame.
    fn num(&self, prop: &str) -> Option<(i64, Pos)> {
        let p = self.last(prop)?;
        match p.args.first() {
            Some(Arg::Duration(d) | Arg::Int(d)) => Some((*d, p.pos)),
            _ => None,
        }
    }

    fn flag(&self, prop: &str) -> Option<Pos> {
        let p = self.last(prop)?;
        match p.args.first() {
            Some(Arg::Bool(false)) => None,
            _ => Some(p.pos),
        }
    }

    fn positive_prop(&self, prop: &str, msg: &str) -> Result<()> {
        match self.num(prop) {
            Some((v, pos)) if v <= 0 => Err(self.err(pos, msg)),
            _ => Ok(()),
        }
    }

    fn window(&self) -> Result<()> {
        let get = |p| self.num(p);
        let (period, every) = (get("period"), get("every"));
        let (pcount, ecount) = (get("periodCount"), get("everyCount"));
        let val = |v: Option<(i64, Pos)>| v.map_or(0, |v| v.0);
        for v in [period, every, pcount, ecount].into_iter().flatten() {
            if v.0 < 0 {
                return Err(self.err(v.1, "window period and every must not be negative"));
            }
        }
        let by_time = val(period) > 0 || val(every) > 0;
        let by_count = val(pcount) > 0 || val(ecount) > 0;
        if let (Some((p, _)), Some((c, pos))) = (period, pcount)
            && p > 0
            && c > 0
        {
            return Err(self.err(pos, "cannot specify both period and periodCount"));
        }
        if by_time && by_count {
            let pos = pcount.or(ecount).map_or(self.node.pos, |v| v.1);
            return Err(self.err(
                pos,
                "can only use one window type: either period/every or periodCount/everyCount",
            ));
        }
        if by_count {
            if let Some(pos) = self.flag("align") {
                return Err(self.err(pos, "can only align windows based off time, not count"));
            }
            if val(pcount) == 0 {
                let pos = ecount.map_or(self.node.pos, |v| v.1);
                return Err(self.err(pos, "window periodCount must be positive"));
            }
            return Ok(());
        }
        if !by_time {
            return Err(self.err(self.node.pos, "window needs .period() or .periodCount()"));
        }
        if val(period) == 0 {
            let pos = every.map_or(self.node.pos, |v| v.1);
            return Err(self.err(pos, "window period must be positive"));
        }
        if val(every) == 0
            && let Some(pos) = self.flag("align")
        {
            return Err(self.err(pos, "cannot align a window with every(0s)"));
        }
        Ok(())
    }

    fn barrier(&self) -> Result<()> {
        let (idle, period) = (self.num("idle"), self.num("period"));
        let val = |v: Option<(i64, Pos)>| v.map_or(0, |v| v.0);
        let pos = |v: Option<(i64, Pos)>| v.map_or(self.node.pos, |v| v.1);
        if val(idle) != 0 && val(period) != 0 {
            return Err(self.err(pos(period), "cannot specify both idle and period"));
        }
        if val(period) == 0 && val(idle) <= 0 {
            return Err(self.err(pos(idle), "idle must be greater than zero"));
        }
        if val(idle) == 0 && val(period) <= 0 {
            return Err(self.err(pos(period), "period must be greater than zero"));
        }
        Ok(())
    }

    /// `stats(interval)` and `deadman(threshold, interval)`.
    fn interval_arg(&self, i: usize) -> Result<()> {
        match self.node.args.get(i) {
            Some(Arg::Duration(d) | Arg::Int(d)) if *d <= 0 => Err(self.err(
                self.node.pos,
                format!("{} interval must be positive", self.node.kind),
            )),
            _ => Ok(()),
        }
    }

    fn join(&self) -> Result<()> {
        if let Some(p) = self.last("as") {
            let mut seen = std::collections::HashSet::new();
            for a in &p.args {
                let Arg::Str(n) = a else { continue };
                if n.is_empty() {
                    return Err(self.err(
                        p.pos,
                        "must provide a prefix name for the join node, see .as() property method",
                    ));
                }
                if !seen.insert(n) {
                    return Err(self.err(
                        p.pos,
                        "cannot use the same prefix name see .as() property method",
                    ));
                }
            }
        }
        if let Some(p) = self.last("fill") {
            match p.args.first() {
                Some(Arg::Str(s)) if s == "null" || s == "none" => {}
                Some(Arg::Int(_) | Arg::Float(_)) => {}
                Some(Arg::Str(s)) => {
                    return Err(self.err(p.pos, format!("unexpected fill option {s}")));
                }
                _ => return Err(self.err(p.pos, "fill must be 'null', 'none' or a number")),
            }
        }
        match self.num("tolerance") {
            Some((t, pos)) if t < 0 => Err(self.err(pos, "tolerance must not be negative")),
            _ => Ok(()),
        }
    }

    fn from(&self) -> Result<()> {
        for prop in ["truncate", "round"] {
            if let Some((v, pos)) = self.num(prop)
                && v < 0
            {
                return Err(self.err(pos, "truncate and round must not be negative"));
            }
        }
        Ok(())
    }

    fn sample(&self) -> Result<()> {
        match self.node.args.first() {
            Some(Arg::Int(n) | Arg::Duration(n)) if *n <= 0 => {
                Err(self.err(self.node.pos, "sample needs a positive count or duration"))
            }
            _ => Ok(()),
        }
    }

    fn log(&self) -> Result<()> {
        if let Some(p) = self.last("level")
            && let Some(Arg::Str(l)) = p.args.first()
            && !matches!(
                l.to_uppercase().as_str(),
                "DEBUG" | "INFO" | "WARN" | "ERROR"
            )
        {
            return Err(self.err(p.pos, format!("invalid log level {:?}", l.to_uppercase())));
        }
        Ok(())
    }

    fn http_out(&self) -> Result<()> {
        match self.node.args.first() {
            Some(Arg::Str(s)) if s.is_empty() => {
                Err(self.err(self.node.pos, "httpOut needs an endpoint name"))
            }
            _ => Ok(()),
        }
    }

    /// Kapacitor's `HTTPPostNode.validate`: URL arguments or one `.endpoint()`. Kapacitor
    /// takes at most one URL; several are accepted here (the data goes to each), as older
    /// Kapacitor versions did.
    fn http_post(&self) -> Result<()> {
        let urls = self.node.args.len();
        let endpoints: Vec<&Property> = self
            .node
            .props
            .iter()
            .filter(|p| p.name == "endpoint")
            .collect();
        if endpoints.len() > 1 {
            return Err(self.err(
                endpoints[1].pos,
                format!("httpPost expects 0 or 1 endpoints, got {}", endpoints.len()),
            ));
        }
        if urls == 0 && endpoints.is_empty() {
            return Err(self.err(self.node.pos, "must provide url or endpoint"));
        }
        if urls > 0 && !endpoints.is_empty() {
            return Err(self.err(
                endpoints[0].pos,
                "only one endpoint and url may be specified",
            ));
        }
        for h in self.node.props.iter().filter(|p| p.name == "header") {
            if let Some(Arg::Str(k)) = h.args.first()
                && k.eq_ignore_ascii_case("authenticate")
            {
                return Err(self.err(h.pos, "cannot set 'authenticate' header"));
            }
        }
        match self.num("timeout") {
            Some((t, pos)) if t < 0 => Err(self.err(pos, "timeout must not be negative")),
            _ => Ok(()),
        }
    }

    fn eval(&self) -> Result<()> {
        let names: Vec<&str> = self
            .last("as")
            .map(|p| {
                p.args
                    .iter()
                    .filter_map(|a| match a {
                        Arg::Str(s) => Some(s.as_str()),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default();
        for p in self.node.props.iter().filter(|p| p.name == "tags") {
            for a in &p.args {
                if let Arg::Str(t) = a
                    && !names.contains(&t.as_str())
                {
                    return Err(self.err(
                        p.pos,
                        format!("tag {t:?} is not one of the names given to .as()"),
                    ));
                }
            }
        }
        Ok(())
    }

    fn combine(&self) -> Result<()> {
        if self.node.args.len() < 2 {
            return Err(self.err(self.node.pos, "must specify at least two expressions"));
        }
        let names = self.last("as").map_or(0, |p| p.args.len());
        if names != self.node.args.len() {
            let pos = self.last("as").map_or(self.node.pos, |p| p.pos);
            return Err(self.err(pos, "must specify the same number of expressions and names"));
        }
        Ok(())
    }

    fn alert(&self) -> Result<()> {
        match self.num("stateChangesOnly") {
            Some((d, pos)) if d < 0 => {
                Err(self.err(pos, "stateChangesOnly interval must not be negative"))
            }
            _ => Ok(()),
        }
    }

    fn influxdb_out(&self, task_type: TaskType) -> Result<()> {
        if let Some(p) = self.last("precision")
            && let Some(Arg::Str(s)) = p.args.first()
            && kapacitor_models::Precision::parse(s).is_err()
        {
            return Err(self.err(p.pos, format!("invalid precision {s:?}")));
        }
        if let Some((b, pos)) = self.num("buffer")
            && b <= 0
        {
            return Err(self.err(pos, format!(".buffer() must be positive, got {b}")));
        }
        if let Some((d, pos)) = self.num("flushInterval")
            && d <= 0
        {
            return Err(self.err(pos, ".flushInterval() must be positive"));
        }
        let database = match self.last("database").and_then(|p| p.args.first()) {
            Some(Arg::Str(s)) => !s.is_empty(),
            _ => false,
        };
        if task_type == TaskType::Batch && !database {
            return Err(self.err(
                self.node.pos,
                "influxDBOut in a batch task needs .database(): batches carry no database",
            ));
        }
        Ok(())
    }

    /// The schedule and grouping rules of `kapacitor_influxdb::BatchQuery::new` that need no
    /// query parser (the InfluxQL text and cron syntax are checked when the task starts, as in
    /// Kapacitor).
    fn query(&self) -> Result<()> {
        let every = self.num("every");
        let cron = self.last("cron");
        if let (Some((e, _)), Some(c)) = (every, cron)
            && e != 0
        {
            return Err(self.err(c.pos, "must not set both 'every' and 'cron' properties"));
        }
        match every {
            Some((e, pos)) if e < 0 => {
                return Err(self.err(pos, "'every' must not be negative"));
            }
            Some((e, _)) if e > 0 => {}
            _ if cron.is_some() => {}
            _ => return Err(self.err(self.node.pos, "must define one of 'every' or 'cron'")),
        }
        if let Some((p, pos)) = self.num("period")
            && p < 0
        {
            return Err(self.err(pos, "'period' must not be negative"));
        }
        if let Some(p) = self.last("fill") {
            match p.args.first() {
                Some(Arg::Str(s))
                    if matches!(s.as_str(), "null" | "none" | "previous" | "linear") => {}
                Some(Arg::Int(_) | Arg::Float(_)) => {}
                Some(Arg::Str(s)) => {
                    return Err(self.err(p.pos, format!("unexpected fill option {s}")));
                }
                _ => {
                    return Err(self.err(
                        p.pos,
                        ".fill() takes 'null', 'none', 'previous', 'linear' or a number",
                    ));
                }
            }
        }
        let mut times = 0;
        for p in self.node.props.iter().filter(|p| p.name == "groupBy") {
            for a in &p.args {
                let Arg::Lambda(crate::ast::Expr::Call { name, args, .. }) = a else {
                    continue;
                };
                if name != "time" {
                    continue;
                }
                times += 1;
                if times > 1 {
                    return Err(self.err(p.pos, "groupBy cannot have more than one time dimension"));
                }
                if let Some(crate::ast::Expr::Duration(d, _)) = args.first()
                    && *d <= 0
                {
                    return Err(self.err(p.pos, "groupBy time() length must be positive"));
                }
            }
        }
        Ok(())
    }

    fn influxql(&self) -> Result<()> {
        let kind = self.node.kind.as_str();
        let arg = |i: usize| self.node.args.get(i);
        let bad = |msg: String| Err(self.err(self.node.pos, msg));
        match kind {
            "top" | "bottom" => match arg(0) {
                Some(Arg::Int(n)) if *n <= 0 => bad(format!("{kind} needs a positive count")),
                _ => Ok(()),
            },
            "percentile" => match arg(1) {
                Some(Arg::Float(p)) if !(0.0..=100.0).contains(p) => {
                    bad("percentile needs a value between 0 and 100".into())
                }
                _ => Ok(()),
            },
            "elapsed" => match arg(1) {
                Some(Arg::Duration(d)) if *d <= 0 => bad("elapsed unit must be positive".into()),
                _ => Ok(()),
            },
            "movingAverage" => match arg(1) {
                Some(Arg::Int(n)) if *n <= 0 => {
                    bad("movingAverage needs a positive window size".into())
                }
                _ => Ok(()),
            },
            _ => {
                if matches!(arg(1), Some(Arg::Int(n)) if *n < 0) {
                    return bad("holtWinters needs h >= 0".into());
                }
                if matches!(arg(2), Some(Arg::Int(n)) if *n < 0) {
                    return bad("holtWinters needs m >= 0".into());
                }
                Ok(())
            }
        }
    }
}
