//! `list tasks|templates|recordings|replays|topics|topic-handlers|service-tests`.

use std::fmt::Write as _;

use jiff::tz::TimeZone;

use super::{CmdResult, Ctx, Failure, all_pages, fail, patterns_or_all};
use crate::client::{ListOptions, Recording, Replay, Task, Template, Topic, format_dbrps};
use crate::commands::tasks::var_names;
use crate::output::{humanize_bytes, pad, pad_left, rfc822_in};
use crate::usage;

/// `kapacitor list <kind> [pattern...]`.
pub fn list(ctx: &mut Ctx<'_>, args: &[String]) -> CmdResult {
    let Some(kind) = args.first() else {
        return Err(ctx.usage_exit(
            "Must specify 'tasks', 'recordings', 'replays', 'topics', or 'topic-handlers'",
            usage::LIST,
        ));
    };
    let patterns = patterns_or_all(&args[1..]);
    let tz = TimeZone::system();
    let client = ctx.client;
    let text = match kind.as_str() {
        "tasks" => {
            let mut all = Vec::new();
            for p in &patterns {
                let opts = ListOptions::new(p, &["type", "status", "executing", "dbrps"]);
                all.extend(all_pages(opts, |o| client.list_tasks(o))?);
            }
            render_tasks(all)
        }
        "templates" => {
            let mut all = Vec::new();
            for p in &patterns {
                let opts = ListOptions::new(p, &["type", "vars"]);
                all.extend(all_pages(opts, |o| client.list_templates(o))?);
            }
            render_templates(all)
        }
        "recordings" => {
            let mut all = Vec::new();
            for p in &patterns {
                let opts = ListOptions::new(p, &["type", "size", "date", "status"]);
                all.extend(all_pages(opts, |o| client.list_recordings(o))?);
            }
            render_recordings(&all, &tz).map_err(Failure::Error)?
        }
        "replays" => {
            let mut all = Vec::new();
            for p in &patterns {
                let opts = ListOptions::new(p, &["task", "recording", "status", "clock", "date"]);
                all.extend(all_pages(opts, |o| client.list_replays(o))?);
            }
            render_replays(&all, &tz).map_err(Failure::Error)?
        }
        "topics" => {
            let mut all = Vec::new();
            for p in &patterns {
                all.extend(client.list_topics(p, "")?);
            }
            render_topics(&all)
        }
        "topic-handlers" => {
            let topics = client.list_topics(&patterns[0], "")?;
            let handler_patterns = patterns_or_all(&patterns[1..]);
            let mut rows = Vec::new();
            for topic in &topics {
                for p in &handler_patterns {
                    for h in client.topic_handlers(&topic.id, p)? {
                        rows.push(HandlerRow {
                            topic: topic.id.clone(),
                            id: h.id,
                            kind: h.kind,
                        });
                    }
                }
            }
            render_topic_handlers(&rows)
        }
        "service-tests" => {
            let mut s = String::from("Service Name\n");
            for p in &patterns {
                for t in client.list_service_tests(p)? {
                    let _ = writeln!(s, "{}", t.name);
                }
            }
            s
        }
        other => {
            return fail(format!(
                "cannot list '{other}' did you mean 'tasks', 'recordings', 'replays', 'topics', 'topic-handlers' or 'service-tests'?"
            ));
        }
    };
    ctx.print(&text);
    Ok(())
}

/// Width of a column: the longest value (in bytes, as Go's `len`) or the minimum, plus one.
fn width<'a>(min: usize, values: impl Iterator<Item = &'a str>) -> usize {
    values.map(str::len).fold(min, usize::max) + 1
}

/// `list tasks`: sorted by ID, `%-<maxID+1>s%-10v%-10v%-10v%s`.
pub fn render_tasks(mut tasks: Vec<Task>) -> String {
    tasks.sort_by(|a, b| a.id.cmp(&b.id));
    let w = width(2, tasks.iter().map(|t| t.id.as_str()));
    let mut s = String::new();
    let mut row = |a: &str, b: &str, c: &str, d: &str, e: &str| {
        let _ = writeln!(
            s,
            "{}{}{}{}{e}",
            pad(a, w),
            pad(b, 10),
            pad(c, 10),
            pad(d, 10)
        );
    };
    row(
        "ID",
        "Type",
        "Status",
        "Executing",
        "Databases and Retention Policies",
    );
    for t in &tasks {
        row(
            &t.id,
            &t.task_type,
            &t.status,
            &t.executing.to_string(),
            &format_dbrps(&t.dbrps),
        );
    }
    s
}

