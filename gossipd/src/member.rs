//! Who a member is on the wire: the SWIM identity foca gossips, carrying the metadata
//! `member list` shows (addresses, roles), and the view handed to apid.

use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use uuid::Uuid;

/// A member's identity as foca sees it.
///
/// `id` (the persisted `server.id`) is foca's `Addr`: two identities with the same id are the
/// same member, and the one with the larger `bump` wins. `bump` grows with every process start
/// and every automatic rejoin, so a restarted gossipd replaces its old identity instead of
/// waiting for it to be declared down. `token` changes whenever the member joins or leaves a
/// cluster; a removal tombstones `(id, token)`, so stale gossip about a removed member is
/// recognised while the same member can be added again later under a new token.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Ident {
    pub id: Uuid,
    pub token: u64,
    pub bump: u64,
    /// Where gossip (UDP, and TCP for the full sync) reaches this member.
    pub gossip: SocketAddr,
    pub meta: Meta,
}

/// The member's advertised addresses, as shown by `member list`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Meta {
    pub gossip_address: String,
    pub rpc_address: String,
    pub api_address: String,
    pub roles: Vec<String>,
}

impl std::fmt::Debug for Ident {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}#{}@{}", self.id, self.bump, self.gossip)
    }
}

impl foca::Identity for Ident {
    type Addr = Uuid;

    fn renew(&self) -> Option<Self> {
        Some(Ident {
            bump: self.bump.wrapping_add(1),
            ..self.clone()
        })
    }

    fn addr(&self) -> Uuid {
        self.id
    }

    fn win_addr_conflict(&self, adversary: &Self) -> bool {
        (self.bump, self.token) > (adversary.bump, adversary.token)
    }
}

/// A member's status in `member list`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Alive,
    Suspect,
    Dead,
    /// Shut down gracefully (it said goodbye before leaving).
    Left,
    /// Known from the persisted peer list but not heard from since this process started.
    Unknown,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Alive => "alive",
            Status::Suspect => "suspect",
            Status::Dead => "dead",
            Status::Left => "left",
            Status::Unknown => "unknown",
        }
    }
}
