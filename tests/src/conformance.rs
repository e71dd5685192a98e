//! The black-box conformance runner of `shared/conformance/README.md`: load the cases, run
//! each one against a server over HTTP (delete, create enabled, write the rebased data, poll
//! the httpOut endpoint, delete), and compare bodies with the README's matching rules.
//!
//! The matching rules are a copy of those in `workers/tests/engine_conformance.rs` (the
//! in-process runner of the same cases), moved here because a test file cannot be a dependency.

use crate::http;
use kapacitor_models::result_match::{bodies_match, series};
use kapacitor_models::srpl;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// One case file of `cases/*.json`.
#[derive(Debug, Clone)]
pub struct Case {
    pub name: String,
    pub script: String,
    pub db: String,
    pub rp: String,
    /// Bare file name of the `.srpl` data.
    pub data: String,
    pub endpoint: String,
    pub expected: Value,
    pub ignore_series_order: bool,
    /// The case file it came from, for messages.
    pub file: PathBuf,
}

impl Case {
    /// Parses a case file's JSON; every required key missing is an error naming it.
    pub fn from_json(file: &Path, v: &Value) -> Result<Case, String> {
        let s = |key: &str| -> Result<String, String> {
            v.get(key)
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| format!("{}: missing string key {key:?}", file.display()))
        };
        Ok(Case {
            name: s("name")?,
            script: s("script")?,
            db: s("db")?,
            rp: s("rp")?,
            data: s("data")?,
            endpoint: s("endpoint")?,
            expected: v.get("expected").cloned().unwrap_or(Value::Null),
            ignore_series_order: v
                .get("ignore_series_order")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            file: file.to_path_buf(),
        })
    }

    /// True when the expected body has no series (then "nothing yet" must be waited out).
    pub fn expects_nothing(&self) -> bool {
        series(&self.expected).is_empty()
    }
}

/// Where the cases and their data files are.
#[derive(Debug, Clone)]
pub struct CaseSet {
    pub cases_dir: PathBuf,
    pub data_dir: PathBuf,
}

/// The published cases: `$KAPACITOR_CONFORMANCE_DIR`, else `shared/conformance` found next to
/// the workspace, else `/work/shared/conformance`.
pub fn shared_dir() -> Option<PathBuf> {
    if let Ok(d) = std::env::var("KAPACITOR_CONFORMANCE_DIR") {
        return Some(PathBuf::from(d));
    }
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    [
        here.join("../../shared/conformance"),
        here.join("../shared/conformance"),
        PathBuf::from("/work/shared/conformance"),
    ]
    .into_iter()
    .find(|p| p.join("cases").is_dir())
}

impl CaseSet {
    /// The case set to run: `CONFORMANCE_CASES` when set (a directory holding `cases/` and
    /// `data/`, or a directory of case files whose data is in `./data`, `../data` or the
    /// published data directory), otherwise the published cases.
    pub fn from_env() -> Result<CaseSet, String> {
        let published = shared_dir();
        match std::env::var("CONFORMANCE_CASES") {
            Ok(dir) if !dir.is_empty() => CaseSet::at(Path::new(&dir), published.as_deref()),
            _ => {
                let dir = published.ok_or(
                    "conformance cases not found; set KAPACITOR_CONFORMANCE_DIR or CONFORMANCE_CASES",
                )?;
                CaseSet::at(&dir, None)
            }
        }
    }

    /// A case set rooted at `dir` (see [`CaseSet::from_env`]).
    pub fn at(dir: &Path, fallback: Option<&Path>) -> Result<CaseSet, String> {
        let cases_dir = if dir.join("cases").is_dir() {
            dir.join("cases")
        } else {
            dir.to_path_buf()
        };
        if !cases_dir.is_dir() {
            return Err(format!("{} is not a directory", cases_dir.display()));
        }
        let candidates = [
            Some(cases_dir.join("data")),
            cases_dir.parent().map(|p| p.join("data")),
            fallback.map(|f| f.join("data")),
        ];
        let data_dir = candidates
            .into_iter()
            .flatten()
            .find(|p| p.is_dir())
            .ok_or_else(|| format!("no data/ directory next to {}", cases_dir.display()))?;
        Ok(CaseSet {
            cases_dir,
            data_dir,
        })
    }

    /// Every `*.json` case, sorted by file name.
    pub fn load(&self) -> Result<Vec<Case>, String> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.cases_dir)
            .map_err(|e| format!("{}: {e}", self.cases_dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|f| {
                let text =
                    std::fs::read_to_string(f).map_err(|e| format!("{}: {e}", f.display()))?;
                let v: Value = serde_json::from_str(&text)
                    .map_err(|e| format!("{}: not JSON: {e}", f.display()))?;
                Case::from_json(f, &v)
            })
            .collect()
    }

    /// The case's data as one line-protocol body, rebased to 1971-01-01 and in file order.
    pub fn rebased_body(&self, case: &Case) -> Result<String, String> {
        let path = self.data_dir.join(&case.data);
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let records = srpl::parse_srpl(&text).map_err(|e| format!("{}: {e}", case.data))?;
        if let Some(r) = records.iter().find(|r| r.db != case.db || r.rp != case.rp) {
            // The README promises one dbrp per file; a second one would need several writes.
            return Err(format!(
                "{}: record for {}.{} but the case writes to {}.{}",
                case.data, r.db, r.rp, case.db, case.rp
            ));
        }
        srpl::rebased_body(&records).map_err(|e| format!("{}: {e}", case.data))
    }
}

