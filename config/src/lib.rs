//! kapacitord's configuration, compatible with Kapacitor's TOML file.
//!
//! Precedence, lowest first: built-in defaults < TOML file (or the demo default when there is
//! no file) < `KAPACITOR_*` environment variables < command-line flags; then validation.
//!
//! Every section is a typed struct with Kapacitor's key names and defaults, and unknown keys
//! are errors everywhere (the discovery sections are checked against their defaults instead,
//! see [`sections::discovery`]).

mod base64;
mod byte_size;
mod duration;
mod env;
mod load;
mod one_or_many;
pub mod sections;
mod validate;

pub use byte_size::{ByteSize, ByteSizeError};
pub use duration::{DurationError, GoDuration, format_go_duration, parse_go_duration};
pub use load::{default_config_path, demo_config, demo_config_in};
pub use sections::cluster::{AlertConfig, ClusterConfig, RpcConfig};
pub use sections::handlers::*;
pub use sections::influxdb::{InfluxDbConfig, SubscriptionMode};
pub use sections::queue::QueueConfig;
pub use sections::server::*;

use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::PathBuf;
use toml::Table;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct Config {
    pub hostname: String,
    #[serde(rename = "data_dir")]
    pub data_dir: PathBuf,
    pub skip_config_overrides: bool,
    pub default_retention_policy: String,

    pub http: HttpConfig,
    pub tls: TlsConfig,
    pub auth: AuthConfig,
    pub config_override: ConfigOverrideConfig,
    pub logging: LoggingConfig,
    pub load: LoadConfig,
    pub replay: ReplayConfig,
    pub task: TaskConfig,
    pub storage: StorageConfig,
    pub queue: QueueConfig,
    pub cluster: ClusterConfig,
    pub rpc: RpcConfig,
    pub alert: AlertConfig,
    pub deadman: DeadmanConfig,
    pub fluxtask: FluxTaskConfig,
    #[serde(deserialize_with = "one_or_many::deserialize")]
    pub influxdb: Vec<InfluxDbConfig>,

    pub smtp: SmtpConfig,
    pub snmptrap: SnmpTrapConfig,
    pub opsgenie: OpsGenieConfig,
    pub opsgenie2: OpsGenie2Config,
    pub victorops: VictorOpsConfig,
    pub pagerduty: PagerDutyConfig,
    pub pagerduty2: PagerDuty2Config,
    pub pushover: PushoverConfig,
    #[serde(deserialize_with = "one_or_many::deserialize")]
    pub httppost: Vec<HttpPostConfig>,
    #[serde(deserialize_with = "one_or_many::deserialize")]
    pub slack: Vec<SlackConfig>,
    pub telegram: TelegramConfig,
    pub hipchat: HipChatConfig,
    #[serde(deserialize_with = "one_or_many::deserialize")]
    pub kafka: Vec<KafkaConfig>,
    pub alerta: AlertaConfig,
    pub sensu: SensuConfig,
    pub talk: TalkConfig,
    #[serde(deserialize_with = "one_or_many::deserialize")]
    pub mqtt: Vec<MqttConfig>,
    pub teams: TeamsConfig,
    pub servicenow: ServiceNowConfig,
    pub bigpanda: BigPandaConfig,
    #[serde(deserialize_with = "one_or_many::deserialize")]
    pub discord: Vec<DiscordConfig>,
    pub zenoss: ZenossConfig,

    pub reporting: ReportingConfig,
    pub stats: StatsConfig,
    pub udf: UdfConfig,
    #[serde(deserialize_with = "one_or_many::deserialize")]
    pub udp: Vec<UdpConfig>,
    pub collectd: CollectdConfig,
    pub opentsdb: OpenTsdbConfig,
    #[serde(deserialize_with = "one_or_many::deserialize")]
    pub graphite: Vec<GraphiteConfig>,

    #[serde(deserialize_with = "one_or_many::deserialize")]
    pub kubernetes: Vec<Table>,
    #[serde(deserialize_with = "one_or_many::deserialize")]
    pub swarm: Vec<Table>,
    #[serde(deserialize_with = "one_or_many::deserialize")]
    pub scraper: Vec<Table>,
    #[serde(deserialize_with = "one_or_many::deserialize")]
    pub azure: Vec<Table>,
    #[serde(deserialize_with = "one_or_many::deserialize")]
    pub consul: Vec<Table>,
    #[serde(deserialize_with = "one_or_many::deserialize")]
    pub dns: Vec<Table>,
    #[serde(deserialize_with = "one_or_many::deserialize")]
    pub ec2: Vec<Table>,
    #[serde(deserialize_with = "one_or_many::deserialize")]
    pub file_discovery: Vec<Table>,
    #[serde(deserialize_with = "one_or_many::deserialize")]
    pub gce: Vec<Table>,
    #[serde(deserialize_with = "one_or_many::deserialize")]
    pub marathon: Vec<Table>,
    #[serde(deserialize_with = "one_or_many::deserialize")]
    pub nerve: Vec<Table>,
    #[serde(deserialize_with = "one_or_many::deserialize")]
    pub serverset: Vec<Table>,
    #[serde(deserialize_with = "one_or_many::deserialize")]
    pub static_discovery: Vec<Table>,
    #[serde(deserialize_with = "one_or_many::deserialize")]
    pub triton: Vec<Table>,
}

