//! Kapacitor Enterprise sections: `[cluster]` (gossip), `[rpc]` and `[alert]` (topic ownership
//! and dedup, plus OSS's topic persistence).

use crate::GoDuration;
use serde::{Deserialize, Serialize};

/// hashicorp/memberlist's `DefaultLANConfig`, which Kapacitor Enterprise uses when a gossip
/// setting is 0.
pub const LAN_GOSSIP_MEMBERS: u32 = 3;
pub const LAN_GOSSIP_INTERVAL: GoDuration = GoDuration::from_millis(200);
pub const LAN_GOSSIP_SYNC_INTERVAL: GoDuration = GoDuration::from_secs(30);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct ClusterConfig {
    /// Gossip address, bound on both UDP and TCP.
    pub bind_address: String,
    /// Address other members use; empty means hostname + bind port.
    pub advertise_address: String,
    /// Only `["worker"]` is supported, as in Kapacitor Enterprise.
    pub roles: Vec<String>,
    /// Neighbours each gossip message goes to; 0 means 3.
    pub gossip_members: u32,
    /// Time between gossip messages; 0 means 200ms.
    pub gossip_interval: GoDuration,
    /// Time between full TCP state syncs; 0 means 30s.
    pub gossip_sync_interval: GoDuration,
    /// Base64 shared key (16, 24 or 32 bytes) encrypting gossip; empty leaves it off.
    pub encryption_key: String,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            bind_address: ":9090".into(),
            advertise_address: String::new(),
            roles: vec!["worker".into()],
            gossip_members: 0,
            gossip_interval: GoDuration::ZERO,
            gossip_sync_interval: GoDuration::ZERO,
            encryption_key: String::new(),
        }
    }
}

impl ClusterConfig {
    /// `gossip-members` with 0 replaced by the LAN default.
    pub fn effective_gossip_members(&self) -> u32 {
        if self.gossip_members == 0 {
            LAN_GOSSIP_MEMBERS
        } else {
            self.gossip_members
        }
    }

    /// `gossip-interval` with 0 replaced by the LAN default.
    pub fn effective_gossip_interval(&self) -> GoDuration {
        if self.gossip_interval.is_zero() {
            LAN_GOSSIP_INTERVAL
        } else {
            self.gossip_interval
        }
    }

    /// `gossip-sync-interval` with 0 replaced by the LAN default.
    pub fn effective_gossip_sync_interval(&self) -> GoDuration {
        if self.gossip_sync_interval.is_zero() {
            LAN_GOSSIP_SYNC_INTERVAL
        } else {
            self.gossip_sync_interval
        }
    }

    /// The decoded gossip key, `None` when encryption is off.
    pub fn encryption_key_bytes(&self) -> Result<Option<Vec<u8>>, String> {
        if self.encryption_key.is_empty() {
            return Ok(None);
        }
        let key = crate::base64::decode(&self.encryption_key)
            .map_err(|e| format!("encryption-key is not valid base64: {e}"))?;
        match key.len() {
            16 | 24 | 32 => Ok(Some(key)),
            n => Err(format!(
                "encryption-key must decode to 16, 24 or 32 bytes, got {n}"
            )),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct RpcConfig {
    pub bind_address: String,
    pub advertise_address: String,
    pub enable_grpc_logging: bool,
}

impl Default for RpcConfig {
    fn default() -> Self {
        RpcConfig {
            bind_address: ":9091".into(),
            advertise_address: String::new(),
            enable_grpc_logging: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct AlertConfig {
    /// Store topic event state so it survives a restart.
    pub persist_topics: bool,
    /// Per-handler event queue length; at least 1000.
    pub topic_buffer_length: u32,
    /// Extra members owning each topic (Enterprise); 0 means one owner.
    pub redundancy: u32,
    /// Time an owner has to report an event handled before the next one takes over.
    pub delay_per_member: GoDuration,
    /// Period of the full alert-state sync between members.
    pub full_sync_interval: GoDuration,
}

impl Default for AlertConfig {
    fn default() -> Self {
        AlertConfig {
            persist_topics: true,
            topic_buffer_length: 5000,
            redundancy: 0,
            delay_per_member: GoDuration::from_secs(10),
            full_sync_interval: GoDuration::from_secs(300),
        }
    }
}
