//! `<data_dir>/run/gossipd.sock`: where apid asks for the membership and for `member add` /
//! `member remove`. A second named socket rather than a relay through the supervisor, so the
//! supervisor stays out of cluster code. The directory is mode 0700 (shared with apid.sock);
//! only apid's hello is accepted.

use crate::node::Handle;
use crate::ops::{self, OpError};
use kapacitor_ipc::{Hello, Incoming, Message, PeerOptions, Role, handshake};
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
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

pub async fn accept_loop(listener: UnixListener, handle: Handle) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(serve(stream, handle.clone()));
            }
            Err(e) => {
                warn!(error = %e, "accept on the gossipd socket failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}

async fn serve(stream: UnixStream, handle: Handle) {
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
    while let Some(inc) = inbox.recv().await {
        // Each request on its own task: a slow `member add` must not hold up a list.
        tokio::spawn(answer(inc, handle.clone()));
    }
}

async fn answer(inc: Incoming, handle: Handle) {
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