/// The discovery sections, by TOML name, with accessors to their tables.
pub(crate) const DISCOVERY_SECTIONS: [&str; 14] = [
    "kubernetes",
    "swarm",
    "scraper",
    "azure",
    "consul",
    "dns",
    "ec2",
    "file-discovery",
    "gce",
    "marathon",
    "nerve",
    "serverset",
    "static-discovery",
    "triton",
];

impl Default for Config {
    /// The packaged default: Kapacitor's code defaults with the paths of its sample file.
    fn default() -> Self {
        let d = sections::discovery::default_tables;
        Config {
            hostname: "localhost".into(),
            data_dir: PathBuf::from("/var/lib/kapacitor"),
            skip_config_overrides: false,
            default_retention_policy: String::new(),
            http: HttpConfig::default(),
            tls: TlsConfig::default(),
            auth: AuthConfig::default(),
            config_override: ConfigOverrideConfig::default(),
            logging: LoggingConfig::default(),
            load: LoadConfig::default(),
            replay: ReplayConfig::default(),
            task: TaskConfig::default(),
            storage: StorageConfig::default(),
            queue: QueueConfig::default(),
            cluster: ClusterConfig::default(),
            rpc: RpcConfig::default(),
            alert: AlertConfig::default(),
            deadman: DeadmanConfig::default(),
            fluxtask: FluxTaskConfig::default(),
            // Kapacitor marks a lone [[influxdb]] as the default one (PostInit).
            influxdb: vec![InfluxDbConfig {
                default: true,
                ..InfluxDbConfig::default()
            }],
            smtp: SmtpConfig::default(),
            snmptrap: SnmpTrapConfig::default(),
            opsgenie: OpsGenieConfig::default(),
            opsgenie2: OpsGenie2Config::default(),
            victorops: VictorOpsConfig::default(),
            pagerduty: PagerDutyConfig::default(),
            pagerduty2: PagerDuty2Config::default(),
            pushover: PushoverConfig::default(),
            httppost: vec![HttpPostConfig::default()],
            slack: vec![SlackConfig::default()],
            telegram: TelegramConfig::default(),
            hipchat: HipChatConfig::default(),
            kafka: vec![KafkaConfig::default()],
            alerta: AlertaConfig::default(),
            sensu: SensuConfig::default(),
            talk: TalkConfig::default(),
            mqtt: vec![MqttConfig::default()],
            teams: TeamsConfig::default(),
            servicenow: ServiceNowConfig::default(),
            bigpanda: BigPandaConfig::default(),
            discord: vec![DiscordConfig::default()],
            zenoss: ZenossConfig::default(),
            reporting: ReportingConfig::default(),
            stats: StatsConfig::default(),
            udf: UdfConfig::default(),
            udp: Vec::new(),
            collectd: CollectdConfig::default(),
            opentsdb: OpenTsdbConfig::default(),
            graphite: Vec::new(),
            // Only these two discovery sections have an element by default in Kapacitor.
            kubernetes: d("kubernetes"),
            swarm: d("swarm"),
            scraper: Vec::new(),
            azure: Vec::new(),
            consul: Vec::new(),
            dns: Vec::new(),
            ec2: Vec::new(),
            file_discovery: Vec::new(),
            gce: Vec::new(),
            marathon: Vec::new(),
            nerve: Vec::new(),
            serverset: Vec::new(),
            static_discovery: Vec::new(),
            triton: Vec::new(),
        }
    }
}

