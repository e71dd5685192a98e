//! `<data_dir>/cluster.json`: the cluster this member belongs to, its peers and the removed
//! members, so that a restarted member rejoins by itself. Versioned JSON (never postcard on
//! disk), written through a temporary file and a rename.

use crate::member::Ident;
use serde::{Deserialize, Serialize};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use uuid::Uuid;

pub const CLUSTER_FILE: &str = "cluster.json";
pub const FORMAT_VERSION: u32 = 1;

/// A removed member: gossip about `(id, token)` is ignored, and the member itself is told it
/// was removed if it shows up again with that token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tombstone {
    pub id: Uuid,
    pub token: u64,
    /// Seconds since the Unix epoch; tombstones expire after [`TOMBSTONE_TTL_SECS`].
    pub removed_at: u64,
}

/// Long enough for any stale member to come back and be told it was removed.
pub const TOMBSTONE_TTL_SECS: u64 = 7 * 24 * 3600;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterFile {
    pub version: u32,
    pub cluster_id: Uuid,
    /// `true` once another member joined; `false` for a cluster of one.
    pub initialized: bool,
    /// This member's join token (see [`Ident`]).
    pub token: u64,
    /// The last identity generation used; the next process starts above it.
    pub bump: u64,
    /// Every other member known (alive or not), with its last identity.
    pub members: Vec<Ident>,
    pub tombstones: Vec<Tombstone>,
}

#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("{}: {msg}", path.display())]
    Invalid { path: PathBuf, msg: String },
}

pub fn path(data_dir: &Path) -> PathBuf {
    data_dir.join(CLUSTER_FILE)
}

/// Reads the file; `Ok(None)` when there is none yet.
pub fn load(data_dir: &Path) -> Result<Option<ClusterFile>, PersistError> {
    let p = path(data_dir);
    let text = match std::fs::read_to_string(&p) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(PersistError::Io { path: p, source }),
    };
    let version = serde_json::from_str::<serde_json::Value>(&text)
        .map_err(|e| PersistError::Invalid {
            path: p.clone(),
            msg: format!("not JSON: {e}"),
        })?
        .get("version")
        .and_then(|v| v.as_u64());
    if version != Some(u64::from(FORMAT_VERSION)) {
        return Err(PersistError::Invalid {
            path: p,
            msg: format!("unsupported format version {version:?} (expected {FORMAT_VERSION})"),
        });
    }
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| PersistError::Invalid {
            path: p,
            msg: e.to_string(),
        })
}

/// Serialises the state; `save` writes exactly this text.
pub fn render(file: &ClusterFile) -> String {
    // Serialising plain data with string keys cannot fail.
    serde_json::to_string_pretty(file).unwrap_or_default()
}

pub fn save(data_dir: &Path, text: &str) -> Result<(), PersistError> {
    let p = path(data_dir);
    let io_err = |source| PersistError::Io {
        path: p.clone(),
        source,
    };
    let tmp = p.with_extension("json.tmp");
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, &p)
    };
    // A failed write leaves the old file; the half-written temp file goes (a full disk needs
    // the space back).
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io_err(e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::member::Meta;

    fn sample() -> ClusterFile {
        ClusterFile {
            version: FORMAT_VERSION,
            cluster_id: Uuid::new_v4(),
            initialized: true,
            token: 7,
            bump: 1000,
            members: vec![Ident {
                id: Uuid::new_v4(),
                token: 3,
                bump: 5,
                gossip: "127.0.0.1:9090".parse().unwrap(),
                meta: Meta {
                    gossip_address: "b:9090".into(),
                    rpc_address: "b:9091".into(),
                    api_address: "b:9092".into(),
                    roles: vec!["worker".into()],
                },
            }],
            tombstones: vec![Tombstone {
                id: Uuid::new_v4(),
                token: 9,
                removed_at: 1,
            }],
        }
    }

    #[test]
    fn round_trip_and_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load(dir.path()).unwrap().is_none());
        let f = sample();
        save(dir.path(), &render(&f)).unwrap();
        assert_eq!(load(dir.path()).unwrap(), Some(f));
        let text = std::fs::read_to_string(path(dir.path())).unwrap();
        assert!(text.contains("\"gossip_address\": \"b:9090\""), "{text}");
    }

    #[test]
    fn a_failed_save_keeps_the_old_file_and_a_later_one_works() {
        let dir = tempfile::tempdir().unwrap();
        let first = sample();
        save(dir.path(), &render(&first)).unwrap();
        // A directory where the temp file goes: the write fails (as root too).
        let blocker = path(dir.path()).with_extension("json.tmp");
        std::fs::create_dir(&blocker).unwrap();
        let mut second = sample();
        second.token = 8;
        let e = save(dir.path(), &render(&second)).unwrap_err();
        assert!(e.to_string().contains("cluster.json"), "{e}");
        assert_eq!(load(dir.path()).unwrap(), Some(first));
        std::fs::remove_dir(&blocker).unwrap();
        save(dir.path(), &render(&second)).unwrap();
        assert_eq!(load(dir.path()).unwrap(), Some(second));
    }

    #[test]
    fn bad_files_are_errors_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        for (content, needle) in [
            ("garbage", "not JSON"),
            ("{\"version\": 99}", "version"),
            ("{\"version\": 1}", "missing field"),
        ] {
            std::fs::write(path(dir.path()), content).unwrap();
            let e = load(dir.path()).unwrap_err().to_string();
            assert!(e.contains("cluster.json") && e.contains(needle), "{e}");
        }
    }
}
