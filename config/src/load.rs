//! Where the configuration comes from: the file search path, the demo default and the
//! file < environment < flags order.

use crate::{Config, ConfigError, Overrides};
use std::path::{Path, PathBuf};

fn lookup<'a>(env: &'a [(String, String)], key: &str) -> Option<&'a str> {
    env.iter()
        .rev()
        .find(|(k, v)| k == key && !v.is_empty())
        .map(|(_, v)| v.as_str())
}

/// The config file `kapacitord` uses without `-config`: `KAPACITOR_CONFIG_PATH` if set, else
/// the first existing of `~/.kapacitor/kapacitor.conf` and `/etc/kapacitor/kapacitor.conf`.
/// `None` means run on the demo default. `HOME` is read from `env`, else from the process.
pub fn default_config_path(env: &[(String, String)]) -> Option<PathBuf> {
    if let Some(p) = lookup(env, "KAPACITOR_CONFIG_PATH") {
        return Some(PathBuf::from(p));
    }
    let mut candidates = Vec::new();
    if let Some(home) = home_dir(env) {
        candidates.push(home.join(".kapacitor").join("kapacitor.conf"));
    }
    candidates.push(PathBuf::from("/etc/kapacitor/kapacitor.conf"));
    candidates.into_iter().find(|p| p.is_file())
}

/// `HOME` from `env` if given there (callers often pass only `KAPACITOR_*`), else the
/// process's own.
fn home_dir(env: &[(String, String)]) -> Option<PathBuf> {
    lookup(env, "HOME").map(PathBuf::from).or_else(|| {
        std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(PathBuf::from)
    })
}

/// The configuration used when there is no file, rooted in `$HOME/.kapacitor`
/// (or `./.kapacitor` without `HOME`).
pub fn demo_config() -> Config {
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty());
    demo_config_in(home.as_deref().map(Path::new))
}

/// [`demo_config`] for an explicit home directory.
pub fn demo_config_in(home: Option<&Path>) -> Config {
    let root = match home {
        Some(h) => h.join(".kapacitor"),
        None => PathBuf::from("./.kapacitor"),
    };
    let mut cfg = Config::default();
    cfg.storage.boltdb = root.join("kapacitor.db");
    cfg.replay.dir = root.join("replay");
    cfg.task.dir = root.join("tasks");
    cfg.load.dir = root.join("load");
    cfg.queue.dir = root.join("queues");
    cfg.data_dir = root;
    cfg
}

pub(crate) fn load(
    path: Option<&Path>,
    env: &[(String, String)],
    flags: &Overrides,
) -> Result<Config, ConfigError> {
    let cfg = match path {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .map_err(|e| ConfigError(format!("reading config file {}: {e}", p.display())))?;
            Config::from_toml(&text)
                .map_err(|e| ConfigError(format!("{}: {}", p.display(), e.0)))?
        }
        None => demo_config_in(home_dir(env).as_deref()),
    };
    let mut cfg = cfg.apply_env(env)?;
    cfg.apply_flags(flags);
    cfg.validate()?;
    Ok(cfg)
}