/// A configuration error; its message names the offending key (and line, for TOML syntax).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// Command-line values that override the file and the environment.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub hostname: Option<String>,
    pub log_file: Option<String>,
    pub log_level: Option<String>,
}

impl Config {
    /// Parses a TOML document over the defaults, without environment overrides or validation.
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        // The plain decoder is several times faster; the path-tracking one only runs to name
        // the key of an error.
        let mut cfg: Config = match toml::from_str(text) {
            Ok(cfg) => cfg,
            Err(plain) => return Err(ConfigError(keyed_error(text).unwrap_or(plain.to_string()))),
        };
        cfg.post_init()?;
        Ok(cfg)
    }

    /// The full effective configuration as TOML (what `kapacitord config` prints).
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self)
            .unwrap_or_else(|e| format!("# the configuration could not be printed: {e}\n"))
    }

    /// Loads the configuration the way `kapacitord run` does: the file at `path` (or the
    /// demo default when `None`), then `KAPACITOR_*` overrides from `env`, then `flags`,
    /// then [`Config::validate`].
    pub fn load(
        path: Option<&std::path::Path>,
        env: &[(String, String)],
        flags: &Overrides,
    ) -> Result<Config, ConfigError> {
        load::load(path, env, flags)
    }

    /// Applies `KAPACITOR_*` environment overrides (no validation); errors name the variable.
    pub fn apply_env(&self, env: &[(String, String)]) -> Result<Config, ConfigError> {
        env::apply(self, env)
    }

    /// Applies command-line overrides.
    pub fn apply_flags(&mut self, flags: &Overrides) {
        if let Some(h) = &flags.hostname {
            self.hostname = h.clone();
        }
        if let Some(f) = &flags.log_file {
            self.logging.file = f.clone();
        }
        if let Some(l) = &flags.log_level {
            self.logging.level = l.clone();
        }
    }

    /// Checks values a TOML type cannot express; the error names the section and key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        validate::validate(self).map_err(ConfigError)
    }

    /// `[queue] dir` as used: a relative path is taken under `data_dir`, and the code
    /// default (`/var/lib/kapacitor/queues`) follows a non-default `data_dir` (as the demo
    /// configuration keeps both together, a configuration that only moves `data_dir` must not
    /// write to `/var/lib/kapacitor`). The same rule as `[storage] boltdb`.
    pub fn queue_dir(&self) -> PathBuf {
        let defaults = Config::default();
        let dir = &self.queue.dir;
        if dir == &defaults.queue.dir && self.data_dir != defaults.data_dir {
            return self.data_dir.join("queues");
        }
        if dir.is_relative() {
            self.data_dir.join(dir)
        } else {
            dir.clone()
        }
    }

    /// `[http] bind-address` as a socket address (`":9092"` is `0.0.0.0:9092`).
    pub fn http_listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        parse_bind_address(&self.http.bind_address)
            .map_err(|e| ConfigError(format!("invalid [http] bind-address: {e}")))
    }

    /// `[cluster] bind-address` (gossip, UDP and TCP) as a socket address.
    pub fn cluster_listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        parse_bind_address(&self.cluster.bind_address)
            .map_err(|e| ConfigError(format!("invalid [cluster] bind-address: {e}")))
    }

    /// `[rpc] bind-address` as a socket address.
    pub fn rpc_listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        parse_bind_address(&self.rpc.bind_address)
            .map_err(|e| ConfigError(format!("invalid [rpc] bind-address: {e}")))
    }

    /// A copy whose `[cluster]` gossip settings have their 0 values replaced by the LAN
    /// defaults (3 members, 200ms, 30s).
    pub fn cluster_defaults_applied(&self) -> ClusterConfig {
        let c = &self.cluster;
        ClusterConfig {
            gossip_members: c.effective_gossip_members(),
            gossip_interval: c.effective_gossip_interval(),
            gossip_sync_interval: c.effective_gossip_sync_interval(),
            ..c.clone()
        }
    }

    /// The `[[influxdb]]` entry marked default, or the only enabled one.
    pub fn default_influxdb(&self) -> Option<&InfluxDbConfig> {
        let enabled = || self.influxdb.iter().filter(|c| c.enabled);
        enabled()
            .find(|c| c.default)
            .or_else(|| (enabled().count() == 1).then(|| enabled().next()).flatten())
    }

    /// Kapacitor's post-decode fix-ups: a lone `[[influxdb]]` is the default one, and partial
    /// discovery tables are completed from their defaults (after checking their keys).
    fn post_init(&mut self) -> Result<(), ConfigError> {
        if self.influxdb.is_empty() {
            self.influxdb = vec![InfluxDbConfig::default()];
        }
        if self.influxdb.len() == 1 {
            self.influxdb[0].default = true;
        }
        self.check_discovery()?;
        for name in DISCOVERY_SECTIONS {
            let tables = self.discovery_mut(name);
            if let Some(schema) = sections::discovery::default_tables(name).into_iter().next() {
                for t in tables.iter_mut() {
                    for (k, v) in &schema {
                        t.entry(k.clone()).or_insert_with(|| v.clone());
                    }
                }
            }
        }
        Ok(())
    }

    fn check_discovery(&self) -> Result<(), ConfigError> {
        for name in DISCOVERY_SECTIONS {
            sections::discovery::check_tables(name, self.discovery(name)).map_err(ConfigError)?;
        }
        Ok(())
    }

    fn discovery(&self, name: &str) -> &[Table] {
        match name {
            "kubernetes" => &self.kubernetes,
            "swarm" => &self.swarm,
            "scraper" => &self.scraper,
            "azure" => &self.azure,
            "consul" => &self.consul,
            "dns" => &self.dns,
            "ec2" => &self.ec2,
            "file-discovery" => &self.file_discovery,
            "gce" => &self.gce,
            "marathon" => &self.marathon,
            "nerve" => &self.nerve,
            "serverset" => &self.serverset,
            "static-discovery" => &self.static_discovery,
            _ => &self.triton,
        }
    }

    fn discovery_mut(&mut self, name: &str) -> &mut Vec<Table> {
        match name {
            "kubernetes" => &mut self.kubernetes,
            "swarm" => &mut self.swarm,
            "scraper" => &mut self.scraper,
            "azure" => &mut self.azure,
            "consul" => &mut self.consul,
            "dns" => &mut self.dns,
            "ec2" => &mut self.ec2,
            "file-discovery" => &mut self.file_discovery,
            "gce" => &mut self.gce,
            "marathon" => &mut self.marathon,
            "nerve" => &mut self.nerve,
            "serverset" => &mut self.serverset,
            "static-discovery" => &mut self.static_discovery,
            _ => &mut self.triton,
        }
    }
}

