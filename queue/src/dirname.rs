//! The directory of a task's queue under the queue root, named from the task id.
//!
//! A task id may hold `.` and any Unicode letter (Kapacitor's `^[-\._\p{L}0-9]+$`), and
//! nothing stops a caller from passing `..` or `a/b`: the name is the id percent-encoded,
//! keeping only ASCII letters, digits, `-` and `_` as they are, so no id can name anything
//! but a direct child of the root (`..` is `%2E%2E`). An encoding longer than
//! [`MAX_PLAIN_NAME`] bytes (file names are limited to 255) becomes `~` and a 64-bit hash of
//! the id, with the id itself in a `task-id` file inside, checked when the queue is opened.

use crate::QueueError;
use std::fmt::Write;
use std::io;
use std::path::{Path, PathBuf};
use tracing::warn;

/// Longest percent-encoded name used as it is.
pub const MAX_PLAIN_NAME: usize = 200;
pub(crate) const ID_FILE: &str = "task-id";

/// The directory name of `task_id`'s queue.
pub fn queue_dir_name(task_id: &str) -> String {
    let mut name = String::with_capacity(task_id.len());
    for b in task_id.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
            name.push(b as char);
        } else {
            let _ = write!(name, "%{b:02X}");
        }
    }
    if name.len() > MAX_PLAIN_NAME {
        return format!("~{:016x}", fnv1a64(task_id.as_bytes()));
    }
    name
}

/// The task id of a plain (percent-encoded) directory name; `None` for a hashed name (its id
/// is in the `task-id` file) or a name this module did not make.
pub fn task_id_from_dir_name(name: &str) -> Option<String> {
    let b = name.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = name.get(i + 1..i + 3)?;
                if !hex
                    .bytes()
                    .all(|c| c.is_ascii_digit() || (b'A'..=b'F').contains(&c))
                {
                    return None;
                }
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            c if c.is_ascii_alphanumeric() || c == b'-' || c == b'_' => {
                out.push(c);
                i += 1;
            }
            _ => return None,
        }
    }
    let id = String::from_utf8(out).ok()?;
    // Only the canonical spelling: `%41` for `A` is not a name this module makes.
    (!id.is_empty() && queue_dir_name(&id) == name).then_some(id)
}

pub(crate) fn check_task_id(task_id: &str) -> Result<(), QueueError> {
    if task_id.is_empty() {
        return Err(QueueError::InvalidTaskId(task_id.to_string()));
    }
    Ok(())
}

/// The directory of `task_id`'s queue under `root`.
pub fn queue_dir(root: &Path, task_id: &str) -> PathBuf {
    root.join(queue_dir_name(task_id))
}

/// Creates the directory of a queue (and the `task-id` file of a hashed name, or checks it).
pub(crate) fn prepare(root: &Path, task_id: &str) -> Result<PathBuf, QueueError> {
    check_task_id(task_id)?;
    let dir = queue_dir(root, task_id);
    std::fs::create_dir_all(&dir)
        .map_err(|e| QueueError::io("creating queue directory", &dir, e))?;
    if task_id_from_dir_name(&queue_dir_name(task_id)).is_none() {
        let f = dir.join(ID_FILE);
        match std::fs::read_to_string(&f) {
            Ok(found) if found == task_id => {}
            Ok(found) => {
                return Err(QueueError::DirectoryMismatch {
                    path: dir,
                    wanted: task_id.to_string(),
                    found,
                });
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => std::fs::write(&f, task_id)
                .map_err(|e| QueueError::io("writing the task id file", &f, e))?,
            Err(e) => return Err(QueueError::io("reading the task id file", &f, e)),
        }
    }
    Ok(dir)
}

/// The task ids that have a queue directory under `root` (none when `root` does not exist),
/// sorted. Entries this module did not make are logged and skipped.
pub fn list_task_ids(root: &Path) -> Result<Vec<String>, QueueError> {
    let entries = match std::fs::read_dir(root) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(QueueError::io("listing queues", root, e)),
    };
    let mut ids = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| QueueError::io("listing queues", root, e))?;
        if !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            warn!(entry = ?entry.path(), "not a queue directory, skipped");
            continue;
        };
        let id = match task_id_from_dir_name(name) {
            Some(id) => Some(id),
            None if name.starts_with('~') => std::fs::read_to_string(entry.path().join(ID_FILE))
                .ok()
                .filter(|id| queue_dir_name(id) == name),
            None => None,
        };
        match id {
            Some(id) => ids.push(id),
            None => warn!(entry = %entry.path().display(), "not a queue directory, skipped"),
        }
    }
    ids.sort();
    Ok(ids)
}

