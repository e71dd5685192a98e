//! One keeper task per supervised child: start it, serve its requests, notice its exit,
//! restart it with backoff, stop it on request.

use crate::backoff::{Backoff, CrashWindow, HEALTHY_AFTER};
use crate::desired::DesiredState;
use crate::logging::LogSettings;
use crate::notify;
use crate::spawn::{Spawned, describe_exit, signal_group, spawn_child};
use crate::store_thread::StoreHandle;
use crate::table::ProcTable;
use crate::task_service::{ServiceCmd, ServiceTx, put_answer};
use kapacitor_ipc::{
    Hello, Incoming, Message, Peer, PeerOptions, ProcState, ProcessInfo, Role, Status, TaskSpec,
    handshake,
};
use nix::sys::signal::Signal;
use std::collections::HashSet;
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, error, info, warn};

/// How long a child that closed its IPC link may take to exit before it is killed.
const EXIT_AFTER_EOF: Duration = Duration::from_secs(5);

/// The error a task shows once the watchdog gave up on its worker, until a new worker is ready.
pub const NOT_RESPONDING: &str = "not responding";

/// What every keeper shares.
pub struct SupCtx {
    /// The configuration: the base one, and the effective one (config overrides applied)
    /// that every child gets.
    pub config: crate::config_overrides::ConfigState,
    pub log: LogSettings,
    pub table: ProcTable,
    pub desired: DesiredState,
    /// The cluster id at start; gossipd owns the file and rewrites it on join and remove,
    /// so [`SupCtx::status`] reads the current one from `data_dir`.
    pub cluster_id: String,
    pub data_dir: std::path::PathBuf,
    pub server_id: String,
    pub hostname: String,
    pub started_unix_ns: i64,
    pub ready: Once,
    /// The task service, which answers apid's task and template requests.
    pub service: ServiceTx,
    /// Tasks whose current worker reported `Ready` (task built).
    pub ready_tasks: Mutex<HashSet<String>>,
    /// The store, for apid's alert records (the task service has its own handle).
    pub store: StoreHandle,
    /// Extra environment of every child (`-disable-handlers` for apid).
    pub child_env: Vec<(String, String)>,
    /// The link to the current apid, for the requests the supervisor makes (`[load]`).
    pub apid: Mutex<Option<Peer>>,
}

impl SupCtx {
    /// The link to apid while it is up.
    pub fn apid_peer(&self) -> Option<Peer> {
        let slot = self.apid.lock().unwrap_or_else(|p| p.into_inner());
        slot.as_ref().filter(|p| !p.is_closed()).cloned()
    }

    /// Whether the current worker of task `id` has built its task.
    pub fn is_ready(&self, id: &str) -> bool {
        self.lock_ready().contains(id)
    }

    fn set_ready(&self, role: &Role, ready: bool) {
        if let Role::Worker { task_id } = role {
            let mut set = self.lock_ready();
            if ready {
                set.insert(task_id.clone());
            } else {
                set.remove(task_id);
            }
        }
    }

    fn lock_ready(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.ready_tasks.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn status(&self) -> Status {
        let (num_tasks, num_enabled_tasks) = self.desired.counts();
        Status {
            cluster_id: kapacitor_gossipd::identity::read_cluster_id(&self.data_dir)
                .map(|id| id.to_string())
                .unwrap_or_else(|| self.cluster_id.clone()),
            server_id: self.server_id.clone(),
            hostname: self.hostname.clone(),
            num_tasks,
            num_enabled_tasks,
            started_unix_ns: self.started_unix_ns,
        }
    }

    fn process_tree(&self) -> Vec<ProcessInfo> {
        let mut rows = vec![ProcessInfo {
            role: Role::Supervisor,
            pid: Some(std::process::id()),
            state: ProcState::Running,
            restarts: 0,
            started_unix_ns: Some(self.started_unix_ns),
            last_exit: None,
            error: None,
        }];
        rows.extend(self.table.snapshot());
        rows
    }
}

pub enum KeeperCmd {
    /// Stop the child (Shutdown over IPC, SIGKILL at `deadline`) and end the keeper.
    Stop {
        deadline: tokio::time::Instant,
        done: oneshot::Sender<()>,
    },
    /// Start a failed task again, with this spec.
    Enable(TaskSpec),
}

pub struct KeeperHandle {
    pub role: Role,
    tx: mpsc::Sender<KeeperCmd>,
}

impl KeeperHandle {
    /// Asks the keeper to stop; the receiver resolves once the child is gone.
    pub async fn stop(&self, deadline: tokio::time::Instant) -> oneshot::Receiver<()> {
        let (done, rx) = oneshot::channel();
        // A keeper that already ended drops `done`, which resolves the receiver at once.
        let _ = self.tx.send(KeeperCmd::Stop { deadline, done }).await;
        rx
    }

