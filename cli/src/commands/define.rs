//! `define`, `define-template` and `define-topic-handler`: create-or-update commands.

use std::path::Path;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::{CmdResult, Ctx, Failure, fail};
use crate::client::{CreateTask, Dbrp, HandlerSpec, TemplateSpec, UpdateTask, VAR_TYPES};
use crate::flags::{FlagDef, FlagSet};
use crate::usage;

const DBRP_USAGE: &str = "A database and retention policy pair of the form \"db\".\"rp\" the quotes are optional. The flag can be specified multiple times.";

/// The flags of `define`.
pub fn define_flags() -> FlagSet {
    FlagSet::new(vec![
        FlagDef::string("tick", "Path to the TICKscript"),
        FlagDef::string("type", "The task type (stream|batch)"),
        FlagDef::string("template", "Optional template ID"),
        FlagDef::string("vars", "Optional path to a JSON vars file"),
        FlagDef::string(
            "file",
            "Optional path to a YAML or JSON template task file. If id is given in the task file, it must match the Task id given on the command line.",
        ),
        FlagDef::boolean("no-reload", "Do not reload the task even if it is enabled"),
        FlagDef::multi("dbrp", DBRP_USAGE, |v| parse_dbrp(v).map(|_| ())),
    ])
}

/// The flags of `define-template`.
pub fn define_template_flags() -> FlagSet {
    FlagSet::new(vec![
        FlagDef::string("tick", "Path to the TICKscript"),
        FlagDef::string("type", "The template type (stream|batch)"),
    ])
}

/// Parses `"db"."rp"` with optional quotes (a quoted part may contain `\"`).
pub fn parse_dbrp(value: &str) -> Result<Dbrp, String> {
    if value.is_empty() {
        return Err("dbrp cannot be empty".to_string());
    }
    let (db, rest) = if value.starts_with('"') {
        read_quoted(value)?
    } else {
        match value.find('.') {
            Some(n) => (value[..n].to_string(), &value[n..]),
            None => {
                return Err("does not contain a '.', it must be in the form \"dbname\".\"rpname\" where the quotes are optional.".to_string());
            }
        }
    };
    let Some(rp_text) = rest.strip_prefix('.') else {
        return Err(
            "dbrp must specify retention policy, do you have a missing or extra '.'?".to_string(),
        );
    };
    let rp = if rp_text.starts_with('"') {
        let (rp, trailing) = read_quoted(rp_text)?;
        if !trailing.is_empty() {
            return Err(format!(
                "unexpected text {trailing:?} after the retention policy"
            ));
        }
        rp
    } else {
        rp_text.to_string()
    };
    if rp.is_empty() {
        return Err(
            "dbrp must specify retention policy, do you have a missing or extra '.'?".to_string(),
        );
    }
    Ok(Dbrp { db, rp })
}

/// Reads a double-quoted string at the start of `s`, unescaping `\"`; returns it and the rest.
fn read_quoted(s: &str) -> Result<(String, &str), String> {
    let mut out = String::new();
    let mut chars = s.char_indices().skip(1).peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' if matches!(chars.peek(), Some((_, '"'))) => {
                chars.next();
                out.push('"');
            }
            '"' => return Ok((out, &s[i + 1..])),
            c => out.push(c),
        }
    }
    Err(format!("unterminated quoted string in {s:?}"))
}

/// What `define <id> [flags]` asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DefineArgs {
    pub id: String,
    pub tick: Option<String>,
    pub task_type: String,
    pub template: String,
    pub vars: Option<String>,
    pub file: Option<String>,
    pub dbrps: Vec<Dbrp>,
    pub no_reload: bool,
}

/// Splits `define`'s arguments into the task ID and its flags.
///
/// Kapacitor takes the ID first and decides it is missing when the argument count is even (a
/// flag with its value being two arguments), so `define id -no-reload` wrongly fails there. Here
/// the ID is missing only when there are no arguments or the first one is one of the define
/// flags, which accepts every invocation Kapacitor accepts and also that one.
pub fn split_define_args(args: &[String], set: &FlagSet) -> Option<(String, Vec<String>)> {
    let first = args.first()?;
    if set.is_flag_arg(first) {
        return None;
    }
    Some((first.clone(), args[1..].to_vec()))
}

fn check_type(t: &str) -> Result<String, Failure> {
    match t {
        "" | "stream" | "batch" => Ok(t.to_string()),
        other => fail(format!(
            "invalid task type {other:?}, must be \"stream\" or \"batch\""
        )),
    }
}

