//! Formatter output compared with Kapacitor's own formatter on its test vectors
//! (tick/fmt_test.go in influxdata/kapacitor), plus idempotence and round-trip checks.

fn check(script: &str, expected: &str) {
    let got = tickscript::format(script).unwrap_or_else(|e| panic!("{e}\n{script}"));
    assert_eq!(
        got, expected,
        "\nscript:\n{script}\ngot:\n{got}\nexpected:\n{expected}"
    );
    assert_eq!(tickscript::format(&got).unwrap(), got, "not idempotent");
}

#[test]
fn literals() {
    check("var x = 1", "var x = 1\n");
    check("var x=1", "var x = 1\n");
    check("var x=1.0", "var x = 1.0\n");
    check("var x=01", "var x = 01\n");
    check("var x=0600", "var x = 0600\n");
    check("var x=1m", "var x = 1m\n");
    check("var x=60s", "var x = 60s\n");
    check("var s='it\\'s'", "var s = 'it\\'s'\n");
    check("var r=\"a\\\"b\"", "var r = \"a\\\"b\"\n");
    check("var l=['a',b,*]", "var l = ['a', b, *]\n");
    check("var t  string", "var t string\n");
    check("dbrp  \"db\" . \"rp\"", "dbrp \"db\".\"rp\"\n");
}

#[test]
fn chains() {
    check(
        "var x=stream()|window().period(10s).every(10s)",
        "var x = stream()\n    |window()\n        .period(10s)\n        .every(10s)\n",
    );
    check(
        "var x = stream()\n//Window data  \n|window()\n// Period / Every 10s\n.period(10s).every(10s)",
        "var x = stream()\n    // Window data\n    |window()\n        // Period / Every 10s\n        .period(10s)\n        .every(10s)\n",
    );
    check(
        "var x = stream()\n@udf()\n    .option(\n        // Param 1\n        1,\n        // Param 2\n        2,\n        // Param 3\n        3,\n        // Param 4\n        4,\n                )\n",
        "var x = stream()\n    @udf()\n        .option(\n            // Param 1\n            1,\n            // Param 2\n            2,\n            // Param 3\n            3,\n            // Param 4\n            4\n        )\n",
    );
}

#[test]
fn expressions_keep_needed_parentheses_and_line_breaks() {
    check(
        "global(lambda: (\"a\" + (1)) / (( 4 +\"b\") * (\"c\")))",
        "global(lambda: (\"a\" + 1) / ((4 + \"b\") * \"c\"))\n",
    );
    check(
        "global(lambda: (1 + 2 - 3 * 4 / 5) < (sin(6)) AND (TRUE OR FALSE))",
        "global(lambda: (1 + 2 - 3 * 4 / 5) < sin(6) AND (TRUE OR FALSE))\n",
    );
    check(
        "global(lambda: \n(1 + 2 - 3 * 4 / 5) \n< \n(sin(6))\nAND \n(TRUE\nOR (FALSE \nAND TRUE)))",
        "global(lambda: (1 + 2 - 3 * 4 / 5) <\n    sin(6) AND\n    (TRUE OR\n        (FALSE AND\n            TRUE)))\n",
    );
    check(
        "global(lambda: \n// If this\n// is less than that\n(1 + 2 - 3 * 4 / 5) \n< (sin(6))\nAND \n// more comments.\n(TRUE OR FALSE), 'arg',)",
        "global(\n    lambda: \n    // If this\n    // is less than that\n    (1 + 2 - 3 * 4 / 5) <\n    sin(6) AND\n    // more comments.\n    (TRUE OR FALSE),\n    'arg'\n)\n",
    );
}

#[test]
fn comment_blocks() {
    check(
        "// Preserve comments spacing\n\n// Comment block 1\n// still 1\n\n// Comment block 2\n// still 2\n\n// Preserve per line spacing\n//     indented\n//fix this line\n//\n\n\nvar x = stream\n\t|from()\n\t\t//.measurement('mem')\n\t\t.measurement('cpu')\n\n// This should be its own comment block\nx |alert()\n\t\n\n",
        "// Preserve comments spacing\n\n// Comment block 1\n// still 1\n\n// Comment block 2\n// still 2\n\n// Preserve per line spacing\n//     indented\n// fix this line\n//\nvar x = stream\n    |from()\n        // .measurement('mem')\n        .measurement('cpu')\n\n// This should be its own comment block\nx\n    |alert()\n",
    );
    check(
        "// Comment all the things\nvar \nx = \nstream()\n// 1\n|\nudf()\n// 2\n    .option(\n        // 3\n        1,\n        // 4\n        2.0,\n        // 5\n        3h,\n        // 6\n        'a',\n    )\n// 7\n|\neval(\n// 8\nlambda:\na * b + c\n,\n)\n// 9\n|\ngroupBy(\n//10 \n*\n)\n// 11\n",
        "// Comment all the things\nvar x = stream()\n    // 1\n    |udf()\n        // 2\n        .option(\n            // 3\n            1,\n            // 4\n            2.0,\n            // 5\n            3h,\n            // 6\n            'a'\n        )\n    // 7\n    |eval(\n        // 8\n        lambda: a * b + c\n    )\n    // 9\n    |groupBy(\n        // 10\n        *\n    )\n\n// 11\n\n",
    );
}

