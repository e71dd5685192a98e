//! `[task] memory-limit`: a task fed a cardinality bomb passes its memory budget and is stopped
//! with an error naming the budget, not restarted; a second task on the same data keeps
//! processing every point; enabling the failed task again starts it.

#[path = "support/tasks_helpers.rs"]
mod helpers;

use helpers::*;
use kapacitor_tests::{Daemon, DaemonOpts, eventually};
use serde_json::json;
use std::time::Duration;

/// Generous: the machine is shared with builds.
const DEADLINE: Duration = Duration::from_secs(120);
const LINES_PER_WRITE: usize = 5_000;
/// The bomb task fails long before this many points: each unique `id` is a new group, which
/// costs the window task well over a kilobyte.
const MAX_WRITES: usize = 200;

/// Every point is a new series and a new group of the `bomb` task.
fn bomb_body(write: usize) -> String {
    let mut body = String::with_capacity(LINES_PER_WRITE * 60);
    for i in 0..LINES_PER_WRITE {
        let n = write * LINES_PER_WRITE + i;
        body.push_str(&format!(
            "cpu,id=series-{n:09},region=eu-west v={n}i,w={}.5 {n}\n",
            n % 100
        ));
    }
    body
}

fn task_error(d: &Daemon, id: &str) -> (bool, String) {
    let t = get_task(d, id);
    (
        t["executing"].as_bool().unwrap_or(true),
        t["error"].as_str().unwrap_or_default().to_string(),
    )
}

#[test]
fn a_task_over_its_memory_budget_fails_and_the_other_task_goes_on() {
    let d = Daemon::start(DaemonOpts {
        extra_config: "[task]\n  memory-limit = \"64MiB\"\n".into(),
        ..DaemonOpts::default()
    });
    let task = |id: &str, script: &str| {
        json!({
            "id": id,
            "type": "stream",
            "dbrps": [{"db": "mydb", "rp": "autogen"}],
            "script": script,
            "status": "enabled",
        })
    };
    create_task(
        &d,
        task(
            "bomb",
            "stream|from().measurement('cpu').groupBy('id')|window().period(1h).every(1h)|count('v')",
        ),
    );
    create_task(
        &d,
        task(
            "counter",
            "stream|from().measurement('cpu')|window().period(1s).every(1s)|count('v')|httpOut('count')",
        ),
    );
    wait_executing(&d, "bomb", true);
    wait_executing(&d, "counter", true);

    // Write at the pace of the counter task (each write is taken before the next), until
    // the bomb task has failed, then a few more writes.
    let mut written = 0u64;
    let mut failed_after: Option<usize> = None;
    for w in 0..MAX_WRITES {
        let r = write(&d, "db=mydb&rp=autogen&precision=ms", &bomb_body(w));
        assert_eq!(r.status, 204, "{}", r.body);
        written += LINES_PER_WRITE as u64;
        eventually(DEADLINE, &format!("counter collected {written}"), || {
            (collected(&d, "counter", "from1") == written).then_some(())
        });
        if failed_after.is_none() && !task_error(&d, "bomb").1.is_empty() {
            failed_after = Some(w);
        }
        if failed_after.is_some_and(|f| w >= f + 5) {
            break;
        }
    }
    let failed_after = failed_after.unwrap_or_else(|| {
        panic!(
            "the bomb task did not fail after {written} points: {}\n{}",
            get_task(&d, "bomb"),
            d.diagnostics()
        )
    });
    println!(
        "the bomb task failed after {} points",
        (failed_after + 1) * LINES_PER_WRITE
    );

    let (executing, error) = task_error(&d, "bomb");
    assert!(!executing, "a task over its budget is not executing");
    assert!(
        error.starts_with("task bomb exceeded its memory budget of 64 MiB"),
        "{error}"
    );
    // Not restarted: its worker is gone and stays gone.
    std::thread::sleep(Duration::from_secs(2));
    let row = d.child("bomb").expect("the task's row");
    assert_eq!(row.state, "failed", "{row:?}");
    assert_eq!(task_error(&d, "bomb").1, error);

    // The other task took every point and still runs.
    let counter = get_task(&d, "counter");
    assert_eq!(counter["executing"], true, "{counter}");
    assert_eq!(counter["error"], "");
    assert_eq!(collected(&d, "counter", "from1"), written);
    assert_eq!(
        counter["stats"]["task-stats"]["points_dropped"], 0,
        "{counter}"
    );

    // Enabled again, the task runs (until the next bomb).
    let r = patch_json(&d, &format!("{TASKS}/bomb"), &json!({"status": "enabled"}));
    assert_eq!(r.status, 200, "{}", r.body);
    let t = wait_executing(&d, "bomb", true);
    assert_eq!(t["error"], "", "{t}");
}
