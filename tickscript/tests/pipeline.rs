//! The compiled pipeline: node ids and names, arguments and properties as the engine reads
//! them, vars, DOT output.

use tickscript::ast::Expr;
use tickscript::pipeline::{Arg, TaskType};
use tickscript::{DotStats, NodeDotStats, Var, VarType, VarValue, Vars};

fn compile(src: &str) -> tickscript::pipeline::Pipeline {
    tickscript::compile(src, &Vars::default()).unwrap_or_else(|e| panic!("{e}"))
}

const JOIN: &str = "
dbrp \"telegraf\".\"autogen\"
var errors = stream
    |from()
        .measurement('errors')
var requests = stream
    |from()
        .measurement('requests')
errors
    |join(requests)
        .as('errors', 'requests')
    |httpOut('rate')
";

#[test]
fn node_names_and_dot_follow_kapacitor_walk_order() {
    let p = compile(JOIN);
    assert_eq!(p.task_type, TaskType::Stream);
    let names: Vec<String> = (0..p.nodes.len()).map(|i| p.node_name(i)).collect();
    assert_eq!(names, ["stream0", "from1", "from2", "join3", "http_out4"]);
    assert_eq!(
        p.dot("rate"),
        "digraph rate {\nstream0 -> from1;\nstream0 -> from2;\nfrom2 -> join3;\nfrom1 -> join3;\njoin3 -> http_out4;\n}"
    );
    assert_eq!(p.nodes[3].parents, vec![1, 2]);
    assert_eq!(p.nodes[3].args, vec![Arg::Node(2)]);
    assert_eq!(
        p.measurements(),
        vec!["errors".to_string(), "requests".to_string()]
    );
    assert_eq!(p.dbrps.len(), 1);
    assert_eq!(p.dbrps[0].db, "telegraf");
}

#[test]
fn dot_with_stats_matches_the_task_api_shape() {
    let p = compile("stream\n    |from()\n        .measurement('cpu')\n");
    let mut stats = DotStats {
        throughput: 0.0,
        ..Default::default()
    };
    stats.nodes.insert(
        "stream0".into(),
        NodeDotStats {
            stats: [("avg_exec_time_ns".to_string(), "0s".to_string())].into(),
            processed: [("from1".to_string(), 12)].into(),
        },
    );
    assert_eq!(
        p.dot_with_stats("cpu_alert", &stats),
        "digraph cpu_alert {\ngraph [throughput=\"0.00 points/s\"];\n\nstream0 [avg_exec_time_ns=\"0s\" ];\nstream0 -> from1 [processed=\"12\"];\n\nfrom1 [];\n}"
    );
    stats.labels = true;
    let labels = p.dot_with_stats("cpu_alert", &stats);
    assert!(
        labels.contains(
            "graph [label=\"Throughput: 0.00 points/s\" forcelabels=true pad=\"0.8,0.5\"];"
        )
    );
    assert!(labels.contains(
        "stream0 [xlabel=\"avg_exec_time_ns: 0s\"];\nstream0 -> from1 [label=\"processed=12\"];"
    ));
}

#[test]
fn batch_task_and_query_group_by_time() {
    let p = compile(
        "batch|query('SELECT mean(usage_idle) FROM cpu').period(5m).every(5m).groupBy(time(1m), 'cpu')|alert().crit(lambda: \"mean\" < 70)",
    );
    assert_eq!(p.task_type, TaskType::Batch);
    assert_eq!(p.node_name(0), "batch0");
    assert_eq!(p.node_name(1), "query1");
    let group_by = p.nodes[1]
        .props
        .iter()
        .find(|p| p.name == "groupBy")
        .unwrap();
    assert!(
        matches!(&group_by.args[0], Arg::Lambda(Expr::Call { name, args, .. })
        if name == "time" && matches!(args[..], [Expr::Duration(60_000_000_000, _)]))
    );
    assert_eq!(group_by.args[1], Arg::Str("cpu".into()));
    assert_eq!(
        p.dot("t"),
        "digraph t {\nbatch0 -> query1;\nquery1 -> alert2;\n}"
    );
}