/// Which measurements a case writes and which its task accepts. All cases write to the same
/// dbrp, so two cases may only run at the same time when neither task can see the other's
/// points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Footprint {
    pub writes: BTreeSet<String>,
    /// `None`: some `from()` has no literal `.measurement('…')`, so it takes everything.
    pub accepts: Option<BTreeSet<String>>,
}

impl Footprint {
    pub fn of(set: &CaseSet, case: &Case) -> Result<Footprint, String> {
        let body = set.rebased_body(case)?;
        Ok(Footprint {
            writes: body.lines().map(measurement_of).collect(),
            accepts: script_measurements(&case.script),
        })
    }

    /// True when one task would receive points the other case writes.
    pub fn conflicts(&self, other: &Footprint) -> bool {
        let sees = |a: &Footprint, b: &Footprint| match &a.accepts {
            None => true,
            Some(m) => !m.is_disjoint(&b.writes),
        };
        sees(self, other) || sees(other, self)
    }
}

/// The measurement of a line-protocol line (up to the first unescaped ',' or ' ').
fn measurement_of(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            }
            ',' | ' ' => break,
            c => out.push(c),
        }
    }
    out
}

/// The literal measurements of a script's `from()` nodes, or `None` when some `from()` is
/// not restricted by a string literal (no `.measurement`, or a variable).
pub fn script_measurements(script: &str) -> Option<BTreeSet<String>> {
    let froms = script.matches("from()").count();
    let mut found = BTreeSet::new();
    let mut literal = 0;
    for (i, _) in script.match_indices(".measurement(") {
        let rest = script[i + ".measurement(".len()..].trim_start();
        let quote = rest.chars().next()?;
        if quote != '\'' && quote != '"' {
            return None;
        }
        let end = rest[1..].find(quote)?;
        found.insert(rest[1..1 + end].to_string());
        literal += 1;
    }
    (literal >= froms).then_some(found)
}

/// Runs `cases` against `base` with up to `jobs` at once, never two whose footprints
/// conflict; `report` is called as each case finishes. Returns the results in case order.
pub fn run_cases(
    base: &str,
    set: &CaseSet,
    cases: &[Case],
    jobs: usize,
    timing: Timing,
    report: &(dyn Fn(&Case, &Result<(), String>) + Sync),
) -> Vec<Result<(), String>> {
    // A case whose data cannot be read fails on its own; give it an exclusive footprint.
    let prints: Vec<Option<Footprint>> = cases.iter().map(|c| Footprint::of(set, c).ok()).collect();
    let conflict = |a: usize, b: usize| match (&prints[a], &prints[b]) {
        (Some(x), Some(y)) => x.conflicts(y),
        _ => true,
    };
    struct Sched {
        pending: Vec<usize>,
        running: Vec<usize>,
        results: Vec<Option<Result<(), String>>>,
    }
    let sched = Mutex::new(Sched {
        pending: (0..cases.len()).collect(),
        running: Vec::new(),
        results: vec![None; cases.len()],
    });
    let changed = Condvar::new();
    std::thread::scope(|s| {
        for _ in 0..jobs.clamp(1, cases.len().max(1)) {
            s.spawn(|| {
                loop {
                    let mut st = sched.lock().unwrap_or_else(|e| e.into_inner());
                    let i = loop {
                        if st.pending.is_empty() {
                            return;
                        }
                        let free = st
                            .pending
                            .iter()
                            .position(|&c| st.running.iter().all(|&r| !conflict(c, r)));
                        match free {
                            Some(p) => break st.pending.remove(p),
                            None => st = changed.wait(st).unwrap_or_else(|e| e.into_inner()),
                        }
                    };
                    st.running.push(i);
                    drop(st);
                    let r = run_case(base, set, &cases[i], timing);
                    report(&cases[i], &r);
                    let mut st = sched.lock().unwrap_or_else(|e| e.into_inner());
                    st.running.retain(|&x| x != i);
                    st.results[i] = Some(r);
                    drop(st);
                    changed.notify_all();
                }
            });
        }
    });
    sched
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err("not run".into())))
        .collect()
}

/// `<name> <reason>` lines of a known-failures file (`#` comments and blank lines skipped).
pub fn parse_known_failures(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| match l.split_once(char::is_whitespace) {
            Some((n, r)) => (n.to_string(), r.trim().to_string()),
            None => (l.to_string(), String::new()),
        })
        .collect()
}

