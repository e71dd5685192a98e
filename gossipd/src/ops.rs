//! `member add` and `member remove` as this member carries them out: the RPC exchanges
//! around the state changes in [`Membership`](crate::membership::Membership).

use crate::membership::{RemoveError, RemovePlan, View};
use crate::node::Handle;
use crate::rpc::{self, Request, Response};
use kapacitor_ipc::{ClusterMember, ClusterView};
use std::time::{Duration, Instant};
use tracing::{info, warn};

/// How long `member add` keeps retrying while the new member is still starting.
pub const ADD_RETRY_FOR: Duration = Duration::from_secs(5);
const RETRY_EVERY: Duration = Duration::from_millis(200);
/// Limit of one RPC exchange.
pub const RPC_TIMEOUT: Duration = Duration::from_secs(5);
/// Limit of the best-effort notices sent on removal.
const NOTICE_TIMEOUT: Duration = Duration::from_secs(2);

/// A failed operation with the HTTP status apid answers with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpError {
    pub status: u16,
    pub message: String,
}

impl OpError {
    fn new(status: u16, message: impl Into<String>) -> OpError {
        OpError {
            status,
            message: message.into(),
        }
    }
}

fn stopped() -> OpError {
    OpError::new(503, "the gossip process is stopping")
}

pub fn to_ipc(v: &View) -> ClusterView {
    ClusterView {
        state: if v.initialized {
            "initialized"
        } else {
            "uninitialized"
        }
        .into(),
        cluster_id: v.cluster_id.to_string(),
        local_member_id: v.local_id.to_string(),
        members: v
            .members
            .iter()
            .map(|m| ClusterMember {
                id: m.id.to_string(),
                gossip_address: m.gossip_address.clone(),
                rpc_address: m.rpc_address.clone(),
                api_address: m.api_address.clone(),
                roles: m.roles.clone(),
                status: m.status.as_str().into(),
            })
            .collect(),
    }
}

pub async fn list(handle: &Handle) -> Result<ClusterView, OpError> {
    handle
        .view()
        .await
        .map(|v| to_ipc(&v))
        .map_err(|_| stopped())
}

/// Brings the member whose RPC service is at `rpc_address` into this member's cluster.
pub async fn add(handle: &Handle, rpc_address: &str) -> Result<ClusterView, OpError> {
    let addr = rpc_address.trim();
    rpc::validate_address(addr).map_err(|e| OpError::new(400, e))?;
    let offer = handle.offer().await.map_err(|_| stopped())?;
    let deadline = Instant::now() + ADD_RETRY_FOR;
    let joined = loop {
        match rpc::call(addr, handle, &Request::Join(offer.clone()), RPC_TIMEOUT).await {
            Ok(Response::Joined(ident)) => break ident,
            Ok(Response::Refused(msg)) => {
                return Err(OpError::new(
                    409,
                    format!("member at {addr} refused to join: {msg}"),
                ));
            }
            Ok(other) => {
                return Err(OpError::new(
                    502,
                    format!("unexpected answer from {addr}: {other:?}"),
                ));
            }
            Err(e) if e.retryable() && Instant::now() < deadline => {
                tokio::time::sleep(RETRY_EVERY).await;
            }
            Err(e) => {
                return Err(OpError::new(
                    502,
                    format!("cannot add member at {addr}: {e}"),
                ));
            }
        }
    };
    handle.admit(joined).await.map_err(|_| stopped())?;
    list(handle).await
}

/// Removes a member from the cluster; run on the member itself or on any other member.
pub async fn remove(handle: &Handle, member_id: &str) -> Result<ClusterView, OpError> {
    let plan = match handle.remove(member_id.to_string()).await {
        Ok(Ok(plan)) => plan,
        Ok(Err(e @ RemoveError::NotFound(_))) => return Err(OpError::new(404, e.to_string())),
        Ok(Err(e @ RemoveError::Alone(_))) => return Err(OpError::new(400, e.to_string())),
        Err(_) => return Err(stopped()),
    };
    match plan {
        RemovePlan::Myself { id, token, peers } => {
            info!(peers = peers.len(), "leaving the cluster");
            notify_all(handle, &peers, Request::Forget { id, token }).await;
            handle.reset_alone().await.map_err(|_| stopped())?;
        }
        RemovePlan::Other { target, peers } => {
            let removed = Request::Removed {
                token: target.token,
            };
            let tell_target = notice(handle, &target.meta.rpc_address, removed);
            let tell_others = notify_all(
                handle,
                &peers,
                Request::Forget {
                    id: target.id,
                    token: target.token,
                },
            );
            let (told, ()) = tokio::join!(tell_target, tell_others);
            if !told {
                // It will be told when it next shows up (see Membership::reply_removed).
                info!(member = %target.id, "removed member not reachable now; it will be told when it comes back");
            }
        }
    }
    list(handle).await
}

/// Best effort: peers that miss it learn it from the next full sync.
async fn notify_all(handle: &Handle, peers: &[String], req: Request) {
    let calls = peers.iter().map(|p| notice(handle, p, req.clone()));
    futures::future::join_all(calls).await;
}

async fn notice(handle: &Handle, addr: &str, req: Request) -> bool {
    match rpc::call(addr, handle, &req, NOTICE_TIMEOUT).await {
        Ok(Response::Done) => true,
        Ok(other) => {
            warn!(peer = %addr, answer = ?other, "peer did not take the removal notice");
            false
        }
        Err(e) => {
            info!(peer = %addr, error = %e, "removal notice not delivered");
            false
        }
    }
}
