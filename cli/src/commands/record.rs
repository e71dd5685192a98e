//! `record`, `replay`, `replay-live`, `watch` and `logs`.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use super::{CmdResult, Ctx, Failure, fail};
use crate::client::{ClientError, Recording, Replay};
use crate::flags::{FlagDef, FlagSet, Parsed};
use crate::usage;

/// How often a running recording or replay is polled, as Kapacitor's CLI does.
const POLL: Duration = Duration::from_millis(500);

const NO_WAIT: &str = "Do not wait for the recording to finish.";
const RECORDING_ID: &str = "The ID to give to this recording. If not set an random ID is chosen.";
const REPLAY_NO_WAIT: &str = "Do not wait for the replay to finish.";
const REPLAY_ID: &str = "The ID to give to this replay. If not set a random ID is chosen.";
const REAL_CLOCK: &str =
    "If set, replay the data in real time. If not set replay data as fast as possible.";
const REC_TIME: &str = "If set, use the times saved in the recording instead of present times.";
const CLUSTER: &str = "Optional named InfluxDB cluster from configuration.";

/// Parses an InfluxQL duration literal (`10s`, `1h30m`, `500ms`, `2d`, `1w`), as the `-duration`
/// and `-past` flags take.
pub fn parse_influx_duration(s: &str) -> Result<SignedDuration, String> {
    let invalid = || format!("invalid duration {s:?}");
    let bytes = s.as_bytes();
    if bytes.is_empty() {
        return Err(invalid());
    }
    let mut total: i64 = 0;
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        if start == i {
            return Err(invalid());
        }
        let n: i64 = s[start..i].parse().map_err(|_| invalid())?;
        let rest = &s[i..];
        let (unit_ns, len): (i64, usize) = if rest.starts_with("ns") {
            (1, 2)
        } else if rest.starts_with("ms") {
            (1_000_000, 2)
        } else if rest.starts_with('u') {
            (1_000, 1)
        } else if rest.starts_with('µ') {
            (1_000, 'µ'.len_utf8())
        } else if rest.starts_with('s') {
            (1_000_000_000, 1)
        } else if rest.starts_with('m') {
            (60 * 1_000_000_000, 1)
        } else if rest.starts_with('h') {
            (3_600 * 1_000_000_000, 1)
        } else if rest.starts_with('d') {
            (86_400 * 1_000_000_000, 1)
        } else if rest.starts_with('w') {
            (7 * 86_400 * 1_000_000_000, 1)
        } else {
            return Err(invalid());
        };
        i += len;
        total = n
            .checked_mul(unit_ns)
            .and_then(|d| total.checked_add(d))
            .ok_or_else(|| format!("duration {s:?} is too large"))?;
    }
    Ok(SignedDuration::from_nanos(total))
}

fn parse_time(s: &str) -> Result<Timestamp, Failure> {
    s.parse::<Timestamp>()
        .map_err(|e| Failure::Error(format!("parsing time {s:?} as RFC3339: {e}")))
}

fn add(ts: Timestamp, d: SignedDuration) -> Result<Timestamp, Failure> {
    ts.checked_add(d).map_err(|e| Failure::Error(e.to_string()))
}

/// Start and stop of a batch range from `-start`/`-stop`/`-past` (stop defaults to now, `-past`
/// counts back from stop).
fn batch_range(
    p: &Parsed,
    usage_text: &str,
    ctx: &mut Ctx<'_>,
) -> Result<(Timestamp, Timestamp), Failure> {
    let start = p.string_or_empty("start");
    let past = p.string_or_empty("past");
    if start.is_empty() && past.is_empty() {
        ctx.eprintln(usage_text);
        return fail("must set one of start or past flags.");
    }
    if !start.is_empty() && !past.is_empty() {
        ctx.eprintln(usage_text);
        return fail("cannot set both start and past flags.");
    }
    let stop = match p.string_or_empty("stop") {
        "" => Timestamp::now(),
        s => parse_time(s)?,
    };
    let start = if start.is_empty() {
        let past = parse_influx_duration(past).map_err(Failure::Error)?;
        add(stop, -past)?
    } else {
        parse_time(start)?
    };
    Ok((start, stop))
}

