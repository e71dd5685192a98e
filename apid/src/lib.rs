//! The API process: the HTTP API, `/write` ingest and routing of points to task workers.
//!
//! It talks to the supervisor over the inherited socket (state it does not own: the process
//! tree, task counts, identity) and to task workers over `<data_dir>/run/apid.sock`.

// Handlers return `Result<_, Response>`: the error is the finished HTTP answer, built once per
// request, so its size does not matter.
#![allow(clippy::result_large_err)]

pub mod alert_host;
pub mod alerts;
pub mod api_json;
pub mod batch_recording;
pub mod cluster;
pub mod cluster_alert;
pub mod config_api;
pub mod data_socket;
pub mod delivery;
pub mod enqueue;
pub mod http;
pub mod http_server;
pub mod ingest;
pub mod json_patch;
pub mod load_items;
pub mod logs;
pub mod mem_release;
pub mod recordings;
pub mod registry;
pub mod replay_feed;
pub mod replay_store;
pub mod replays;
pub mod subscriptions;
pub mod task_queues;
pub mod tasks;
pub mod templates;
pub mod write_body;
pub mod write_budget;

use kapacitor_config::Config;
use kapacitor_ipc::{ChildLink, Message, Role, StopReason, start_child};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

pub use registry::Registry;

/// Environment variable the supervisor sets from `-disable-handlers`: alert handler kinds
/// (comma-separated) that are accepted but do nothing.
pub const DISABLE_HANDLERS_ENV: &str = "KAPACITORD_DISABLE_HANDLERS";

/// Entry point of `kapacitord __role apid`; returns the exit code.
pub fn run() -> i32 {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .on_thread_park(mem_release::on_thread_park)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            error!(error = %e, "cannot build the runtime");
            return 1;
        }
    };
    let code = rt.block_on(serve());
    // In-flight handlers were given the shutdown timeout already; do not wait on stragglers.
    rt.shutdown_timeout(Duration::from_millis(100));
    code
}

async fn serve() -> i32 {
    let Some(ChildLink {
        supervisor,
        mut inbox,
        config_toml,
        mut term,
    }) = start_child(Role::Apid).await
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

    let addr = match cfg.http_listen_addr() {
        Ok(a) => a,
        Err(e) => {
            error!(error = %e, "cannot listen for HTTP");
            return 1;
        }
    };
    let limits = match http_server::Limits::from_config(&cfg.http) {
        Ok(l) => l,
        Err(e) => {
            error!(error = %e, "cannot serve HTTP");
            return 1;
        }
    };
    let listener = match TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            error!(addr = %addr, error = %e, "cannot listen for HTTP");
            return 1;
        }
    };
    let registry = Registry::new(task_queues::QueueSettings::from_config(&cfg));
    let cancel = CancellationToken::new();
    // Queues of enabled tasks before workers connect and writes are accepted; queues of
    // tasks deleted or disabled while apid was down are removed.
    task_queues::restore(&registry, &supervisor).await;
    // Stored handlers and topic states are in place before the first worker event arrives.
    let alerts = match alert_host::AlertHost::start(&cfg, supervisor.clone(), cancel.clone()).await
    {
        Ok(a) => a,
        Err(e) => {
            error!(error = %e, "cannot start the alert service");
            return 1;
        }
    };
    let sock_path = data_socket::socket_path(&cfg.data_dir);
    match data_socket::bind(&sock_path) {
        Ok(l) => {
            tokio::spawn(data_socket::accept_loop(
                l,
                registry.clone(),
                alerts.clone(),
                cancel.clone(),
            ));
        }
        Err(e) => {
            error!(path = %sock_path.display(), error = %e, "cannot listen for task workers");
            return 1;
        }
    }

    cluster::init(&cfg.data_dir);
    logs::start(&cfg.data_dir);
    cluster_alert::start(&cfg, alerts.clone());
    subscriptions::start(&cfg, registry.clone(), cancel.clone());
    replays::start(&cfg, supervisor.clone(), registry.clone(), alerts.clone());
    let app = http::router(http::AppState {
        supervisor: supervisor.clone(),
        registry: registry.clone(),
        log_enabled: cfg.http.log_enabled,
        default_rp: cfg.default_retention_policy.clone(),
        ingress: ingest::Ingress::default(),
        write_limits: write_body::WriteLimits {
            max_body: usize::try_from(cfg.http.max_body_size.0).unwrap_or(usize::MAX),
            stall_timeout: cfg.http.idle_timeout.as_duration(),
        },
        write_budget: write_budget::WriteBudget::new(cfg.http.max_concurrent_write_bytes.0),
        alerts: alerts.clone(),
    });
    // The [load] directory's files are defined through the API itself.
    let load_app = app.clone();
    let http_stop = cancel.clone();
    let server = tokio::spawn(http_server::serve(
        listener,
        http_server::PlainTcp,
        app,
        limits,
        http_stop,
    ));
    info!(
        addr = %addr,
        max_connections = limits.connections.max,
        automatic = limits.connections.automatic,
        nofile = limits.connections.nofile,
        read_header_timeout = %cfg.http.read_header_timeout,
        idle_timeout = %cfg.http.idle_timeout,
        "listening for HTTP requests"
    );
    let _ = supervisor.send(Message::Ready).await;

    match load_items::serve_supervisor_link(&mut inbox, &mut term, load_app).await {
        StopReason::LinkClosed => info!("supervisor link closed; exiting"),
        StopReason::Shutdown => info!("shutting down: no longer accepting HTTP requests"),
        StopReason::Sigterm => info!("SIGTERM; shutting down"),
    }
    cancel.cancel();
    let grace = cfg.http.shutdown_timeout.as_duration();
    match tokio::time::timeout(grace, server).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => warn!(error = %e, "HTTP server task failed"),
        Err(_) => warn!("HTTP requests still running after the shutdown timeout"),
    }
    let _ = std::fs::remove_file(&sock_path);
    // No more writes: what the queues hold in memory goes to disk for the next start.
    let persisting = registry.clone();
    let _ = tokio::task::spawn_blocking(move || persisting.persist_queues()).await;
    alerts.flush().await;
    0
}
