//! Batch and query recordings (`.brpl` archives), and live replays (`replays/batch`,
//! `replays/query`): the task's `query()` nodes run against InfluxDB for every schedule tick
//! between start and stop, or one fully-qualified query runs once.
//!
//! `.brpl` is Kapacitor's format: a zip archive with one entry per query node (`0`, `1`, …
//! in pipeline order), each newline-delimited JSON, one batch per line.

use crate::api_json::{api_error, bad_request};
use crate::http::AppState;
use crate::recordings::{
    create_running, created, finish_recording, new_id, parse_json, parse_time, unavailable_response,
};
use crate::replays::{Service, Source, load_task, parse_clock, service, start_replay};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use kapacitor_ipc::Dbrp;
use kapacitor_models::time_fmt::{parse_rfc3339, rfc3339_nano};
use kapacitor_models::{Batch, FieldValue, Fields, Point, Tags};
use kapacitor_store::TaskRecord;
use kapacitor_workers::engine::{QueryNodeSpec, Task, TaskContext};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::io::{BufRead, Write};
use std::path::Path;
use tracing::info;

/// The task's `query()` nodes, as its worker would schedule them.
pub fn query_specs(task: &TaskRecord) -> Result<Vec<QueryNodeSpec>, String> {
    let vars = crate::tasks::record_vars(task)?;
    let pipeline =
        tickscript::compile(&task.script, &vars).map_err(|e| format!("invalid TICKscript: {e}"))?;
    let built = Task::new(
        &task.id,
        &pipeline,
        TaskContext {
            task_id: task.id.clone(),
            ..TaskContext::default()
        },
    )
    .map_err(|e| e.to_string())?;
    Ok(built.queries())
}

/// The pipeline indexes of the task's query nodes, in order: where a recording's sources go.
pub fn query_nodes(task: &TaskRecord) -> Result<Vec<u32>, String> {
    Ok(query_specs(task)?.iter().map(|q| q.node as u32).collect())
}

// ---- the .brpl format ----

fn field_json(v: &FieldValue) -> Value {
    match v {
        FieldValue::Float(f) => json!(f),
        FieldValue::Int(i) => json!(i),
        FieldValue::Str(s) => json!(s),
        FieldValue::Bool(b) => json!(b),
    }
}

/// One batch as a line of a `.brpl` entry (Kapacitor's `models.Batch` JSON).
pub fn batch_json(b: &Batch) -> Value {
    let points: Vec<Value> = b
        .points
        .iter()
        .map(|p| {
            let fields: Map<String, Value> = p
                .fields
                .iter()
                .map(|(k, v)| (k.clone(), field_json(v)))
                .collect();
            json!({"fields": fields, "tags": p.tags, "time": rfc3339_nano(p.time)})
        })
        .collect();
    json!({
        "name": b.name,
        "tmax": rfc3339_nano(b.time),
        "group": "",
        "byname": false,
        "tags": b.tags,
        "points": points,
    })
}

#[derive(Deserialize)]
struct BatchLine {
    #[serde(default)]
    name: String,
    #[serde(default)]
    tmax: String,
    #[serde(default)]
    tags: Option<Tags>,
    #[serde(default)]
    points: Option<Vec<PointLine>>,
}

#[derive(Deserialize)]
struct PointLine {
    #[serde(default)]
    fields: Option<Map<String, Value>>,
    #[serde(default)]
    tags: Option<Tags>,
    time: String,
}