fn with_defaults(set: &FlagSet, text: &str) -> String {
    format!("{text}\n{}", set.defaults())
        .trim_end_matches('\n')
        .to_string()
}

fn record_stream_flags() -> FlagSet {
    FlagSet::new(vec![
        FlagDef::string(
            "task",
            "The ID of a task. Uses the dbrp value for the task.",
        ),
        FlagDef::string("duration", "How long to record the data stream."),
        FlagDef::boolean("no-wait", NO_WAIT),
        FlagDef::string("recording-id", RECORDING_ID),
    ])
}

fn record_batch_flags() -> FlagSet {
    FlagSet::new(vec![
        FlagDef::string(
            "task",
            "The ID of a task. Uses the queries contained in the task.",
        ),
        FlagDef::string("start", "The start time for the set of queries."),
        FlagDef::string(
            "stop",
            "The stop time for the set of queries (default now).",
        ),
        FlagDef::string("past", "Set start time via 'now - past'."),
        FlagDef::string("cluster", CLUSTER),
        FlagDef::boolean("no-wait", NO_WAIT),
        FlagDef::string("recording-id", RECORDING_ID),
    ])
}

fn record_query_flags() -> FlagSet {
    FlagSet::new(vec![
        FlagDef::string("query", "The query to record."),
        FlagDef::string("type", "The type of the recording to save (stream|batch)."),
        FlagDef::string("cluster", CLUSTER),
        FlagDef::boolean("no-wait", NO_WAIT),
        FlagDef::string("recording-id", RECORDING_ID),
    ])
}

/// `kapacitor record stream|batch|query [flags]`.
pub fn record(ctx: &mut Ctx<'_>, args: &[String]) -> CmdResult {
    let Some((kind, rest)) = args.split_first() else {
        ctx.eprintln(usage::RECORD);
        return Err(Failure::Exit(2));
    };
    let (set, text) = match kind.as_str() {
        "stream" => (
            record_stream_flags(),
            "Usage: kapacitor record stream [options]\n\n\tRecord a snapshot of the live data stream.\n\nOptions:\n",
        ),
        "batch" => (
            record_batch_flags(),
            "Usage: kapacitor record batch [options]\n\n\tRecord the result of a InfluxDB query from a task.\n\nOptions:\n",
        ),
        "query" => (
            record_query_flags(),
            "Usage: kapacitor record query [options]\n\n\tRecord the result of a InfluxDB query.\n\nOptions:\n",
        ),
        other => {
            return fail(format!(
                "Unknown record type {other:?}, expected 'stream', 'batch' or 'query'"
            ));
        }
    };
    let p = ctx.parse_flags(&set, rest, text)?;
    let usage_text = with_defaults(&set, text);
    let id = p.string_or_empty("recording-id").to_string();
    let (path, body) = match kind.as_str() {
        "stream" => {
            let (task, dur) = (p.string_or_empty("task"), p.string_or_empty("duration"));
            if task.is_empty() || dur.is_empty() {
                ctx.eprintln(&usage_text);
                return fail("both task and duration are required");
            }
            let dur = parse_influx_duration(dur).map_err(Failure::Error)?;
            let stop = add(Timestamp::now(), dur)?;
            (
                "stream",
                json!({"id": id, "task": task, "stop": stop.to_string()}),
            )
        }
        "batch" => {
            let task = p.string_or_empty("task");
            if task.is_empty() {
                ctx.eprintln(&usage_text);
                return fail("task is required");
            }
            let (start, stop) = batch_range(&p, &usage_text, ctx)?;
            let mut body = json!({"id": id, "task": task, "start": start.to_string(), "stop": stop.to_string()});
            if let Some(c) = p.string("cluster").filter(|c| !c.is_empty()) {
                body["cluster"] = json!(c);
            }
            ("batch", body)
        }
        _ => {
            let (query, typ) = (p.string_or_empty("query"), p.string_or_empty("type"));
            if query.is_empty() || typ.is_empty() {
                ctx.eprintln(&usage_text);
                return fail("both query and type are required");
            }
            if typ != "stream" && typ != "batch" {
                return fail(format!(
                    "invalid recording type {typ:?}, must be \"stream\" or \"batch\""
                ));
            }
            (
                "query",
                json!({"id": id, "query": query, "type": typ, "cluster": p.string_or_empty("cluster")}),
            )
        }
    };
    let recording = ctx.client.start_recording(path, &strip_empty_id(body))?;
    let recording = if p.bool("no-wait") {
        recording
    } else {
        wait_recording(ctx, recording)?
    };
    ctx.print(&format!("{}\n", recording.id));
    if recording.status == "failed" {
        return fail(if recording.error.is_empty() {
            "recording failed: unknown reason".to_string()
        } else {
            recording.error
        });
    }
    Ok(())
}

