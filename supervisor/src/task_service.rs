//! The owner of desired state: the task store, the task table and the task keepers.
//!
//! apid sends task and template changes over its supervisor link; the apid keeper forwards
//! them here as [`ServiceCmd::Api`]. One actor applies them in order: store first (one redb
//! transaction per change, on the store thread), then the task table, then
//! [`TaskKeepers::reconcile`]. The supervisor never parses TICKscript: records arrive
//! validated and rendered by apid, and a script the worker cannot build is reported by the
//! worker (`TaskStartFailed`) and shown as the task's `error`.

use crate::desired::{DesiredState, TaskEntry};
use crate::keeper::{KeeperHandle, SupCtx};
use crate::store_thread::{self, StoreHandle};
use crate::tasks::TaskKeepers;
use kapacitor_ipc::{Dbrp, Message, ProcState, Role, TaskSpec, TaskState};
use kapacitor_store::{Namespace, Op, StoreError, TaskRecord, TaskStatus, TemplateRecord};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tracing::{error, info, warn};

/// How long the answer to enabling a task waits for its worker to be ready, so that the
/// response's `executing` is true when the task runs.
const READY_WAIT: Duration = Duration::from_secs(5);

pub enum ServiceCmd {
    /// A task/template message from apid; the answer goes to `reply`.
    Api {
        msg: Message,
        reply: oneshot::Sender<Message>,
    },
    /// Shutdown: stop every task keeper (SIGKILL at `deadline`); `reply` gets one receiver per
    /// keeper that resolves when its worker is gone. The service ends after this.
    StopAll {
        deadline: tokio::time::Instant,
        reply: oneshot::Sender<Vec<oneshot::Receiver<()>>>,
    },
}

/// Sends commands to the service; held by every keeper (through [`SupCtx`]).
pub type ServiceTx = mpsc::Sender<ServiceCmd>;

pub struct TaskService {
    ctx: Arc<SupCtx>,
    store: StoreHandle,
    desired: DesiredState,
    keepers: TaskKeepers,
    /// How long a worker being stopped (disable, delete, reload) may take before SIGKILL.
    stop_timeout: Duration,
}

impl TaskService {
    pub fn new(ctx: Arc<SupCtx>, store: StoreHandle, stop_timeout: Duration) -> TaskService {
        TaskService {
            desired: ctx.desired.clone(),
            keepers: TaskKeepers::new(ctx.clone()),
            ctx,
            store,
            stop_timeout,
        }
    }

    /// Loads the stored tasks into the task table and starts the enabled ones. A record that
    /// cannot be read is logged and skipped; a task that cannot start is marked by its worker.
    /// Only a store that cannot be listed at all is an error.
    pub async fn boot(&mut self) -> Result<(), StoreError> {
        let records = self
            .store
            .call(|s| s.list_each::<TaskRecord>(Namespace::Tasks))
            .await?;
        for (key, rec) in records {
            match rec {
                Ok(rec) => {
                    self.desired.upsert(entry(&rec));
                }
                Err(e) => {
                    error!(task = %key, error = %e, "stored task is unreadable; not starting it")
                }
            }
        }
        let (all, enabled) = self.desired.counts();
        info!(tasks = all, enabled, "task store loaded");
        self.reconcile().await;
        Ok(())
    }

    /// Serves commands until shutdown.
    pub async fn run(mut self, mut rx: mpsc::Receiver<ServiceCmd>) {
        while let Some(cmd) = rx.recv().await {
            match cmd {
                ServiceCmd::Api { msg, reply } => {
                    let answer = self.handle(msg).await;
                    let _ = reply.send(answer);
                }
                ServiceCmd::StopAll { deadline, reply } => {
                    let mut waits = Vec::new();
                    let handles: Vec<&KeeperHandle> = self.keepers.keepers().collect();
                    for h in handles {
                        waits.push(h.stop(deadline).await);
                    }
                    let _ = reply.send(waits);
                    return;
                }
            }
        }
    }

