//! The catalog of pipeline nodes: for every chaining method the node it creates (its name
//! prefix in DOT and stats, its arguments, the chaining methods it allows after it) and its
//! property methods with their arguments. Alert handlers are properties that open a
//! sub-object: the properties that follow apply to the handler until a property of the alert
//! itself comes again.
//!
//! Argument signatures are short strings, one letter per argument:
//! `s` string, `i` int, `f` float (an int is accepted and converted), `b` bool, `d` duration,
//! `l` lambda, `r` regex, `t` tag name or `*`, `g` query group-by dimension (tag, `*` or
//! `time(d)`), `c` int or duration (`sample`), `x` any scalar value, `n` another node.
//! A suffix `?` makes the argument optional, `*` repeats it zero or more times, `+` one or
//! more times.

/// Which chaining methods a node accepts after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chains {
    /// Every chaining method of the catalog (most nodes).
    All,
    /// Only `stats` and `deadman` (output nodes like `influxDBOut`).
    StatsOnly,
    /// Only the listed methods (plus `stats` and `deadman`).
    Only(&'static [&'static str]),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edge {
    Stream,
    Batch,
    /// Same as the parent's.
    Same,
    None,
}

#[derive(Debug, Clone, Copy)]
pub struct PropSpec {
    pub name: &'static str,
    pub args: &'static str,
    /// For handler properties: the properties of the handler they open.
    pub handler: Option<&'static [PropSpec]>,
}

#[derive(Debug)]
pub struct NodeSpec {
    /// The chaining method as written in scripts.
    pub method: &'static str,
    /// Name prefix in DOT and stats (`window` → `window2`, `httpOut` → `http_out5`).
    pub desc: &'static str,
    pub args: &'static str,
    pub chains: Chains,
    pub props: &'static [PropSpec],
    pub provides: Edge,
}

const fn p(name: &'static str, args: &'static str) -> PropSpec {
    PropSpec {
        name,
        args,
        handler: None,
    }
}

const fn h(name: &'static str, args: &'static str, props: &'static [PropSpec]) -> PropSpec {
    PropSpec {
        name,
        args,
        handler: Some(props),
    }
}

const fn node(
    method: &'static str,
    desc: &'static str,
    args: &'static str,
    chains: Chains,
    props: &'static [PropSpec],
    provides: Edge,
) -> NodeSpec {
    NodeSpec {
        method,
        desc,
        args,
        chains,
        props,
        provides,
    }
}

/// Property every node has.
pub const COMMON_PROPS: &[PropSpec] = &[p("quiet", "")];

const INFLUXQL_PROPS: &[PropSpec] = &[p("as", "s"), p("usePointTimes", "")];

const FROM_PROPS: &[PropSpec] = &[
    p("database", "s"),
    p("retentionPolicy", "s"),
    p("measurement", "s"),
    p("where", "l"),
    p("groupBy", "t*"),
    p("groupByMeasurement", ""),
    p("truncate", "d"),
    p("round", "d"),
];

const QUERY_PROPS: &[PropSpec] = &[
    p("period", "d"),
    p("every", "d"),
    p("cron", "s"),
    p("offset", "d"),
    p("align", ""),
    p("alignGroup", ""),
    p("groupBy", "g*"),
    p("groupByMeasurement", ""),
    p("fill", "x"),
    p("cluster", "s"),
];

const QUERY_FLUX_PROPS: &[PropSpec] = &[
    p("period", "d"),
    p("every", "d"),
    p("cron", "s"),
    p("offset", "d"),
    p("align", ""),
    p("cluster", "s"),
    p("org", "s"),
    p("orgID", "s"),
];

const WINDOW_PROPS: &[PropSpec] = &[
    p("period", "d"),
    p("every", "d"),
    p("periodCount", "i"),
    p("everyCount", "i"),
    p("align", ""),
    p("fillPeriod", ""),
];

const EVAL_PROPS: &[PropSpec] = &[p("as", "s+"), p("tags", "s+"), p("keep", "s*")];