/// Timing of the HTTP procedure (README step 4).
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub poll_every: Duration,
    pub timeout: Duration,
    /// How long to wait before trusting an empty body when nothing is expected.
    pub settle_empty: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            poll_every: Duration::from_millis(100),
            timeout: Duration::from_secs(10),
            settle_empty: Duration::from_secs(1),
        }
    }
}

fn task_url(base: &str, id: &str) -> String {
    format!("{base}/kapacitor/v1/tasks/{id}")
}

/// Runs one case against the server at `base` (`http://host:port`): README steps 1–5. The
/// task is deleted afterwards whatever the outcome.
pub fn run_case(base: &str, set: &CaseSet, case: &Case, timing: Timing) -> Result<(), String> {
    let body = set.rebased_body(case)?;
    let task = task_url(base, &case.name);
    let r = http::delete(&task).map_err(|e| format!("DELETE task: {e}"))?;
    if !matches!(r.status, 204 | 404) {
        return Err(format!("DELETE task: {} {}", r.status, r.body));
    }
    let result = create_write_poll(base, case, &body, timing);
    let _ = http::delete(&task);
    result
}

fn create_write_poll(base: &str, case: &Case, body: &str, timing: Timing) -> Result<(), String> {
    let create = json!({
        "id": case.name,
        "type": "stream",
        "dbrps": [{"db": case.db, "rp": case.rp}],
        "script": case.script,
        "status": "enabled",
    });
    let r = http::post_json(&format!("{base}/kapacitor/v1/tasks"), &create.to_string())
        .map_err(|e| format!("POST task: {e}"))?;
    if r.status != 200 {
        return Err(format!("POST task: {} {}", r.status, r.body));
    }
    let write = format!(
        "{base}/kapacitor/v1/write?db={}&rp={}&precision=s",
        http::query_escape(&case.db),
        http::query_escape(&case.rp)
    );
    let r = http::post(&write, body).map_err(|e| format!("write: {e}"))?;
    if r.status != 204 {
        return Err(format!("write: {} {}", r.status, r.body));
    }
    let out = format!("{}/{}", task_url(base, &case.name), case.endpoint);
    if case.expects_nothing() {
        std::thread::sleep(timing.settle_empty);
    }
    let deadline = Instant::now() + timing.timeout;
    loop {
        let last = match http::get(&out) {
            Ok(r) if r.status == 200 => match serde_json::from_str::<Value>(&r.body) {
                Ok(got) => match bodies_match(&got, &case.expected, case.ignore_series_order) {
                    Ok(()) => return Ok(()),
                    Err(e) => e,
                },
                Err(e) => format!("body is not JSON ({e}): {}", r.body),
            },
            Ok(r) => format!("GET {}: {} {}", case.endpoint, r.status, r.body),
            Err(e) => format!("GET {}: {e}", case.endpoint),
        };
        if Instant::now() >= deadline {
            return Err(last);
        }
        std::thread::sleep(timing.poll_every);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn footprints_conflict_when_a_task_would_see_the_others_points() {
        let fp = |writes: &[&str], script: &str| Footprint {
            writes: writes.iter().map(|s| s.to_string()).collect(),
            accepts: script_measurements(script),
        };
        let cpu = fp(
            &["cpu"],
            "stream\n|from()\n.measurement('cpu')\n|httpOut('x')",
        );
        let mem = fp(&["mem"], "stream|from().measurement(\"mem\")|httpOut('x')");
        let all = fp(&["disk"], "stream|from()|httpOut('x')");
        let var = fp(
            &["io"],
            "var m = 'io'\nstream|from().measurement(m)|httpOut('x')",
        );
        assert!(!cpu.conflicts(&mem));
        assert!(cpu.conflicts(&cpu.clone()));
        assert!(all.conflicts(&cpu) && cpu.conflicts(&all));
        assert!(var.conflicts(&mem));
        let two = fp(
            &["a", "b"],
            "var x = stream|from().measurement('a')\nvar y = stream|from().measurement('b')",
        );
        assert_eq!(two.accepts.as_ref().map(|m| m.len()), Some(2));
        assert!(!two.conflicts(&cpu));
        assert_eq!(measurement_of("c\\,pu,host=a v=1 1"), "c,pu");
    }

    #[test]
    fn known_failures_file_format() {
        let k = parse_known_failures("# comment\n\nTestA needs x y\n  TestB\n");
        assert_eq!(k.get("TestA").map(String::as_str), Some("needs x y"));
        assert_eq!(k.get("TestB").map(String::as_str), Some(""));
        assert_eq!(k.len(), 2);
    }

    #[test]
    fn published_cases_load_and_rebase() {
        let Some(dir) = shared_dir() else {
            eprintln!("conformance cases not found, nothing to check");
            return;
        };
        let set = CaseSet::at(&dir, None).unwrap();
        let cases = set.load().unwrap();
        assert!(cases.len() >= 100, "{} cases", cases.len());
        let window = cases
            .iter()
            .find(|c| c.name == "TestStream_Window")
            .expect("TestStream_Window case");
        let body = set.rebased_body(window).unwrap();
        let first = body.lines().next().unwrap();
        assert!(first.ends_with(" 31536000"), "{first}");
    }
}