/// Leaves `id` out when empty so the server picks a random one (Go's `omitempty`).
fn strip_empty_id(mut body: Value) -> Value {
    if body.get("id").and_then(Value::as_str) == Some("")
        && let Some(map) = body.as_object_mut()
    {
        map.remove("id");
    }
    body
}

fn wait_recording(ctx: &mut Ctx<'_>, mut r: Recording) -> Result<Recording, ClientError> {
    while r.status == "running" {
        std::thread::sleep(POLL);
        let href = if r.link.href.is_empty() {
            format!(
                "{}/recordings/{}",
                crate::client::BASE_PATH,
                crate::client::encode_segment(&r.id)
            )
        } else {
            r.link.href.clone()
        };
        r = ctx.client.recording_at(&href)?;
    }
    Ok(r)
}

fn wait_replay(ctx: &mut Ctx<'_>, mut r: Replay) -> Result<Replay, ClientError> {
    while r.status == "running" {
        std::thread::sleep(POLL);
        let href = if r.link.href.is_empty() {
            format!(
                "{}/replays/{}",
                crate::client::BASE_PATH,
                crate::client::encode_segment(&r.id)
            )
        } else {
            r.link.href.clone()
        };
        r = ctx.client.replay_at(&href)?;
    }
    Ok(r)
}

/// Prints the replay ID (after waiting unless `-no-wait`) and fails if the replay failed.
fn finish_replay(ctx: &mut Ctx<'_>, replay: Replay, no_wait: bool) -> CmdResult {
    let replay = if no_wait {
        replay
    } else {
        wait_replay(ctx, replay)?
    };
    ctx.print(&format!("{}\n", replay.id));
    if replay.status == "failed" {
        return fail(if replay.error.is_empty() {
            "replay failed: unknown reason".to_string()
        } else {
            replay.error
        });
    }
    Ok(())
}

/// The flags of `replay`.
pub fn replay_flags() -> FlagSet {
    FlagSet::new(vec![
        FlagDef::string("task", "The task ID."),
        FlagDef::string("recording", "The recording ID."),
        FlagDef::boolean("real-clock", REAL_CLOCK),
        FlagDef::boolean("rec-time", REC_TIME),
        FlagDef::boolean("no-wait", REPLAY_NO_WAIT),
        FlagDef::string("replay-id", REPLAY_ID),
    ])
}

fn clock(p: &Parsed) -> &'static str {
    if p.bool("real-clock") { "real" } else { "fast" }
}