const GROUP_BY_PROPS: &[PropSpec] = &[p("byMeasurement", ""), p("exclude", "s+")];

const DERIVATIVE_PROPS: &[PropSpec] = &[p("as", "s"), p("unit", "d"), p("nonNegative", "")];

const LOG_PROPS: &[PropSpec] = &[p("level", "s"), p("prefix", "s")];

const DEFAULT_PROPS: &[PropSpec] = &[p("field", "s,x"), p("tag", "s,s")];

const DELETE_PROPS: &[PropSpec] = &[p("field", "s"), p("tag", "s")];

const JOIN_PROPS: &[PropSpec] = &[
    p("as", "s+"),
    p("on", "s*"),
    p("delimiter", "s"),
    p("tolerance", "d"),
    p("fill", "x"),
    p("streamName", "s"),
    p("deleteAll", "b?"),
];

const UNION_PROPS: &[PropSpec] = &[p("rename", "s")];

const COMBINE_PROPS: &[PropSpec] = &[
    p("as", "s+"),
    p("delimiter", "s"),
    p("tolerance", "d"),
    p("max", "i"),
];

const FLATTEN_PROPS: &[PropSpec] = &[
    p("on", "s*"),
    p("delimiter", "s"),
    p("tolerance", "d"),
    p("dropOriginalFieldName", "b?"),
];

const STATE_DURATION_PROPS: &[PropSpec] = &[p("as", "s"), p("unit", "d")];

const STATE_COUNT_PROPS: &[PropSpec] = &[p("as", "s")];

const HTTP_POST_PROPS: &[PropSpec] = &[
    p("endpoint", "s"),
    p("header", "s,s"),
    p("captureResponse", ""),
    p("codeField", "s"),
    p("timeout", "d"),
    p("skipSSLVerification", ""),
];

const INFLUXDB_OUT_PROPS: &[PropSpec] = &[
    p("cluster", "s"),
    p("database", "s"),
    p("retentionPolicy", "s"),
    p("measurement", "s"),
    p("writeConsistency", "s"),
    p("precision", "s"),
    p("buffer", "i"),
    p("flushInterval", "d"),
    p("tag", "s,s"),
    p("create", ""),
];

const LOOPBACK_PROPS: &[PropSpec] = &[
    p("database", "s"),
    p("retentionPolicy", "s"),
    p("measurement", "s"),
    p("tag", "s,s"),
];

const SIDELOAD_PROPS: &[PropSpec] = &[
    p("source", "s"),
    p("order", "s*"),
    p("field", "s,x"),
    p("tag", "s,s"),
];

const BARRIER_PROPS: &[PropSpec] = &[p("idle", "d"), p("period", "d"), p("delete", "b?")];

const STATS_PROPS: &[PropSpec] = &[p("align", "")];

const AUTOSCALE_COMMON: [PropSpec; 7] = [
    p("cluster", "s"),
    p("currentField", "s"),
    p("max", "i"),
    p("min", "i"),
    p("replicas", "l"),
    p("increaseCooldown", "d"),
    p("decreaseCooldown", "d"),
];

const K8S_PROPS: &[PropSpec] = &[
    AUTOSCALE_COMMON[0],
    AUTOSCALE_COMMON[1],
    AUTOSCALE_COMMON[2],
    AUTOSCALE_COMMON[3],
    AUTOSCALE_COMMON[4],
    AUTOSCALE_COMMON[5],
    AUTOSCALE_COMMON[6],
    p("namespace", "s"),
    p("kind", "s"),
    p("resourceName", "s"),
    p("resourceNameTag", "s"),
    p("namespaceTag", "s"),
    p("kindTag", "s"),
];

const SWARM_PROPS: &[PropSpec] = &[
    AUTOSCALE_COMMON[0],
    AUTOSCALE_COMMON[1],
    AUTOSCALE_COMMON[2],
    AUTOSCALE_COMMON[3],
    AUTOSCALE_COMMON[4],
    AUTOSCALE_COMMON[5],
    AUTOSCALE_COMMON[6],
    p("serviceName", "s"),
    p("serviceNameTag", "s"),
    p("outputServiceNameTag", "s"),
];