    pub async fn enable(&self, spec: TaskSpec) {
        let _ = self.tx.send(KeeperCmd::Enable(spec)).await;
    }
}

/// Starts the keeper of `role` (a task worker needs its `spec`). Call from the supervisor's
/// runtime; the child is spawned from the main thread.
pub fn start_keeper(role: Role, spec: Option<TaskSpec>, ctx: Arc<SupCtx>) -> KeeperHandle {
    let (tx, rx) = mpsc::channel(8);
    ctx.table.update(&role, |_| {});
    tokio::spawn(keeper_loop(role.clone(), spec, ctx, rx));
    KeeperHandle { role, tx }
}

/// Starts the keeper of a replay's ephemeral worker (`spec.id` is the replay id): it gets
/// `StartReplay`, and whatever way it ends (stopped, crashed, could not build the task) it is
/// not started again. Its row stays in the process table until [`KeeperHandle::stop`].
pub fn start_replay_keeper(spec: TaskSpec, ctx: Arc<SupCtx>) -> KeeperHandle {
    let role = Role::Worker {
        task_id: spec.id.clone(),
    };
    let (tx, mut rx) = mpsc::channel(8);
    ctx.table.update(&role, |_| {});
    let keeper_role = role.clone();
    tokio::spawn(async move {
        let role = keeper_role;
        let outcome = run_once(&role, Some(Message::StartReplay(spec)), &ctx, &mut rx, None).await;
        ctx.set_ready(&role, false);
        let mut done = None;
        match outcome {
            Outcome::Stopped { done: d, last_exit } => {
                ctx.table.set_exited(&role, ProcState::Stopped, last_exit);
                done = d;
            }
            Outcome::StartFailed { error, last_exit } => {
                warn!(role = %role, %error, "replay task cannot start");
                ctx.table
                    .set_exited(&role, ProcState::Failed, Some(last_exit));
                ctx.table.update(&role, |r| r.error = Some(error));
            }
            Outcome::Crashed { last_exit, .. } => {
                warn!(role = %role, last_exit = %last_exit, "replay worker exited; not restarting it");
                ctx.table
                    .set_exited(&role, ProcState::Failed, Some(last_exit.clone()));
                ctx.table.update(&role, |r| {
                    r.error = Some(format!("replay worker exited: {last_exit}"))
                });
            }
        }
        // The handle's stop resolves once this task ends (its `done` is dropped then).
        if let Some(done) = done {
            let _ = done.send(());
        } else {
            while let Some(cmd) = rx.recv().await {
                if let KeeperCmd::Stop { done, .. } = cmd {
                    let _ = done.send(());
                    break;
                }
            }
        }
    });
    KeeperHandle { role, tx }
}

enum Outcome {
    Stopped {
        done: Option<oneshot::Sender<()>>,
        last_exit: Option<String>,
    },
    Crashed {
        last_exit: String,
        uptime: Duration,
        /// Killed by the watchdog.
        not_responding: bool,
    },
    StartFailed {
        error: String,
        last_exit: String,
    },
}

enum AfterFailure {
    Restart,
    Exit,
}

async fn keeper_loop(
    role: Role,
    mut spec: Option<TaskSpec>,
    ctx: Arc<SupCtx>,
    mut cmds: mpsc::Receiver<KeeperCmd>,
) {
    let mut backoff = Backoff::default();
    let mut crashes = CrashWindow::default();
    let is_task = matches!(role, Role::Worker { .. });
    let mut first = true;
    // The error the previous worker left for the next one to clear once it is ready.
    let mut carried: Option<String> = None;
    loop {
        if !first {
            ctx.table.update(&role, |r| r.restarts += 1);
        }
        first = false;
        let start = spec.clone().map(Message::StartTask);
        let outcome = run_once(&role, start, &ctx, &mut cmds, carried.take()).await;
        ctx.set_ready(&role, false);
        let (last_exit, uptime) = match outcome {
            Outcome::Stopped { done, last_exit } => {
                ctx.table.set_exited(&role, ProcState::Stopped, last_exit);
                info!(role = %role, "stopped");
                if let Some(done) = done {
                    let _ = done.send(());
                }
                return;
            }
            Outcome::StartFailed { error, last_exit } => {
                error!(role = %role, %error, "task failed; not restarting it until it is enabled again");
                ctx.table
                    .set_exited(&role, ProcState::Failed, Some(last_exit));
                ctx.table.update(&role, |r| r.error = Some(error));
                match wait_for_enable(&role, &ctx, &mut cmds, &mut spec).await {
                    AfterFailure::Restart => {
                        backoff.reset();
                        crashes.clear();
                        continue;
                    }
                    AfterFailure::Exit => return,
                }
            }
            Outcome::Crashed {
                last_exit,
                uptime,
                not_responding,
            } => {
                if not_responding {
                    carried = Some(NOT_RESPONDING.to_string());
                }
                (last_exit, uptime)
            }
        };
        if uptime >= HEALTHY_AFTER {
            backoff.reset();
        }
        if is_task && crashes.record(Instant::now()) {
            // The crash loop's error replaces the watchdog's.
            carried = None;
            let error = format!(
                "task process crashed {} times within {}s; last exit: {last_exit}",
                crate::backoff::CRASH_LIMIT,
                crate::backoff::CRASH_WINDOW.as_secs()
            );
            error!(role = %role, %error, "not restarting it until the task is enabled again");
            ctx.table
                .set_exited(&role, ProcState::Failed, Some(last_exit));
            ctx.table.update(&role, |r| r.error = Some(error));
            match wait_for_enable(&role, &ctx, &mut cmds, &mut spec).await {
                AfterFailure::Restart => {
                    backoff.reset();
                    crashes.clear();
                    continue;
                }
                AfterFailure::Exit => return,
            }
        }
        let delay = backoff.next_delay();
        warn!(role = %role, last_exit = %last_exit, restart_in = ?delay, "child exited; restarting");
        ctx.table
            .set_exited(&role, ProcState::Backoff, Some(last_exit));
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            cmd = cmds.recv() => match cmd {
                Some(KeeperCmd::Stop { done, .. }) => {
                    ctx.table.set_exited(&role, ProcState::Stopped, None);
                    let _ = done.send(());
                    return;
                }
                Some(KeeperCmd::Enable(new_spec)) => spec = Some(new_spec),
                None => return,
            },
        }
    }
}

