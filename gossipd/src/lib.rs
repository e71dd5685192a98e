//! The gossip process: cluster membership (SWIM), the RPC service, and later the
//! cluster-replicated state.
//!
//! * [`membership`]: the state machine (foca plus cluster id, join/remove, tombstones,
//!   persistence), with no I/O.
//! * [`node`]: the driver: gossip UDP + TCP push-pull on `[cluster] bind-address`, timers,
//!   commands through a [`node::Handle`].
//! * [`rpc`]: the RPC service on `[rpc] bind-address` (member add/remove, peer calls).
//! * [`ops`]: `member add` / `member remove` as run on this member.
//! * [`local`]: `<data_dir>/run/gossipd.sock`, apid's way in.
//! * [`wire`]: the envelope (cluster id, sender, optional AES-GCM) on every message.
//! * [`persist`]: `cluster.json`; [`identity`]: `server.id` / `cluster.id`.
//! * [`handlers`], [`replication`]: cluster alerting: the replicated topic handler set
//!   (`alert_handlers.json`), completion notices and event forwarding between members.

pub mod handlers;
pub mod identity;
pub mod local;
pub mod member;
pub mod membership;
pub mod node;
pub mod ops;
pub mod persist;
pub mod replication;
pub mod rpc;
pub mod settings;
pub mod wire;

use kapacitor_config::Config;
use kapacitor_ipc::{ChildLink, Message, Role, StopReason, serve_until_stopped, start_child};
use std::sync::Arc;
use tokio::net::{TcpListener, UdpSocket};
use tracing::{error, info};

/// Entry point of `kapacitord __role gossipd`; returns the exit code.
pub fn run() -> i32 {
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
    rt.block_on(serve())
}

/// Everything gossipd listens on, bound before it reports ready.
pub struct Listeners {
    pub gossip_udp: UdpSocket,
    pub gossip_tcp: TcpListener,
    pub rpc: TcpListener,
}

impl Listeners {
    /// Binds gossip UDP and TCP on the same port (when the port is 0, the one the OS gives
    /// the UDP socket) and the RPC port.
    pub async fn bind(s: &settings::Settings) -> Result<Listeners, String> {
        let mut attempts = 0;
        let (gossip_udp, gossip_tcp) = loop {
            attempts += 1;
            let udp = UdpSocket::bind(s.gossip_bind)
                .await
                .map_err(|e| format!("cannot listen for gossip on udp {}: {e}", s.gossip_bind))?;
            let port = udp.local_addr().map_err(|e| e.to_string())?.port();
            let mut tcp_addr = s.gossip_bind;
            tcp_addr.set_port(port);
            match TcpListener::bind(tcp_addr).await {
                Ok(tcp) => break (udp, tcp),
                // An OS-picked UDP port may be taken on TCP: pick again.
                Err(_) if s.gossip_bind.port() == 0 && attempts < 20 => continue,
                Err(e) => return Err(format!("cannot listen for gossip on tcp {tcp_addr}: {e}")),
            }
        };
        let rpc = TcpListener::bind(s.rpc_bind)
            .await
            .map_err(|e| format!("cannot listen for RPC on {}: {e}", s.rpc_bind))?;
        Ok(Listeners {
            gossip_udp,
            gossip_tcp,
            rpc,
        })
    }
}

/// Starts membership, gossip, RPC and apid's socket; returns the handle and the driver task.
pub async fn start(
    cfg: &Config,
    services: rpc::PeerServices,
) -> Result<(node::Handle, tokio::task::JoinHandle<()>), String> {
    start_full(cfg, services)
        .await
        .map(|s| (s.handle, s.driver))
}

/// What [`start_full`] started.
pub struct Started {
    pub handle: node::Handle,
    pub driver: tokio::task::JoinHandle<()>,
    pub replication: Arc<replication::Replication>,
}

