//! The links to task workers: the path socket `<data_dir>/run/apid.sock`. Each worker dials
//! it twice and says hello with its task id: as `Role::Worker` for data (its queue's batches
//! in, acknowledgements, alert events and loopback writes out) and as `Role::WorkerControl` for apid's requests; both
//! are registered in the [`Registry`]. The socket's directory is mode 0700, so only the
//! daemon's user can connect.

use crate::alert_host::AlertHost;
use crate::registry::{Registry, Subscription};
use kapacitor_ipc::{Hello, Message, PeerOptions, Role, handshake};
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use tokio::net::{UnixListener, UnixStream};
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

/// `<data_dir>/run/apid.sock`
pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join("run").join("apid.sock")
}

/// Binds the socket, replacing a stale one left by a previous apid.
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

pub async fn accept_loop(
    listener: UnixListener,
    registry: Registry,
    alerts: AlertHost,
    cancel: CancellationToken,
) {
    loop {
        let accepted = tokio::select! {
            _ = cancel.cancelled() => return,
            a = listener.accept() => a,
        };
        match accepted {
            Ok((stream, _)) => {
                tokio::spawn(serve_worker(
                    stream,
                    registry.clone(),
                    alerts.clone(),
                    cancel.clone(),
                ));
            }
            Err(e) => {
                warn!(error = %e, "accept on the worker socket failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}

async fn serve_worker(
    stream: UnixStream,
    registry: Registry,
    alerts: AlertHost,
    cancel: CancellationToken,
) {
    let Ok((peer, mut inbox)) =
        handshake(stream, Hello::new(Role::Apid), PeerOptions::default()).await
    else {
        return; // handshake() logged why
    };
    let task_id = match &peer.remote().role {
        Role::Worker { task_id } => task_id.clone(),
        Role::WorkerControl { task_id } => {
            let task_id = task_id.clone();
            return serve_control(task_id, peer, inbox, registry, cancel).await;
        }
        other => {
            warn!(role = %other, "only task workers may use the worker socket; closing");
            peer.close();
            return;
        }
    };
    let conn = registry.register(&task_id, peer.clone());
    loop {
        let inc = tokio::select! {
            _ = cancel.cancelled() => break,
            inc = inbox.recv() => inc,
        };
        let Some(inc) = inc else { break };
        match &inc.msg {
            Message::Ping => {
                let _ = inc.reply(Message::Pong).await;
            }
            Message::Subscribe {
                dbrps,
                measurements,
            } => {
                let sub = Subscription {
                    dbrps: dbrps.clone(),
                    measurements: measurements.as_ref().map(|m| m.iter().cloned().collect()),
                };
                registry.subscribe(&task_id, conn, sub).await
            }
            Message::TaskBatchAck { seq } => registry.ack(&task_id, conn, *seq).await,
            Message::AlertEvents { json } => alerts.publish_json(&task_id, json),
            Message::AlertScriptHandlers { specs_json } => {
                alerts.set_script_handlers(&task_id, specs_json)
            }
            Message::LoopbackWrite { .. } => {
                // On its own task: waiting for room must not stop this loop from reading the
                // worker's acknowledgements (a task may loop back into its own queue).
                tokio::spawn(loopback_write(registry.clone(), task_id.clone(), inc));
            }
            Message::AlertStatesRequest { topics } => {
                let states = alerts.event_states(topics);
                let _ = inc.reply(Message::AlertStates { states }).await;
            }
            other => debug!(task = %task_id, msg = other.name(), "ignored message from worker"),
        }
    }
    registry.unregister(&task_id, conn);
    peer.close();
}

/// Routes a worker's `kapacitorLoopback()` points like a `/write`, and answers once they are
/// queued (`Done`), or with `Error` (the targets stayed full, or a disk error: the worker
/// keeps the points and tries again) or `Rejected` (they can never be queued). The worker
/// sends one at a time, so this is its backpressure.
async fn loopback_write(registry: Registry, task_id: String, inc: kapacitor_ipc::Incoming) {
    let Message::LoopbackWrite { db, rp, points } = &inc.msg else {
        return;
    };
    let answer = match registry.route_write(db, rp, points).await {
        Ok(()) => Message::Done,
        Err(e) if e.is_transient() => Message::Error {
            message: e.to_string(),
        },
        Err(e) => {
            warn!(task = %task_id, error = %e, "loopback points refused");
            Message::Rejected {
                message: e.to_string(),
            }
        }
    };
    if inc.is_request() {
        let _ = inc.reply(answer).await;
    }
}

/// A worker's control link: apid asks, the worker answers. The worker sends nothing on its
/// own here; a request from it is refused.
async fn serve_control(
    task_id: String,
    peer: kapacitor_ipc::Peer,
    mut inbox: kapacitor_ipc::Inbox,
    registry: Registry,
    cancel: CancellationToken,
) {
    let conn = registry.register_control(&task_id, peer.clone());
    loop {
        let inc = tokio::select! {
            _ = cancel.cancelled() => break,
            inc = inbox.recv() => inc,
        };
        let Some(inc) = inc else { break };
        match &inc.msg {
            Message::Ping => {
                let _ = inc.reply(Message::Pong).await;
            }
            other if inc.is_request() => {
                let message = format!("apid does not serve {} on a control link", other.name());
                let _ = inc.reply(Message::Error { message }).await;
            }
            other => {
                debug!(task = %task_id, msg = other.name(), "ignored message on a control link")
            }
        }
    }
    registry.unregister_control(&task_id, conn);
    peer.close();
}
