//! `enable`, `disable`, `reload`, `show` and `show-template`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::Value;

use super::{CmdResult, Ctx, all_pages};
use crate::client::{ListOptions, Task, Template, Var, format_dbrps};
use crate::flags::{FlagDef, FlagSet};
use jiff::tz::TimeZone;

use crate::output::{go_duration, go_float, go_json, pad, rfc822_in};
use crate::usage;

/// Sets the status of every task matching each pattern; Kapacitor's `enable`/`disable`.
fn set_status(ctx: &mut Ctx<'_>, patterns: &[String], status: &str, verb: &str) -> CmdResult {
    for pattern in patterns {
        let tasks = all_pages(ListOptions::new(pattern, &["link"]), |o| {
            ctx.client.list_tasks(o)
        })
        .map_err(|e| super::Failure::Error(format!("listing tasks: {e}")))?;
        for task in tasks {
            ctx.client
                .set_task_status(&task.id, status)
                .map_err(|e| super::Failure::Error(format!("{verb} task {}: {e}", task.id)))?;
        }
    }
    Ok(())
}

/// `kapacitor enable <id|glob>...`.
pub fn enable(ctx: &mut Ctx<'_>, args: &[String]) -> CmdResult {
    if args.is_empty() {
        return Err(ctx.usage_exit("Must pass at least one task ID", usage::ENABLE));
    }
    set_status(ctx, args, "enabled", "enabling")
}

/// `kapacitor disable <id|glob>...`.
pub fn disable(ctx: &mut Ctx<'_>, args: &[String]) -> CmdResult {
    if args.is_empty() {
        return Err(ctx.usage_exit("Must pass at least one task ID", usage::DISABLE));
    }
    set_status(ctx, args, "disabled", "disabling")
}

/// `kapacitor reload <id|glob>...`: disable then enable.
pub fn reload(ctx: &mut Ctx<'_>, args: &[String]) -> CmdResult {
    if args.is_empty() {
        return Err(ctx.usage_exit("Must pass at least one task ID", usage::RELOAD));
    }
    set_status(ctx, args, "disabled", "disabling")?;
    set_status(ctx, args, "enabled", "enabling")
}

/// The flags of `show` (parsed before the task ID).
pub fn show_flags() -> FlagSet {
    FlagSet::new(vec![FlagDef::string(
        "replay",
        "Optional replay ID. If set the task information is in the context of the running replay.",
    )])
}

/// `kapacitor show [-replay id] <task>`.
pub fn show(ctx: &mut Ctx<'_>, args: &[String]) -> CmdResult {
    let set = show_flags();
    let p = ctx.parse_flags(&set, args, usage::SHOW)?;
    if p.args.len() != 1 {
        let usage = format!("{}\n{}", usage::SHOW, set.defaults());
        return Err(ctx.usage_exit("Must specify one task ID", usage.trim_end_matches('\n')));
    }
    let task = ctx.client.task(&p.args[0], p.string("replay"))?;
    let text = render_task(&task, &TimeZone::system()).map_err(super::Failure::Error)?;
    ctx.print(&text);
    Ok(())
}

/// `kapacitor show-template <id>`.
pub fn show_template(ctx: &mut Ctx<'_>, args: &[String]) -> CmdResult {
    if args.len() != 1 {
        return Err(ctx.usage_exit("Must specify one template ID", usage::SHOW_TEMPLATE));
    }
    let template = ctx.client.template(&args[0])?;
    let text = render_template(&template, &TimeZone::system()).map_err(super::Failure::Error)?;
    ctx.print(&text);
    Ok(())
}

/// An API time as `show` prints it; a missing time is Go's zero time.
fn show_time(t: &str, tz: &TimeZone) -> Result<String, String> {
    rfc822_in(
        if t.is_empty() {
            "0001-01-01T00:00:00Z"
        } else {
            t
        },
        tz,
    )
}

/// The detail view of `show`.
pub fn render_task(t: &Task, tz: &TimeZone) -> Result<String, String> {
    let mut s = String::new();
    let _ = writeln!(s, "ID: {}", t.id);
    let _ = writeln!(s, "Error: {}", t.error);
    let _ = writeln!(s, "Template: {}", t.template_id);
    let _ = writeln!(s, "Type: {}", t.task_type);
    let _ = writeln!(s, "Status: {}", t.status);
    let _ = writeln!(s, "Executing: {}", t.executing);
    let _ = writeln!(s, "Created: {}", show_time(&t.created, tz)?);
    let _ = writeln!(s, "Modified: {}", show_time(&t.modified, tz)?);
    let _ = writeln!(s, "LastEnabled: {}", show_time(&t.last_enabled, tz)?);
    let _ = writeln!(
        s,
        "Databases Retention Policies: {}",
        format_dbrps(&t.dbrps)
    );
    let _ = writeln!(s, "TICKscript:\n{}", t.script);
    if !t.vars.is_empty() {
        s.push_str("Vars:\n");
        let _ = writeln!(
            s,
            "{}{}{}",
            pad("Name", 30),
            pad("Type", 10),
            pad("Value", 40)
        );
        for (name, v) in &t.vars {
            let value = var_value(v, false).map_err(|e| format!("invalid var {name}: {e}"))?;
            let _ = writeln!(
                s,
                "{}{}{}",
                pad(name, 30),
                pad(&v.var_type, 10),
                pad(&value, 40)
            );
        }
    }
    let _ = writeln!(s, "DOT:\n{}", t.dot);
    Ok(s)
}

