//! `kapacitord run`: load the configuration, prepare the data directory, start the children,
//! and stop them in order on SIGTERM/SIGINT.

use crate::cli::{ConfigArgs, RunArgs};
use crate::config_overrides::ConfigState;
use crate::desired::{DesiredState, TEST_TASKS_ENV};
use crate::keeper::{KeeperHandle, SupCtx, start_keeper};
use crate::logging::{self, LogSettings};
use crate::notify;
use crate::spawn::signal_group;
use crate::store_thread::{StoreHandle, store_path};
use crate::table::ProcTable;
use crate::task_service::{ServiceCmd, TaskService};
use kapacitor_config::{Config, Overrides};
use kapacitor_gossipd::identity::Identity;
use kapacitor_ipc::Role;
use nix::sys::signal::Signal;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::{Arc, Mutex, Once};
use std::time::SystemTime;
use tokio::signal::unix::{SignalKind, signal};
use tracing::{error, info, warn};

/// Environment variables that are not configuration overrides.
const NOT_OVERRIDES: &[&str] = &[
    "KAPACITOR_CONFIG_PATH",
    kapacitor_ipc::IPC_FD_ENV,
    "KAPACITOR_OPTS",
];

fn env_overrides() -> Vec<(String, String)> {
    std::env::vars()
        .filter(|(k, _)| k.starts_with("KAPACITOR_") && !NOT_OVERRIDES.contains(&k.as_str()))
        .collect()
}

/// `kapacitord config`: the defaults, merged with `-config FILE` and the environment.
pub fn print_config(args: ConfigArgs) -> i32 {
    // Without -config this prints the packaged defaults (not the demo config), so that the
    // output can be shipped as /etc/kapacitor/kapacitor.conf.
    let cfg = match &args.config {
        Some(path) => Config::load(Some(path), &env_overrides(), &Overrides::default()),
        None => Config::default()
            .apply_env(&env_overrides())
            .and_then(|c| c.validate().map(|_| c)),
    };
    match cfg {
        Ok(cfg) => {
            print!("{}", cfg.to_toml());
            0
        }
        Err(e) => {
            eprintln!("config: {e}");
            1
        }
    }
}

/// The process's `RLIMIT_NOFILE` soft limit (children inherit it).
fn nofile_soft_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes only into the struct it is given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0 {
        lim.rlim_cur
    } else {
        1024
    }
}

pub fn run(args: RunArgs) -> i32 {
    let path = args.config.clone().or_else(|| {
        let env: Vec<(String, String)> = std::env::vars().collect();
        kapacitor_config::default_config_path(&env)
    });
    let flags = Overrides {
        hostname: args.hostname.clone(),
        log_file: args.log_file.clone(),
        log_level: args.log_level.clone(),
    };
    let cfg = match Config::load(path.as_deref(), &env_overrides(), &flags) {
        Ok(cfg) => cfg,
        Err(e) => {
            eprintln!("run: configuration: {e}");
            return 1;
        }
    };
    // apid applies the same check; failing here names the key before anything starts.
    if let Err(e) = cfg.http.connection_limit(nofile_soft_limit()) {
        eprintln!("run: configuration: {e}");
        return 1;
    }
    let log = LogSettings {
        file: cfg.logging.file.clone(),
        level: cfg.logging.level.clone(),
        tap: Some(logging::log_tap_path(&cfg.data_dir)),
    };
    if let Err(e) = logging::init("supervisor", &log) {
        eprintln!("run: {e}");
        return 1;
    }
    match &path {
        Some(p) => info!(path = %p.display(), "configuration loaded"),
        None => info!("no configuration file found; using the built-in demo configuration"),
    }
    if args.cpuprofile.is_some() || args.memprofile.is_some() {
        warn!("-cpuprofile and -memprofile are accepted but not implemented");
    }

    let identity = match prepare_data_dir(&cfg.data_dir) {
        Ok(id) => id,
        Err(e) => {
            error!(error = %e, "cannot prepare the data directory");
            return 1;
        }
    };
    // The store is opened before anything starts: a data directory in use by another
    // kapacitord (redb's file lock) must stop this one here, with a clear message.
    let db_path = store_path(&cfg);
    let store = match StoreHandle::open(&db_path) {
        Ok(s) => s,
        Err(e) => {
            error!(path = %db_path.display(), error = %e, "cannot open the task store");
            eprintln!("run: cannot open the task store: {e}");
            return 1;
        }
    };
    info!(path = %db_path.display(), "task store opened");
    if let Some(pidfile) = &args.pidfile
        && let Err(e) =
            std::fs::write(pidfile, format!("{}\n", std::process::id())).inspect_err(|_| {
                // Half a pid (or an old one) is worse than none.
                let _ = std::fs::remove_file(pidfile);
            })
    {
        error!(path = %pidfile.display(), error = %e, "cannot write the pid file");
        return 1;
    }

    // current_thread: every spawn happens on the main thread (see spawn.rs, PDEATHSIG).
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            error!(error = %e, "cannot build the runtime");
            return 1;
        }
    };
    let mut child_env = Vec::new();
    if let Some(kinds) = &args.disable_handlers {
        let kinds: Vec<&str> = kinds
            .split(',')
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .collect();
        info!(kinds = ?kinds, "alert handler kinds disabled by -disable-handlers");
        child_env.push((
            kapacitor_apid::DISABLE_HANDLERS_ENV.to_string(),
            kinds.join(","),
        ));
    }
    let code = rt.block_on(supervise(cfg, log, identity, store, child_env));
    if let Some(pidfile) = &args.pidfile {
        let _ = std::fs::remove_file(pidfile);
    }
    code
}

