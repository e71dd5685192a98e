//! The child side of the binary: what `kapacitord __role <role>` runs.

use crate::logging::{self, LogSettings};
use kapacitor_ipc::Role;
use std::ffi::CString;

/// Runs a child role to completion and returns its exit code.
pub fn run_role(role: Role) -> i32 {
    let proc_name = match &role {
        Role::Worker { task_id } => format!("task:{task_id}"),
        other => other.kind().to_string(),
    };
    // The kernel's comm name (15 bytes) is what top and pgrep show; argv[0] carries the
    // full `kapacitord task <id>` title.
    let comm: String = format!("kapd-{proc_name}").chars().take(15).collect();
    if let Ok(name) = CString::new(comm) {
        let _ = nix::sys::prctl::set_name(&name);
    }
    if let Err(e) = logging::init(&proc_name, &LogSettings::from_env()) {
        eprintln!("{proc_name}: {e}");
    }
    match role {
        Role::Gossipd => kapacitor_gossipd::run(),
        Role::Apid => kapacitor_apid::run(),
        Role::Worker { task_id } => kapacitor_workers::run_worker(&task_id, task_runner),
        Role::Supervisor | Role::WorkerControl { .. } => {
            eprintln!("{role} is not a child role");
            2
        }
    }
}

/// The runner of a task: the pipeline engine, except for the test hook's trivial tasks
/// (empty script), which count what they receive.
fn task_runner(
    spec: &kapacitor_ipc::TaskSpec,
    ctx: &kapacitor_workers::WorkerContext,
) -> Result<Box<dyn kapacitor_workers::TaskRunner>, String> {
    if spec.script.trim().is_empty() {
        kapacitor_workers::counting_runner(spec, ctx)
    } else {
        kapacitor_workers::engine_runner(spec, ctx)
    }
}