/// The detail view of `show-template`.
pub fn render_template(t: &Template, tz: &TimeZone) -> Result<String, String> {
    let mut s = String::new();
    let _ = writeln!(s, "ID: {}", t.id);
    let _ = writeln!(s, "Error: {}", t.error);
    let _ = writeln!(s, "Type: {}", t.template_type);
    let _ = writeln!(s, "Created: {}", show_time(&t.created, tz)?);
    let _ = writeln!(s, "Modified: {}", show_time(&t.modified, tz)?);
    let _ = writeln!(s, "TICKscript:\n{}", t.script);
    s.push_str("Vars:\n");
    let row = |s: &mut String, a: &str, b: &str, c: &str, d: &str| {
        let _ = writeln!(
            s,
            "{}{}{}{}",
            pad(a, 30),
            pad(b, 10),
            pad(c, 40),
            pad(d, 40)
        );
    };
    row(&mut s, "Name", "Type", "Default Value", "Description");
    for (name, v) in &t.vars {
        let value = var_value(v, true).map_err(|e| format!("invalid var {name}: {e}"))?;
        row(&mut s, name, &v.var_type, &value, &v.description);
    }
    let _ = writeln!(s, "DOT:\n{}", t.dot);
    Ok(s)
}

/// Sorted var names, comma-joined (the `Vars` column of `list templates`).
pub fn var_names(vars: &BTreeMap<String, Var>) -> String {
    vars.keys().cloned().collect::<Vec<_>>().join(",")
}

