//! Sections that configure kapacitord itself: HTTP, logging, storage paths, stats, UDFs, inputs.

use crate::{ByteSize, GoDuration};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct HttpConfig {
    pub bind_address: String,
    pub auth_enabled: bool,
    pub log_enabled: bool,
    pub write_tracing: bool,
    pub pprof_enabled: bool,
    pub https_enabled: bool,
    pub https_certificate: String,
    pub https_private_key: String,
    pub shutdown_timeout: GoDuration,
    pub shared_secret: String,
    /// How long a client may take to send a request's headers, from its connection (or the
    /// first byte of a later request on it); the connection is closed after that.
    pub read_header_timeout: GoDuration,
    /// How long a keep-alive connection may wait for its next request.
    pub idle_timeout: GoDuration,
    /// Open HTTP connections at most; 0 picks a limit below the process's file descriptor
    /// limit (apid logs the effective value at start).
    pub max_connections: u64,
    /// Largest `/write` body in bytes, compressed or not (413 beyond it).
    pub max_body_size: ByteSize,
    /// Bytes of `/write` bodies held at once across all requests (503 beyond it).
    pub max_concurrent_write_bytes: ByteSize,
}

/// `[http] max-body-size` default: 64 MiB.
pub const DEFAULT_MAX_BODY_SIZE: u64 = 64 * 1024 * 1024;
/// `[http] max-concurrent-write-bytes` default: 256 MiB.
pub const DEFAULT_MAX_CONCURRENT_WRITE_BYTES: u64 = 256 * 1024 * 1024;

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            bind_address: ":9092".into(),
            auth_enabled: false,
            log_enabled: true,
            write_tracing: false,
            pprof_enabled: false,
            https_enabled: false,
            https_certificate: "/etc/ssl/kapacitor.pem".into(),
            https_private_key: String::new(),
            shutdown_timeout: GoDuration::from_secs(10),
            shared_secret: String::new(),
            read_header_timeout: GoDuration::from_secs(10),
            idle_timeout: GoDuration::from_secs(120),
            max_connections: 0,
            max_body_size: ByteSize(DEFAULT_MAX_BODY_SIZE),
            max_concurrent_write_bytes: ByteSize(DEFAULT_MAX_CONCURRENT_WRITE_BYTES),
        }
    }
}

/// Automatic `[http] max-connections` never exceeds this: an idle connection costs apid
/// about 12 KiB (its read buffer and task), so 10,000 of them stay near 120 MiB.
pub const AUTO_MAX_CONNECTIONS_CEILING: u64 = 10_000;

/// The HTTP connection limit apid applies, and how it was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimit {
    pub max: u64,
    /// The process's `RLIMIT_NOFILE` soft limit it was derived from.
    pub nofile: u64,
    /// Descriptors kept for everything else apid opens: worker sockets, the supervisor and
    /// gossipd links, files, alert and InfluxDB connections, exec handler pipes.
    pub reserve: u64,
    /// Whether `max-connections` was 0 (derived) rather than set.
    pub automatic: bool,
}

impl HttpConfig {
    /// `[http] max-connections` resolved against the process's file descriptor limit
    /// (`RLIMIT_NOFILE` soft limit): 0 means the limit minus a reserve (128 + 1/8 of it),
    /// at most [`AUTO_MAX_CONNECTIONS_CEILING`]; a set value that does not fit below the
    /// limit is an error naming the key, so a connection flood can never take the
    /// descriptors apid needs for its workers.
    pub fn connection_limit(&self, nofile: u64) -> Result<ConnectionLimit, crate::ConfigError> {
        let reserve = 128 + nofile / 8;
        let room = if nofile > reserve {
            nofile - reserve
        } else {
            (nofile / 4).max(1)
        };
        let automatic = self.max_connections == 0;
        let max = if automatic {
            room.min(AUTO_MAX_CONNECTIONS_CEILING)
        } else if self.max_connections <= room {
            self.max_connections
        } else {
            return Err(crate::ConfigError(format!(
                "invalid [http] max-connections: {} does not fit the process's file descriptor \
                 limit (RLIMIT_NOFILE {nofile}, of which {reserve} are kept for workers, files \
                 and outbound connections, leaving {room}): raise the limit (ulimit -n, \
                 LimitNOFILE) or set max-connections to at most {room}, or 0 for automatic",
                self.max_connections
            )));
        };
        Ok(ConnectionLimit {
            max,
            nofile,
            reserve,
            automatic,
        })
    }
}