/// `list templates`: sorted by ID, vars comma-joined.
pub fn render_templates(mut templates: Vec<Template>) -> String {
    templates.sort_by(|a, b| a.id.cmp(&b.id));
    let w = width(2, templates.iter().map(|t| t.id.as_str()));
    let mut s = String::new();
    let _ = writeln!(s, "{}{}{}", pad("ID", w), pad("Type", 10), pad("Vars", 40));
    for t in &templates {
        let _ = writeln!(
            s,
            "{}{}{}",
            pad(&t.id, w),
            pad(&t.template_type, 10),
            pad(&var_names(&t.vars), 40)
        );
    }
    s
}

/// `list recordings`, in the server's order (newest first).
pub fn render_recordings(recs: &[Recording], tz: &TimeZone) -> Result<String, String> {
    let w = width(2, recs.iter().map(|r| r.id.as_str()));
    let mut s = String::new();
    let mut row = |a: &str, b: &str, c: &str, d: &str, e: &str| {
        let _ = writeln!(
            s,
            "{}{}{}{}{}",
            pad(a, w),
            pad(b, 8),
            pad(c, 10),
            pad(d, 10),
            pad(e, 23)
        );
    };
    row("ID", "Type", "Status", "Size", "Date");
    for r in recs {
        let date = rfc822_in(&r.date, tz)?;
        row(
            &r.id,
            &r.recording_type,
            &r.status,
            &humanize_bytes(r.size),
            &date,
        );
    }
    Ok(s)
}

/// `list replays`, in the server's order (newest first).
pub fn render_replays(replays: &[Replay], tz: &TimeZone) -> Result<String, String> {
    let wid = width(2, replays.iter().map(|r| r.id.as_str()));
    let wtask = width(4, replays.iter().map(|r| r.task.as_str()));
    let wrec = width(9, replays.iter().map(|r| r.recording.as_str()));
    let mut s = String::new();
    let mut row = |a: &str, b: &str, c: &str, d: &str, e: &str, f: &str| {
        let _ = writeln!(
            s,
            "{}{}{}{}{}{}",
            pad(a, wid),
            pad(b, wtask),
            pad(c, wrec),
            pad(d, 9),
            pad(e, 8),
            pad(f, 23)
        );
    };
    row("ID", "Task", "Recording", "Status", "Clock", "Date");
    for r in replays {
        let date = rfc822_in(&r.date, tz)?;
        row(&r.id, &r.task, &r.recording, &r.status, &r.clock, &date);
    }
    Ok(s)
}

/// `list topics`: `ID`, `Level`, right-aligned `Collected`.
pub fn render_topics(topics: &[Topic]) -> String {
    let wid = width(2, topics.iter().map(|t| t.id.as_str()));
    let wlevel = width(8, topics.iter().map(|t| t.level.as_str()));
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{}{}{}",
        pad("ID", wid),
        pad("Level", wlevel),
        pad_left("Collected", 10)
    );
    for t in topics {
        let _ = writeln!(
            s,
            "{}{}{}",
            pad(&t.id, wid),
            pad(&t.level, wlevel),
            pad_left(&t.collected.to_string(), 10)
        );
    }
    s
}

/// One line of `list topic-handlers`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandlerRow {
    pub topic: String,
    pub id: String,
    pub kind: String,
}