/// A var's value as Go's `%v` prints the client's decoded value: durations as `1m0s`, floats
/// in `%g` style, lists as `[a, b]`. A template var without a default is `<required>`.
pub fn var_value(v: &Var, template: bool) -> Result<String, String> {
    if v.value.is_null() {
        return Ok(if template { "<required>" } else { "<nil>" }.to_string());
    }
    match (v.var_type.as_str(), &v.value) {
        ("duration", Value::Number(n)) => match n.as_i64() {
            Some(ns) => Ok(go_duration(ns)),
            None => Err(format!("expected int nanoseconds, got {n}")),
        },
        ("float", Value::Number(n)) => Ok(go_float(n.as_f64().unwrap_or(0.0))),
        ("list", Value::Array(items)) => {
            let mut parts = Vec::with_capacity(items.len());
            for item in items {
                match (item.get("type").and_then(Value::as_str), item.get("value")) {
                    (Some("string"), Some(Value::String(s))) => parts.push(s.clone()),
                    (Some("string"), _) => return Err("non string value in string var".into()),
                    (Some("star"), _) => parts.push("*".to_string()),
                    (t, _) => {
                        return Err(format!(
                            "lists can only contain strings or a star, got {}",
                            t.unwrap_or("unknown")
                        ));
                    }
                }
            }
            Ok(format!("[{}]", parts.join(", ")))
        }
        (_, Value::String(s)) => Ok(s.clone()),
        (_, Value::Bool(b)) => Ok(b.to_string()),
        (_, Value::Number(n)) => Ok(match n.as_i64() {
            Some(i) => i.to_string(),
            None => go_float(n.as_f64().unwrap_or(0.0)),
        }),
        (_, other) => Ok(go_json(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The task object of kapacitor-oss.md §1.4, with vars added to exercise the table.
    const TASK: &str = r#"{
        "link": {"rel": "self", "href": "/kapacitor/v1/tasks/cpu_alert"},
        "id": "cpu_alert",
        "template-id": "",
        "type": "stream",
        "dbrps": [{"db": "telegraf", "rp": "autogen"}],
        "script": "stream\n    |from()\n        .measurement('cpu')\n",
        "vars": {},
        "dot": "digraph cpu_alert {\nstream0 -> from1;\n}",
        "status": "disabled",
        "executing": false,
        "error": "",
        "stats": {},
        "created": "2016-03-31T11:24:55.526388889Z",
        "modified": "2016-03-31T11:24:55.526388889Z",
        "last-enabled": "0001-01-01T00:00:00Z"
    }"#;

    fn task() -> Task {
        serde_json::from_str(TASK).unwrap()
    }

    #[test]
    fn show_layout_matches_kapacitor() {
        let got = render_task(&task(), &TimeZone::UTC).unwrap();
        let expected = "ID: cpu_alert
Error: 
Template: 
Type: stream
Status: disabled
Executing: false
Created: 31 Mar 16 11:24 UTC
Modified: 31 Mar 16 11:24 UTC
LastEnabled: 01 Jan 01 00:00 UTC
Databases Retention Policies: [\"telegraf\".\"autogen\"]
TICKscript:
stream
    |from()
        .measurement('cpu')

DOT:
digraph cpu_alert {
stream0 -> from1;
}
";
        assert_eq!(got, expected);
    }

    #[test]
    fn show_prints_vars_table_sorted() {
        let mut t = task();
        t.vars = serde_json::from_str(
            r#"{
                "warn": {"type": "float", "value": 80.0, "description": ""},
                "crit": {"type": "lambda", "value": "\"usage_idle\" < 10", "description": ""},
                "period": {"type": "duration", "value": 60000000000, "description": ""},
                "groups": {"type": "list", "value": [{"type":"string","value":"host"},{"type":"star","value":null}], "description": ""}
            }"#,
        )
        .unwrap();
        let got = render_task(&t, &TimeZone::UTC).unwrap();
        let table = format!(
            "Vars:\n{}{}{}\n{}{}{}\n{}{}{}\n{}{}{}\n{}{}{}\nDOT:\n",
            pad("Name", 30),
            pad("Type", 10),
            pad("Value", 40),
            pad("crit", 30),
            pad("lambda", 10),
            pad("\"usage_idle\" < 10", 40),
            pad("groups", 30),
            pad("list", 10),
            pad("[host, *]", 40),
            pad("period", 30),
            pad("duration", 10),
            pad("1m0s", 40),
            pad("warn", 30),
            pad("float", 10),
            pad("80", 40),
        );
        assert!(got.contains(&table), "{got}");
    }

    #[test]
    fn show_rejects_bad_times() {
        let mut t = task();
        t.created = "not a time".into();
        assert!(
            render_task(&t, &TimeZone::UTC)
                .unwrap_err()
                .contains("not a time")
        );
    }

    #[test]
    fn show_template_marks_required_vars() {
        let tmpl: Template = serde_json::from_str(
            r#"{"id":"tmpl","type":"batch","script":"batch\n","dot":"digraph tmpl {\n}",
                "error":"","created":"2016-03-31T11:24:55Z","modified":"2016-03-31T11:24:55Z",
                "vars":{"measurement":{"type":"string","value":null,"description":"what to read"},
                        "n":{"type":"int","value":3,"description":""}}}"#,
        )
        .unwrap();
        let got = render_template(&tmpl, &TimeZone::UTC).unwrap();
        let mut expected = String::from(
            "ID: tmpl\nError: \nType: batch\nCreated: 31 Mar 16 11:24 UTC\nModified: 31 Mar 16 11:24 UTC\nTICKscript:\nbatch\n\nVars:\n",
        );
        expected += &format!(
            "{}{}{}{}\n",
            pad("Name", 30),
            pad("Type", 10),
            pad("Default Value", 40),
            pad("Description", 40)
        );
        expected += &format!(
            "{}{}{}{}\n",
            pad("measurement", 30),
            pad("string", 10),
            pad("<required>", 40),
            pad("what to read", 40)
        );
        expected += &format!(
            "{}{}{}{}\n",
            pad("n", 30),
            pad("int", 10),
            pad("3", 40),
            pad("", 40)
        );
        expected += "DOT:\ndigraph tmpl {\n}\n";
        assert_eq!(got, expected);
    }

    #[test]
    fn var_values_print_like_go() {
        let v = |t: &str, val: Value| Var {
            var_type: t.into(),
            value: val,
            description: String::new(),
        };
        assert_eq!(
            var_value(&v("bool", Value::Bool(true)), false).unwrap(),
            "true"
        );
        assert_eq!(
            var_value(&v("int", serde_json::json!(42)), false).unwrap(),
            "42"
        );
        assert_eq!(
            var_value(&v("float", serde_json::json!(0.5)), false).unwrap(),
            "0.5"
        );
        assert_eq!(
            var_value(
                &v("duration", serde_json::json!(5_400_000_000_000i64)),
                false
            )
            .unwrap(),
            "1h30m0s"
        );
        assert_eq!(
            var_value(&v("regex", serde_json::json!("^cpu")), false).unwrap(),
            "^cpu"
        );
        assert_eq!(var_value(&v("star", Value::Null), false).unwrap(), "<nil>");
        assert_eq!(
            var_value(&v("string", Value::Null), true).unwrap(),
            "<required>"
        );
        let bad = v("list", serde_json::json!([{"type": "int", "value": 1}]));
        assert_eq!(
            var_value(&bad, false).unwrap_err(),
            "lists can only contain strings or a star, got int"
        );
    }
}