/// A `.brpl` line back to a batch. Numbers read as floats and a point without tags takes the
/// batch's, as Kapacitor reads them.
pub fn batch_from_json(line: &str) -> Result<Batch, String> {
    let b: BatchLine = serde_json::from_str(line).map_err(|e| e.to_string())?;
    let tags = b.tags.unwrap_or_default();
    let mut points = Vec::new();
    for p in b.points.unwrap_or_default() {
        let mut fields = Fields::new();
        for (k, v) in p.fields.unwrap_or_default() {
            let fv = match v {
                Value::Number(n) => FieldValue::Float(n.as_f64().unwrap_or(0.0)),
                Value::String(s) => FieldValue::Str(s),
                Value::Bool(b) => FieldValue::Bool(b),
                Value::Null => continue,
                other => return Err(format!("field {k}: unsupported value {other}")),
            };
            fields.insert(k, fv);
        }
        let ptags = match p.tags {
            Some(t) if !t.is_empty() => t,
            _ => tags.clone(),
        };
        points.push(Point {
            name: b.name.clone(),
            tags: ptags,
            fields,
            time: parse_rfc3339(&p.time).map_err(|e| format!("point time: {e}"))?,
        });
    }
    let time = if b.tmax.is_empty() {
        points.last().map_or(0, |p| p.time)
    } else {
        parse_rfc3339(&b.tmax).map_err(|e| format!("tmax: {e}"))?
    };
    Ok(Batch {
        name: b.name,
        tags,
        time,
        points,
    })
}

/// Writes the sources as a `.brpl` archive, through a temp file.
pub fn write_brpl(path: &Path, sources: &[Vec<Batch>]) -> Result<(), String> {
    let tmp = path.with_extension("brpl.tmp");
    let write = || -> Result<(), String> {
        let file = std::fs::File::create(&tmp).map_err(|e| e.to_string())?;
        let mut zip = zip::ZipWriter::new(std::io::BufWriter::new(file));
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (i, batches) in sources.iter().enumerate() {
            zip.start_file(i.to_string(), opts)
                .map_err(|e| e.to_string())?;
            for b in batches {
                let mut line = serde_json::to_vec(&batch_json(b)).map_err(|e| e.to_string())?;
                line.push(b'\n');
                zip.write_all(&line).map_err(|e| e.to_string())?;
            }
        }
        let inner = zip.finish().map_err(|e| e.to_string())?;
        let file = inner.into_inner().map_err(|e| e.to_string())?;
        file.sync_all().map_err(|e| e.to_string())?;
        std::fs::rename(&tmp, path).map_err(|e| e.to_string())
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        format!("writing {}: {e}", path.display())
    })
}

/// Reads a `.brpl` archive: entry `i` is source `i`.
pub fn read_brpl(path: &Path) -> Result<Vec<Vec<Batch>>, String> {
    let file = std::fs::File::open(path)
        .map_err(|e| format!("opening recording {}: {e}", path.display()))?;
    let mut zip = zip::ZipArchive::new(std::io::BufReader::new(file))
        .map_err(|e| format!("reading recording {}: {e}", path.display()))?;
    let mut sources = Vec::new();
    for i in 0.. {
        let entry = match zip.by_name(&i.to_string()) {
            Ok(e) => e,
            Err(zip::result::ZipError::FileNotFound) => break,
            Err(e) => return Err(format!("reading recording entry {i}: {e}")),
        };
        let mut batches = Vec::new();
        for (n, line) in std::io::BufReader::new(entry).lines().enumerate() {
            let line = line.map_err(|e| format!("reading recording entry {i}: {e}"))?;
            if line.trim().is_empty() {
                continue;
            }
            batches.push(
                batch_from_json(&line)
                    .map_err(|e| format!("recording entry {i} line {}: {e}", n + 1))?,
            );
        }
        sources.push(batches);
    }
    Ok(sources)
}

// ---- running queries ----

/// Runs every query node for each of its ticks in `[start, stop]`; one source per node.
async fn run_task_queries(
    svc: &Service,
    specs: &[QueryNodeSpec],
    start: i64,
    stop: i64,
    cluster: &str,
) -> Result<Vec<Vec<Batch>>, String> {
    let now = crate::api_json::now_ns();
    let mut sources = Vec::with_capacity(specs.len());
    for spec in specs {
        let q = spec
            .batch_query()
            .map_err(|e| format!("{}: {e}", spec.name))?;
        let name = if cluster.is_empty() {
            spec.props.cluster.as_str()
        } else {
            cluster
        };
        let client = svc.influxdb.get(name).map_err(|e| e.to_string())?;
        let mut batches = Vec::new();
        for tick in q.ticks_between(start, stop, now) {
            batches.extend(q.run(client, tick).await.map_err(|e| e.to_string())?);
        }
        sources.push(batches);
    }
    Ok(sources)
}