const EC2_PROPS: &[PropSpec] = &[
    AUTOSCALE_COMMON[0],
    AUTOSCALE_COMMON[1],
    AUTOSCALE_COMMON[2],
    AUTOSCALE_COMMON[3],
    AUTOSCALE_COMMON[4],
    AUTOSCALE_COMMON[5],
    AUTOSCALE_COMMON[6],
    p("groupName", "s"),
    p("groupNameTag", "s"),
    p("outputGroupNameTag", "s"),
];

// Alert handlers (the properties of each handler object).
const POST_HANDLER: &[PropSpec] = &[
    p("endpoint", "s"),
    p("header", "s,s"),
    p("captureResponse", ""),
    p("timeout", "d"),
    p("skipSSLVerification", ""),
];
const NO_PROPS: &[PropSpec] = &[];
const EMAIL_HANDLER: &[PropSpec] = &[p("to", "s*"), p("toTemplates", "s*")];
const LOG_HANDLER: &[PropSpec] = &[p("mode", "i")];
const VICTOROPS_HANDLER: &[PropSpec] = &[p("routingKey", "s")];
const PAGERDUTY_HANDLER: &[PropSpec] = &[p("serviceKey", "s")];
const PAGERDUTY2_HANDLER: &[PropSpec] = &[p("routingKey", "s"), p("link", "s,s?")];
const PUSHOVER_HANDLER: &[PropSpec] = &[
    p("userKey", "s"),
    p("device", "s"),
    p("title", "s"),
    p("URL", "s"),
    p("URLTitle", "s"),
    p("sound", "s"),
];
const SENSU_HANDLER: &[PropSpec] = &[p("source", "s"), p("handlers", "s*"), p("metadata", "s,x")];
const SLACK_HANDLER: &[PropSpec] = &[
    p("workspace", "s"),
    p("channel", "s"),
    p("username", "s"),
    p("iconEmoji", "s"),
];
const DISCORD_HANDLER: &[PropSpec] = &[
    p("workspace", "s"),
    p("username", "s"),
    p("avatarURL", "s"),
    p("embedTitle", "s"),
];
const BIGPANDA_HANDLER: &[PropSpec] = &[
    p("appKey", "s"),
    p("primaryProperty", "s"),
    p("secondaryProperty", "s"),
    p("topic", "s"),
    p("host", "s"),
    p("attribute", "s,x"),
];
const TELEGRAM_HANDLER: &[PropSpec] = &[
    p("chatId", "s"),
    p("parseMode", "s"),
    p("disableWebPagePreview", ""),
    p("disableNotification", ""),
];
const HIPCHAT_HANDLER: &[PropSpec] = &[p("room", "s"), p("token", "s")];
const ALERTA_HANDLER: &[PropSpec] = &[
    p("token", "s"),
    p("resource", "s"),
    p("event", "s"),
    p("environment", "s"),
    p("group", "s"),
    p("value", "s"),
    p("origin", "s"),
    p("services", "s*"),
    p("correlated", "s*"),
    p("attribute", "s,x"),
    p("timeout", "d"),
];
const OPSGENIE_HANDLER: &[PropSpec] = &[p("teams", "s*"), p("recipients", "s*")];
const MQTT_HANDLER: &[PropSpec] = &[p("brokerName", "s"), p("qos", "i"), p("retained", "b?")];
const SNMP_HANDLER: &[PropSpec] = &[p("data", "s,s,s")];
const KAFKA_HANDLER: &[PropSpec] = &[
    p("cluster", "s"),
    p("kafkaTopic", "s"),
    p("template", "s"),
    p("partitionHashAlgorithm", "s"),
    p("disablePartitionById", ""),
];
const TEAMS_HANDLER: &[PropSpec] = &[p("channelURL", "s")];
const SERVICENOW_HANDLER: &[PropSpec] = &[
    p("source", "s"),
    p("node", "s"),
    p("type", "s"),
    p("resource", "s"),
    p("metricName", "s"),
    p("messageKey", "s"),
    p("additionalInfo", "s,x"),
];
const ZENOSS_HANDLER: &[PropSpec] = &[
    p("action", "s"),
    p("method", "s"),
    p("type", "s"),
    p("tid", "i"),
    p("summary", "s"),
    p("device", "s"),
    p("component", "s"),
    p("eventClassKey", "s"),
    p("eventClass", "s"),
    // The spellings of Kapacitor's documentation.
    p("evclasskey", "s"),
    p("evclass", "s"),
    p("collector", "s"),
    p("message", "s"),
    p("customField", "s,x"),
];

