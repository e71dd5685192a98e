//! What gossipd needs from the configuration, resolved once at start-up.

use crate::member::Meta;
use kapacitor_config::{Config, parse_bind_address};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub gossip_bind: SocketAddr,
    /// Where peers send gossip to (the advertise address, resolved).
    pub gossip_advertise: SocketAddr,
    pub rpc_bind: SocketAddr,
    pub meta: Meta,
    /// Members each gossip round goes to (`gossip-members`).
    pub gossip_members: usize,
    pub gossip_interval: Duration,
    /// Period of the TCP full-state sync (`gossip-sync-interval`).
    pub sync_interval: Duration,
    pub encryption_key: Option<Vec<u8>>,
}

impl Settings {
    pub fn from_config(cfg: &Config) -> Result<Settings, String> {
        let c = cfg.cluster_defaults_applied();
        let gossip_bind = cfg.cluster_listen_addr().map_err(|e| e.to_string())?;
        let rpc_bind = cfg.rpc_listen_addr().map_err(|e| e.to_string())?;
        let gossip_address = advertised(&c.advertise_address, &c.bind_address, &cfg.hostname);
        let rpc_address = advertised(
            &cfg.rpc.advertise_address,
            &cfg.rpc.bind_address,
            &cfg.hostname,
        );
        let api_address = advertised("", &cfg.http.bind_address, &cfg.hostname);
        let gossip_advertise = resolve(&gossip_address, gossip_bind)
            .map_err(|e| format!("invalid [cluster] advertise-address {gossip_address:?}: {e}"))?;
        let encryption_key = c
            .encryption_key_bytes()
            .map_err(|e| format!("invalid [cluster] {e}"))?;
        Ok(Settings {
            data_dir: cfg.data_dir.clone(),
            gossip_bind,
            gossip_advertise,
            rpc_bind,
            meta: Meta {
                gossip_address,
                rpc_address,
                api_address,
                roles: c.roles.clone(),
            },
            gossip_members: c.gossip_members.max(1) as usize,
            gossip_interval: c
                .gossip_interval
                .as_duration()
                .max(Duration::from_millis(1)),
            sync_interval: c
                .gossip_sync_interval
                .as_duration()
                .max(Duration::from_millis(10)),
            encryption_key,
        })
    }
}

impl Settings {
    /// Fills in the ports the OS picked when a bind address asked for port 0, so peers are
    /// told the real ones.
    pub fn with_bound(mut self, gossip: SocketAddr, rpc: SocketAddr) -> Settings {
        if self.gossip_bind.port() == 0 {
            self.gossip_bind.set_port(gossip.port());
            self.gossip_advertise.set_port(gossip.port());
            self.meta.gossip_address = with_port(&self.meta.gossip_address, gossip.port());
        }
        if self.rpc_bind.port() == 0 {
            self.rpc_bind.set_port(rpc.port());
            self.meta.rpc_address = with_port(&self.meta.rpc_address, rpc.port());
        }
        self
    }
}

fn with_port(addr: &str, port: u16) -> String {
    match addr.rsplit_once(':') {
        Some((host, "0")) => format!("{host}:{port}"),
        _ => addr.to_string(),
    }
}

/// The address other members use: the advertise address when set, else the bind address
/// with an empty or unspecified host replaced by `hostname` (Kapacitor's rule).
pub fn advertised(advertise: &str, bind: &str, hostname: &str) -> String {
    if !advertise.is_empty() {
        return advertise.to_string();
    }
    match bind.rsplit_once(':') {
        Some((host, port)) => {
            let h = host.trim_start_matches('[').trim_end_matches(']');
            let unspecified = h
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_unspecified());
            if h.is_empty() || unspecified {
                format!("{hostname}:{port}")
            } else {
                bind.to_string()
            }
        }
        None => bind.to_string(),
    }
}

/// Resolves `host:port`, preferring an address of the same family as `like`.
pub fn resolve(addr: &str, like: SocketAddr) -> Result<SocketAddr, String> {
    if let Ok(a) = parse_bind_address(addr)
        && !a.ip().is_unspecified()
    {
        return Ok(a);
    }
    let all: Vec<SocketAddr> = addr.to_socket_addrs().map_err(|e| e.to_string())?.collect();
    all.iter()
        .find(|a| a.is_ipv4() == like.is_ipv4())
        .or(all.first())
        .copied()
        .ok_or_else(|| "resolves to no address".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_zero_is_replaced_by_the_bound_port() {
        let cfg = Config {
            hostname: "127.0.0.1".into(),
            ..Config::default()
        };
        let mut s = Settings::from_config(&cfg).unwrap();
        s.gossip_bind.set_port(0);
        s.gossip_advertise.set_port(0);
        s.meta.gossip_address = "127.0.0.1:0".into();
        s.rpc_bind.set_port(0);
        s.meta.rpc_address = "127.0.0.1:0".into();
        let s = s.with_bound(
            "127.0.0.1:4000".parse().unwrap(),
            "127.0.0.1:4001".parse().unwrap(),
        );
        assert_eq!(s.meta.gossip_address, "127.0.0.1:4000");
        assert_eq!(s.gossip_advertise.port(), 4000);
        assert_eq!(s.meta.rpc_address, "127.0.0.1:4001");
    }

    #[test]
    fn advertised_address_rules() {
        assert_eq!(advertised("", ":9090", "serverA"), "serverA:9090");
        assert_eq!(advertised("", "0.0.0.0:9091", "serverA"), "serverA:9091");
        assert_eq!(advertised("", "10.0.0.5:9092", "serverA"), "10.0.0.5:9092");
        assert_eq!(advertised("pub:1", ":9090", "serverA"), "pub:1");
    }

    #[test]
    fn settings_from_the_default_config() {
        let cfg = Config {
            hostname: "127.0.0.1".into(),
            ..Config::default()
        };
        let s = Settings::from_config(&cfg).unwrap();
        assert_eq!(s.meta.gossip_address, "127.0.0.1:9090");
        assert_eq!(s.meta.rpc_address, "127.0.0.1:9091");
        assert_eq!(s.meta.api_address, "127.0.0.1:9092");
        assert_eq!(s.gossip_advertise, "127.0.0.1:9090".parse().unwrap());
        assert_eq!(s.gossip_members, 3);
        assert_eq!(s.gossip_interval, Duration::from_millis(200));
        assert_eq!(s.sync_interval, Duration::from_secs(30));
        assert!(s.encryption_key.is_none());
    }
}