/// `kapacitor replay -task id -recording id [flags]`.
pub fn replay(ctx: &mut Ctx<'_>, args: &[String]) -> CmdResult {
    let set = replay_flags();
    let p = ctx.parse_flags(&set, args, usage::REPLAY)?;
    let usage_text = with_defaults(&set, usage::REPLAY);
    let recording = p.string_or_empty("recording");
    let task = p.string_or_empty("task");
    if recording.is_empty() {
        ctx.eprintln(&usage_text);
        return fail("must pass recording ID");
    }
    if task.is_empty() {
        ctx.eprintln(&usage_text);
        return fail("must pass task ID");
    }
    let body = json!({
        "id": p.string_or_empty("replay-id"),
        "task": task,
        "recording": recording,
        "recording-time": p.bool("rec-time"),
        "clock": clock(&p),
    });
    let replay = ctx.client.start_replay("", &strip_empty_id(body))?;
    finish_replay(ctx, replay, p.bool("no-wait"))
}

fn replay_live_batch_flags() -> FlagSet {
    FlagSet::new(vec![
        FlagDef::string("task", "The task ID."),
        FlagDef::boolean("real-clock", REAL_CLOCK),
        FlagDef::boolean("rec-time", REC_TIME),
        FlagDef::boolean("no-wait", REPLAY_NO_WAIT),
        FlagDef::string("replay-id", REPLAY_ID),
        FlagDef::string("start", "The start time for the set of queries."),
        FlagDef::string(
            "stop",
            "The stop time for the set of queries (default now).",
        ),
        FlagDef::string("past", "Set start time via 'now - past'."),
        FlagDef::string("cluster", CLUSTER),
    ])
}

fn replay_live_query_flags() -> FlagSet {
    FlagSet::new(vec![
        FlagDef::string("task", "The task ID."),
        FlagDef::boolean("real-clock", REAL_CLOCK),
        FlagDef::boolean("rec-time", REC_TIME),
        FlagDef::boolean("no-wait", REPLAY_NO_WAIT),
        FlagDef::string("replay-id", REPLAY_ID),
        FlagDef::string("query", "The query to replay."),
        FlagDef::string("cluster", CLUSTER),
    ])
}

/// `kapacitor replay-live batch|query [flags]`.
pub fn replay_live(ctx: &mut Ctx<'_>, args: &[String]) -> CmdResult {
    let Some((kind, rest)) = args.split_first() else {
        ctx.eprintln(usage::REPLAY_LIVE);
        return Err(Failure::Exit(2));
    };
    match kind.as_str() {
        "batch" => {
            let set = replay_live_batch_flags();
            let text = "Usage: kapacitor replay-live batch [options]\n\nReplay data from the queries in a batch task against the task.\n\nOptions:\n";
            let p = ctx.parse_flags(&set, rest, text)?;
            let usage_text = with_defaults(&set, text);
            let task = p.string_or_empty("task");
            if task.is_empty() {
                ctx.eprintln(&usage_text);
                return fail("task is required");
            }
            let (start, stop) = batch_range(&p, &usage_text, ctx)?;
            let mut body = json!({
                "id": p.string_or_empty("replay-id"),
                "task": task,
                "start": start.to_string(),
                "stop": stop.to_string(),
                "recording-time": p.bool("rec-time"),
                "clock": clock(&p),
            });
            if let Some(c) = p.string("cluster").filter(|c| !c.is_empty()) {
                body["cluster"] = json!(c);
            }
            let replay = ctx.client.start_replay("batch", &strip_empty_id(body))?;
            finish_replay(ctx, replay, p.bool("no-wait"))
        }
        "query" => {
            let set = replay_live_query_flags();
            let text = "Usage: kapacitor replay-live query [options]\n\nReplay the result of a querty against a task.\n\nOptions:\n";
            let p = ctx.parse_flags(&set, rest, text)?;
            let (task, query) = (p.string_or_empty("task"), p.string_or_empty("query"));
            if task.is_empty() || query.is_empty() {
                ctx.eprintln(&with_defaults(&set, text));
                return fail("both query and task are required");
            }
            let body = json!({
                "id": p.string_or_empty("replay-id"),
                "task": task,
                "query": query,
                "cluster": p.string_or_empty("cluster"),
                "recording-time": p.bool("rec-time"),
                "clock": clock(&p),
            });
            let replay = ctx.client.start_replay("query", &strip_empty_id(body))?;
            finish_replay(ctx, replay, p.bool("no-wait"))
        }
        other => fail(format!(
            "Unknown replay-live type {other:?}, expected 'batch' or 'query'"
        )),
    }
}

