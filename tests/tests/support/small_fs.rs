//! A small file system for full-disk tests (included with `#[path = "support/..."]`): a
//! size-limited tmpfs mounted on a directory of the test, unmounted when dropped. Mounting
//! needs root (CAP_SYS_ADMIN); [`SmallFs::mount`] says why it cannot, and the test skips.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct SmallFs {
    dir: PathBuf,
}

impl SmallFs {
    /// Mounts a tmpfs of `size` (`16m`) on `dir`, which must exist and be empty.
    pub fn mount(dir: &Path, size: &str) -> Result<SmallFs, String> {
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0755"),
                "tmpfs",
            ])
            .arg(dir)
            .output()
            .map_err(|e| format!("mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mount -t tmpfs: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(SmallFs {
            dir: dir.to_path_buf(),
        })
    }

    /// Writes zeros to `name` until the file system is full; returns its path.
    pub fn fill(&self, name: &str) -> PathBuf {
        let path = self.dir.join(name);
        let mut f = std::fs::File::create(&path).expect("creating the filler");
        let chunk = vec![0u8; 64 * 1024];
        loop {
            match f.write(&chunk) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(nix::libc::ENOSPC) => break,
                Err(e) => panic!("filling {}: {e}", path.display()),
            }
        }
        path
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        // Lazy: a process of a failed test may still hold a file open in it.
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}
