//! `batch|query()`: when to query (`.every`, `.align`, `.cron`), what to send (the InfluxQL
//! with `WHERE time >= … AND time < …`, GROUP BY and fill injected as Kapacitor does), and
//! how InfluxDB's answer becomes batches (Kapacitor's `ResultToBufferedBatches`).

mod cron;
mod query_text;
mod result;

pub use cron::Cron;
pub use result::results_to_batches;

use crate::client::Client;
use crate::error::{Error, Result};
use crate::influxql::{format_duration, ident};
use kapacitor_models::Batch;
use kapacitor_models::time_fmt::rfc3339_nano;
use query_text::SelectParts;

/// One dimension of `.groupBy()`.
#[derive(Debug, Clone, PartialEq)]
pub enum Dimension {
    /// `time(length[, offset])`, nanoseconds.
    Time {
        length: i64,
        offset: i64,
    },
    Tag(String),
    /// `*`: every tag.
    Star,
}

/// `.fill()`.
#[derive(Debug, Clone, PartialEq)]
pub enum Fill {
    Null,
    None,
    Previous,
    Linear,
    Int(i64),
    Float(f64),
}

impl Fill {
    /// The string forms TICKscript accepts: `null`, `none`, `previous`, `linear`.
    pub fn parse(s: &str) -> Result<Fill> {
        match s {
            "null" => Ok(Fill::Null),
            "none" => Ok(Fill::None),
            "previous" => Ok(Fill::Previous),
            "linear" => Ok(Fill::Linear),
            other => Err(Error::Invalid(format!("unexpected fill option {other}"))),
        }
    }

    /// influxql's rendering; `fill(null)` is the default and is not written.
    fn clause(&self) -> Option<String> {
        match self {
            Fill::Null => None,
            Fill::None => Some("fill(none)".into()),
            Fill::Previous => Some("fill(previous)".into()),
            Fill::Linear => Some("fill(linear)".into()),
            Fill::Int(i) => Some(format!("fill({i})")),
            Fill::Float(f) => Some(format!(
                "fill({})",
                kapacitor_models::go_json::go_json_float(*f)
            )),
        }
    }
}

/// The properties of a TICKscript query node. Durations are nanoseconds, as TICKscript
/// durations are.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct QueryProps {
    pub period: i64,
    pub every: i64,
    pub cron: Option<String>,
    pub offset: i64,
    pub align: bool,
    pub align_group: bool,
    pub group_by: Vec<Dimension>,
    pub group_by_measurement: bool,
    pub fill: Option<Fill>,
    /// `.cluster()`; empty = the default `[[influxdb]]`.
    pub cluster: String,
}

/// When a query node runs.
#[derive(Debug, Clone, PartialEq)]
pub enum Schedule {
    /// `.every(d)`, aligned to multiples of `d` with `.align()`.
    Every {
        every: i64,
        align: bool,
    },
    Cron(Cron),
}

impl Schedule {
    /// The first tick strictly after `after` (ns). Unaligned `every` ticks `every` after the
    /// previous tick (or the start); aligned ones fall on multiples of `every`.
    pub fn next(&self, after: i64) -> Option<i64> {
        match self {
            Schedule::Every {
                every,
                align: false,
            } => after.checked_add(*every),
            Schedule::Every { every, align: true } => {
                (after - after.rem_euclid(*every)).checked_add(*every)
            }
            Schedule::Cron(c) => c.next(after),
        }
    }
}

/// A compiled `batch|query()` node.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchQuery {
    parts: SelectParts,
    props: QueryProps,
    schedule: Schedule,
    group_by_time: Option<(i64, i64)>,
}