/// Parses `key=value` log filters.
pub fn parse_tags(args: &[String]) -> Result<Vec<(String, String)>, String> {
    args.iter()
        .map(|s| {
            let mut parts = s.split('=');
            match (parts.next(), parts.next(), parts.next()) {
                (Some(k), Some(v), None) => Ok((k.to_string(), v.to_string())),
                _ => Err(format!("bad keyvalue pair: '{s}'")),
            }
        })
        .collect()
}

fn tail(ctx: &mut Ctx<'_>, tags: Vec<(String, String)>) -> CmdResult {
    ctx.client
        .logs(&tags, ctx.out)
        .map_err(|e| Failure::Error(format!("failed to retrieve logs: {e}")))
}

/// `kapacitor watch <task> [k=v...]`.
pub fn watch(ctx: &mut Ctx<'_>, args: &[String]) -> CmdResult {
    let Some((task, rest)) = args.split_first() else {
        return fail("must provide task ID.");
    };
    let mut tags = vec![("task".to_string(), task.clone())];
    tags.extend(parse_tags(rest).map_err(Failure::Error)?);
    tail(ctx, tags)
}

/// `kapacitor logs [k=v...]`.
pub fn logs(ctx: &mut Ctx<'_>, args: &[String]) -> CmdResult {
    let tags = parse_tags(args).map_err(Failure::Error)?;
    tail(ctx, tags)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(d: SignedDuration) -> f64 {
        d.as_secs_f64()
    }

    #[test]
    fn influx_durations() {
        assert_eq!(secs(parse_influx_duration("10s").unwrap()), 10.0);
        assert_eq!(secs(parse_influx_duration("1h30m").unwrap()), 5400.0);
        assert_eq!(secs(parse_influx_duration("2d").unwrap()), 172_800.0);
        assert_eq!(secs(parse_influx_duration("1w").unwrap()), 604_800.0);
        assert_eq!(parse_influx_duration("500ms").unwrap().as_millis(), 500);
        assert_eq!(parse_influx_duration("3u").unwrap().as_nanos(), 3_000);
        assert_eq!(parse_influx_duration("3µ").unwrap().as_nanos(), 3_000);
        assert_eq!(parse_influx_duration("7ns").unwrap().as_nanos(), 7);
    }

    #[test]
    fn bad_influx_durations() {
        for bad in ["", "10", "s", "10x", "1h-5m", "99999999999999999999s"] {
            assert!(parse_influx_duration(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn log_filters() {
        let args: Vec<String> = vec!["service=http".into(), "lvl=info+".into()];
        assert_eq!(
            parse_tags(&args).unwrap(),
            vec![
                ("service".into(), "http".into()),
                ("lvl".into(), "info+".into())
            ]
        );
        assert_eq!(
            parse_tags(&["a=b=c".to_string()]).unwrap_err(),
            "bad keyvalue pair: 'a=b=c'"
        );
        assert!(parse_tags(&["novalue".to_string()]).is_err());
    }

    #[test]
    fn empty_ids_are_left_out() {
        let b = strip_empty_id(json!({"id": "", "task": "t"}));
        assert_eq!(b, json!({"task": "t"}));
        let b = strip_empty_id(json!({"id": "r1", "task": "t"}));
        assert_eq!(b["id"], "r1");
    }
}