/// The `"db"."rp"` of a fully-qualified `SELECT … FROM "db"."rp"."m"`.
pub fn qualified_dbrp(query: &str) -> Result<Dbrp, String> {
    const ERR: &str =
        "could not determine database and retention policy. Is the query fully qualified?";
    let lower = query.to_ascii_lowercase();
    let from = find_keyword(&lower, "from").ok_or(ERR)?;
    let rest = query[from + 4..].trim_start();
    let mut parts = Vec::new();
    let mut chars = rest.char_indices().peekable();
    let mut cur = String::new();
    while let Some((_, c)) = chars.next() {
        match c {
            '"' => {
                for (_, q) in chars.by_ref() {
                    if q == '"' {
                        break;
                    }
                    cur.push(q);
                }
            }
            '.' => parts.push(std::mem::take(&mut cur)),
            c if c.is_whitespace() || c == ',' || c == ';' => break,
            c => cur.push(c),
        }
    }
    parts.push(cur);
    if parts.len() < 3 || parts[0].is_empty() {
        return Err(ERR.into());
    }
    Ok(Dbrp {
        db: parts[0].clone(),
        rp: parts[1].clone(),
    })
}

/// Byte offset of `kw` as a whole word outside quotes.
fn find_keyword(lower: &str, kw: &str) -> Option<usize> {
    let b = lower.as_bytes();
    let mut quote: Option<u8> = None;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == b'"' || c == b'\'' => quote = Some(c),
            None => {
                let word_start = i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_');
                let end = i + kw.len();
                if word_start
                    && lower[i..].starts_with(kw)
                    && (end == b.len() || !(b[end].is_ascii_alphanumeric() || b[end] == b'_'))
                {
                    return Some(i);
                }
            }
        }
        i += 1;
    }
    None
}

/// Runs one query; its answer as batches (one per series) and the dbrp of its FROM.
async fn run_query(
    svc: &Service,
    query: &str,
    cluster: &str,
) -> Result<(Dbrp, Vec<Batch>), String> {
    let dbrp = qualified_dbrp(query)?;
    let client = svc.influxdb.get(cluster).map_err(|e| e.to_string())?;
    let results = client.query("", query).await.map_err(|e| e.to_string())?;
    let batches =
        kapacitor_influxdb::batch::results_to_batches(&results, crate::api_json::now_ns(), false)
            .map_err(|e| e.to_string())?;
    Ok((dbrp, batches))
}

/// A query's batches as stream points of `dbrp`, ordered by time.
fn as_points(dbrp: &Dbrp, batches: Vec<Batch>) -> Vec<(Dbrp, Point)> {
    let mut points: Vec<(Dbrp, Point)> = batches
        .into_iter()
        .flat_map(|b| {
            let tags = b.tags;
            b.points.into_iter().map(move |mut p| {
                for (k, v) in &tags {
                    p.tags.entry(k.clone()).or_insert_with(|| v.clone());
                }
                p
            })
        })
        .map(|p| (dbrp.clone(), p))
        .collect();
    points.sort_by_key(|(_, p)| p.time);
    points
}

/// Writes a query's answer as a stream recording (`.srpl`, gzip), through a temp file.
fn write_srpl(path: &Path, points: &[(Dbrp, Point)]) -> Result<(), String> {
    let tmp = path.with_extension("srpl.tmp");
    let write = || -> std::io::Result<()> {
        let file = std::fs::File::create(&tmp)?;
        let mut gz = flate2::write::GzEncoder::new(
            std::io::BufWriter::new(file),
            flate2::Compression::default(),
        );
        let mut buf = String::new();
        for (d, p) in points {
            buf.clear();
            buf.push_str(&d.db);
            buf.push('\n');
            buf.push_str(&d.rp);
            buf.push('\n');
            p.push_line_protocol(&mut buf, kapacitor_models::Precision::Nanosecond);
            buf.push('\n');
            gz.write_all(buf.as_bytes())?;
        }
        gz.finish()?.into_inner()?.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        format!("writing {}: {e}", path.display())
    })
}

