//! Desired state: which tasks exist and which should run. The supervisor owns it; a durable
//! task store backs it later (the store calls [`DesiredState::upsert`] / [`remove`] at boot
//! and on API changes). Until then the only source is the test hook [`TEST_TASKS_ENV`].
//!
//! [`remove`]: DesiredState::remove

use kapacitor_ipc::TaskSpec;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Test hook: `KAPACITORD_TEST_TASKS=a,b` defines and enables trivial tasks `a` and `b`, so
/// that worker processes exist before the task API does.
pub const TEST_TASKS_ENV: &str = "KAPACITORD_TEST_TASKS";

#[derive(Debug, Clone, PartialEq)]
pub struct TaskEntry {
    pub spec: TaskSpec,
    pub enabled: bool,
}

/// The task table, shared between the supervisor's tasks.
#[derive(Debug, Clone, Default)]
pub struct DesiredState {
    tasks: Arc<Mutex<BTreeMap<String, TaskEntry>>>,
}

impl DesiredState {
    /// Tasks named by the test hook variable's value (comma-separated ids).
    pub fn from_test_hook(value: Option<&str>) -> DesiredState {
        let state = DesiredState::default();
        for id in value
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            state.upsert(TaskEntry {
                spec: TaskSpec {
                    id: id.to_string(),
                    task_type: "stream".into(),
                    dbrps: vec![],
                    script: String::new(),
                    vars_json: "{}".into(),
                },
                enabled: true,
            });
        }
        state
    }

    pub fn upsert(&self, entry: TaskEntry) {
        self.lock().insert(entry.spec.id.clone(), entry);
    }

    pub fn remove(&self, id: &str) -> Option<TaskEntry> {
        self.lock().remove(id)
    }

    pub fn get(&self, id: &str) -> Option<TaskEntry> {
        self.lock().get(id).cloned()
    }

    /// Specs of the tasks that should have a running worker, by id.
    pub fn enabled(&self) -> Vec<TaskSpec> {
        self.lock()
            .values()
            .filter(|e| e.enabled)
            .map(|e| e.spec.clone())
            .collect()
    }

    /// (all tasks, enabled tasks)
    pub fn counts(&self) -> (u64, u64) {
        let tasks = self.lock();
        let enabled = tasks.values().filter(|e| e.enabled).count();
        (tasks.len() as u64, enabled as u64)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, TaskEntry>> {
        self.tasks.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_hook_defines_enabled_tasks() {
        let s = DesiredState::from_test_hook(Some("a, b,,a"));
        assert_eq!(s.counts(), (2, 2));
        let ids: Vec<_> = s.enabled().into_iter().map(|t| t.id).collect();
        assert_eq!(ids, ["a", "b"]);
        assert_eq!(DesiredState::from_test_hook(None).counts(), (0, 0));
    }
}