const ALERT_PROPS: &[PropSpec] = &[
    p("topic", "s"),
    p("id", "s"),
    p("message", "s"),
    p("details", "s"),
    p("info", "l"),
    p("warn", "l"),
    p("crit", "l"),
    p("infoReset", "l"),
    p("warnReset", "l"),
    p("critReset", "l"),
    p("history", "i"),
    p("levelTag", "s"),
    p("levelField", "s"),
    p("messageField", "s"),
    p("durationField", "s"),
    p("idTag", "s"),
    p("idField", "s"),
    p("all", ""),
    p("noRecoveries", ""),
    p("inhibit", "s,s*"),
    p("category", "s"),
    p("stateChangesOnly", "d?"),
    p("flapping", "f,f"),
    h("post", "s*", POST_HANDLER),
    h("tcp", "s", NO_PROPS),
    h("email", "s*", EMAIL_HANDLER),
    h("exec", "s,s*", NO_PROPS),
    h("log", "s", LOG_HANDLER),
    h("victorOps", "", VICTOROPS_HANDLER),
    h("pagerDuty", "", PAGERDUTY_HANDLER),
    h("pagerDuty2", "", PAGERDUTY2_HANDLER),
    h("pushover", "", PUSHOVER_HANDLER),
    h("sensu", "", SENSU_HANDLER),
    h("slack", "", SLACK_HANDLER),
    h("discord", "", DISCORD_HANDLER),
    h("bigPanda", "", BIGPANDA_HANDLER),
    h("telegram", "", TELEGRAM_HANDLER),
    h("hipChat", "", HIPCHAT_HANDLER),
    h("alerta", "", ALERTA_HANDLER),
    h("opsGenie", "", OPSGENIE_HANDLER),
    h("opsGenie2", "", OPSGENIE_HANDLER),
    h("talk", "", NO_PROPS),
    h("mqtt", "s", MQTT_HANDLER),
    h("snmpTrap", "s", SNMP_HANDLER),
    h("kafka", "", KAFKA_HANDLER),
    h("teams", "", TEAMS_HANDLER),
    h("serviceNow", "", SERVICENOW_HANDLER),
    h("zenoss", "", ZENOSS_HANDLER),
];

use Chains::{All, StatsOnly};
use Edge::{Batch, Same, Stream};

/// Source nodes. They are not created by a chaining method but exist from the start of a
/// task, as `stream` or `batch`.
pub const STREAM: NodeSpec = node("stream", "stream", "", Chains::Only(&["from"]), &[], Stream);
pub const BATCH: NodeSpec = node(
    "batch",
    "batch",
    "",
    Chains::Only(&["query", "queryFlux"]),
    &[],
    Batch,
);