// ---- routes ----

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct BatchBody {
    id: String,
    task: String,
    start: String,
    stop: String,
    cluster: String,
    #[serde(rename = "recording-time")]
    recording_time: bool,
    clock: String,
}

/// (start, stop) of a batch request: start required, stop defaults to now.
fn batch_range(b: &BatchBody) -> Result<(i64, i64), Response> {
    if b.start.is_empty() {
        return Err(bad_request("must provide start time"));
    }
    let start = parse_time(&b.start, "start")?;
    let stop = if b.stop.is_empty() {
        crate::api_json::now_ns()
    } else {
        parse_time(&b.stop, "stop")?
    };
    Ok((start, stop))
}

/// The task of a batch request and its query nodes; a stream task is a 400.
async fn batch_task(
    state: &AppState,
    id: &str,
    not_found: impl Fn() -> Response,
) -> Result<(TaskRecord, Vec<QueryNodeSpec>), Response> {
    let task = match crate::tasks::fetch_task(state, id).await? {
        Some((rec, _)) => rec,
        None => return Err(not_found()),
    };
    if task.task_type != "batch" {
        return Err(bad_request(&format!(
            "task {} is a {} task; this needs a batch task",
            task.id, task.task_type
        )));
    }
    let specs = query_specs(&task).map_err(|e| bad_request(&e))?;
    Ok((task, specs))
}

