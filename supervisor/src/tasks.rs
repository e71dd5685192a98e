//! The running side of desired state: one keeper per task that should run.
//!
//! The task store and the task API (later) change [`DesiredState`] and then call
//! [`TaskKeepers::reconcile`]; a failed task (crash loop, bad script) stays failed until
//! [`TaskKeepers::enable`] or a disable/enable cycle starts it afresh.

use crate::desired::DesiredState;
use crate::keeper::{KeeperHandle, SupCtx, start_keeper, start_replay_keeper};
use kapacitor_ipc::{Role, TaskSpec};
use std::collections::BTreeMap;
use std::sync::Arc;
use tracing::info;

struct Running {
    spec: TaskSpec,
    keeper: KeeperHandle,
}

pub struct TaskKeepers {
    ctx: Arc<SupCtx>,
    running: BTreeMap<String, Running>,
    /// Ephemeral replay workers by replay id: not in desired state, never reconciled.
    replays: BTreeMap<String, KeeperHandle>,
}

/// What [`TaskKeepers::reconcile`] changed, by task id.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Reconciled {
    pub started: Vec<String>,
    pub stopped: Vec<String>,
    pub restarted: Vec<String>,
}

impl TaskKeepers {
    pub fn new(ctx: Arc<SupCtx>) -> TaskKeepers {
        TaskKeepers {
            ctx,
            running: BTreeMap::new(),
            replays: BTreeMap::new(),
        }
    }

    /// Starts keepers for enabled tasks that have none, stops those of tasks that are gone or
    /// disabled, and restarts those whose spec changed. Stops wait up to `deadline`.
    pub async fn reconcile(
        &mut self,
        desired: &DesiredState,
        deadline: tokio::time::Instant,
    ) -> Reconciled {
        let wanted: BTreeMap<String, TaskSpec> = desired
            .enabled()
            .into_iter()
            .map(|s| (s.id.clone(), s))
            .collect();
        let mut out = Reconciled::default();
        let ids: Vec<String> = self.running.keys().cloned().collect();
        for id in ids {
            match wanted.get(&id) {
                None => {
                    self.stop(&id, deadline).await;
                    out.stopped.push(id);
                }
                Some(spec) if self.running.get(&id).is_some_and(|r| &r.spec != spec) => {
                    self.stop(&id, deadline).await;
                    self.start(spec.clone());
                    out.restarted.push(id);
                }
                Some(_) => {}
            }
        }
        for (id, spec) in wanted {
            if !self.running.contains_key(&id) {
                self.start(spec);
                out.started.push(id);
            }
        }
        out
    }

    /// Starts a failed task again (no effect on a running one).
    pub async fn enable(&self, id: &str) -> bool {
        match self.running.get(id) {
            Some(r) => {
                r.keeper.enable(r.spec.clone()).await;
                true
            }
            None => false,
        }
    }

    /// The keepers (tasks and replays), for the ordered shutdown.
    pub fn keepers(&self) -> impl Iterator<Item = &KeeperHandle> {
        self.running
            .values()
            .map(|r| &r.keeper)
            .chain(self.replays.values())
    }

    /// Starts the ephemeral worker of a replay (`spec.id` is the replay id). Refused when a
    /// task worker or another replay already runs under that id: the process table and the
    /// worker registry are keyed by it.
    pub fn start_replay(&mut self, spec: TaskSpec) -> Result<(), String> {
        let id = spec.id.clone();
        if self.running.contains_key(&id) || self.replays.contains_key(&id) {
            return Err(format!("a task or replay with ID {id} is already running"));
        }
        info!(replay = %id, "starting replay worker");
        let keeper = start_replay_keeper(spec, self.ctx.clone());
        self.replays.insert(id, keeper);
        Ok(())
    }

    /// Stops a replay's worker (SIGKILL at `deadline`) and forgets it; the receiver resolves
    /// once the process is gone. `None` when there is no such replay.
    pub async fn stop_replay(
        &mut self,
        id: &str,
        deadline: tokio::time::Instant,
    ) -> Option<tokio::sync::oneshot::Receiver<()>> {
        let keeper = self.replays.remove(id)?;
        Some(keeper.stop(deadline).await)
    }

    fn start(&mut self, spec: TaskSpec) {
        let role = Role::Worker {
            task_id: spec.id.clone(),
        };
        let keeper = start_keeper(role, Some(spec.clone()), self.ctx.clone());
        self.running
            .insert(spec.id.clone(), Running { spec, keeper });
    }

    async fn stop(&mut self, id: &str, deadline: tokio::time::Instant) {
        if let Some(r) = self.running.remove(id) {
            info!(task = id, "stopping task worker");
            let _ = r.keeper.stop(deadline).await.await;
            self.ctx.table.remove(&r.keeper.role);
        }
    }
}