/// Every node a chaining method (`|name(...)`) can create.
pub const NODES: &[NodeSpec] = &[
    node("from", "from", "", All, FROM_PROPS, Stream),
    node("query", "query", "s", All, QUERY_PROPS, Batch),
    node("queryFlux", "query_flux", "s", All, QUERY_FLUX_PROPS, Batch),
    node("where", "where", "l", All, &[], Same),
    node("eval", "eval", "l+", All, EVAL_PROPS, Same),
    node("groupBy", "groupby", "t*", All, GROUP_BY_PROPS, Same),
    node("window", "window", "", All, WINDOW_PROPS, Batch),
    node("barrier", "barrier", "", All, BARRIER_PROPS, Same),
    node("sample", "sample", "c", All, &[], Same),
    node("derivative", "derivative", "s", All, DERIVATIVE_PROPS, Same),
    node("changeDetect", "changeDetect", "s+", All, &[], Same),
    node("shift", "shift", "d", All, &[], Same),
    node("log", "log", "", All, LOG_PROPS, Same),
    node("default", "default", "", All, DEFAULT_PROPS, Same),
    node("delete", "delete", "", All, DELETE_PROPS, Same),
    node("join", "join", "n+", All, JOIN_PROPS, Same),
    node("union", "union", "n*", All, UNION_PROPS, Same),
    node("combine", "combine", "l+", All, COMBINE_PROPS, Stream),
    node("flatten", "flatten", "", All, FLATTEN_PROPS, Same),
    node(
        "stateDuration",
        "state_duration",
        "l",
        All,
        STATE_DURATION_PROPS,
        Same,
    ),
    node(
        "stateCount",
        "state_count",
        "l",
        All,
        STATE_COUNT_PROPS,
        Same,
    ),
    node("alert", "alert", "", All, ALERT_PROPS, Same),
    node("httpOut", "http_out", "s", All, &[], Same),
    node("httpPost", "http_post", "s*", All, HTTP_POST_PROPS, Same),
    node(
        "influxDBOut",
        "influxdb_out",
        "",
        StatsOnly,
        INFLUXDB_OUT_PROPS,
        Edge::None,
    ),
    node(
        "kapacitorLoopback",
        "kapacitor_loopback",
        "",
        StatsOnly,
        LOOPBACK_PROPS,
        Edge::None,
    ),
    node("sideload", "sideload", "", All, SIDELOAD_PROPS, Same),
    node("trickle", "trickle", "", All, &[], Stream),
    node("k8sAutoscale", "k8s_autoscale", "", All, K8S_PROPS, Stream),
    node(
        "swarmAutoscale",
        "swarm_autoscale",
        "",
        All,
        SWARM_PROPS,
        Stream,
    ),
    node("ec2Autoscale", "ec2_autoscale", "", All, EC2_PROPS, Stream),
    node("stats", "stats", "d", All, STATS_PROPS, Stream),
    // Sugar for stats → derivative → alert; kept as one node, the engine expands it. It
    // returns the alert, so it takes the alert's properties.
    node("deadman", "deadman", "f,d,l*", All, ALERT_PROPS, Stream),
    // InfluxQL functions.
    node("count", "count", "s", All, INFLUXQL_PROPS, Stream),
    node("distinct", "distinct", "s", All, INFLUXQL_PROPS, Batch),
    node("mean", "mean", "s", All, INFLUXQL_PROPS, Stream),
    node("median", "median", "s", All, INFLUXQL_PROPS, Stream),
    node("mode", "mode", "s", All, INFLUXQL_PROPS, Stream),
    node("spread", "spread", "s", All, INFLUXQL_PROPS, Stream),
    node("sum", "sum", "s", All, INFLUXQL_PROPS, Stream),
    node("first", "first", "s", All, INFLUXQL_PROPS, Stream),
    node("last", "last", "s", All, INFLUXQL_PROPS, Stream),
    node("min", "min", "s", All, INFLUXQL_PROPS, Stream),
    node("max", "max", "s", All, INFLUXQL_PROPS, Stream),
    node("stddev", "stddev", "s", All, INFLUXQL_PROPS, Stream),
    node(
        "percentile",
        "percentile",
        "s,f",
        All,
        INFLUXQL_PROPS,
        Stream,
    ),
    node("top", "top", "i,s,s*", All, INFLUXQL_PROPS, Batch),
    node("bottom", "bottom", "i,s,s*", All, INFLUXQL_PROPS, Batch),
    node("elapsed", "elapsed", "s,d", All, INFLUXQL_PROPS, Same),
    node("difference", "difference", "s", All, INFLUXQL_PROPS, Same),
    node(
        "movingAverage",
        "movingAverage",
        "s,i",
        All,
        INFLUXQL_PROPS,
        Same,
    ),
    node(
        "cumulativeSum",
        "cumulativeSum",
        "s",
        All,
        INFLUXQL_PROPS,
        Same,
    ),
    node(
        "holtWinters",
        "holtWinters",
        "s,i,i,d",
        All,
        INFLUXQL_PROPS,
        Batch,
    ),
    node(
        "holtWintersWithFit",
        "holtWintersWithFit",
        "s,i,i,d",
        All,
        INFLUXQL_PROPS,
        Batch,
    ),
];