impl BatchQuery {
    /// Checks the query and the properties with Kapacitor's messages where it has them.
    /// A query that has its own GROUP BY or time condition is refused (Kapacitor silently
    /// drops the GROUP BY and fails at run time on a time condition).
    pub fn new(query: &str, props: QueryProps) -> Result<BatchQuery> {
        let parts = query_text::split(query)?;
        if parts.group_by.is_some() {
            return Err(Error::Invalid(
                "the query must not have a GROUP BY clause: use .groupBy() on the query node"
                    .into(),
            ));
        }
        if parts.condition_mentions_time {
            return Err(Error::Invalid(
                "the query must not have a time condition: the time range comes from .period(), .every()/.cron() and .offset()".into(),
            ));
        }
        if props.every != 0 && props.cron.is_some() {
            return Err(Error::Invalid(
                "must not set both 'every' and 'cron' properties".into(),
            ));
        }
        let schedule = match (&props.cron, props.every) {
            (Some(c), _) => Schedule::Cron(Cron::parse(c)?),
            (None, e) if e > 0 => Schedule::Every {
                every: e,
                align: props.align,
            },
            (None, e) if e < 0 => {
                return Err(Error::Invalid(
                    "'every' duration must must non-negative".into(),
                ));
            }
            _ => {
                return Err(Error::Invalid(
                    "must define one of 'every' or 'cron'".into(),
                ));
            }
        };
        if props.period < 0 {
            return Err(Error::Invalid("'period' must not be negative".into()));
        }
        let mut group_by_time = None;
        for d in &props.group_by {
            if let Dimension::Time { length, offset } = d {
                if group_by_time.is_some() {
                    return Err(Error::Invalid(
                        "groupBy cannot have more than one time dimension".into(),
                    ));
                }
                if *length <= 0 {
                    return Err(Error::Invalid(
                        "groupBy time() length must be positive".into(),
                    ));
                }
                group_by_time = Some((*length, *offset));
            }
        }
        Ok(BatchQuery {
            parts,
            props,
            schedule,
            group_by_time,
        })
    }

    pub fn props(&self) -> &QueryProps {
        &self.props
    }

    pub fn schedule(&self) -> &Schedule {
        &self.schedule
    }

    /// Whether the query groups by time (then every batch's time is the range's stop).
    pub fn is_grouped_by_time(&self) -> bool {
        self.group_by_time.is_some()
    }

    /// The next tick strictly after `now` (ns since the epoch).
    pub fn next_run(&self, now: i64) -> Option<i64> {
        self.schedule.next(now)
    }

    /// The queried range `[start, stop)` of the tick at `tick`: stop = tick − offset,
    /// start = stop − period.
    pub fn range(&self, tick: i64) -> (i64, i64) {
        let stop = tick.saturating_sub(self.props.offset);
        (stop.saturating_sub(self.props.period), stop)
    }

    /// The ticks a replay over `[start, stop]` runs (Kapacitor's `QueryNode.Queries`),
    /// never past `now`; used by batch recordings.
    pub fn ticks_between(&self, start: i64, stop: i64, now: i64) -> Vec<i64> {
        let mut out = Vec::new();
        let mut cur = start;
        while let Some(next) = self.schedule.next(cur) {
            if next > stop || next.saturating_sub(self.props.offset) > now {
                break;
            }
            out.push(next);
            cur = next;
        }
        out
    }

    /// The InfluxQL sent for the tick at `tick`.
    pub fn build(&self, tick: i64) -> String {
        let (start, stop) = self.range(tick);
        let p = &self.parts;
        let mut q = String::with_capacity(p.head.len() + 128);
        q.push_str(&p.head);
        q.push_str(" WHERE ");
        if let Some(c) = &p.condition {
            if p.condition_has_top_level_or {
                q.push('(');
                q.push_str(c);
                q.push(')');
            } else {
                q.push_str(c);
            }
            q.push_str(" AND ");
        }
        q.push_str("time >= '");
        q.push_str(&rfc3339_nano(start));
        q.push_str("' AND time < '");
        q.push_str(&rfc3339_nano(stop));
        q.push('\'');
        if !self.props.group_by.is_empty() {
            let dims: Vec<String> = self
                .props
                .group_by
                .iter()
                .map(|d| match d {
                    Dimension::Time { length, offset } => {
                        let offset = if self.props.align_group {
                            start.rem_euclid(*length)
                        } else {
                            *offset
                        };
                        format!(
                            "time({}, {})",
                            format_duration(*length),
                            format_duration(offset)
                        )
                    }
                    Dimension::Tag(t) => ident(t),
                    Dimension::Star => "*".into(),
                })
                .collect();
            q.push_str(" GROUP BY ");
            q.push_str(&dims.join(", "));
        }
        let fill = match &self.props.fill {
            Some(f) => f.clause(),
            None => p.fill.clone(),
        };
        if let Some(f) = fill {
            q.push(' ');
            q.push_str(&f);
        }
        if !p.tail.is_empty() {
            q.push(' ');
            q.push_str(&p.tail);
        }
        q
    }

    /// Runs the tick at `tick` against `client`: one batch per series of the answer (see
    /// [`results_to_batches`]). InfluxDB being down or refusing the query is an `Err`; the
    /// caller logs it and tries again at the next tick.
    pub async fn run(&self, client: &Client, tick: i64) -> Result<Vec<Batch>> {
        let q = self.build(tick);
        let (_, stop) = self.range(tick);
        let results = client.query("", &q).await?;
        results_to_batches(&results, stop, self.is_grouped_by_time())
    }
}

#[cfg(test)]
mod tests;
