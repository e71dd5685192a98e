//! The gossip process: cluster membership (SWIM), RPC and cluster-replicated state.
//!
//! For now it only takes part in the process tree: it says hello to the supervisor, reports
//! ready, and leaves on `Shutdown` or when the supervisor goes away. Membership comes later;
//! the member identity it will own already lives in [`identity`].

pub mod identity;

use kapacitor_config::Config;
use kapacitor_ipc::{Message, Role, connect_supervisor};
use tokio::signal::unix::{SignalKind, signal};
use tracing::{debug, error, info};

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

async fn serve() -> i32 {
    let (supervisor, mut inbox, toml) = match connect_supervisor(Role::Gossipd).await {
        Ok(c) => c,
        Err(e) => {
            error!(error = %e, "cannot reach the supervisor");
            return 1;
        }
    };
    let cfg = match Config::from_toml(&toml) {
        Ok(cfg) => cfg,
        Err(e) => {
            error!(error = %e, "configuration from the supervisor is invalid");
            return 1;
        }
    };
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            error!(error = %e, "cannot install the SIGTERM handler");
            return 1;
        }
    };
    info!(hostname = %cfg.hostname, "gossip process up (membership not implemented yet)");
    let _ = supervisor.send(Message::Ready).await;
    loop {
        tokio::select! {
            inc = inbox.recv() => match inc {
                None => {
                    info!("supervisor link closed; exiting");
                    break;
                }
                Some(inc) => match &inc.msg {
                    Message::Shutdown => {
                        info!("leaving");
                        break;
                    }
                    Message::Ping => {
                        let _ = inc.reply(Message::Pong).await;
                    }
                    other => debug!(msg = other.name(), "ignored message"),
                },
            },
            _ = term.recv() => {
                info!("SIGTERM; leaving");
                break;
            }
        }
    }
    0
}
