//! `kapacitorctl processes`: the member's process tree from `/debug/processes`.

use super::api::Api;
use serde_json::Value;

pub fn render(rows: &Value) -> String {
    let s = |v: &Value| match v {
        Value::Null => "-".to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let mut table = vec![[
        "ROLE".to_string(),
        "TASK".into(),
        "PID".into(),
        "STATE".into(),
        "RESTARTS".into(),
        "UPTIME".into(),
        "LAST EXIT".into(),
    ]];
    for r in rows.as_array().map(Vec::as_slice).unwrap_or_default() {
        let mut last = s(&r["last_exit"]);
        if let Some(e) = r["error"].as_str() {
            last = format!("{last} ({e})");
        }
        table.push([
            s(&r["role"]),
            s(&r["task"]),
            s(&r["pid"]),
            s(&r["state"]),
            s(&r["restarts"]),
            s(&r["uptime"]),
            last,
        ]);
    }
    let mut widths = [0usize; 7];
    for row in &table {
        for (w, c) in widths.iter_mut().zip(row.iter()) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    for row in &table {
        let mut line = String::new();
        for (i, c) in row.iter().enumerate() {
            line.push_str(&format!("{c:<w$}  ", w = widths[i]));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

pub fn processes(api: &Api) -> Result<String, String> {
    api.json("GET", "/debug/processes", None)
        .map(|v| render(&v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_one_line_per_process() {
        let v = json!([
            {"role": "supervisor", "pid": 10, "state": "running", "restarts": 0, "uptime": "1m0s", "last_exit": null},
            {"role": "task", "task": "cpu", "pid": null, "state": "failed", "restarts": 5, "uptime": "0s",
             "last_exit": "signal: killed", "error": "crashed 5 times"}
        ]);
        let out = render(&v);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("ROLE"));
        assert!(lines[1].starts_with("supervisor  -     10"), "{}", lines[1]);
        assert!(lines[2].contains("signal: killed (crashed 5 times)"));
    }
}