fn read_text(path: &str) -> Result<String, Failure> {
    std::fs::read_to_string(path).map_err(|e| Failure::Error(format!("open {path}: {e}")))
}

/// Loads a `-vars` file: a JSON object of vars, or the same wrapped as `{"vars": {...}}`.
pub fn parse_vars_file(path: &str, text: &str) -> Result<Map<String, Value>, String> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| format!("invalid JSON in file {path}: {e}"))?;
    let Value::Object(mut map) = value else {
        return Err(format!(
            "invalid JSON in file {path}: expected an object of vars"
        ));
    };
    // A file holding only {"vars": {...}} (the shape of a task file) is unwrapped, unless "vars"
    // is itself a variable definition.
    let wrapped = map.len() == 1
        && map
            .get("vars")
            .and_then(Value::as_object)
            .is_some_and(|inner| !inner.get("type").is_some_and(Value::is_string));
    if wrapped && let Some(Value::Object(inner)) = map.remove("vars") {
        map = inner;
    }
    validate_vars(&map).map_err(|e| format!("invalid JSON in file {path}: {e}"))?;
    Ok(map)
}

/// Checks every var is `{"type": <known type>, "value": ...}`.
pub fn validate_vars(vars: &Map<String, Value>) -> Result<(), String> {
    for (name, v) in vars {
        let Some(obj) = v.as_object() else {
            return Err(format!(
                "var {name:?} must be an object with \"type\" and \"value\""
            ));
        };
        match obj.get("type").and_then(Value::as_str) {
            Some(t) if VAR_TYPES.contains(&t) => {}
            Some(t) => return Err(format!("unknown VarType {t} for var {name:?}")),
            None => return Err(format!("var {name:?} has no \"type\"")),
        }
    }
    Ok(())
}

/// A `-file` task file: `id`, `template-id`, `dbrps` (as `db.rp` strings) and `vars`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskFile {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(rename = "template-id", default)]
    pub template_id: Option<String>,
    #[serde(default)]
    pub dbrps: Option<Vec<String>>,
    #[serde(default)]
    pub vars: Option<Map<String, Value>>,
}

/// Which format a file is in, from its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    Yaml,
    Json,
}

pub fn file_format(path: &str) -> Option<FileFormat> {
    match Path::new(path).extension().and_then(|e| e.to_str()) {
        Some("yaml" | "yml") => Some(FileFormat::Yaml),
        Some("json") => Some(FileFormat::Json),
        _ => None,
    }
}

/// Parses a task file's text.
pub fn parse_task_file(path: &str, text: &str) -> Result<TaskFile, String> {
    let file: TaskFile = match file_format(path) {
        Some(FileFormat::Yaml) => serde_yaml_ng::from_str(text)
            .map_err(|e| format!("failed to unmarshal yaml task vars file {path:?}: {e}"))?,
        Some(FileFormat::Json) => serde_json::from_str(text)
            .map_err(|e| format!("failed to unmarshal json task vars file {path:?}: {e}"))?,
        None => return Err("bad file extension. Must be YAML or JSON".to_string()),
    };
    if let Some(vars) = &file.vars {
        validate_vars(vars).map_err(|e| format!("invalid vars in {path:?}: {e}"))?;
    }
    Ok(file)
}

/// `kapacitor define <id> [flags]`.
pub fn define(ctx: &mut Ctx<'_>, args: &[String]) -> CmdResult {
    let set = define_flags();
    let Some((id, rest)) = split_define_args(args, &set) else {
        ctx.eprintln("Must provide a task ID.");
        ctx.eprintln(usage::DEFINE);
        let _ = write!(ctx.err, "{}", set.defaults());
        return Err(Failure::Exit(2));
    };
    let p = ctx.parse_flags(&set, &rest, usage::DEFINE)?;
    let a = DefineArgs {
        id,
        tick: p.string("tick").map(str::to_string),
        task_type: p.string_or_empty("type").to_string(),
        template: p.string_or_empty("template").to_string(),
        vars: p.string("vars").map(str::to_string),
        file: p.string("file").map(str::to_string),
        dbrps: p
            .all("dbrp")
            .iter()
            .map(|d| parse_dbrp(d))
            .collect::<Result<_, _>>()
            .map_err(Failure::Error)?,
        no_reload: p.bool("no-reload"),
    };
    run_define(ctx, &a)
}