/// `list topic-handlers`: `Topic ID Kind`, each column at least 11 wide.
pub fn render_topic_handlers(rows: &[HandlerRow]) -> String {
    let wt = width(10, rows.iter().map(|r| r.topic.as_str()));
    let wi = width(10, rows.iter().map(|r| r.id.as_str()));
    let wk = width(10, rows.iter().map(|r| r.kind.as_str()));
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{}{}{}",
        pad("Topic", wt),
        pad("ID", wi),
        pad("Kind", wk)
    );
    for r in rows {
        let _ = writeln!(
            s,
            "{}{}{}",
            pad(&r.topic, wt),
            pad(&r.id, wi),
            pad(&r.kind, wk)
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tasks_table_sorted_with_id_width() {
        let tasks: Vec<Task> = serde_json::from_str(
            r#"[
                {"id":"mem","type":"batch","status":"enabled","executing":true,"dbrps":[{"db":"telegraf","rp":"autogen"},{"db":"a","rp":"b"}]},
                {"id":"cpu_alert","type":"stream","status":"disabled","executing":false,"dbrps":[{"db":"telegraf","rp":"autogen"}]}
            ]"#,
        )
        .unwrap();
        let expected = "\
ID        Type      Status    Executing Databases and Retention Policies
cpu_alert stream    disabled  false     [\"telegraf\".\"autogen\"]
mem       batch     enabled   true      [\"telegraf\".\"autogen\" \"a\".\"b\"]
";
        assert_eq!(render_tasks(tasks), expected);
    }

    #[test]
    fn empty_tasks_table_is_header_only() {
        assert_eq!(
            render_tasks(vec![]),
            "ID Type      Status    Executing Databases and Retention Policies\n"
        );
    }

    #[test]
    fn templates_table_lists_var_names() {
        let t: Vec<Template> = serde_json::from_str(
            r#"[{"id":"tmpl","type":"stream","vars":{"warn":{"type":"float","value":1},"crit":{"type":"float","value":2}}}]"#,
        )
        .unwrap();
        let expected = format!(
            "{}{}{}\n{}{}{}\n",
            pad("ID", 5),
            pad("Type", 10),
            pad("Vars", 40),
            pad("tmpl", 5),
            pad("stream", 10),
            pad("crit,warn", 40)
        );
        assert_eq!(render_templates(t), expected);
    }

    #[test]
    fn recordings_table() {
        let r: Vec<Recording> = serde_json::from_str(
            r#"[{"id":"rec1","type":"stream","size":1234,"date":"2016-03-31T11:24:55Z","status":"finished","progress":1}]"#,
        )
        .unwrap();
        let got = render_recordings(&r, &TimeZone::UTC).unwrap();
        let expected = format!(
            "{}{}{}{}{}\n{}{}{}{}{}\n",
            pad("ID", 5),
            pad("Type", 8),
            pad("Status", 10),
            pad("Size", 10),
            pad("Date", 23),
            pad("rec1", 5),
            pad("stream", 8),
            pad("finished", 10),
            pad("1.2 kB", 10),
            pad("31 Mar 16 11:24 UTC", 23),
        );
        assert_eq!(got, expected);
    }

    #[test]
    fn replays_table() {
        let r: Vec<Replay> = serde_json::from_str(
            r#"[{"id":"rp1","task":"cpu_alert","recording":"rec1","status":"running","clock":"fast","date":"2016-03-31T11:24:55Z"}]"#,
        )
        .unwrap();
        let got = render_replays(&r, &TimeZone::UTC).unwrap();
        let expected = format!(
            "{}{}{}{}{}{}\n{}{}{}{}{}{}\n",
            pad("ID", 4),
            pad("Task", 10),
            pad("Recording", 10),
            pad("Status", 9),
            pad("Clock", 8),
            pad("Date", 23),
            pad("rp1", 4),
            pad("cpu_alert", 10),
            pad("rec1", 10),
            pad("running", 9),
            pad("fast", 8),
            pad("31 Mar 16 11:24 UTC", 23),
        );
        assert_eq!(got, expected);
    }

    #[test]
    fn topics_table_right_aligns_collected() {
        let t: Vec<Topic> = serde_json::from_str(
            r#"[{"id":"main:cpu_alert:alert2","level":"CRITICAL","collected":5},{"id":"cpu","level":"OK","collected":12345}]"#,
        )
        .unwrap();
        let expected = "\
ID                    Level     Collected
main:cpu_alert:alert2 CRITICAL          5
cpu                   OK            12345
";
        assert_eq!(render_topics(&t), expected);
    }

    #[test]
    fn topic_handlers_table() {
        let rows = vec![HandlerRow {
            topic: "cpu".into(),
            id: "slack".into(),
            kind: "slack".into(),
        }];
        let expected = format!(
            "{}{}{}\n{}{}{}\n",
            pad("Topic", 11),
            pad("ID", 11),
            pad("Kind", 11),
            pad("cpu", 11),
            pad("slack", 11),
            pad("slack", 11)
        );
        assert_eq!(render_topic_handlers(&rows), expected);
    }
}