/// The node spec for a chaining method, if there is one.
pub fn node_spec(method: &str) -> Option<&'static NodeSpec> {
    NODES.iter().find(|n| n.method == method)
}

/// The spec of an existing node by its kind (as stored in `pipeline::Node::kind`).
/// `None` for UDF nodes (`udf:<name>`), whose options are declared by the UDF process.
pub fn spec_for_kind(kind: &str) -> Option<&'static NodeSpec> {
    match kind {
        "stream" => Some(&STREAM),
        "batch" => Some(&BATCH),
        _ => node_spec(kind),
    }
}

impl NodeSpec {
    pub fn allows_chain(&self, method: &str) -> bool {
        if method == "stats" || method == "deadman" {
            return true;
        }
        match self.chains {
            Chains::All => node_spec(method).is_some(),
            Chains::StatsOnly => false,
            Chains::Only(list) => list.contains(&method),
        }
    }

    pub fn property(&self, name: &str) -> Option<&'static PropSpec> {
        self.props
            .iter()
            .chain(COMMON_PROPS)
            .find(|p| p.name == name)
    }
}

/// One argument slot of a signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArgSlot {
    pub ty: char,
    pub repeat: Repeat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repeat {
    One,
    Optional,
    ZeroOrMore,
    OneOrMore,
}

/// Parses a signature string (see the module docs).
pub fn signature(sig: &str) -> Vec<ArgSlot> {
    sig.split(',')
        .filter(|s| !s.is_empty())
        .map(|s| {
            let mut chars = s.chars();
            let ty = chars.next().unwrap_or('x');
            let repeat = match chars.next() {
                Some('?') => Repeat::Optional,
                Some('*') => Repeat::ZeroOrMore,
                Some('+') => Repeat::OneOrMore,
                _ => Repeat::One,
            };
            ArgSlot { ty, repeat }
        })
        .collect()
}

/// Human name of an argument type letter, for error messages.
pub fn type_name(ty: char) -> &'static str {
    match ty {
        's' => "string",
        'i' => "int",
        'f' => "float",
        'b' => "bool",
        'd' => "duration",
        'l' => "lambda",
        'r' => "regex",
        't' => "string or *",
        'g' => "string, * or time()",
        'c' => "int or duration",
        'n' => "node",
        _ => "value",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_signature_is_well_formed() {
        let all_props = NODES
            .iter()
            .chain([&STREAM, &BATCH])
            .flat_map(|n| n.props.iter())
            .flat_map(|p| std::iter::once(p).chain(p.handler.unwrap_or(&[]).iter()));
        let sigs = NODES
            .iter()
            .map(|n| n.args)
            .chain(all_props.map(|p| p.args));
        for sig in sigs {
            for slot in signature(sig) {
                assert!("sifbdlrtgcnx".contains(slot.ty), "{sig}: {}", slot.ty);
            }
            assert!(
                sig.split(',').all(|s| !s.is_empty() || sig.is_empty()),
                "{sig}"
            );
        }
    }

    #[test]
    fn method_names_are_unique() {
        let mut names: Vec<&str> = NODES.iter().map(|n| n.method).collect();
        names.sort();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len());
    }
}