fn run_define(ctx: &mut Ctx<'_>, a: &DefineArgs) -> CmdResult {
    let task_type = check_type(&a.task_type)?;
    let existing = match ctx.client.task(&a.id, None) {
        Ok(t) => Some(t),
        Err(e) if e.is_not_found() => None,
        Err(e) => return Err(e.into()),
    };

    if let Some(path) = &a.file {
        if a.tick.is_some() || !a.template.is_empty() || a.vars.is_some() || !a.dbrps.is_empty() {
            return fail("-file cannot be combined with -tick, -template, -vars or -dbrp");
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| Failure::Error(format!("failed to open file {path}: {e}")))?;
        let file = parse_task_file(path, &text).map_err(Failure::Error)?;
        if let Some(file_id) = file.id.as_deref().filter(|i| !i.is_empty())
            && file_id != a.id
        {
            return fail(format!(
                "Task id given on command line does not match id in {path}"
            ));
        }
        let dbrps = file
            .dbrps
            .unwrap_or_default()
            .iter()
            .map(|d| parse_dbrp(d).map_err(|e| format!("invalid dbrp {d:?} in {path}: {e}")))
            .collect::<Result<Vec<_>, _>>()
            .map_err(Failure::Error)?;
        let template_id = file.template_id.unwrap_or_default();
        let vars = file.vars.unwrap_or_default();
        if existing.is_none() {
            ctx.client.create_task(&CreateTask {
                id: a.id.clone(),
                template_id,
                task_type,
                dbrps,
                vars,
                status: "disabled".to_string(),
                ..Default::default()
            })?;
        } else {
            ctx.client.update_task(
                &a.id,
                &UpdateTask {
                    template_id,
                    task_type,
                    dbrps,
                    vars,
                    ..Default::default()
                },
            )?;
        }
    } else {
        let script = match &a.tick {
            Some(path) => read_text(path)?,
            None => String::new(),
        };
        let vars = match &a.vars {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| Failure::Error(format!("failed to open file {path}: {e}")))?;
                parse_vars_file(path, &text).map_err(Failure::Error)?
            }
            None => Map::new(),
        };
        if existing.is_none() {
            ctx.client.create_task(&CreateTask {
                id: a.id.clone(),
                template_id: a.template.clone(),
                task_type,
                dbrps: a.dbrps.clone(),
                script,
                vars,
                status: "disabled".to_string(),
            })?;
        } else {
            ctx.client.update_task(
                &a.id,
                &UpdateTask {
                    template_id: a.template.clone(),
                    task_type,
                    dbrps: a.dbrps.clone(),
                    script,
                    vars,
                    status: String::new(),
                },
            )?;
        }
    }

    // The server does not restart a running task when its definition changes: reload it.
    if !a.no_reload && existing.is_some_and(|t| t.status == "enabled") {
        ctx.client.set_task_status(&a.id, "disabled")?;
        ctx.client.set_task_status(&a.id, "enabled")?;
    }
    Ok(())
}

/// `kapacitor define-template <id> [flags]`.
pub fn define_template(ctx: &mut Ctx<'_>, args: &[String]) -> CmdResult {
    let set = define_template_flags();
    let Some((id, rest)) = split_define_args(args, &set) else {
        ctx.eprintln("Must provide a template ID.");
        ctx.eprintln(usage::DEFINE_TEMPLATE);
        let _ = write!(ctx.err, "{}", set.defaults());
        return Err(Failure::Exit(2));
    };
    let p = ctx.parse_flags(&set, &rest, usage::DEFINE_TEMPLATE)?;
    let script = match p.string("tick") {
        Some(path) => read_text(path)?,
        None => String::new(),
    };
    let template_type = check_type(p.string_or_empty("type"))?;
    let exists = match ctx.client.template(&id) {
        Ok(_) => true,
        Err(e) if e.is_not_found() => false,
        Err(e) => return Err(e.into()),
    };
    if exists {
        ctx.client.update_template(
            &id,
            &TemplateSpec {
                id: String::new(),
                template_type,
                script,
            },
        )?;
    } else {
        ctx.client.create_template(&TemplateSpec {
            id,
            template_type,
            script,
        })?;
    }
    Ok(())
}

/// Parses a topic handler file (`.yaml`, `.yml` or `.json`).
pub fn parse_handler_file(path: &str, text: &str) -> Result<HandlerSpec, String> {
    let spec: HandlerSpec = match file_format(path) {
        Some(FileFormat::Yaml) => serde_yaml_ng::from_str(text)
            .map_err(|e| format!("failed to unmarshal yaml handler file {path:?}: {e}"))?,
        Some(FileFormat::Json) => serde_json::from_str(text)
            .map_err(|e| format!("failed to unmarshal json handler file {path:?}: {e}"))?,
        None => return Err("bad file extension. Must be YAML or JSON".to_string()),
    };
    if spec.topic.is_empty() {
        return Err(format!("handler file {path:?} must set \"topic\""));
    }
    if spec.id.is_empty() {
        return Err(format!("handler file {path:?} must set \"id\""));
    }
    Ok(spec)
}