/// TLS settings for the HTTPS API; empty values mean the TLS library's defaults.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct TlsConfig {
    pub ciphers: Vec<String>,
    pub min_version: String,
    pub max_version: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct AuthConfig {
    pub enabled: bool,
    pub cache_expiration: GoDuration,
    pub bcrypt_cost: i64,
    pub meta_addr: String,
    pub meta_use_tls: bool,
    pub meta_username: String,
    pub meta_password: String,
    pub meta_internal_shared_secret: String,
    pub meta_ca: String,
    pub meta_cert: String,
    pub meta_key: String,
    pub meta_insecure_skip_verify: bool,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            enabled: false,
            cache_expiration: GoDuration::from_secs(600),
            bcrypt_cost: 10,
            meta_addr: String::new(),
            meta_use_tls: false,
            meta_username: String::new(),
            meta_password: String::new(),
            meta_internal_shared_secret: String::new(),
            meta_ca: String::new(),
            meta_cert: String::new(),
            meta_key: String::new(),
            meta_insecure_skip_verify: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct ConfigOverrideConfig {
    pub enabled: bool,
}

impl Default for ConfigOverrideConfig {
    fn default() -> Self {
        ConfigOverrideConfig { enabled: true }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct LoggingConfig {
    /// A path, or `STDERR` / `STDOUT`.
    pub file: String,
    /// `DEBUG`, `INFO` or `ERROR` (any case).
    pub level: String,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        LoggingConfig {
            file: "STDERR".into(),
            level: "DEBUG".into(),
        }
    }
}

/// The directory of task/template/handler files loaded at start and on SIGHUP.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct LoadConfig {
    pub enabled: bool,
    pub dir: PathBuf,
}

impl Default for LoadConfig {
    fn default() -> Self {
        LoadConfig {
            enabled: false,
            dir: PathBuf::from("/etc/kapacitor/load"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct ReplayConfig {
    pub dir: PathBuf,
}

impl Default for ReplayConfig {
    fn default() -> Self {
        ReplayConfig {
            dir: PathBuf::from("/var/lib/kapacitor/replay"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct TaskConfig {
    /// Deprecated in Kapacitor: only locates an old `task.db` to migrate.
    pub dir: PathBuf,
    pub snapshot_interval: GoDuration,
    /// Ours: a task worker that answers no heartbeat for this long (its engine stuck in a
    /// loop, blocked, or the process stopped) is reported `not responding` and restarted.
    /// 0 disables the watchdog.
    pub watchdog_timeout: GoDuration,
    /// Ours: the most resident memory one task's worker may use (`"2GiB"`, `"512MiB"`, bytes;
    /// `0`: no limit). A task past it is stopped with an error instead of growing until
    /// the kernel kills a process.
    pub memory_limit: ByteSize,
}

impl Default for TaskConfig {
    fn default() -> Self {
        TaskConfig {
            dir: PathBuf::from("/var/lib/kapacitor/tasks"),
            snapshot_interval: GoDuration::from_secs(60),
            watchdog_timeout: GoDuration::from_secs(5),
            memory_limit: ByteSize(2 << 30),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct StorageConfig {
    /// Kapacitor's key name; here it is the path of the embedded database file.
    pub boltdb: PathBuf,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            boltdb: PathBuf::from("/var/lib/kapacitor/kapacitor.db"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct DeadmanConfig {
    pub global: bool,
    pub threshold: f64,
    pub interval: GoDuration,
    pub id: String,
    pub message: String,
}

impl Default for DeadmanConfig {
    fn default() -> Self {
        DeadmanConfig {
            global: false,
            threshold: 0.0,
            interval: GoDuration::from_secs(10),
            id: "{{ .Group }}:NODE_NAME for task '{{ .TaskName }}'".into(),
            message: "{{ .ID }} is {{ if eq .Level \"OK\" }}alive{{ else }}dead{{ end }}: \
                      {{ index .Fields \"emitted\" | printf \"%0.3f\" }} points/INTERVAL."
                .into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct FluxTaskConfig {
    pub enabled: bool,
    pub task_run_influxdb: String,
    pub task_run_bucket: String,
    pub task_run_org: String,
    pub task_run_orgid: String,
    pub task_run_measurement: String,
}

impl Default for FluxTaskConfig {
    fn default() -> Self {
        FluxTaskConfig {
            enabled: false,
            task_run_influxdb: String::new(),
            task_run_bucket: "taskrun".into(),
            task_run_org: String::new(),
            task_run_orgid: String::new(),
            task_run_measurement: "runs".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct StatsConfig {
    pub enabled: bool,
    pub stats_interval: GoDuration,
    pub database: String,
    pub retention_policy: String,
    pub timing_sample_rate: f64,
    pub timing_movavg_size: i64,
}

impl Default for StatsConfig {
    fn default() -> Self {
        StatsConfig {
            enabled: true,
            stats_interval: GoDuration::from_secs(10),
            database: "_kapacitor".into(),
            retention_policy: "autogen".into(),
            timing_sample_rate: 0.1,
            timing_movavg_size: 1000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct ReportingConfig {
    pub enabled: bool,
    pub url: String,
}

impl Default for ReportingConfig {
    fn default() -> Self {
        ReportingConfig {
            enabled: true,
            url: "https://usage.influxdata.com".into(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct UdfConfig {
    /// UDF name (as called from TICKscript) to how it is run.
    pub functions: BTreeMap<String, UdfFunctionConfig>,
}

/// A UDF is either a program kapacitord starts (`prog`) or a socket it connects to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct UdfFunctionConfig {
    pub prog: String,
    pub args: Vec<String>,
    pub socket: String,
    pub timeout: GoDuration,
    pub env: BTreeMap<String, String>,
}

impl Default for UdfFunctionConfig {
    fn default() -> Self {
        UdfFunctionConfig {
            prog: String::new(),
            args: Vec::new(),
            socket: String::new(),
            timeout: GoDuration::from_secs(10),
            env: BTreeMap::new(),
        }
    }
}

/// A `[[udp]]` line-protocol listener.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct UdpConfig {
    pub enabled: bool,
    pub bind_address: String,
    pub database: String,
    pub retention_policy: String,
    pub buffer: i64,
    pub read_buffer: i64,
}

impl Default for UdpConfig {
    fn default() -> Self {
        UdpConfig {
            enabled: false,
            bind_address: String::new(),
            database: String::new(),
            retention_policy: String::new(),
            buffer: 1000,
            read_buffer: 0,
        }
    }
}

/// InfluxDB's collectd input, accepted for compatibility.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct CollectdConfig {
    pub enabled: bool,
    pub bind_address: String,
    pub database: String,
    pub retention_policy: String,
    pub batch_size: i64,
    pub batch_pending: i64,
    pub batch_timeout: GoDuration,
    pub read_buffer: i64,
    pub typesdb: String,
    pub security_level: String,
    pub auth_file: String,
    pub parse_multivalue_plugin: String,
}

impl Default for CollectdConfig {
    fn default() -> Self {
        CollectdConfig {
            enabled: false,
            bind_address: ":25826".into(),
            database: "collectd".into(),
            retention_policy: String::new(),
            batch_size: 5000,
            batch_pending: 10,
            batch_timeout: GoDuration::from_secs(10),
            read_buffer: 0,
            typesdb: "/usr/share/collectd/types.db".into(),
            security_level: "none".into(),
            auth_file: "/etc/collectd/auth_file".into(),
            parse_multivalue_plugin: "split".into(),
        }
    }
}

/// InfluxDB's OpenTSDB input, accepted for compatibility.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct OpenTsdbConfig {
    pub enabled: bool,
    pub bind_address: String,
    pub database: String,
    pub retention_policy: String,
    pub consistency_level: String,
    pub tls_enabled: bool,
    pub certificate: String,
    pub batch_size: i64,
    pub batch_pending: i64,
    pub batch_timeout: GoDuration,
    pub log_point_errors: bool,
}

impl Default for OpenTsdbConfig {
    fn default() -> Self {
        OpenTsdbConfig {
            enabled: false,
            bind_address: ":4242".into(),
            database: "opentsdb".into(),
            retention_policy: String::new(),
            consistency_level: "one".into(),
            tls_enabled: false,
            certificate: "/etc/ssl/influxdb.pem".into(),
            batch_size: 1000,
            batch_pending: 5,
            batch_timeout: GoDuration::from_secs(1),
            log_point_errors: true,
        }
    }
}

/// One InfluxDB-style `[[graphite]]` input, accepted for compatibility.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct GraphiteConfig {
    pub enabled: bool,
    pub bind_address: String,
    pub database: String,
    pub retention_policy: String,
    pub protocol: String,
    pub batch_size: i64,
    pub batch_pending: i64,
    pub batch_timeout: GoDuration,
    pub consistency_level: String,
    pub templates: Vec<String>,
    pub tags: Vec<String>,
    pub separator: String,
    pub udp_read_buffer: i64,
}

impl Default for GraphiteConfig {
    fn default() -> Self {
        GraphiteConfig {
            enabled: false,
            bind_address: ":2003".into(),
            database: "graphite".into(),
            retention_policy: String::new(),
            protocol: "tcp".into(),
            batch_size: 5000,
            batch_pending: 10,
            batch_timeout: GoDuration::from_secs(1),
            consistency_level: "one".into(),
            templates: Vec::new(),
            tags: Vec::new(),
            separator: ".".into(),
            udp_read_buffer: 0,
        }
    }
}