/// [`start`], also returning the cluster alerting state.
pub async fn start_full(cfg: &Config, services: rpc::PeerServices) -> Result<Started, String> {
    let s = settings::Settings::from_config(cfg)?;
    let ids = identity::Identity::load_or_create(&s.data_dir).map_err(|e| e.to_string())?;
    let replication = replication::Replication::load(s.data_dir.clone(), ids.server_id)?;
    let services = services.with(replication.services());
    let sealer = Arc::new(wire::Sealer::new(s.encryption_key.as_deref())?);
    let l = Listeners::bind(&s).await?;
    let bound = |a: std::io::Result<std::net::SocketAddr>| a.map_err(|e| e.to_string());
    let s = Arc::new(s.with_bound(
        bound(l.gossip_udp.local_addr())?,
        bound(l.rpc.local_addr())?,
    ));
    let m = membership::Membership::start(s.clone(), ids.server_id, ids.cluster_id)?;
    let view = m.view();
    let (node, handle) = node::Node::new(
        m,
        l.gossip_udp,
        l.gossip_tcp,
        sealer.clone(),
        s.sync_interval,
    );
    let driver = tokio::spawn(node.run());
    tokio::spawn(rpc::serve(l.rpc, handle.clone(), services));
    tokio::spawn(
        replication
            .clone()
            .run_sync(handle.clone(), cfg.alert.full_sync_interval.as_duration()),
    );
    let sock = local::socket_path(&s.data_dir);
    let listener =
        local::bind(&sock).map_err(|e| format!("cannot listen on {}: {e}", sock.display()))?;
    tokio::spawn(local::accept_loop(
        listener,
        handle.clone(),
        replication.clone(),
    ));
    info!(
        member = %view.local_id,
        cluster = %view.cluster_id,
        state = if view.initialized { "initialized" } else { "uninitialized" },
        gossip = %s.meta.gossip_address,
        rpc = %s.meta.rpc_address,
        encrypted = sealer.encrypted(),
        "gossip process up"
    );
    Ok(Started {
        handle,
        driver,
        replication,
    })
}

async fn serve() -> i32 {
    let Some(ChildLink {
        supervisor,
        mut inbox,
        config_toml,
        mut term,
    }) = start_child(Role::Gossipd).await
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
    // Start in the background and keep retrying: a taken port or an unreadable state file is
    // logged, not turned into a crash loop, and the supervisor link stays served meanwhile.
    let (up_tx, mut up_rx) = tokio::sync::mpsc::channel(1);
    let start_cfg = cfg.clone();
    tokio::spawn(async move {
        let mut delay = std::time::Duration::from_secs(1);
        loop {
            match start(&start_cfg, rpc::PeerServices::default()).await {
                Ok((handle, _driver)) => {
                    let _ = up_tx.send(handle).await;
                    return;
                }
                Err(e) => {
                    error!(error = %e, retry_in = ?delay, "cannot start cluster membership; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(std::time::Duration::from_secs(30));
                }
            }
        }
    });
    let _ = supervisor.send(Message::Ready).await;
    let mut handle: Option<node::Handle> = None;
    // Goodbye only on an orderly stop: when the supervisor vanished (killed), this member is
    // failing as a whole and peers should see it dead, not `left`.
    let mut say_goodbye = true;
    let stop = serve_until_stopped(&mut inbox, &mut term);
    tokio::pin!(stop);
    let reason = loop {
        tokio::select! {
            Some(h) = up_rx.recv(), if handle.is_none() => handle = Some(h),
            reason = &mut stop => break reason,
        }
    };
    match reason {
        StopReason::LinkClosed => {
            info!("supervisor link closed; exiting");
            say_goodbye = false;
        }
        StopReason::Shutdown => info!("leaving"),
        StopReason::Sigterm => info!("SIGTERM; leaving"),
    }
    // Say goodbye (peers show `left`), bounded so a stuck send cannot hold up the shutdown.
    if let Some(handle) = handle.filter(|_| say_goodbye) {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(1), handle.shutdown()).await;
    }
    let _ = std::fs::remove_file(local::socket_path(&cfg.data_dir));
    0
}

#[cfg(test)]
mod sim_tests;

#[cfg(test)]
mod replication_tests;
