//! What the worker shell needs to run a batch task's `query()` nodes: the query text and its
//! schedule/grouping properties, read from the pipeline and checked once with
//! `kapacitor_influxdb::BatchQuery::new` so that a bad query fails the task at start, not at
//! the first tick.

use super::EngineError;
use super::props::NodeSpec;
use kapacitor_influxdb::{BatchQuery, Dimension, Fill, QueryProps};
use tickscript::ast::Expr;
use tickscript::pipeline::Arg;

/// One `batch|query()` node of a task.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryNodeSpec {
    /// Index of the node in the pipeline; the id to give [`super::Task::push_batch`].
    pub node: usize,
    /// `query1`, as in stats and the DOT view.
    pub name: String,
    /// The InfluxQL as written in the script (without time range or GROUP BY).
    pub query: String,
    pub props: QueryProps,
}

impl QueryNodeSpec {
    pub(crate) fn parse(id: usize, spec: &NodeSpec) -> Result<QueryNodeSpec, EngineError> {
        let query = match spec.arg(0) {
            Some(Arg::Str(q)) => q.clone(),
            _ => return Err(spec.err("query() takes the InfluxQL query as a string")),
        };
        let period = spec.prop_duration("period")?.unwrap_or(0);
        let every = spec.prop_duration("every")?.unwrap_or(0);
        let offset = spec.prop_duration("offset")?.unwrap_or(0);
        let group_by = match spec.prop("groupBy") {
            Some(p) => dimensions(spec, &p.args)?,
            None => Vec::new(),
        };
        let fill = match spec.prop("fill") {
            None => None,
            Some(p) => Some(match p.args.as_slice() {
                [Arg::Str(s)] => Fill::parse(s).map_err(|e| spec.err(e))?,
                [Arg::Int(i)] => Fill::Int(*i),
                [Arg::Float(f)] => Fill::Float(*f),
                _ => {
                    return Err(
                        spec.err(".fill() takes 'null', 'none', 'previous', 'linear' or a number")
                    );
                }
            }),
        };
        let props = QueryProps {
            period,
            every,
            cron: spec.prop_str("cron")?,
            offset,
            align: spec.flag("align")?,
            align_group: spec.flag("alignGroup")?,
            group_by,
            group_by_measurement: spec.flag("groupByMeasurement")?,
            fill,
            cluster: spec.prop_str("cluster")?.unwrap_or_default(),
        };
        BatchQuery::new(&query, props.clone()).map_err(|e| spec.err(e))?;
        Ok(QueryNodeSpec {
            node: id,
            name: spec.name.clone(),
            query,
            props,
        })
    }

    /// The compiled query, ready to schedule. Cannot fail for a spec the engine returned
    /// (it was checked when the task was built), but stays fallible rather than panicking.
    pub fn batch_query(&self) -> Result<BatchQuery, kapacitor_influxdb::Error> {
        BatchQuery::new(&self.query, self.props.clone())
    }
}

/// `.groupBy(time(10s), 'host')`: `time(...)` travels as a lambda calling `time` (see the
/// pipeline contract), tags as strings, `*` as a star.
fn dimensions(spec: &NodeSpec, args: &[Arg]) -> Result<Vec<Dimension>, EngineError> {
    let mut out = Vec::new();
    for a in args {
        match a {
            Arg::Str(t) => out.push(Dimension::Tag(t.clone())),
            Arg::Star => out.push(Dimension::Star),
            Arg::List(l) => out.extend(dimensions(spec, l)?),
            Arg::Lambda(e) => out.push(time_dimension(spec, e)?),
            _ => return Err(spec.err(".groupBy() takes tags, * or time(duration)")),
        }
    }
    Ok(out)
}

fn time_dimension(spec: &NodeSpec, e: &Expr) -> Result<Dimension, EngineError> {
    let e = match e {
        Expr::Lambda(inner, _) => inner,
        e => e,
    };
    let Expr::Call { name, args, .. } = e else {
        return Err(spec.err(".groupBy() takes tags, * or time(duration)"));
    };
    let dur = |e: &Expr| match e {
        Expr::Duration(d, _) => Some(*d),
        _ => None,
    };
    match (name.as_str(), args.as_slice()) {
        ("time", [l]) => dur(l).map(|length| Dimension::Time { length, offset: 0 }),
        ("time", [l, o]) => dur(l)
            .zip(dur(o))
            .map(|(length, offset)| Dimension::Time { length, offset }),
        _ => None,
    }
    .ok_or_else(|| spec.err("time() in .groupBy() takes a duration and an optional offset"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickscript::ast::Pos;
    use tickscript::pipeline::{Node, Property};

    fn node(props: Vec<Property>) -> Node {
        Node {
            id: 1,
            kind: "query".into(),
            args: vec![Arg::Str("SELECT v FROM db.rp.m".into())],
            props,
            parents: vec![0],
            pos: Pos::default(),
        }
    }

    fn prop(name: &str, args: Vec<Arg>) -> Property {
        Property {
            name: name.into(),
            args,
            props: Vec::new(),
            pos: Pos::default(),
        }
    }

    fn time_call(args: Vec<i64>) -> Arg {
        Arg::Lambda(Expr::Call {
            name: "time".into(),
            args: args
                .into_iter()
                .map(|d| Expr::Duration(d, Pos::default()))
                .collect(),
            pos: Pos::default(),
        })
    }

    #[test]
    fn time_dimension_takes_an_optional_offset() {
        let n = node(vec![
            prop("every", vec![Arg::Duration(10)]),
            prop(
                "groupBy",
                vec![time_call(vec![2_000, 1_000]), Arg::Str("cpu".into())],
            ),
        ]);
        let spec = NodeSpec {
            node: &n,
            name: "query1".into(),
        };
        let q = QueryNodeSpec::parse(1, &spec).expect("valid");
        assert_eq!(
            q.props.group_by,
            vec![
                Dimension::Time {
                    length: 2_000,
                    offset: 1_000
                },
                Dimension::Tag("cpu".into())
            ]
        );
    }

    #[test]
    fn malformed_dimensions_and_fills_are_errors() {
        let bad = [
            prop("groupBy", vec![time_call(vec![])]),
            prop("groupBy", vec![Arg::Int(3)]),
            prop("fill", vec![Arg::Bool(true)]),
        ];
        for p in bad {
            let n = node(vec![prop("every", vec![Arg::Duration(10)]), p.clone()]);
            let spec = NodeSpec {
                node: &n,
                name: "query1".into(),
            };
            let err = QueryNodeSpec::parse(1, &spec).expect_err("rejected");
            assert!(err.to_string().starts_with("query1: "), "{p:?}: {err}");
        }
    }
}
