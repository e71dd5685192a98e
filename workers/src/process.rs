//! The worker process shell: `kapacitord __role task <id>`.
//!
//! 1. hello with the supervisor over the inherited socket, receive the config and the task;
//! 2. build the task's runner on the engine thread (a failure is reported, not retried);
//! 3. dial apid twice (data, control), tick the engine every second, answer the
//!    supervisor's heartbeats from the engine thread;
//! 4. on `Shutdown`, SIGTERM or the supervisor's EOF: stop the links, flush, exit 0.

use crate::process_apid;
use crate::process_engine::Engine;
use crate::process_memory::MemoryBudget;
use crate::process_runner::{RunnerFactory, WorkerContext};
use kapacitor_config::Config;
use kapacitor_ipc::{
    ChildLink, Message, Role, StopReason, TaskSpec, serve_until_stopped_with, start_child,
};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info};

/// Exit code of a worker whose task cannot be built.
pub const EXIT_TASK_INVALID: i32 = 3;
/// Exit code of a worker whose task passed its memory budget (`[task] memory-limit`).
pub const EXIT_MEMORY_BUDGET: i32 = 4;
const TICK: Duration = Duration::from_secs(1);
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// Entry point of the worker process; returns the exit code.
pub fn run_worker(task_id: &str, factory: RunnerFactory) -> i32 {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            error!(error = %e, "cannot build the runtime");
            return 1;
        }
    };
    let code = rt.block_on(serve(task_id, factory));
    rt.shutdown_timeout(Duration::from_millis(100));
    code
}

