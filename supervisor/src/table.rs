//! The process table: what each supervised child is doing, for the process tree view.

use kapacitor_ipc::{ProcState, ProcessInfo, Role};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

#[derive(Debug, Clone, Default)]
pub struct ProcTable {
    rows: Arc<Mutex<Vec<ProcessInfo>>>,
}

fn unix_ns(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

impl ProcTable {
    /// Rows in a stable order: gossipd, apid, then tasks by id.
    pub fn snapshot(&self) -> Vec<ProcessInfo> {
        let mut rows = self.lock().clone();
        rows.sort_by_key(|r| match &r.role {
            Role::Supervisor => (0, String::new()),
            Role::Gossipd => (1, String::new()),
            Role::Apid => (2, String::new()),
            Role::Worker { task_id } | Role::WorkerControl { task_id } => (3, task_id.clone()),
        });
        rows
    }

    /// Applies `f` to the row of `role`, creating it if needed.
    pub fn update(&self, role: &Role, f: impl FnOnce(&mut ProcessInfo)) {
        let mut rows = self.lock();
        let idx = match rows.iter().position(|r| &r.role == role) {
            Some(i) => i,
            None => {
                rows.push(ProcessInfo {
                    role: role.clone(),
                    pid: None,
                    state: ProcState::Stopped,
                    restarts: 0,
                    started_unix_ns: None,
                    last_exit: None,
                    error: None,
                });
                rows.len() - 1
            }
        };
        f(&mut rows[idx]);
    }

    pub fn set_running(&self, role: &Role, pid: u32) {
        self.update(role, |r| {
            r.pid = Some(pid);
            r.state = ProcState::Running;
            r.started_unix_ns = Some(unix_ns(SystemTime::now()));
            r.error = None;
        });
    }

    pub fn set_exited(&self, role: &Role, state: ProcState, last_exit: Option<String>) {
        self.update(role, |r| {
            r.pid = None;
            r.state = state;
            r.started_unix_ns = None;
            if last_exit.is_some() {
                r.last_exit = last_exit;
            }
        });
    }

    pub fn remove(&self, role: &Role) {
        self.lock().retain(|r| &r.role != role);
    }

    /// Pids of every live child.
    pub fn live_pids(&self) -> Vec<u32> {
        self.lock().iter().filter_map(|r| r.pid).collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<ProcessInfo>> {
        self.rows.lock().unwrap_or_else(|p| p.into_inner())
    }
}