pub async fn record_batch(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Response, Response> {
    let svc = service().ok_or_else(unavailable_response)?;
    let b: BatchBody = parse_json(&body)?;
    let id = new_id(&b.id, "recording")?;
    let (start, stop) = batch_range(&b)?;
    let (task, specs) = batch_task(&state, &b.task, || {
        api_error(StatusCode::NOT_FOUND, "no task exists")
    })
    .await?;
    let meta = create_running(svc, &id, "batch")?;
    info!(recording = %id, task = %task.id, "batch recording started");
    tokio::spawn(async move {
        let result = match run_task_queries(svc, &specs, start, stop, &b.cluster).await {
            Ok(sources) => write_brpl(&svc.store.data_path(&id, "batch"), &sources),
            Err(e) => Err(e),
        };
        finish_recording(svc, &id, "batch", result);
    });
    Ok(created(&meta))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct QueryBody {
    id: String,
    task: String,
    query: String,
    #[serde(rename = "type")]
    kind: String,
    cluster: String,
    #[serde(rename = "recording-time")]
    recording_time: bool,
    clock: String,
}

pub async fn record_query(body: Bytes) -> Result<Response, Response> {
    let svc = service().ok_or_else(unavailable_response)?;
    let b: QueryBody = parse_json(&body)?;
    let id = new_id(&b.id, "recording")?;
    if b.query.is_empty() {
        return Err(bad_request("must provide query"));
    }
    let kind = match b.kind.as_str() {
        "stream" => "stream",
        "batch" => "batch",
        other => {
            return Err(bad_request(&format!(
                "invalid recording type {other:?}, must be \"stream\" or \"batch\""
            )));
        }
    };
    let meta = create_running(svc, &id, kind)?;
    tokio::spawn(async move {
        let result = match run_query(svc, &b.query, &b.cluster).await {
            Ok((dbrp, batches)) => {
                let path = svc.store.data_path(&id, kind);
                if kind == "stream" {
                    write_srpl(&path, &as_points(&dbrp, batches))
                } else {
                    write_brpl(&path, &[batches])
                }
            }
            Err(e) => Err(e),
        };
        finish_recording(svc, &id, kind, result);
    });
    Ok(created(&meta))
}

pub async fn replay_batch(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Response, Response> {
    let svc = service().ok_or_else(unavailable_response)?;
    let b: BatchBody = parse_json(&body)?;
    let clock = parse_clock(&b.clock)?;
    let id = new_id(&b.id, "replay")?;
    let (start, stop) = batch_range(&b)?;
    let (task, specs) = batch_task(&state, &b.task, || {
        api_error(StatusCode::NOT_FOUND, "task load: no task exists")
    })
    .await?;
    // The queries run before the replay is registered: their failure is the request's.
    let sources = run_task_queries(svc, &specs, start, stop, &b.cluster)
        .await
        .map_err(|e| api_error(StatusCode::INTERNAL_SERVER_ERROR, &e))?;
    Ok(start_replay(
        svc,
        id,
        task,
        String::new(),
        b.recording_time,
        clock,
        Source::Batches(sources),
    ))
}

pub async fn replay_query(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Response, Response> {
    let svc = service().ok_or_else(unavailable_response)?;
    let b: QueryBody = parse_json(&body)?;
    let clock = parse_clock(&b.clock)?;
    let id = new_id(&b.id, "replay")?;
    if b.query.is_empty() {
        return Err(bad_request("must provide query"));
    }
    let task = load_task(&state, &b.task).await?;
    let (dbrp, batches) = run_query(svc, &b.query, &b.cluster)
        .await
        .map_err(|e| api_error(StatusCode::INTERNAL_SERVER_ERROR, &e))?;
    let source = if task.task_type == "batch" {
        Source::Batches(vec![batches])
    } else {
        Source::Points(as_points(&dbrp, batches))
    };
    Ok(start_replay(
        svc,
        id,
        task,
        String::new(),
        b.recording_time,
        clock,
        source,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch() -> Batch {
        let mut tags = Tags::new();
        tags.insert("host".into(), "a".into());
        Batch {
            name: "cpu".into(),
            tags: tags.clone(),
            time: 20_000_000_000,
            points: vec![
                Point {
                    name: "cpu".into(),
                    tags: tags.clone(),
                    fields: [("v".to_string(), FieldValue::Float(1.5))]
                        .into_iter()
                        .collect(),
                    time: 10_000_000_000,
                },
                Point {
                    name: "cpu".into(),
                    tags,
                    fields: [("s".to_string(), FieldValue::Str("x".into()))]
                        .into_iter()
                        .collect(),
                    time: 20_000_000_000,
                },
            ],
        }
    }

    #[test]
    fn brpl_round_trips_in_kapacitors_layout() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.brpl");
        write_brpl(&path, &[vec![batch(), batch()], vec![]]).unwrap();
        let got = read_brpl(&path).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0], vec![batch(), batch()]);
        assert!(got[1].is_empty());
        // The entry is newline-delimited JSON with Kapacitor's keys.
        let mut zip = zip::ZipArchive::new(std::fs::File::open(&path).unwrap()).unwrap();
        let mut text = String::new();
        std::io::Read::read_to_string(&mut zip.by_name("0").unwrap(), &mut text).unwrap();
        let first: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(first["tmax"], "1970-01-01T00:00:20Z");
        assert_eq!(first["points"][0]["fields"]["v"], 1.5);
        assert_eq!(first["byname"], false);
    }

    #[test]
    fn points_without_tags_inherit_the_batch_tags_and_numbers_read_as_floats() {
        let b = batch_from_json(
            r#"{"name":"m","tmax":"1970-01-01T00:00:01Z","tags":{"h":"x"},"points":[{"fields":{"n":3},"time":"1970-01-01T00:00:01Z"}]}"#,
        )
        .unwrap();
        assert_eq!(b.points[0].tags.get("h").map(String::as_str), Some("x"));
        assert_eq!(b.points[0].fields["n"], FieldValue::Float(3.0));
        assert!(batch_from_json("{").is_err());
    }

    #[test]
    fn queries_must_be_fully_qualified() {
        let d = qualified_dbrp(
            r#"SELECT mean("v") FROM "tele graf"."autogen"."cpu" WHERE x = 'from a.b.c'"#,
        )
        .unwrap();
        assert_eq!((d.db.as_str(), d.rp.as_str()), ("tele graf", "autogen"));
        let d = qualified_dbrp("select v from db.rp.m").unwrap();
        assert_eq!((d.db.as_str(), d.rp.as_str()), ("db", "rp"));
        for bad in ["SELECT v FROM cpu", "SELECT v FROM rp.cpu", "SELECT 1"] {
            assert_eq!(
                qualified_dbrp(bad).unwrap_err(),
                "could not determine database and retention policy. Is the query fully qualified?"
            );
        }
    }
}