async fn serve(task_id: &str, factory: RunnerFactory) -> i32 {
    let role = Role::Worker {
        task_id: task_id.to_string(),
    };
    let Some(ChildLink {
        supervisor,
        mut inbox,
        config_toml,
        mut term,
    }) = start_child(role).await
    else {
        return 1;
    };
    let cfg = match Config::from_toml(&config_toml) {
        Ok(cfg) => cfg,
        Err(e) => {
            error!(error = %e, "configuration from the supervisor is invalid");
            return 1;
        }
    };

    // A replay's worker (`StartReplay`) takes its data from apid alone: no live subscription,
    // no scheduled queries.
    let mut replay = false;
    let spec: TaskSpec = loop {
        let inc = match tokio::time::timeout(START_TIMEOUT, inbox.recv()).await {
            Ok(Some(inc)) => inc,
            Ok(None) => {
                info!("supervisor link closed before the task arrived; exiting");
                return 0;
            }
            Err(_) => {
                error!("no task from the supervisor");
                return 1;
            }
        };
        match inc.msg {
            Message::StartTask(spec) => break spec,
            Message::StartReplay(spec) => {
                replay = true;
                break spec;
            }
            Message::Shutdown => return 0,
            Message::Ping => {
                let _ = inc.reply(Message::Pong).await;
            }
            other => debug!(msg = other.name(), "ignored message before the task"),
        }
    };
    if spec.id != task_id {
        error!(got = %spec.id, "the supervisor sent another task's spec");
        return 1;
    }

    let influxdb = kapacitor_influxdb::Clusters::from_configs(&cfg.influxdb).unwrap_or_else(|e| {
        // Tasks that query or write to InfluxDB then fail to start, naming the cluster.
        error!(error = %e, "[[influxdb]] configuration unusable");
        kapacitor_influxdb::Clusters::default()
    });
    // Validated by the supervisor at startup; a bad value here would be a bug.
    let memory_limit = cfg.task.memory_limit.0;
    let memory = MemoryBudget::new(task_id, memory_limit);
    let ctx = WorkerContext {
        task_id: task_id.to_string(),
        hostname: cfg.hostname.clone(),
        cluster_id: identity_file(&cfg.data_dir, "cluster.id"),
        server_id: identity_file(&cfg.data_dir, "server.id"),
        data_dir: cfg.data_dir.clone(),
        influxdb: influxdb.clone(),
        http_post_endpoints: crate::engine::HttpPostEndpoint::from_config(&cfg.httppost),
        runtime: Some(tokio::runtime::Handle::current()),
        memory: memory.clone(),
    };
    let engine = match Engine::start(spec.clone(), ctx, factory) {
        Ok(e) => e,
        Err(error) => {
            error!(%error, "task cannot start");
            // A request, so that the report is on the wire before this process exits.
            let _ = supervisor
                .request_timeout(Message::TaskStartFailed { error }, Duration::from_secs(2))
                .await;
            return EXIT_TASK_INVALID;
        }
    };
    // The factory already refused unknown clusters, so this only fails if it did not check.
    let scheduled = if replay { Vec::new() } else { engine.queries() };
    let batch_queries = match crate::process_batch::prepare(scheduled, &influxdb) {
        Ok(q) => q,
        Err(error) => {
            error!(%error, "task cannot start");
            let _ = supervisor
                .request_timeout(Message::TaskStartFailed { error }, Duration::from_secs(2))
                .await;
            engine.finish().await;
            return EXIT_TASK_INVALID;
        }
    };
    // The script's alert handlers are checked as the alert service will check them.
    if let Err(error) = crate::process_alerts::prepare(&spec, &cfg) {
        error!(%error, "task cannot start");
        let _ = supervisor
            .request_timeout(Message::TaskStartFailed { error }, Duration::from_secs(2))
            .await;
        engine.finish().await;
        return EXIT_TASK_INVALID;
    }
    let _ = supervisor.send(Message::Ready).await;
    info!("task started");

    let cancel = CancellationToken::new();
    let subscription = if replay {
        process_apid::Subscription::default()
    } else {
        process_apid::Subscription {
            dbrps: spec.dbrps.clone(),
            measurements: engine.measurements(),
        }
    };
    let link = tokio::spawn(process_apid::run(
        kapacitor_ipc_socket_path(&cfg),
        task_id.to_string(),
        subscription,
        engine.handle(),
        cancel.clone(),
    ));
    let control = tokio::spawn(crate::process_control::run(
        kapacitor_ipc_socket_path(&cfg),
        task_id.to_string(),
        engine.handle(),
        cancel.clone(),
    ));
    let batch = tokio::spawn(crate::process_batch::run(
        task_id.to_string(),
        batch_queries,
        engine.handle(),
        cancel.clone(),
    ));
    let ticker_engine = engine.handle();
    let ticker_cancel = cancel.clone();
    let ticker = tokio::spawn(async move {
        let mut interval = tokio::time::interval(TICK);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker_cancel.cancelled() => return,
                _ = interval.tick() => {
                    let now = SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .map(|d| d.as_nanos() as i64)
                        .unwrap_or(0);
                    ticker_engine.tick(now).await;
                }
            }
        }
    });

    let heartbeat_engine = engine.handle();
    let serve = serve_until_stopped_with(&mut inbox, &mut term, |inc| match inc.msg {
        Message::Heartbeat => {
            let engine = heartbeat_engine.clone();
            tokio::spawn(async move {
                let reply = if crate::process_heartbeat::answer(&engine).await {
                    Message::Pong
                } else {
                    Message::Error {
                        message: "the task engine is gone".into(),
                    }
                };
                let _ = inc.reply(reply).await;
            });
        }
        ref other => debug!(msg = other.name(), "ignored message"),
    });
    let stopped = tokio::select! {
        reason = serve => reason,
        e = memory.exceeded() => {
            // Marked failed, not restarted; exiting is what frees the memory, so nothing is
            // flushed or waited for.
            let error = e.to_string();
            let _ = supervisor
                .request_timeout(Message::TaskFailed { error }, Duration::from_secs(2))
                .await;
            return EXIT_MEMORY_BUDGET;
        }
    };
    drop(heartbeat_engine);
    match stopped {
        StopReason::LinkClosed => info!("supervisor link closed; flushing and exiting"),
        StopReason::Shutdown => info!("shutting down; flushing"),
        StopReason::Sigterm => info!("SIGTERM; flushing and exiting"),
    }
    cancel.cancel();
    let _ = link.await;
    let _ = control.await;
    let _ = batch.await;
    let _ = ticker.await;
    engine.finish().await;
    0
}

/// `<data_dir>/run/apid.sock`, where apid listens for workers.
fn kapacitor_ipc_socket_path(cfg: &Config) -> std::path::PathBuf {
    cfg.data_dir.join("run").join("apid.sock")
}

/// One of the member's identity files (`cluster.id`, `server.id`: a UUID, written by the
/// supervisor and gossipd before any worker starts), trimmed; empty when unreadable.
fn identity_file(data_dir: &std::path::Path, name: &str) -> String {
    std::fs::read_to_string(data_dir.join(name))
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}