/// `kapacitor define-topic-handler <file>`.
pub fn define_topic_handler(ctx: &mut Ctx<'_>, args: &[String]) -> CmdResult {
    if args.len() != 1 {
        return Err(ctx.usage_exit(
            "Must provide a path to a handler file.",
            usage::DEFINE_TOPIC_HANDLER,
        ));
    }
    let path = &args[0];
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::Error(format!("failed to open handler spec file {path:?}: {e}")))?;
    let spec = parse_handler_file(path, &text).map_err(Failure::Error)?;
    let exists = match ctx.client.topic_handler(&spec.topic, &spec.id) {
        Ok(_) => true,
        Err(e) if e.is_not_found() => false,
        Err(e) => return Err(e.into()),
    };
    if exists {
        ctx.client.replace_topic_handler(&spec)?;
    } else {
        ctx.client.create_topic_handler(&spec)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &[&str]) -> Vec<String> {
        s.iter().map(|a| a.to_string()).collect()
    }

    fn dbrp(db: &str, rp: &str) -> Dbrp {
        Dbrp {
            db: db.into(),
            rp: rp.into(),
        }
    }

    #[test]
    fn dbrp_forms() {
        assert_eq!(
            parse_dbrp("telegraf.autogen").unwrap(),
            dbrp("telegraf", "autogen")
        );
        assert_eq!(
            parse_dbrp("\"telegraf\".\"autogen\"").unwrap(),
            dbrp("telegraf", "autogen")
        );
        assert_eq!(
            parse_dbrp("\"tele.graf\".autogen").unwrap(),
            dbrp("tele.graf", "autogen")
        );
        assert_eq!(parse_dbrp("db.\"r.p\"").unwrap(), dbrp("db", "r.p"));
        assert_eq!(parse_dbrp(r#""a\"b".rp"#).unwrap(), dbrp("a\"b", "rp"));
        // Only the first '.' splits an unquoted pair.
        assert_eq!(parse_dbrp("db.rp.x").unwrap(), dbrp("db", "rp.x"));
    }

    #[test]
    fn dbrp_errors_are_clear() {
        assert_eq!(parse_dbrp("").unwrap_err(), "dbrp cannot be empty");
        assert!(
            parse_dbrp("telegraf")
                .unwrap_err()
                .starts_with("does not contain a '.'")
        );
        assert!(
            parse_dbrp("db.")
                .unwrap_err()
                .starts_with("dbrp must specify retention policy")
        );
        assert!(
            parse_dbrp("\"db\"")
                .unwrap_err()
                .starts_with("dbrp must specify retention policy")
        );
        assert!(
            parse_dbrp("\"db")
                .unwrap_err()
                .starts_with("unterminated quoted string")
        );
    }

    #[test]
    fn define_id_comes_first_and_flags_follow() {
        let set = define_flags();
        let (id, rest) =
            split_define_args(&args(&["cpu", "-tick", "cpu.tick", "-dbrp", "t.a"]), &set).unwrap();
        assert_eq!(id, "cpu");
        let p = set.parse(&rest).unwrap();
        assert_eq!(p.string("tick"), Some("cpu.tick"));
        assert_eq!(p.all("dbrp"), &args(&["t.a"])[..]);
    }

    #[test]
    fn define_odd_args_quirk() {
        let set = define_flags();
        // Kapacitor's even-count check rejects these; the ID is plainly there, so accept them.
        let (id, rest) = split_define_args(&args(&["cpu", "-no-reload"]), &set).unwrap();
        assert_eq!(id, "cpu");
        assert!(set.parse(&rest).unwrap().bool("no-reload"));
        let (_, rest) = split_define_args(&args(&["cpu", "-tick=cpu.tick"]), &set).unwrap();
        assert_eq!(set.parse(&rest).unwrap().string("tick"), Some("cpu.tick"));
        // The workaround users adopted for the quirk keeps working: parsing stops at "true".
        let (_, rest) =
            split_define_args(&args(&["cpu", "-tick", "f", "-no-reload", "true"]), &set).unwrap();
        let p = set.parse(&rest).unwrap();
        assert!(p.bool("no-reload"));
        assert_eq!(p.args, args(&["true"]));
        // No ID: nothing at all, or a flag first (Kapacitor: "Must provide a task ID.").
        assert!(split_define_args(&[], &set).is_none());
        assert!(split_define_args(&args(&["-tick", "f"]), &set).is_none());
        assert!(split_define_args(&args(&["--no-reload"]), &set).is_none());
        // Task IDs may start with '-' when they are not a flag name.
        let (id, _) = split_define_args(&args(&["-cpu-", "-tick", "f"]), &set).unwrap();
        assert_eq!(id, "-cpu-");
    }

    #[test]
    fn define_rejects_bad_dbrp_flag_with_go_message() {
        let e = define_flags()
            .parse(&args(&["-dbrp", "nodot"]))
            .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("invalid value \"nodot\" for flag -dbrp: does not contain a '.'")
        );
    }

    #[test]
    fn vars_file_bare_and_wrapped() {
        let bare = r#"{"crit": {"type": "lambda", "value": "\"usage_idle\" < 10"}}"#;
        let m = parse_vars_file("v.json", bare).unwrap();
        assert_eq!(m["crit"]["type"], "lambda");
        let wrapped = r#"{"vars": {"window": {"type": "duration", "value": "1m"}}}"#;
        let m = parse_vars_file("v.json", wrapped).unwrap();
        assert_eq!(m["window"]["value"], "1m");
        // A var that happens to be called "vars" is not unwrapped.
        let named = r#"{"vars": {"type": "string", "value": "x"}}"#;
        let m = parse_vars_file("v.json", named).unwrap();
        assert_eq!(m["vars"]["value"], "x");
    }

    #[test]
    fn vars_file_errors() {
        assert!(
            parse_vars_file("v.json", "{")
                .unwrap_err()
                .starts_with("invalid JSON in file v.json")
        );
        let e = parse_vars_file("v.json", r#"{"x": {"type": "complex", "value": 1}}"#).unwrap_err();
        assert!(e.contains("unknown VarType complex"), "{e}");
        let e = parse_vars_file("v.json", r#"{"x": 5}"#).unwrap_err();
        assert!(e.contains("must be an object"), "{e}");
        assert!(parse_vars_file("v.json", "[]").is_err());
    }

    #[test]
    fn task_file_yaml_and_json() {
        let yaml = "id: cpu\ntemplate-id: tmpl\ndbrps:\n  - telegraf.autogen\nvars:\n  measurement:\n    type: string\n    value: cpu\n";
        let f = parse_task_file("task.yaml", yaml).unwrap();
        assert_eq!(f.id.as_deref(), Some("cpu"));
        assert_eq!(f.template_id.as_deref(), Some("tmpl"));
        assert_eq!(
            f.dbrps.as_deref(),
            Some(&["telegraf.autogen".to_string()][..])
        );
        assert_eq!(f.vars.unwrap()["measurement"]["value"], "cpu");
        let json = r#"{"template-id": "tmpl", "vars": {"n": {"type": "int", "value": 3}}}"#;
        let f = parse_task_file("task.json", json).unwrap();
        assert_eq!(f.id, None);
        assert_eq!(f.vars.unwrap()["n"]["value"], 3);
        assert_eq!(
            parse_task_file("task.txt", "").unwrap_err(),
            "bad file extension. Must be YAML or JSON"
        );
        assert!(parse_task_file("task.yml", "bogus: 1\n").is_err());
    }

    #[test]
    fn handler_file_yaml_from_reference() {
        let yaml = "topic: cpu\nid: slack\nkind: slack\nmatch: changed() == TRUE\noptions:\n  channel: '#alerts'\n";
        let h = parse_handler_file("slack.yaml", yaml).unwrap();
        assert_eq!(h.topic, "cpu");
        assert_eq!(h.id, "slack");
        assert_eq!(h.kind, "slack");
        assert_eq!(h.match_expr, "changed() == TRUE");
        assert_eq!(h.options["channel"], "#alerts");
        let json = r#"{"topic":"cpu","id":"log","kind":"log","options":{"path":"/tmp/a.log"}}"#;
        assert_eq!(
            parse_handler_file("h.json", json).unwrap().options["path"],
            "/tmp/a.log"
        );
    }

    #[test]
    fn handler_file_must_name_topic_and_id() {
        let e = parse_handler_file("h.yaml", "id: x\nkind: log\n").unwrap_err();
        assert!(e.contains("must set \"topic\""), "{e}");
        let e = parse_handler_file("h.yaml", "topic: t\nkind: log\n").unwrap_err();
        assert!(e.contains("must set \"id\""), "{e}");
        assert!(
            parse_handler_file("h.yaml", "topic: [")
                .unwrap_err()
                .starts_with("failed to unmarshal yaml")
        );
        assert!(parse_handler_file("h.toml", "").is_err());
    }
}
