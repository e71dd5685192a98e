//! kapacitord's configuration, compatible with Kapacitor's TOML file.
//!
//! Precedence, lowest first: built-in defaults < TOML file < `KAPACITOR_*` environment
//! variables < command-line flags.
//!
//! SKELETON: the public names below are the contract other crates code against; the full
//! set of sections and the loading logic are filled in by the config work.

mod duration;

pub use duration::GoDuration;

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct Config {
    pub hostname: String,
    #[serde(rename = "data_dir")]
    pub data_dir: PathBuf,
    pub http: HttpConfig,
    pub logging: LoggingConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            hostname: "localhost".into(),
            data_dir: PathBuf::from("/var/lib/kapacitor"),
            http: HttpConfig::default(),
            logging: LoggingConfig::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct HttpConfig {
    pub bind_address: String,
    pub log_enabled: bool,
    pub shutdown_timeout: GoDuration,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            bind_address: ":9092".into(),
            log_enabled: true,
            shutdown_timeout: GoDuration::from_secs(10),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct LoggingConfig {
    /// A path, or `STDERR` / `STDOUT`.
    pub file: String,
    /// `DEBUG`, `INFO` or `ERROR`.
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
    /// Parses a TOML document over the defaults, without environment overrides.
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError(e.to_string()))
    }

    /// The full effective configuration as TOML (what `kapacitord config` prints).
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("config serializes")
    }

    /// Loads the configuration the way `kapacitord run` does: the file at `path` (or the
    /// embedded default when `None`), then `KAPACITOR_*` environment overrides from `env`,
    /// then `flags`, then validation.
    pub fn load(
        path: Option<&Path>,
        env: &[(String, String)],
        flags: &Overrides,
    ) -> Result<Config, ConfigError> {
        let mut cfg = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| ConfigError(format!("reading {}: {e}", p.display())))?;
                Config::from_toml(&text)?
            }
            None => Config::default(),
        };
        let _ = env;
        if let Some(h) = &flags.hostname {
            cfg.hostname = h.clone();
        }
        if let Some(f) = &flags.log_file {
            cfg.logging.file = f.clone();
        }
        if let Some(l) = &flags.log_level {
            cfg.logging.level = l.clone();
        }
        Ok(cfg)
    }
}
