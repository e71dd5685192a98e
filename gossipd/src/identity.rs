//! The member's identity on disk: `cluster.id` and `server.id` in `data_dir`, each a UUID as
//! plain text, as Kapacitor writes them. Created on first start and kept afterwards.
//! `cluster.id` is rewritten when this member joins another cluster (gossip, later), so every
//! read and write of these files goes through this module.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use uuid::Uuid;

pub const CLUSTER_ID_FILE: &str = "cluster.id";
pub const SERVER_ID_FILE: &str = "server.id";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    pub cluster_id: Uuid,
    pub server_id: Uuid,
}

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("{}: not a UUID: {content:?}", path.display())]
    Invalid { path: PathBuf, content: String },
}

impl Identity {
    /// Reads both ids from `data_dir`, creating any that is missing (and the directory).
    pub fn load_or_create(data_dir: &Path) -> Result<Identity, IdentityError> {
        fs::create_dir_all(data_dir).map_err(|source| IdentityError::Io {
            path: data_dir.to_path_buf(),
            source,
        })?;
        Ok(Identity {
            cluster_id: load_or_create_id(&data_dir.join(CLUSTER_ID_FILE))?,
            server_id: load_or_create_id(&data_dir.join(SERVER_ID_FILE))?,
        })
    }
}

/// The cluster id as stored now (gossipd rewrites it on join and remove); `None` if the
/// file is missing or unreadable.
pub fn read_cluster_id(data_dir: &Path) -> Option<Uuid> {
    let text = fs::read_to_string(data_dir.join(CLUSTER_ID_FILE)).ok()?;
    Uuid::parse_str(text.trim()).ok()
}

/// Replaces the stored cluster id (when this member joins an existing cluster).
pub fn write_cluster_id(data_dir: &Path, id: Uuid) -> Result<(), IdentityError> {
    write_id(&data_dir.join(CLUSTER_ID_FILE), id)
}

fn load_or_create_id(path: &Path) -> Result<Uuid, IdentityError> {
    match fs::read_to_string(path) {
        Ok(text) => Uuid::parse_str(text.trim()).map_err(|_| IdentityError::Invalid {
            path: path.to_path_buf(),
            content: text.trim().chars().take(64).collect(),
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let id = Uuid::new_v4();
            write_id(path, id)?;
            Ok(id)
        }
        Err(source) => Err(IdentityError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Writes through a temporary file and a rename, so a crash never leaves a half-written id.
fn write_id(path: &Path, id: Uuid) -> Result<(), IdentityError> {
    let io_err = |source| IdentityError::Io {
        path: path.to_path_buf(),
        source,
    };
    let tmp = path.with_extension("id.tmp");
    let write = || -> io::Result<()> {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(id.hyphenated().to_string().as_bytes())?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = fs::remove_file(&tmp);
        io_err(e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_then_kept() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let first = Identity::load_or_create(&data).unwrap();
        assert_ne!(first.cluster_id, first.server_id);
        let text = fs::read_to_string(data.join(SERVER_ID_FILE)).unwrap();
        assert_eq!(text, first.server_id.to_string());
        assert_eq!(Identity::load_or_create(&data).unwrap(), first);
    }

    #[test]
    fn cluster_id_can_be_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let first = Identity::load_or_create(dir.path()).unwrap();
        let joined = Uuid::new_v4();
        write_cluster_id(dir.path(), joined).unwrap();
        let now = Identity::load_or_create(dir.path()).unwrap();
        assert_eq!(now.cluster_id, joined);
        assert_eq!(now.server_id, first.server_id);
    }

    #[test]
    fn garbage_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(SERVER_ID_FILE), "not-a-uuid\n").unwrap();
        let err = Identity::load_or_create(dir.path())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("server.id") && err.contains("not-a-uuid"),
            "{err}"
        );
    }
}