/// Decodes `text` again tracking the key path, and returns the error prefixed with that path.
fn keyed_error(text: &str) -> Option<String> {
    let de = match toml::Deserializer::parse(text) {
        Ok(de) => de,
        Err(e) => return Some(e.to_string()),
    };
    let e = serde_path_to_error::deserialize::<_, Config>(de).err()?;
    let path = e.path().to_string();
    let inner = e.into_inner().to_string();
    Some(if path.is_empty() || path == "." {
        inner
    } else {
        format!("config key `{path}`: {inner}")
    })
}

/// Turns a Go listen address (`":9092"`, `"127.0.0.1:9092"`, `"[::1]:9092"`, `"host:9092"`)
/// into a socket address; an empty host means all IPv4 interfaces.
pub fn parse_bind_address(addr: &str) -> Result<SocketAddr, String> {
    use std::net::ToSocketAddrs;
    let (host, port) = addr
        .rsplit_once(':')
        .ok_or_else(|| format!("{addr:?}: missing port (expected host:port or :port)"))?;
    let port: u16 = port
        .parse()
        .map_err(|_| format!("{addr:?}: invalid port {port:?}"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Ok(SocketAddr::from(([0, 0, 0, 0], port)));
    }
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("{addr:?}: cannot resolve {host:?}: {e}"))?
        .next()
        .ok_or_else(|| format!("{addr:?}: {host:?} resolves to no address"))
}

#[cfg(test)]
mod tests;