async fn wait_for_enable(
    role: &Role,
    ctx: &SupCtx,
    cmds: &mut mpsc::Receiver<KeeperCmd>,
    spec: &mut Option<TaskSpec>,
) -> AfterFailure {
    match cmds.recv().await {
        Some(KeeperCmd::Enable(new_spec)) => {
            info!(role = %role, "enabled again; starting");
            *spec = Some(new_spec);
            ctx.table.update(role, |r| r.error = None);
            AfterFailure::Restart
        }
        Some(KeeperCmd::Stop { done, .. }) => {
            let _ = done.send(());
            AfterFailure::Exit
        }
        None => AfterFailure::Exit,
    }
}

/// Runs one process of `role` until it exits or is stopped. `carried`: an error the previous
/// process left (the watchdog's), shown until this one is ready.
async fn run_once(
    role: &Role,
    start: Option<Message>,
    ctx: &Arc<SupCtx>,
    cmds: &mut mpsc::Receiver<KeeperCmd>,
    carried: Option<String>,
) -> Outcome {
    let started = Instant::now();
    let Spawned {
        mut child,
        pid,
        stream,
    } = match spawn_child(role, &ctx.log, &ctx.child_env) {
        Ok(s) => s,
        Err(e) => {
            return Outcome::Crashed {
                last_exit: format!("spawn failed: {e}"),
                uptime: Duration::ZERO,
                not_responding: false,
            };
        }
    };
    ctx.table.set_running(role, pid);
    if carried.is_some() {
        ctx.table.update(role, |r| r.error = carried);
    }
    info!(role = %role, pid, "started");

    let hs = handshake(stream, Hello::new(Role::Supervisor), PeerOptions::default());
    tokio::pin!(hs);
    let (peer, mut inbox) = loop {
        tokio::select! {
            r = &mut hs => match r {
                Ok(p) => break p,
                Err(e) => {
                    warn!(role = %role, pid, error = %e, "no IPC handshake; killing the child");
                    signal_group(pid, Signal::SIGKILL);
                    let status = child.wait().await;
                    return Outcome::Crashed {
                        last_exit: format!(
                            "handshake failed ({e}); {}",
                            status.map(|s| describe_exit(&s)).unwrap_or_default()
                        ),
                        uptime: started.elapsed(),
                        not_responding: false,
                    };
                }
            },
            status = child.wait() => {
                signal_group(pid, Signal::SIGKILL);
                return crashed(status, started);
            }
            cmd = cmds.recv() => match cmd {
                Some(KeeperCmd::Stop { deadline, done }) => {
                    return stop(&mut child, pid, None, deadline, Some(done)).await;
                }
                Some(KeeperCmd::Enable(_)) => {}
                None => return stop(&mut child, pid, None, tokio::time::Instant::now(), None).await,
            },
        }
    };
    if &peer.remote().role != role {
        warn!(role = %role, pid, got = %peer.remote().role, "child announced the wrong role; killing it");
        signal_group(pid, Signal::SIGKILL);
        let status = child.wait().await;
        return crashed(status, started);
    }
    if *role == Role::Apid {
        *ctx.apid.lock().unwrap_or_else(|p| p.into_inner()) = Some(peer.clone());
    }
    let mut setup = vec![Message::Config {
        toml: ctx.config.toml(),
    }];
    setup.extend(start);
    for msg in setup {
        if let Err(e) = peer.send(msg).await {
            debug!(role = %role, error = %e, "could not send setup message");
        }
    }

    let mut inbox_open = true;
    let mut eof_deadline: Option<tokio::time::Instant> = None;
    let mut start_failed: Option<String> = None;
    let (mut watchdog, mut heartbeats) = Watchdog::for_role(role, ctx);
    loop {
        tokio::select! {
            _ = watchdog.tick(), if watchdog.enabled() => {
                if watchdog.expired(role, ctx) {
                    error!(role = %role, pid, timeout = ?watchdog.timeout,
                        "task worker not responding (no heartbeat answered); killing it to restart it");
                    ctx.set_ready(role, false);
                    ctx.table.update(role, |r| r.error = Some(NOT_RESPONDING.into()));
                    signal_group(pid, Signal::SIGKILL);
                    let status = child.wait().await;
                    return Outcome::Crashed {
                        last_exit: format!(
                            "{NOT_RESPONDING} for {} (killed by the watchdog: {})",
                            kapacitor_config::GoDuration(watchdog.timeout),
                            status.map(|s| describe_exit(&s)).unwrap_or_else(|e| e.to_string())
                        ),
                        uptime: started.elapsed(),
                        not_responding: true,
                    };
                }
                watchdog.probe(&peer);
            }
            alive = heartbeats.recv() => watchdog.answered(alive),
            status = child.wait() => {
                // Whatever the child left in its process group goes with it.
                signal_group(pid, Signal::SIGKILL);
                if let Some(error) = start_failed {
                    let last_exit = status.map(|s| describe_exit(&s)).unwrap_or_else(|e| e.to_string());
                    return Outcome::StartFailed { error, last_exit };
                }
                return crashed(status, started);
            }
            inc = inbox.recv(), if inbox_open => match inc {
                Some(inc) => {
                    if let Some(error) = serve(role, ctx, inc).await {
                        start_failed = Some(error);
                    }
                }
                None => {
                    inbox_open = false;
                    eof_deadline = Some(tokio::time::Instant::now() + EXIT_AFTER_EOF);
                }
            },
            _ = sleep_until_opt(eof_deadline) => {
                warn!(role = %role, pid, "closed its IPC link but did not exit; killing it");
                signal_group(pid, Signal::SIGKILL);
                eof_deadline = None;
            }
            cmd = cmds.recv() => match cmd {
                Some(KeeperCmd::Stop { deadline, done }) => {
                    return stop(&mut child, pid, Some(&peer), deadline, Some(done)).await;
                }
                Some(KeeperCmd::Enable(_)) => {}
                None => return stop(&mut child, pid, Some(&peer), tokio::time::Instant::now(), None).await,
            },
        }
    }
}