    async fn handle(&mut self, msg: Message) -> Message {
        let result = match msg {
            Message::TaskListRequest => self.list_tasks().await,
            Message::TaskGetRequest { id } => self.get_task(id).await,
            Message::TaskPut {
                record_json,
                create,
                previous_id,
            } => self.put_task(record_json, create, previous_id).await,
            Message::TaskDelete { id } => self.delete_task(id).await,
            Message::TemplateListRequest => self.list_templates().await,
            Message::TemplateGetRequest { id } => self.get_template(id).await,
            Message::TemplatePut {
                record_json,
                create,
                previous_id,
                tasks_json,
            } => {
                self.put_template(record_json, create, previous_id, tasks_json)
                    .await
            }
            Message::TemplateDelete { id } => self.delete_template(id).await,
            Message::ReplayWorkerStart { spec } => Ok(match self.keepers.start_replay(spec) {
                Ok(()) => Message::Done,
                Err(message) => rejected(message),
            }),
            Message::ReplayWorkerStop { id } => {
                let deadline = tokio::time::Instant::now() + self.stop_timeout;
                if let Some(gone) = self.keepers.stop_replay(&id, deadline).await {
                    let _ = gone.await;
                    self.ctx.table.remove(&Role::Worker { task_id: id });
                }
                Ok(Message::Done)
            }
            other => Ok(Message::Error {
                message: format!("the task service does not serve {}", other.name()),
            }),
        };
        result.unwrap_or_else(|e| {
            error!(error = %e, "task store operation failed");
            store_thread::failed(&e, e.to_string())
        })
    }

    async fn list_tasks(&self) -> Result<Message, StoreError> {
        let records = self
            .store
            .call(|s| s.list_each::<TaskRecord>(Namespace::Tasks))
            .await?;
        let mut out = Vec::with_capacity(records.len());
        for (key, rec) in records {
            match rec {
                Ok(rec) => out.push(task_state(&self.ctx, &rec)),
                Err(e) => warn!(task = %key, error = %e, "stored task is unreadable; not listed"),
            }
        }
        Ok(Message::Tasks(out))
    }

    async fn get_task(&self, id: String) -> Result<Message, StoreError> {
        let rec: Option<TaskRecord> = self
            .store
            .call(move |s| s.get(Namespace::Tasks, &id))
            .await?;
        Ok(Message::Tasks(
            rec.iter().map(|r| task_state(&self.ctx, r)).collect(),
        ))
    }

    async fn put_task(
        &mut self,
        record_json: String,
        create: bool,
        previous_id: Option<String>,
    ) -> Result<Message, StoreError> {
        let rec: TaskRecord = match serde_json::from_str(&record_json) {
            Ok(r) => r,
            Err(e) => return Ok(rejected(format!("invalid task record: {e}"))),
        };
        let previous_id = previous_id.filter(|p| *p != rec.id);
        let id = rec.id.clone();
        let must_be_new = create || previous_id.is_some();
        let key = id.clone();
        let exists = self
            .store
            .call(move |s| Ok(s.get::<TaskRecord>(Namespace::Tasks, &key)?.is_some()))
            .await?;
        if must_be_new && exists {
            return Ok(rejected(format!("task {id} already exists")));
        }
        let mut ops = vec![Op::put(Namespace::Tasks, &id, &rec)?];
        if let Some(old) = &previous_id {
            ops.push(Op::Delete(Namespace::Tasks, old.clone()));
        }
        self.store.call(move |s| s.apply(&ops)).await?;
        if let Some(old) = &previous_id {
            self.desired.remove(old);
        }
        self.desired.upsert(entry(&rec));
        self.reconcile().await;
        if rec.status == TaskStatus::Enabled {
            // Revives a task that crash-looped or failed to start; no effect on a running one.
            // The old error goes now, so the answer waits for the new attempt's outcome.
            let role = Role::Worker {
                task_id: id.clone(),
            };
            self.ctx.table.update(&role, |r| {
                if r.state == ProcState::Failed {
                    r.error = None;
                }
            });
            self.keepers.enable(&id).await;
        }
        Ok(Message::Done)
    }