/// Removes `task_id`'s queue directory without opening the queue (a task that is gone or
/// disabled at startup). Returns whether there was one. Do not call it while a [`Queue`] of
/// that task is open; use [`Queue::destroy`] then.
///
/// [`Queue`]: crate::Queue
/// [`Queue::destroy`]: crate::Queue::destroy
pub fn remove_queue_dir(root: &Path, task_id: &str) -> Result<bool, QueueError> {
    check_task_id(task_id)?;
    let dir = queue_dir(root, task_id);
    match std::fs::remove_dir_all(&dir) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(QueueError::io("removing queue directory", &dir, e)),
    }
}

fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn names_are_safe_and_readable() {
        assert_eq!(queue_dir_name("cpu_alert-1"), "cpu_alert-1");
        assert_eq!(queue_dir_name(".."), "%2E%2E");
        assert_eq!(queue_dir_name("a/b"), "a%2Fb");
        assert_eq!(queue_dir_name("tâche.x"), "t%C3%A2che%2Ex");
        assert_eq!(task_id_from_dir_name("t%C3%A2che%2Ex").unwrap(), "tâche.x");
        for not_ours in ["", "a%2e", "%41", "a.b", "%C3", "~0123456789abcdef"] {
            assert_eq!(task_id_from_dir_name(not_ours), None, "{not_ours}");
        }
    }

    #[test]
    fn long_ids_are_hashed_and_listed_through_the_id_file() {
        let root = tempfile::tempdir().unwrap();
        let long = "é".repeat(100);
        let name = queue_dir_name(&long);
        assert!(name.starts_with('~') && name.len() == 17, "{name}");
        let dir = prepare(root.path(), &long).unwrap();
        assert_eq!(dir, root.path().join(&name));
        prepare(root.path(), "..").unwrap();
        prepare(root.path(), "cpu").unwrap();
        std::fs::create_dir(root.path().join("stray.dir")).unwrap();
        std::fs::write(root.path().join("file"), "x").unwrap();
        let mut want = vec![long.clone(), "..".to_string(), "cpu".to_string()];
        want.sort();
        assert_eq!(list_task_ids(root.path()).unwrap(), want);
        // `..` stayed inside the root.
        assert!(root.path().join("%2E%2E").is_dir());
        assert!(remove_queue_dir(root.path(), &long).unwrap());
        assert!(!remove_queue_dir(root.path(), &long).unwrap());
        assert!(remove_queue_dir(root.path(), "").is_err());
        assert_eq!(
            list_task_ids(&root.path().join("none")).unwrap(),
            Vec::<String>::new()
        );
    }

    #[test]
    fn a_hash_collision_is_refused() {
        let root = tempfile::tempdir().unwrap();
        let long = "x.".repeat(80);
        let dir = prepare(root.path(), &long).unwrap();
        std::fs::write(dir.join(ID_FILE), "someone else").unwrap();
        assert!(matches!(
            prepare(root.path(), &long),
            Err(QueueError::DirectoryMismatch { .. })
        ));
    }

    proptest! {
        #[test]
        fn every_id_maps_to_one_child_and_back(id in "\\PC{1,16}") {
            let name = queue_dir_name(&id);
            prop_assert!(!name.contains('/') && name != "." && name != "..");
            prop_assert!(!name.is_empty() && name.len() <= MAX_PLAIN_NAME);
            prop_assert_eq!(task_id_from_dir_name(&name), Some(id));
        }
    }
}