async fn sleep_until_opt(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

fn crashed(status: std::io::Result<std::process::ExitStatus>, started: Instant) -> Outcome {
    Outcome::Crashed {
        last_exit: status
            .map(|s| describe_exit(&s))
            .unwrap_or_else(|e| format!("wait failed: {e}")),
        uptime: started.elapsed(),
        not_responding: false,
    }
}

/// Whether apid's message is a task/template request for the task service.
fn for_task_service(msg: &Message) -> bool {
    matches!(
        msg,
        Message::TaskListRequest
            | Message::TaskGetRequest { .. }
            | Message::TaskPut { .. }
            | Message::TaskDelete { .. }
            | Message::TemplateListRequest
            | Message::TemplateGetRequest { .. }
            | Message::TemplatePut { .. }
            | Message::TemplateDelete { .. }
            | Message::ReplayWorkerStart { .. }
            | Message::ReplayWorkerStop { .. }
    )
}

/// Hands a task/template request to the task service and answers it from a task of its
/// own, so that a slow change (stopping a worker) never stalls this keeper.
fn forward_to_service(ctx: &Arc<SupCtx>, inc: Incoming) {
    let ctx = ctx.clone();
    tokio::spawn(async move {
        let (tx, rx) = oneshot::channel();
        let cmd = ServiceCmd::Api {
            msg: inc.msg.clone(),
            reply: tx,
        };
        let gone = || Message::Error {
            message: "the task service is shutting down".into(),
        };
        let mut answer = match ctx.service.send(cmd).await {
            Ok(()) => rx.await.unwrap_or_else(|_| gone()),
            Err(_) => gone(),
        };
        if let (Message::Done, Message::TaskPut { record_json, .. }) = (&answer, &inc.msg) {
            answer = put_answer(&ctx, record_json).await;
        }
        if let (Message::Done, Message::ReplayWorkerStart { spec }) = (&answer, &inc.msg) {
            answer = crate::task_service::replay_start_answer(&ctx, &spec.id).await;
        }
        if inc.is_request()
            && let Err(e) = inc.reply(answer).await
        {
            debug!(error = %e, "reply to apid failed");
        }
    });
}

/// Answers one message from a child. Returns the error of a task that cannot start or had to
/// stop (`TaskStartFailed`, `TaskFailed`).
async fn serve(role: &Role, ctx: &Arc<SupCtx>, inc: Incoming) -> Option<String> {
    let reply = match &inc.msg {
        Message::ProcessTreeRequest => Some(Message::ProcessTree(ctx.process_tree())),
        Message::StatusRequest => Some(Message::Status(ctx.status())),
        Message::Ping => Some(Message::Pong),
        msg if *role == Role::Apid && for_task_service(msg) => {
            forward_to_service(ctx, inc);
            return None;
        }
        msg if *role == Role::Apid && crate::alert_store::handles(msg) => {
            crate::alert_store::serve(ctx.store.clone(), inc);
            return None;
        }
        msg if *role == Role::Apid && crate::config_overrides::handles(msg) => {
            crate::config_overrides::serve(ctx.clone(), inc);
            return None;
        }
        Message::Ready => {
            info!(role = %role, "ready");
            // What the previous process left (the watchdog's `not responding`) goes now.
            ctx.table.update(role, |r| r.error = None);
            ctx.set_ready(role, true);
            if *role == Role::Apid {
                ctx.ready.call_once(|| notify::notify("READY=1"));
            }
            None
        }
        Message::TaskStartFailed { error } | Message::TaskFailed { error } => {
            if inc.is_request() {
                let _ = inc.reply(Message::Shutdown).await;
            }
            return Some(error.clone());
        }
        other => {
            debug!(role = %role, msg = other.name(), "unexpected message from child");
            inc.is_request().then(|| Message::Error {
                message: format!("the supervisor does not serve {}", other.name()),
            })
        }
    };
    if let (Some(reply), true) = (reply, inc.is_request())
        && let Err(e) = inc.reply(reply).await
    {
        debug!(role = %role, error = %e, "reply failed");
    }
    None
}

/// Graceful stop: `Shutdown` over IPC (SIGTERM to the group when the link is gone), then
/// SIGKILL to the group at `deadline`.
async fn stop(
    child: &mut tokio::process::Child,
    pid: u32,
    peer: Option<&Peer>,
    deadline: tokio::time::Instant,
    done: Option<oneshot::Sender<()>>,
) -> Outcome {
    let told = match peer {
        Some(peer) => tokio::time::timeout(Duration::from_secs(1), peer.send(Message::Shutdown))
            .await
            .is_ok_and(|r| r.is_ok()),
        None => false,
    };
    if !told {
        signal_group(pid, Signal::SIGTERM);
    }
    let status = match tokio::time::timeout_at(deadline, child.wait()).await {
        Ok(status) => status.ok(),
        Err(_) => {
            warn!(pid, "did not stop before the shutdown timeout; killing it");
            signal_group(pid, Signal::SIGKILL);
            child.wait().await.ok()
        }
    };
    signal_group(pid, Signal::SIGKILL);
    Outcome::Stopped {
        done,
        last_exit: status.map(|s| describe_exit(&s)),
    }
}

/// How often the watchdog asks a ready task worker for a heartbeat.
const HEARTBEAT_EVERY: Duration = Duration::from_secs(1);

/// The supervisor's watchdog over one task worker process (`[task] watchdog-timeout`; 0
/// disables it). Once the worker is ready, a `Heartbeat` goes every second (one at a time),
/// which the worker answers from its engine thread. When none was answered for the timeout,
/// the keeper reports the task `not responding` and kills the process group; the restart
/// policy does the rest.
struct Watchdog {
    timeout: Duration,
    interval: Option<tokio::time::Interval>,
    /// When the worker was last known alive: ready, or a heartbeat answered. `None` until
    /// it is ready.
    alive_at: Option<Instant>,
    in_flight: bool,
    /// Where heartbeat outcomes go (the receiver is the keeper's).
    answers: mpsc::Sender<bool>,
}

impl Watchdog {
    /// The watchdog of a child of `role` (a task worker; others have none), and the receiver
    /// of its heartbeats' outcomes.
    fn for_role(role: &Role, ctx: &SupCtx) -> (Watchdog, mpsc::Receiver<bool>) {
        let timeout = match role {
            Role::Worker { .. } => ctx.config.effective().task.watchdog_timeout.as_duration(),
            _ => Duration::ZERO,
        };
        let interval = (!timeout.is_zero()).then(|| {
            let mut i = tokio::time::interval(HEARTBEAT_EVERY);
            i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            i
        });
        let (answers, rx) = mpsc::channel(1);
        let watchdog = Watchdog {
            timeout,
            interval,
            alive_at: None,
            in_flight: false,
            answers,
        };
        (watchdog, rx)
    }

    fn enabled(&self) -> bool {
        self.interval.is_some()
    }

    async fn tick(&mut self) {
        match &mut self.interval {
            Some(i) => {
                i.tick().await;
            }
            None => std::future::pending().await,
        }
    }

    /// Whether the worker, once ready, has answered nothing for the timeout.
    fn expired(&mut self, role: &Role, ctx: &SupCtx) -> bool {
        let Role::Worker { task_id } = role else {
            return false;
        };
        match self.alive_at {
            Some(at) => at.elapsed() >= self.timeout,
            None => {
                if ctx.is_ready(task_id) {
                    self.alive_at = Some(Instant::now());
                }
                false
            }
        }
    }

    /// Sends a heartbeat unless one is on its way; its answer comes back on `answers`.
    fn probe(&mut self, peer: &Peer) {
        if self.alive_at.is_none() || self.in_flight {
            return;
        }
        self.in_flight = true;
        let peer = peer.clone();
        let answers = self.answers.clone();
        let timeout = self.timeout;
        tokio::spawn(async move {
            let alive = matches!(
                peer.request_timeout(Message::Heartbeat, timeout).await,
                Ok(Message::Pong)
            );
            let _ = answers.send(alive).await;
        });
    }

    fn answered(&mut self, alive: Option<bool>) {
        self.in_flight = false;
        if alive == Some(true) {
            self.alive_at = Some(Instant::now());
        }
    }
}