    async fn delete_task(&mut self, id: String) -> Result<Message, StoreError> {
        let key = id.clone();
        self.store
            .call(move |s| s.delete(Namespace::Tasks, &key))
            .await?;
        if self.desired.remove(&id).is_some() {
            self.reconcile().await;
        }
        Ok(Message::Done)
    }

    async fn list_templates(&self) -> Result<Message, StoreError> {
        let records = self
            .store
            .call(|s| s.list_each::<TemplateRecord>(Namespace::Templates))
            .await?;
        let mut out = Vec::with_capacity(records.len());
        for (key, rec) in records {
            match rec.and_then(|r| to_json(&r)) {
                Ok(json) => out.push(json),
                Err(e) => warn!(template = %key, error = %e, "stored template is unreadable"),
            }
        }
        Ok(Message::Templates(out))
    }

    async fn get_template(&self, id: String) -> Result<Message, StoreError> {
        let rec: Option<TemplateRecord> = self
            .store
            .call(move |s| s.get(Namespace::Templates, &id))
            .await?;
        Ok(Message::Templates(
            rec.iter().map(to_json).collect::<Result<_, _>>()?,
        ))
    }

    async fn put_template(
        &mut self,
        record_json: String,
        create: bool,
        previous_id: Option<String>,
        tasks_json: Vec<String>,
    ) -> Result<Message, StoreError> {
        let rec: TemplateRecord = match serde_json::from_str(&record_json) {
            Ok(r) => r,
            Err(e) => return Ok(rejected(format!("invalid template record: {e}"))),
        };
        let mut tasks = Vec::with_capacity(tasks_json.len());
        for json in &tasks_json {
            match serde_json::from_str::<TaskRecord>(json) {
                Ok(t) => tasks.push(t),
                Err(e) => return Ok(rejected(format!("invalid task record: {e}"))),
            }
        }
        let previous_id = previous_id.filter(|p| *p != rec.id);
        let id = rec.id.clone();
        let key = id.clone();
        let exists = self
            .store
            .call(move |s| {
                Ok(s.get::<TemplateRecord>(Namespace::Templates, &key)?
                    .is_some())
            })
            .await?;
        if (create || previous_id.is_some()) && exists {
            return Ok(rejected(format!("template {id} already exists")));
        }
        let mut ops = vec![Op::put(Namespace::Templates, &id, &rec)?];
        if let Some(old) = &previous_id {
            ops.push(Op::Delete(Namespace::Templates, old.clone()));
        }
        for t in &tasks {
            ops.push(Op::put(Namespace::Tasks, &t.id, t)?);
        }
        self.store.call(move |s| s.apply(&ops)).await?;
        for t in &tasks {
            self.desired.upsert(entry(t));
        }
        if !tasks.is_empty() {
            self.reconcile().await;
        }
        Ok(Message::Done)
    }

    async fn delete_template(&mut self, id: String) -> Result<Message, StoreError> {
        self.store
            .call(move |s| s.delete(Namespace::Templates, &id))
            .await?;
        Ok(Message::Done)
    }

    async fn reconcile(&mut self) {
        let deadline = tokio::time::Instant::now() + self.stop_timeout;
        let r = self.keepers.reconcile(&self.desired, deadline).await;
        if !(r.started.is_empty() && r.stopped.is_empty() && r.restarted.is_empty()) {
            info!(started = ?r.started, stopped = ?r.stopped, restarted = ?r.restarted, "tasks reconciled");
        }
    }
}

fn rejected(message: String) -> Message {
    Message::Rejected { message }
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Db(format!("encoding a record: {e}")))
}

