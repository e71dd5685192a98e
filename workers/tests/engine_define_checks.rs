//! Node settings the engine cannot run are refused when the task is defined: the checker
//! (`tickscript::compile`) knows the rules each node's build applies, with Kapacitor's message
//! where Kapacitor has the rule, and the line and column of the offending call. One case per
//! rule; each script compiled (and so was accepted by `POST /kapacitor/v1/tasks`) before the
//! checker knew the rule, and then failed when the worker built it.

/// `(script, exact define-time error)`.
const CASES: &[(&str, &str)] = &[
    (
        "stream|from()|window().period(10s).periodCount(5)",
        "line 1 char 36: window2: cannot specify both period and periodCount",
    ),
    (
        "stream|from()|window().every(10s).everyCount(5)",
        "line 1 char 35: window2: can only use one window type: either period/every or periodCount/everyCount",
    ),
    (
        "stream|from()|window().period(-1s).every(1s)",
        "line 1 char 24: window2: window period and every must not be negative",
    ),
    (
        "stream|from()|window().periodCount(5).everyCount(1).align()",
        "line 1 char 53: window2: can only align windows based off time, not count",
    ),
    (
        "stream|from()|window().everyCount(2)",
        "line 1 char 24: window2: window periodCount must be positive",
    ),
    (
        "stream|from()|window()",
        "line 1 char 15: window2: window needs .period() or .periodCount()",
    ),
    (
        "stream|from()|window().every(10s)",
        "line 1 char 24: window2: window period must be positive",
    ),
    (
        "stream|from()|window().period(10s).align()",
        "line 1 char 36: window2: cannot align a window with every(0s)",
    ),
    (
        "stream|from()|barrier().idle(1s).period(1s)",
        "line 1 char 34: barrier2: cannot specify both idle and period",
    ),
    (
        "stream|from()|barrier()",
        "line 1 char 15: barrier2: idle must be greater than zero",
    ),
    (
        "stream|from()|barrier().period(-1s)",
        "line 1 char 25: barrier2: period must be greater than zero",
    ),
    (
        "stream|from()|stats(0s)",
        "line 1 char 15: stats2: stats interval must be positive",
    ),
    (
        "stream|from()|deadman(1.0, 0s)",
        "line 1 char 15: deadman2: deadman interval must be positive",
    ),
    (
        "var a = stream|from()\nstream|from()|join(a).as('x', 'x')",
        "line 2 char 23: join3: cannot use the same prefix name see .as() property method",
    ),
    (
        "var a = stream|from()\nstream|from()|join(a).as('x', '')",
        "line 2 char 23: join3: must provide a prefix name for the join node, see .as() property method",
    ),
    (
        "var a = stream|from()\nstream|from()|join(a).as('x', 'y').fill('sideways')",
        "line 2 char 36: join3: unexpected fill option sideways",
    ),
    (
        "var a = stream|from()\nstream|from()|join(a).as('x', 'y').fill(TRUE)",
        "line 2 char 36: join3: fill must be 'null', 'none' or a number",
    ),
    (
        "var a = stream|from()\nstream|from()|join(a).as('x', 'y').tolerance(-1s)",
        "line 2 char 36: join3: tolerance must not be negative",
    ),
    (
        "stream|from().truncate(-1s)",
        "line 1 char 15: from1: truncate and round must not be negative",
    ),
    (
        "stream|from()|sample(0)",
        "line 1 char 15: sample2: sample needs a positive count or duration",
    ),
    (
        "stream|from()|stateDuration(lambda: TRUE).unit(0s)",
        "line 1 char 43: state_duration2: unit must be positive",
    ),
    (
        "stream|from()|derivative('v').unit(0s)",
        "line 1 char 31: derivative2: derivative unit must be positive",
    ),
    (
        "stream|from()|log().level('loud')",
        "line 1 char 21: log2: invalid log level \"LOUD\"",
    ),
    (
        "stream|from()|httpOut('')",
        "line 1 char 15: http_out2: httpOut needs an endpoint name",
    ),
    (
        "stream|from()|httpPost()",
        "line 1 char 15: http_post2: must provide url or endpoint",
    ),
    (
        "stream|from()|httpPost('http://a').endpoint('x')",
        "line 1 char 36: http_post2: only one endpoint and url may be specified",
    ),
    (
        "stream|from()|httpPost().endpoint('x').endpoint('y')",
        "line 1 char 40: http_post2: httpPost expects 0 or 1 endpoints, got 2",
    ),
    (
        "stream|from()|httpPost('http://a').header('Authenticate', 'x')",
        "line 1 char 36: http_post2: cannot set 'authenticate' header",
    ),
    (
        "stream|from()|httpPost('http://a').timeout(-1s)",
        "line 1 char 36: http_post2: timeout must not be negative",
    ),
    (
        "stream|from()|eval(lambda: 1).as('a').tags('b')",
        "line 1 char 39: eval2: tag \"b\" is not one of the names given to .as()",
    ),
    (
        "stream|from()|combine(lambda: TRUE).as('a')",
        "line 1 char 15: combine2: must specify at least two expressions",
    ),
    (
        "stream|from()|combine(lambda: TRUE, lambda: TRUE).as('a')",
        "line 1 char 51: combine2: must specify the same number of expressions and names",
    ),
    (
        "stream|from()|alert().stateChangesOnly(-1s)",
        "line 1 char 23: alert2: stateChangesOnly interval must not be negative",
    ),
    (
        "stream|from()|influxDBOut().precision('fortnight')",
        "line 1 char 29: influxdb_out2: invalid precision \"fortnight\"",
    ),
    (
        "stream|from()|influxDBOut().buffer(0)",
        "line 1 char 29: influxdb_out2: .buffer() must be positive, got 0",
    ),
    (
        "stream|from()|influxDBOut().flushInterval(0s)",
        "line 1 char 29: influxdb_out2: .flushInterval() must be positive",
    ),
    (
        "batch|query('SELECT v FROM db.rp.m').every(10s)|influxDBOut()",
        "line 1 char 49: influxdb_out2: influxDBOut in a batch task needs .database(): batches carry no database",
    ),
    (
        "batch|query('SELECT v FROM db.rp.m').every(10s).cron('* * * * *')",
        "line 1 char 49: query1: must not set both 'every' and 'cron' properties",
    ),
    (
        "batch|query('SELECT v FROM db.rp.m')",
        "line 1 char 7: query1: must define one of 'every' or 'cron'",
    ),
    (
        "batch|query('SELECT v FROM db.rp.m').every(-1s)",
        "line 1 char 38: query1: 'every' must not be negative",
    ),
    (
        "batch|query('SELECT v FROM db.rp.m').every(1s).period(-1s)",
        "line 1 char 48: query1: 'period' must not be negative",
    ),
    (
        "batch|query('SELECT v FROM db.rp.m').every(1s).groupBy(time(1s), time(2s))",
        "line 1 char 48: query1: groupBy cannot have more than one time dimension",
    ),
    (
        "batch|query('SELECT v FROM db.rp.m').every(1s).groupBy(time(0s))",
        "line 1 char 48: query1: groupBy time() length must be positive",
    ),
    (
        "batch|query('SELECT v FROM db.rp.m').every(1s).fill('sideways')",
        "line 1 char 48: query1: unexpected fill option sideways",
    ),
    (
        "stream|from()|top(0, 'v')",
        "line 1 char 15: top2: top needs a positive count",
    ),
    (
        "stream|from()|percentile('v', 101.0)",
        "line 1 char 15: percentile2: percentile needs a value between 0 and 100",
    ),
    (
        "stream|from()|elapsed('v', 0s)",
        "line 1 char 15: elapsed2: elapsed unit must be positive",
    ),
    (
        "stream|from()|movingAverage('v', 0)",
        "line 1 char 15: movingAverage2: movingAverage needs a positive window size",
    ),
    (
        "stream|from()|holtWinters('v', -1, 0, 1s)",
        "line 1 char 15: holtWinters2: holtWinters needs h >= 0",
    ),
    (
        "stream|from()|holtWinters('v', 1, -1, 1s)",
        "line 1 char 15: holtWinters2: holtWinters needs m >= 0",
    ),
];

