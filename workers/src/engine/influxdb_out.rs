//! `influxDBOut()` as the worker shell sees it: the node's configuration (to build one
//! `kapacitor_influxdb::InfluxDbOut` writer per node) and the points the node produced since
//! the last drain. The engine does no network I/O; it only prepares final points.

use super::EngineError;
use super::props::NodeSpec;
use kapacitor_models::{Point, Precision, Tags};
use tickscript::pipeline::{Arg, TaskType};

/// Kapacitor's `influxDBOut` defaults.
const DEFAULT_BUFFER: usize = 1000;
const DEFAULT_FLUSH_INTERVAL_NS: i64 = 10_000_000_000;

/// The properties of one influxDBOut node.
#[derive(Debug, Clone, PartialEq)]
pub struct InfluxDbOutSpec {
    /// Index of the node in the pipeline.
    pub node: usize,
    /// `influxdb_out3`, as in stats and the DOT view.
    pub name: String,
    /// `.cluster()`; empty = the default `[[influxdb]]`.
    pub cluster: String,
    /// `.database()`; empty = the database each stream point was written to.
    pub database: String,
    /// `.retentionPolicy()`; empty = the point's own (stream) or the database default.
    pub retention_policy: String,
    /// `.measurement()`; already applied to the drained points.
    pub measurement: String,
    pub write_consistency: String,
    pub precision: Precision,
    /// `.buffer()`, points per write (default 1000).
    pub buffer: usize,
    /// `.flushInterval()`, nanoseconds (default 10s).
    pub flush_interval_ns: i64,
    /// `.tag(k, v)`; already applied to the drained points.
    pub tags: Tags,
    /// `.create()`: create the database (and retention policy) at task start.
    pub create: bool,
}

impl InfluxDbOutSpec {
    pub(crate) fn parse(
        id: usize,
        spec: &NodeSpec,
        task_type: TaskType,
    ) -> Result<InfluxDbOutSpec, EngineError> {
        let precision = spec.prop_str("precision")?.unwrap_or_default();
        let precision = Precision::parse(&precision)
            .map_err(|e| spec.err(format!("invalid precision {:?}", e.0)))?;
        let buffer = match spec.prop_int("buffer")? {
            None => DEFAULT_BUFFER,
            Some(b) if b > 0 => b as usize,
            Some(b) => return Err(spec.err(format!(".buffer() must be positive, got {b}"))),
        };
        let flush_interval_ns = match spec.prop_duration("flushInterval")? {
            None => DEFAULT_FLUSH_INTERVAL_NS,
            Some(d) if d > 0 => d,
            Some(_) => return Err(spec.err(".flushInterval() must be positive")),
        };
        let mut tags = Tags::new();
        for p in spec.props("tag") {
            match p.args.as_slice() {
                [Arg::Str(k), Arg::Str(v)] => {
                    tags.insert(k.clone(), v.clone());
                }
                _ => return Err(spec.err(".tag() takes a key and a value")),
            }
        }
        let database = spec.prop_str("database")?.unwrap_or_default();
        // Batches carry no database of their own; Kapacitor would send every write to "" and
        // fail each one. Refusing the task says so once, at start.
        if database.is_empty() && task_type == TaskType::Batch {
            return Err(spec
                .err("influxDBOut in a batch task needs .database(): batches carry no database"));
        }
        Ok(InfluxDbOutSpec {
            node: id,
            name: spec.name.clone(),
            cluster: spec.prop_str("cluster")?.unwrap_or_default(),
            database,
            retention_policy: spec.prop_str("retentionPolicy")?.unwrap_or_default(),
            measurement: spec.prop_str("measurement")?.unwrap_or_default(),
            write_consistency: spec.prop_str("writeConsistency")?.unwrap_or_default(),
            precision,
            buffer,
            flush_interval_ns,
            tags,
            create: spec.flag("create")?,
        })
    }

    /// The writer configuration for `kapacitor_influxdb::InfluxDbOut::start`. Measurement and
    /// tags are left empty: the engine already applied them to the points it hands out.
    pub fn out_config(&self) -> kapacitor_influxdb::OutConfig {
        let mut c = kapacitor_influxdb::OutConfig {
            database: self.database.clone(),
            retention_policy: self.retention_policy.clone(),
            write_consistency: self.write_consistency.clone(),
            precision: self.precision,
            buffer: self.buffer,
            flush_interval: std::time::Duration::from_nanos(self.flush_interval_ns.max(0) as u64),
            create: self.create,
            ..Default::default()
        };
        c.max_pending = c.max_pending.max(10 * self.buffer);
        c
    }

    /// Applies `.measurement()` and `.tag()` to a point. `batch` is the name and tags of the
    /// batch the point came in: its tags are merged under the point's own, as Kapacitor does.
    pub(crate) fn finish_point(&self, p: &mut Point, batch: Option<(&str, &Tags)>) {
        if let Some((name, btags)) = batch {
            if p.name != name {
                p.name = name.to_string();
            }
            for (k, v) in btags {
                if !p.tags.contains_key(k) {
                    p.tags.insert(k.clone(), v.clone());
                }
            }
        }
        if !self.measurement.is_empty() {
            p.name.clone_from(&self.measurement);
        }
        for (k, v) in &self.tags {
            p.tags.insert(k.clone(), v.clone());
        }
    }
}

/// Points one influxDBOut node produced for one database/retention policy, in order. The
/// points are final (measurement and tags applied); hand them to the node's writer with
/// `InfluxDbOut::write_points(&database, &retention_policy, points)`.
#[derive(Debug, Clone, PartialEq)]
pub struct OutWrite {
    /// Index of the influxDBOut node (see [`InfluxDbOutSpec::node`]).
    pub node: usize,
    pub database: String,
    /// Empty = the database's default retention policy.
    pub retention_policy: String,
    pub points: Vec<Point>,
}