#[test]
fn a_whole_commented_script() {
    let script = "
\t\t\t// Define a result that contains the most recent score per player.
var topPlayerScores = stream
    |from().measurement('scores')
    // Get the most recent score for each player per game.
// Not likely that a player is playing two games but just in case.
.groupBy('game', 'player')
    |window()
        // keep a buffer of the last 11s of scores
        // just in case a player score hasn't updated in a while
        .period(11s)
        // Emit the current score per player every second.
.every(1s)
        // Align the window boundaries to be on the second.
.align()
    |last('value')

// Calculate the top 15 scores per game
var topScores = topPlayerScores
    |groupBy('game')
    |top(15, 'last', 'player')

// Expose top scores over the HTTP API at the 'top_scores' endpoint.
// Now your app can just request the top scores from Kapacitor
// and always get the most recent result.
//
// http://localhost:9092/api/v1/top_scores/top_scores
topScores
   |httpOut('top_scores')

// Sample the top scores and keep a score once every 10s
var topScoresSampled = topScores
    |sample(10s)

// Store top fifteen player scores in InfluxDB.
topScoresSampled
    |influxDBOut()
        .database('game')
        .measurement('top_scores')

// Calculate the max and min of the top scores.
var max = topScoresSampled
    |max('top')
var min = topScoresSampled
    |min('top')

// Join the max and min streams back together and calculate the gap.
max|join(min)
        .as('max', 'min')
    // calculate the difference between the max and min scores.
|eval(lambda: \"max.max\" - \"min.min\", lambda: \"max.max\", lambda: \"min.min\")
        .as('gap', 'topFirst', 'topLast')
    // store the fields: gap, topFirst, and topLast in InfluxDB.
|influxDBOut()
        .database('game')
        .measurement('top_scores_gap')
";
    let expected = "// Define a result that contains the most recent score per player.
var topPlayerScores = stream
    |from()
        .measurement('scores')
        // Get the most recent score for each player per game.
        // Not likely that a player is playing two games but just in case.
        .groupBy('game', 'player')
    |window()
        // keep a buffer of the last 11s of scores
        // just in case a player score hasn't updated in a while
        .period(11s)
        // Emit the current score per player every second.
        .every(1s)
        // Align the window boundaries to be on the second.
        .align()
    |last('value')

// Calculate the top 15 scores per game
var topScores = topPlayerScores
    |groupBy('game')
    |top(15, 'last', 'player')

// Expose top scores over the HTTP API at the 'top_scores' endpoint.
// Now your app can just request the top scores from Kapacitor
// and always get the most recent result.
//
// http://localhost:9092/api/v1/top_scores/top_scores
topScores
    |httpOut('top_scores')

// Sample the top scores and keep a score once every 10s
var topScoresSampled = topScores
    |sample(10s)

// Store top fifteen player scores in InfluxDB.
topScoresSampled
    |influxDBOut()
        .database('game')
        .measurement('top_scores')

// Calculate the max and min of the top scores.
var max = topScoresSampled
    |max('top')

var min = topScoresSampled
    |min('top')

// Join the max and min streams back together and calculate the gap.
max
    |join(min)
        .as('max', 'min')
    // calculate the difference between the max and min scores.
    |eval(lambda: \"max.max\" - \"min.min\", lambda: \"max.max\", lambda: \"min.min\")
        .as('gap', 'topFirst', 'topLast')
    // store the fields: gap, topFirst, and topLast in InfluxDB.
    |influxDBOut()
        .database('game')
        .measurement('top_scores_gap')
";
    check(script, expected);
    // It is also a valid task.
    let p = tickscript::compile(script, &tickscript::Vars::default()).unwrap();
    assert_eq!(p.node_name(p.nodes.len() - 1), "influxdb_out13");
}
