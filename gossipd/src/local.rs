//! `<data_dir>/run/gossipd.sock`: where apid asks for the membership and for `member add` /
//! `member remove`. A second named socket rather than a relay through the supervisor, so the
//! supervisor stays out of cluster code. The directory is mode 0700 (shared with apid.sock);
//! only apid's hello is accepted.

use crate::node::Handle;
use crate::ops::{self, OpError};
use crate::replication::Replication;
use kapacitor_ipc::{Hello, Incoming, Message, PeerOptions, Role, handshake};
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::net::{UnixListener, UnixStream};
use tracing::{debug, warn};

/// `<data_dir>/run/gossipd.sock`
pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join("run").join("gossipd.sock")
}

/// Binds the socket, replacing a stale one left by a previous gossipd.
pub fn bind(path: &Path) -> io::Result<UnixListener> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    UnixListener::bind(path)
}

pub async fn accept_loop(listener: UnixListener, handle: Handle, repl: Arc<Replication>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(serve(stream, handle.clone(), repl.clone()));
            }
            Err(e) => {
                warn!(error = %e, "accept on the gossipd socket failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}

async fn serve(stream: UnixStream, handle: Handle, repl: Arc<Replication>) {
    let Ok((peer, mut inbox)) =
        handshake(stream, Hello::new(Role::Gossipd), PeerOptions::default()).await
    else {
        return; // handshake() logged why
    };
    if peer.remote().role != Role::Apid {
        warn!(role = %peer.remote().role, "only apid may use the gossipd socket; closing");
        peer.close();
        return;
    }
    // Cluster alerting pushes (handler set changes, forwarded events, notices) go unasked to
    // the connections that asked for the handler set once: apid's long-lived link, not its
    // one-shot membership requests.
    let mut subscribed = false;
    while let Some(inc) = inbox.recv().await {
        if !subscribed && matches!(inc.msg, Message::ClusterHandlersRequest) {
            subscribed = true;
            repl.set_apid_link(Some(peer.clone()));
            // Subscribed before the snapshots are taken: what changes in between arrives
            // twice (harmless) rather than not at all.
            let pushes = repl.subscribe();
            let forwards = repl.subscribe_forwards();
            let kept = vec![repl.notices_message(), repl.synced_message()];
            tokio::spawn(push_loop(peer.clone(), kept, pushes, forwards));
        }
        // Each request on its own task: a slow `member add` must not hold up a list.
        tokio::spawn(answer(inc, handle.clone(), repl.clone()));
    }
}

async fn push_loop(
    peer: kapacitor_ipc::Peer,
    kept: Vec<Message>,
    mut pushes: tokio::sync::broadcast::Receiver<Message>,
    mut forwards: tokio::sync::mpsc::Receiver<Message>,
) {
    use tokio::sync::broadcast::error::RecvError;
    for m in kept {
        if peer.send(m).await.is_err() {
            return;
        }
    }
    loop {
        let pushed = tokio::select! {
            m = pushes.recv() => m,
            m = forwards.recv() => match m {
                Some(m) => Ok(m),
                None => return,
            },
        };
        let msg = match pushed {
            Ok(m) => m,
            // apid fell behind: each handler message carries the whole set, and a lost
            // notice costs at most one duplicate delivery.
            Err(RecvError::Lagged(n)) => {
                warn!(
                    missed = n,
                    "apid is not keeping up with cluster alert messages"
                );
                continue;
            }
            Err(RecvError::Closed) => return,
        };
        if peer.send(msg).await.is_err() {
            return;
        }
    }
}

async fn answer(inc: Incoming, handle: Handle, repl: Arc<Replication>) {
    let alerting = match &inc.msg {
        Message::ClusterHandlersRequest => Some(Ok(repl.handlers_message())),
        Message::ClusterHandlerPut {
            topic,
            id,
            spec_json,
        } => Some(repl.put(&handle, topic, id, spec_json).await),
        Message::ClusterHandlerDelete { topic, id } => Some(repl.delete(&handle, topic, id).await),
        Message::ClusterAlertForward { owners, event_json } => {
            repl.forward(&handle, owners, event_json.clone()).await;
            Some(Ok(Message::Done))
        }
        Message::ClusterAlertClaim { owners, claim_json } => {
            Some(Ok(repl.claim(&handle, owners, claim_json.clone()).await))
        }
        Message::ClusterAlertDone {
            peers,
            notices_json,
        } => {
            repl.done(&handle, peers, notices_json.clone()).await;
            Some(Ok(Message::Done))
        }
        _ => None,
    };
    if let Some(r) = alerting {
        let reply = r.unwrap_or_else(|e| Message::ClusterError {
            status: e.status,
            message: e.message,
        });
        if inc.is_request() {
            let _ = inc.reply(reply).await;
        }
        return;
    }
    let result = match &inc.msg {
        Message::Ping => {
            let _ = inc.reply(Message::Pong).await;
            return;
        }
        Message::ClusterMembersRequest => ops::list(&handle).await,
        Message::ClusterAddMember { rpc_address } => ops::add(&handle, rpc_address).await,
        Message::ClusterRemoveMember { member_id } => ops::remove(&handle, member_id).await,
        other => {
            debug!(msg = other.name(), "ignored message on the gossipd socket");
            Err(OpError {
                status: 400,
                message: format!("gossipd does not serve {}", other.name()),
            })
        }
    };
    let reply = match result {
        Ok(view) => Message::ClusterMembers(view),
        Err(e) => Message::ClusterError {
            status: e.status,
            message: e.message,
        },
    };
    let _ = inc.reply(reply).await;
}