#[test]
fn every_engine_build_rule_is_a_define_time_error() {
    let mut failures = Vec::new();
    for (script, want) in CASES {
        match tickscript::compile(script, &tickscript::Vars::new()) {
            Ok(_) => failures.push(format!("{script}: accepted, want {want}")),
            Err(e) if e.to_string() != *want => {
                failures.push(format!("{script}:\n  got  {e}\n  want {want}"))
            }
            Err(_) => {}
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The limits themselves are allowed: the rules reject only what the engine cannot build.
#[test]
fn settings_at_the_limits_are_accepted() {
    let ok = [
        "stream|from()|window().period(10s).every(0s)",
        "stream|from()|window().periodCount(5)",
        "stream|from()|window().period(10s).every(5s).align()",
        "stream|from()|barrier().idle(1s)",
        "stream|from()|barrier().period(1s).delete(TRUE)",
        "var a = stream|from()\nstream|from()|join(a).as('x', 'y').fill('null').tolerance(0s)",
        "var a = stream|from()\nstream|from()|join(a).as('x', 'y').fill(0)",
        "stream|from()|log().level('debug')",
        "stream|from()|httpPost('http://a').header('k', 'v').timeout(0s)",
        "stream|from()|httpPost().endpoint('x')",
        "stream|from()|alert().stateChangesOnly(0s)",
        "stream|from()|influxDBOut().precision('ms').buffer(1)",
        "batch|query('SELECT v FROM db.rp.m').cron('* * * * *')",
        "batch|query('SELECT v FROM db.rp.m').every(1s).fill('linear')",
        "stream|from()|percentile('v', 100.0)",
        "stream|from()|holtWinters('v', 0, 0, 1s)",
    ];
    for script in ok {
        let p = tickscript::compile(script, &tickscript::Vars::new());
        assert!(
            p.is_ok(),
            "{script}: {}",
            p.err().map(|e| e.to_string()).unwrap_or_default()
        );
    }
}