/// The task-table entry (what the worker runs) of a stored task.
fn entry(rec: &TaskRecord) -> TaskEntry {
    TaskEntry {
        spec: TaskSpec {
            id: rec.id.clone(),
            task_type: rec.task_type.clone(),
            dbrps: rec
                .dbrps
                .iter()
                .map(|d| Dbrp {
                    db: d.db.clone(),
                    rp: d.rp.clone(),
                })
                .collect(),
            script: rec.script.clone(),
            vars_json: if rec.vars.is_null() {
                "{}".into()
            } else {
                rec.vars.to_string()
            },
        },
        enabled: rec.status == TaskStatus::Enabled,
    }
}

/// (executing, error) of a task as its keeper sees it: executing once the worker process
/// runs and has reported the task built; the error of a failed (bad script, crash loop) one.
pub fn runtime(ctx: &SupCtx, id: &str) -> (bool, String) {
    let role = Role::Worker {
        task_id: id.to_string(),
    };
    let row = ctx.table.snapshot().into_iter().find(|r| r.role == role);
    match row {
        Some(r) => (
            r.state == ProcState::Running && ctx.is_ready(id),
            r.error.unwrap_or_default(),
        ),
        None => (false, String::new()),
    }
}

fn task_state(ctx: &SupCtx, rec: &TaskRecord) -> TaskState {
    let (executing, error) = runtime(ctx, &rec.id);
    TaskState {
        record_json: serde_json::to_string(rec).unwrap_or_default(),
        executing,
        // A stored error (none today) shows while no worker reports one.
        error: if error.is_empty() {
            rec.error.clone()
        } else {
            error
        },
    }
}

/// The answer to a successful `TaskPut`: the stored task with its runtime state, after
/// waiting (bounded) for an enabled task's worker to be ready or to fail.
pub async fn put_answer(ctx: &SupCtx, record_json: &str) -> Message {
    let Ok(rec) = serde_json::from_str::<TaskRecord>(record_json) else {
        return rejected("invalid task record".into());
    };
    if rec.status == TaskStatus::Enabled {
        let until = tokio::time::Instant::now() + READY_WAIT;
        while tokio::time::Instant::now() < until {
            let (executing, error) = runtime(ctx, &rec.id);
            if executing || !error.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    Message::Tasks(vec![task_state(ctx, &rec)])
}

/// How long the answer to starting a replay worker waits for it to build the task.
const REPLAY_READY_WAIT: Duration = Duration::from_secs(10);

/// The answer to a `ReplayWorkerStart` the service accepted: `Done` once the worker has built
/// the task, else `Error` with why it did not (start failure, exit, timeout).
pub async fn replay_start_answer(ctx: &SupCtx, id: &str) -> Message {
    let until = tokio::time::Instant::now() + REPLAY_READY_WAIT;
    loop {
        let (executing, error) = runtime(ctx, id);
        if executing {
            return Message::Done;
        }
        if !error.is_empty() {
            return Message::Error { message: error };
        }
        if tokio::time::Instant::now() >= until {
            return Message::Error {
                message: format!(
                    "the replay worker did not start within {}s",
                    REPLAY_READY_WAIT.as_secs()
                ),
            };
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_carries_the_spec_and_status() {
        let mut rec = TaskRecord::new_for_test("cpu");
        rec.status = TaskStatus::Enabled;
        rec.vars = serde_json::json!({"x": {"type": "int", "value": 1}});
        let e = entry(&rec);
        assert!(e.enabled);
        assert_eq!(e.spec.id, "cpu");
        assert_eq!(e.spec.script, "stream|from()");
        assert_eq!(
            e.spec.dbrps,
            vec![Dbrp {
                db: "db".into(),
                rp: "rp".into()
            }]
        );
        assert_eq!(e.spec.vars_json, r#"{"x":{"type":"int","value":1}}"#);
        rec.vars = serde_json::Value::Null;
        rec.status = TaskStatus::Disabled;
        let e = entry(&rec);
        assert!(!e.enabled);
        assert_eq!(e.spec.vars_json, "{}");
    }
}
