//! The handlers an alert node of a script carries, as the specs registered on its anonymous
//! topic `main:<task>:<node>`: explicit handler properties (`.post(url)`, `.log(path)`, ...)
//! plus the configured global handlers of kinds the node does not name itself.

use crate::kinds::Action;
use crate::property::{PropertyError, global_handlers, handler_from_alert_property};
use crate::spec::{HandlerError, HandlerSpec};
use kapacitor_config::Config;
use tickscript::pipeline::Property;

/// Kapacitor's task master name, the first part of every anonymous topic.
pub const TASK_MASTER: &str = "main";

/// Properties of `|alert()` that configure the node rather than name a handler.
const NODE_PROPERTIES: &[&str] = &[
    "id",
    "message",
    "details",
    "info",
    "warn",
    "crit",
    "infoReset",
    "warnReset",
    "critReset",
    "history",
    "flapping",
    "stateChangesOnly",
    "noRecoveries",
    "all",
    "topic",
    "category",
    "inhibit",
    "levelTag",
    "levelField",
    "messageField",
    "durationField",
    "idTag",
    "idField",
    "quiet",
];

/// `main:<task>:<node>`.
pub fn anonymous_topic(task: &str, node: &str) -> String {
    format!("{TASK_MASTER}:{task}:{node}")
}

/// The prefix of every anonymous topic of a task (`main:<task>:`).
pub fn anonymous_topic_prefix(task: &str) -> String {
    format!("{TASK_MASTER}:{task}:")
}

/// Whether an alert node property names a handler (and is not `.id()`, `.crit()`, ...).
pub fn is_handler_property(name: &str) -> bool {
    !NODE_PROPERTIES.contains(&name)
}

/// The handler specs of one alert node, on its anonymous topic. Ids are the kind (`log`,
/// `post`), then `<kind>-2`, `<kind>-3` for repeats. Each spec is checked as the alert service
/// will check it (strict options, templates), so that a script with a bad handler is refused
/// when the task starts rather than failing per event.
pub fn script_handler_specs(
    task: &str,
    node: &str,
    props: &[Property],
    cfg: &Config,
) -> Result<Vec<HandlerSpec>, PropertyError> {
    let topic = anonymous_topic(task, node);
    let mut specs: Vec<HandlerSpec> = Vec::new();
    let mut named_props = Vec::new();
    for p in props.iter().filter(|p| is_handler_property(&p.name)) {
        named_props.push(p.name.as_str());
        let h = handler_from_alert_property(p)?;
        let repeats = specs.iter().filter(|s| s.kind == h.kind).count();
        let id = if repeats == 0 {
            h.kind.clone()
        } else {
            format!("{}-{}", h.kind, repeats + 1)
        };
        specs.push(h.into_spec(&topic, &id));
    }
    for g in global_handlers(cfg) {
        if !named_props.contains(&g.property) && !specs.iter().any(|s| s.kind == g.kind) {
            specs.push(HandlerSpec::new(&topic, g.kind, g.kind, Default::default()));
        }
    }
    for s in &specs {
        check_spec(s, cfg)
            .map_err(|e| PropertyError(format!("alert node {node}: handler .{}(): {e}", s.kind)))?;
    }
    Ok(specs)
}

/// Checks a spec the way registering it would (id, topic, kind, options, templates, match)
/// without starting anything.
pub fn check_spec(spec: &HandlerSpec, cfg: &Config) -> Result<(), HandlerError> {
    spec.validate()?;
    Action::build(spec, cfg, false).map_err(HandlerError::Create)?;
    if !spec.match_.trim().is_empty() {
        crate::matcher::Matcher::compile(&spec.match_).map_err(HandlerError::Create)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert_props(script: &str) -> Vec<Property> {
        let p = tickscript::compile(script, &Default::default()).expect("script compiles");
        p.nodes
            .into_iter()
            .find(|n| n.kind == "alert")
            .expect("an alert node")
            .props
    }

    #[test]
    fn explicit_handlers_get_kind_ids_on_the_anonymous_topic() {
        let props = alert_props(
            "stream|from().measurement('cpu')|alert().id('x').crit(lambda: TRUE).topic('cpu')\
             .log('/tmp/a.log').post('http://h/a').log('/tmp/b.log').mode(0644)",
        );
        let specs = script_handler_specs("t", "alert2", &props, &Config::default()).unwrap();
        let ids: Vec<(&str, &str, &str)> = specs
            .iter()
            .map(|s| (s.topic.as_str(), s.id.as_str(), s.kind.as_str()))
            .collect();
        assert_eq!(
            ids,
            [
                ("main:t:alert2", "log", "log"),
                ("main:t:alert2", "post", "post"),
                ("main:t:alert2", "log-2", "log"),
            ]
        );
        assert_eq!(specs[2].options["path"], "/tmp/b.log");
    }

    #[test]
    fn a_bad_handler_is_refused_with_the_node_name() {
        let props = alert_props(
            "stream|from().measurement('cpu')|alert().crit(lambda: TRUE).log('relative.log')",
        );
        let e = script_handler_specs("t", "alert2", &props, &Config::default()).unwrap_err();
        assert!(
            e.0.starts_with("alert node alert2: handler .log(): "),
            "{e}"
        );
    }

    #[test]
    fn node_without_handlers_has_none() {
        let props =
            alert_props("stream|from().measurement('cpu')|alert().crit(lambda: TRUE).topic('x')");
        let specs = script_handler_specs("t", "alert2", &props, &Config::default()).unwrap();
        assert!(specs.is_empty());
        assert!(!is_handler_property("inhibit"));
        assert!(is_handler_property("slack"));
    }
}