/// Creates the data directory, the identity files and the 0700 socket directory `run/`.
fn prepare_data_dir(data_dir: &Path) -> Result<Identity, String> {
    let identity = Identity::load_or_create(data_dir).map_err(|e| e.to_string())?;
    let run_dir = data_dir.join("run");
    std::fs::create_dir_all(&run_dir).map_err(|e| format!("{}: {e}", run_dir.display()))?;
    std::fs::set_permissions(&run_dir, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| format!("{}: {e}", run_dir.display()))?;
    Ok(identity)
}

async fn supervise(
    cfg: Config,
    log: LogSettings,
    identity: Identity,
    store: StoreHandle,
    child_env: Vec<(String, String)>,
) -> i32 {
    let (mut sigterm, mut sigint, mut sighup) = match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) {
        (Ok(a), Ok(b), Ok(c)) => (a, b, c),
        _ => {
            error!("cannot install signal handlers");
            return 1;
        }
    };
    // Stored config overrides apply before any child starts: every child gets the result.
    let config = ConfigState::boot(cfg, &store).await;
    let cfg = config.effective();
    let desired = DesiredState::from_test_hook(std::env::var(TEST_TASKS_ENV).ok().as_deref());
    if desired.counts().0 > 0 {
        warn!(tasks = ?desired.enabled().iter().map(|t| t.id.as_str()).collect::<Vec<_>>(),
            "test hook {TEST_TASKS_ENV} defines trivial tasks");
    }
    let (service_tx, service_rx) = tokio::sync::mpsc::channel(64);
    let ctx = Arc::new(SupCtx {
        config,
        log,
        table: ProcTable::default(),
        desired: desired.clone(),
        cluster_id: identity.cluster_id.to_string(),
        data_dir: cfg.data_dir.clone(),
        server_id: identity.server_id.to_string(),
        hostname: cfg.hostname.clone(),
        started_unix_ns: SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos() as i64)
            .unwrap_or(0),
        ready: Once::new(),
        service: service_tx,
        ready_tasks: Mutex::new(Default::default()),
        store: store.clone(),
        child_env,
        apid: Mutex::new(None),
    });
    info!(
        version = kapacitor_ipc::VERSION,
        cluster_id = %identity.cluster_id,
        server_id = %identity.server_id,
        hostname = %cfg.hostname,
        data_dir = %cfg.data_dir.display(),
        "kapacitord starting"
    );

    let gossipd = start_keeper(Role::Gossipd, None, ctx.clone());
    let apid = start_keeper(Role::Apid, None, ctx.clone());
    let mut service = TaskService::new(ctx.clone(), store, cfg.http.shutdown_timeout.as_duration());
    if let Err(e) = service.boot().await {
        // Tasks that cannot be listed are not lost (the file is untouched); the daemon
        // still serves, and the error says why no task runs.
        error!(error = %e, "cannot load the stored tasks");
    }
    tokio::spawn(service.run(service_rx));
    crate::load::start(ctx.clone(), "start");

    let why = tokio::select! {
        _ = sigterm.recv() => "SIGTERM",
        _ = sigint.recv() => "SIGINT",
        _ = async { loop { sighup.recv().await; crate::load::start(ctx.clone(), "SIGHUP"); } } => "SIGHUP",
    };
    notify::notify("STOPPING=1");
    let timeout = cfg.http.shutdown_timeout.as_duration();
    info!(signal = why, timeout = ?timeout, "shutting down: HTTP, then tasks, then gossip");
    let mut deadline = tokio::time::Instant::now() + timeout;

    let stages: [(&str, Vec<&KeeperHandle>); 3] = [
        ("http", vec![&apid]),
        ("tasks", vec![]),
        ("gossip", vec![&gossipd]),
    ];
    for (name, handles) in stages {
        let mut waits = Vec::new();
        for h in handles {
            waits.push(h.stop(deadline).await);
        }
        if name == "tasks" {
            let (tx, rx) = tokio::sync::oneshot::channel();
            let cmd = ServiceCmd::StopAll {
                deadline,
                reply: tx,
            };
            if ctx.service.send(cmd).await.is_ok()
                && let Ok(w) = rx.await
            {
                waits.extend(w);
            }
        }
        let all = join_all(waits);
        tokio::pin!(all);
        loop {
            tokio::select! {
                _ = &mut all => break,
                _ = sigterm.recv() => deadline = force_kill(&ctx.table),
                _ = sigint.recv() => deadline = force_kill(&ctx.table),
            }
        }
        info!(stage = name, "stage stopped");
    }
    // Keepers kill and reap their own children; anything still listed is a bug worth a line.
    let left = ctx.table.live_pids();
    if !left.is_empty() {
        warn!(pids = ?left, "children still listed after shutdown; killing them");
        for pid in left {
            signal_group(pid, Signal::SIGKILL);
        }
    }
    info!("kapacitord stopped");
    0
}

/// A second signal during shutdown: no more waiting. Returns the new deadline (now).
fn force_kill(table: &ProcTable) -> tokio::time::Instant {
    warn!("second signal: killing every child now");
    for pid in table.live_pids() {
        signal_group(pid, Signal::SIGKILL);
    }
    tokio::time::Instant::now()
}

async fn join_all(waits: Vec<tokio::sync::oneshot::Receiver<()>>) {
    for w in waits {
        let _ = w.await;
    }
}
