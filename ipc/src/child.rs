//! The child side of the supervisor link.

use crate::error::IpcError;
use crate::fd::supervisor_stream;
use crate::message::{Hello, Message, Role};
use crate::peer::{Inbox, Incoming, Peer, PeerOptions, handshake};
use std::time::Duration;

/// How long a child waits for its configuration after the hello.
pub const CONFIG_TIMEOUT: Duration = Duration::from_secs(10);

/// Connects to the supervisor over the inherited socket, exchanges hellos, and waits for the
/// first message, which must be `Message::Config`. Returns the connection and the TOML text.
pub async fn connect_supervisor(role: Role) -> Result<(Peer, Inbox, String), IpcError> {
    let stream = supervisor_stream()?;
    let (peer, mut inbox) = handshake(stream, Hello::new(role), PeerOptions::default()).await?;
    if peer.remote().role != Role::Supervisor {
        return Err(IpcError::Handshake(format!(
            "expected the supervisor, got {}",
            peer.remote().role
        )));
    }
    match tokio::time::timeout(CONFIG_TIMEOUT, inbox.recv()).await {
        Ok(Some(first)) => match first.msg {
            Message::Config { toml } => Ok((peer, inbox, toml)),
            other => Err(IpcError::Handshake(format!(
                "expected Config first, got {}",
                other.name()
            ))),
        },
        Ok(None) => Err(IpcError::Closed(peer.closed().await)),
        Err(_) => Err(IpcError::Timeout(CONFIG_TIMEOUT)),
    }
}

/// What every child role starts from: the supervisor link, the configuration it sent, and
/// the SIGTERM stream (a process-group kill reaches the child directly).
pub struct ChildLink {
    pub supervisor: Peer,
    pub inbox: Inbox,
    pub config_toml: String,
    pub term: tokio::signal::unix::Signal,
}

/// [`connect_supervisor`] and the SIGTERM handler; `None` (with the reason logged) when the
/// child cannot run and should exit 1.
pub async fn start_child(role: Role) -> Option<ChildLink> {
    let (supervisor, inbox, config_toml) = match connect_supervisor(role).await {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot reach the supervisor");
            return None;
        }
    };
    let term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot install the SIGTERM handler");
            return None;
        }
    };
    Some(ChildLink {
        supervisor,
        inbox,
        config_toml,
        term,
    })
}

/// Why a child leaves [`serve_until_stopped`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The supervisor sent `Shutdown`: stop gracefully.
    Shutdown,
    /// The link reached EOF: the supervisor is gone.
    LinkClosed,
    /// SIGTERM arrived directly (e.g. a process-group kill).
    Sigterm,
}

/// Serves the supervisor link of a child until it is told to stop: answers `Ping`, logs and
/// ignores anything else. Every child role runs this same loop beside its own work.
pub async fn serve_until_stopped(
    inbox: &mut Inbox,
    term: &mut tokio::signal::unix::Signal,
) -> StopReason {
    serve_until_stopped_with(inbox, term, |inc| {
        tracing::debug!(msg = inc.msg.name(), "ignored message")
    })
    .await
}

/// [`serve_until_stopped`] for a role that also serves requests of its own on the link:
/// everything but `Ping` and `Shutdown` goes to `other` (which must not block: spawn the
/// work, so that a slow request never delays a ping).
pub async fn serve_until_stopped_with(
    inbox: &mut Inbox,
    term: &mut tokio::signal::unix::Signal,
    mut other: impl FnMut(Incoming),
) -> StopReason {
    loop {
        tokio::select! {
            inc = inbox.recv() => match inc {
                None => return StopReason::LinkClosed,
                Some(inc) => match &inc.msg {
                    Message::Shutdown => return StopReason::Shutdown,
                    Message::Ping => {
                        let _ = inc.reply(Message::Pong).await;
                    }
                    _ => other(inc),
                },
            },
            _ = term.recv() => return StopReason::Sigterm,
        }
    }
}