#[test]
fn alert_handlers_carry_their_own_properties() {
    let p = compile(
        "stream|from()|alert().crit(lambda: TRUE).post('http://a').header('k', 'v').slack().channel('#x').id('x').log('/tmp/a.log').mode(0644)",
    );
    let alert = &p.nodes[2];
    let names: Vec<&str> = alert.props.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["crit", "post", "slack", "id", "log"]);
    assert_eq!(alert.props[1].props[0].name, "header");
    assert_eq!(
        alert.props[1].props[0].args,
        vec![Arg::Str("k".into()), Arg::Str("v".into())]
    );
    assert_eq!(alert.props[2].props[0].args, vec![Arg::Str("#x".into())]);
    assert!(alert.props[3].props.is_empty());
    assert_eq!(alert.props[4].props[0].args, vec![Arg::Int(0o644)]);
}

#[test]
fn vars_are_substituted_into_lambdas_and_arguments() {
    let p = compile(
        "var t = 10\nvar f = lambda: \"v\" > t\nvar groups = ['host', 'dc']\nvar p = 1m\nstream|from().groupBy(groups).where(f)|window().period(p).every(p)|percentile('v', 90)",
    );
    let from = &p.nodes[1];
    assert_eq!(
        from.props[0].args,
        vec![Arg::Str("host".into()), Arg::Str("dc".into())]
    );
    let Arg::Lambda(e) = &from.props[1].args[0] else {
        panic!("not a lambda")
    };
    assert_eq!(tickscript::expr_to_string(e), "\"v\" > 10");
    assert_eq!(
        p.nodes[2].props[0].args,
        vec![Arg::Duration(60_000_000_000)]
    );
    // An int where a float is expected is converted, as Kapacitor's reflection does.
    assert_eq!(
        p.nodes[3].args,
        vec![Arg::Str("v".into()), Arg::Float(90.0)]
    );
}

#[test]
fn task_vars_override_script_vars_with_type_checks() {
    let src =
        "var t = 5\nvar crit lambda\nstream|from()|alert().crit(crit).warn(lambda: \"v\" > t)";
    let mut vars = Vars::new();
    vars.insert("t", Var::new(VarType::Int, VarValue::Int(6)));
    vars.insert(
        "crit",
        Var::new(VarType::Lambda, VarValue::Lambda("\"v\" > t * 2".into())),
    );
    let p = tickscript::compile(src, &vars).unwrap();
    let alert = &p.nodes[2];
    let text = |i: usize| match &alert.props[i].args[0] {
        Arg::Lambda(e) => tickscript::expr_to_string(e),
        other => panic!("{other:?}"),
    };
    assert_eq!(text(0), "\"v\" > 6 * 2");
    assert_eq!(text(1), "\"v\" > 6");

    vars.insert("t", Var::new(VarType::Float, VarValue::Float(6.0)));
    let e = tickscript::compile(src, &vars).unwrap_err();
    assert_eq!(
        e.to_string(),
        "line 1 char 1: invalid type supplied for t, got float exp int"
    );

    let mut bad = Vars::new();
    bad.insert(
        "crit",
        Var::new(VarType::Lambda, VarValue::Lambda("\"v\" >".into())),
    );
    let e = tickscript::compile(src, &bad).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("line 2 char 1: invalid lambda in var crit: parser: unexpected EOF"),
        "{e}"
    );
}

#[test]
fn declared_vars_for_templates() {
    let program = tickscript::parse(
        "// The measurement\nvar measurement string\nvar w = 5m\nvar groups = [*]\nvar th = 10\nvar crit = lambda: \"v\" > th\nvar data = stream|from()\n",
    )
    .unwrap();
    let vars = tickscript::declared_vars(&program);
    let json = serde_json::to_value(&vars).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "measurement": {"type": "string", "value": null, "description": "The measurement"},
            "w": {"type": "duration", "value": 300_000_000_000i64, "description": ""},
            "groups": {"type": "list", "value": [{"type": "star", "value": null}], "description": ""},
            "th": {"type": "int", "value": 10, "description": ""},
            "crit": {"type": "lambda", "value": "\"v\" > 10", "description": ""},
        })
    );
}

#[test]
fn udf_and_deadman_nodes() {
    let p = compile(
        "stream|from()@outliers().field('v').scale(1.5)|deadman(100.0, 10m).message('dead')",
    );
    assert_eq!(p.nodes[2].kind, "udf:outliers");
    assert_eq!(p.node_name(2), "outliers2");
    assert_eq!(p.nodes[2].props.len(), 2);
    assert_eq!(p.nodes[3].kind, "deadman");
    assert_eq!(
        p.nodes[3].args,
        vec![Arg::Float(100.0), Arg::Duration(600_000_000_000)]
    );
}
