//! The RPC service on `[rpc] bind-address`: member add and remove between members, and the
//! peer-to-peer calls of later features (alert dedup).
//!
//! A connection carries request/response pairs, one frame each way (length-prefixed,
//! wrapped in the [`wire`](crate::wire) envelope, so encrypted when a key is set). The payload
//! is a postcard [`Envelope`] whose `version` is checked first. Only `Join` is accepted from a
//! member of another cluster (that is what joining is); anything else from another cluster,
//! and anything undecodable, is refused with a log line and the connection is closed.

use crate::member::Ident;
use crate::membership::JoinOffer;
use crate::node::Handle;
use crate::wire::{Kind, Sealer, WireError, frame};
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;
use tracing::{debug, warn};
use uuid::Uuid;

pub const RPC_VERSION: u32 = 1;
/// An idle RPC connection is closed after this long.
const IDLE: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope<T> {
    pub version: u32,
    pub body: T,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Request {
    /// `member add`: join the sender's cluster.
    Join(JoinOffer),
    /// "You were removed from this cluster" (to the removed member).
    Removed {
        token: u64,
    },
    /// "Forget this member, it was removed" (to the others).
    Forget {
        id: Uuid,
        token: u64,
    },
    Ping,
    /// A call for a peer service registered with [`PeerServices`].
    Peer {
        service: String,
        body: Vec<u8>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Response {
    Joined(Ident),
    Done,
    Pong { member_id: Uuid, cluster_id: Uuid },
    Peer(Vec<u8>),
    Refused(String),
}

/// A peer service: `(caller member id, request body) -> response body`.
pub type PeerFn = Arc<
    dyn Fn(Uuid, Vec<u8>) -> Pin<Box<dyn Future<Output = Result<Vec<u8>, String>> + Send>>
        + Send
        + Sync,
>;

/// Named peer services reachable over RPC from members of the same cluster.
#[derive(Clone, Default)]
pub struct PeerServices(Arc<std::collections::HashMap<String, PeerFn>>);

impl PeerServices {
    pub fn new(services: impl IntoIterator<Item = (String, PeerFn)>) -> PeerServices {
        PeerServices(Arc::new(services.into_iter().collect()))
    }

    /// These services plus `more` (a name in `more` replaces the same name here).
    pub fn with(self, more: impl IntoIterator<Item = (String, PeerFn)>) -> PeerServices {
        let mut map: std::collections::HashMap<String, PeerFn> = (*self.0).clone();
        map.extend(more);
        PeerServices(Arc::new(map))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    #[error("cannot resolve {addr}: {reason}")]
    Resolve { addr: String, reason: String },
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    #[error("{addr} did not answer within {secs}s")]
    Timeout { addr: String, secs: u64 },
    #[error(
        "connection to {addr} failed: {source} (is its encryption-key the same as this member's?)"
    )]
    Io {
        addr: String,
        source: std::io::Error,
    },
    #[error("bad answer from {addr}: {reason}")]
    BadAnswer { addr: String, reason: String },
}

impl RpcError {
    /// Whether trying again may help (the other side may still be starting).
    pub fn retryable(&self) -> bool {
        matches!(self, RpcError::Connect { .. } | RpcError::Resolve { .. })
    }
}

/// Checks that `addr` is `host:port`.
pub fn validate_address(addr: &str) -> Result<(), String> {
    let (host, port) = addr
        .rsplit_once(':')
        .ok_or_else(|| format!("invalid RPC address {addr:?}: expected host:port"))?;
    if host.trim_matches(['[', ']']).is_empty() {
        return Err(format!("invalid RPC address {addr:?}: missing host"));
    }
    port.parse::<u16>()
        .ok()
        .filter(|p| *p != 0)
        .map(|_| ())
        .ok_or_else(|| format!("invalid RPC address {addr:?}: invalid port {port:?}"))
}

/// One request to the member at `addr`.
pub async fn call(
    addr: &str,
    handle: &Handle,
    req: &Request,
    limit: Duration,
) -> Result<Response, RpcError> {
    let target: SocketAddr = tokio::net::lookup_host(addr)
        .await
        .map_err(|e| RpcError::Resolve {
            addr: addr.into(),
            reason: e.to_string(),
        })?
        .next()
        .ok_or_else(|| RpcError::Resolve {
            addr: addr.into(),
            reason: "no address".into(),
        })?;
    let timed_out = || RpcError::Timeout {
        addr: addr.into(),
        secs: limit.as_secs().max(1),
    };
    let mut s = timeout(limit, TcpStream::connect(target))
        .await
        .map_err(|_| timed_out())?
        .map_err(|source| RpcError::Connect {
            addr: addr.into(),
            source,
        })?;
    let body = postcard::to_allocvec(&Envelope {
        version: RPC_VERSION,
        body: req,
    })
    .unwrap_or_default();
    let packet = handle.sealer.seal(&handle.header(Kind::Rpc), &body);
    let io = |source| RpcError::Io {
        addr: addr.into(),
        source,
    };
    let reply = timeout(limit, async {
        frame::write(&mut s, &packet).await?;
        frame::read(&mut s).await
    })
    .await
    .map_err(|_| timed_out())?
    .map_err(io)?;
    let bad = |reason: String| RpcError::BadAnswer {
        addr: addr.into(),
        reason,
    };
    let (h, payload) = handle.sealer.open(&reply).map_err(|e| bad(e.to_string()))?;
    if h.kind != Kind::Rpc {
        return Err(bad(format!("unexpected message kind {:?}", h.kind)));
    }
    let env: Envelope<Response> = postcard::from_bytes(&payload).map_err(|e| bad(e.to_string()))?;
    if env.version != RPC_VERSION {
        return Err(bad(format!("unsupported RPC version {}", env.version)));
    }
    Ok(env.body)
}

pub async fn serve(listener: TcpListener, handle: Handle, services: PeerServices) {
    loop {
        match listener.accept().await {
            Ok((stream, from)) => {
                tokio::spawn(connection(stream, from, handle.clone(), services.clone()));
            }
            Err(e) => {
                warn!(error = %e, "RPC accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

enum Refusal {
    Wire(WireError),
    Garbage(String),
}

async fn connection(mut s: TcpStream, from: SocketAddr, handle: Handle, services: PeerServices) {
    loop {
        let data = match timeout(IDLE, frame::read(&mut s)).await {
            Ok(Ok(d)) => d,
            Ok(Err(e)) => {
                if e.kind() != std::io::ErrorKind::UnexpectedEof {
                    warn!(from = %from, error = %e, "refusing an RPC connection");
                }
                return;
            }
            Err(_) => return,
        };
        let (reply, keep) = match decode(&handle.sealer, &data) {
            Ok((h, req)) => {
                let ids = handle.ids();
                let same_cluster = h.cluster_id == ids.cluster_id;
                if !same_cluster && !matches!(req, Request::Join(_)) {
                    warn!(from = %from, member = %h.sender, cluster = %h.cluster_id, "refusing RPC from a member of another cluster");
                    (
                        Response::Refused(format!(
                            "member {} is not in cluster {}",
                            ids.server_id, h.cluster_id
                        )),
                        false,
                    )
                } else {
                    (answer(req, h.sender, &handle, &services).await, true)
                }
            }
            Err(Refusal::Wire(e)) => {
                warn!(from = %from, error = %e, "refusing an RPC connection");
                return;
            }
            Err(Refusal::Garbage(e)) => {
                warn!(from = %from, error = %e, "refusing an RPC connection: undecodable request");
                return;
            }
        };
        let body = postcard::to_allocvec(&Envelope {
            version: RPC_VERSION,
            body: reply,
        })
        .unwrap_or_default();
        let packet = handle.sealer.seal(&handle.header(Kind::Rpc), &body);
        if frame::write(&mut s, &packet).await.is_err() || !keep {
            return;
        }
    }
}

fn decode(sealer: &Sealer, data: &[u8]) -> Result<(crate::wire::Header, Request), Refusal> {
    let (h, payload) = sealer.open(data).map_err(Refusal::Wire)?;
    if h.kind != Kind::Rpc {
        return Err(Refusal::Garbage(format!(
            "message kind {:?} on the RPC port",
            h.kind
        )));
    }
    // Read the version alone first, so that another version is reported as such.
    let version: u32 = postcard::take_from_bytes::<u32>(&payload)
        .map(|(v, _)| v)
        .map_err(|e| Refusal::Garbage(e.to_string()))?;
    if version != RPC_VERSION {
        return Err(Refusal::Garbage(format!(
            "unsupported RPC version {version} (this member speaks {RPC_VERSION})"
        )));
    }
    let env: Envelope<Request> =
        postcard::from_bytes(&payload).map_err(|e| Refusal::Garbage(e.to_string()))?;
    Ok((h, env.body))
}

async fn answer(req: Request, caller: Uuid, handle: &Handle, services: &PeerServices) -> Response {
    let stopped = || Response::Refused("gossip process is stopping".into());
    match req {
        Request::Join(offer) => match handle.accept_join(offer).await {
            Ok(Ok(me)) => Response::Joined(me),
            Ok(Err(msg)) => Response::Refused(msg),
            Err(_) => stopped(),
        },
        Request::Removed { token } => {
            let ids = handle.ids();
            match handle.forget(ids.server_id, token).await {
                Ok(()) => Response::Done,
                Err(_) => stopped(),
            }
        }
        Request::Forget { id, token } => match handle.forget(id, token).await {
            Ok(()) => Response::Done,
            Err(_) => stopped(),
        },
        Request::Ping => {
            let ids = handle.ids();
            Response::Pong {
                member_id: ids.server_id,
                cluster_id: ids.cluster_id,
            }
        }
        Request::Peer { service, body } => match services.0.get(&service) {
            Some(f) => match f(caller, body).await {
                Ok(b) => Response::Peer(b),
                Err(e) => Response::Refused(e),
            },
            None => {
                debug!(service = %service, "RPC for an unknown peer service");
                Response::Refused(format!("no peer service {service:?} on this member"))
            }
        },
    }
}
