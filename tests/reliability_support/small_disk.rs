//! A small real disk for full-disk tests: a tmpfs of a given size mounted on a fresh directory,
//! grown by a remount, unmounted on drop. Mounting needs root; `mount` says why it failed
//! otherwise (the caller prints it as the skip reason). Shared by the broker's and the emulator's
//! full-disk tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// A tmpfs mounted for the test; unmounted on drop.
pub struct SmallDisk {
    dir: PathBuf,
    _parent: tempfile::TempDir,
}

impl SmallDisk {
    pub fn mount(size: &str) -> Result<Self, String> {
        let parent = tempfile::tempdir().map_err(|e| e.to_string())?;
        let dir = parent.path().join("disk");
        std::fs::create_dir(&dir).map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0700")])
            .arg("tmpfs")
            .arg(&dir)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mount -t tmpfs failed (needs root): {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(Self {
            dir,
            _parent: parent,
        })
    }

    /// [`SmallDisk::mount`], or `None` after printing why `test` is skipped (not root).
    pub fn mount_or_skip(size: &str, test: &str) -> Option<Self> {
        match Self::mount(size) {
            Ok(disk) => Some(disk),
            Err(reason) => {
                println!("SKIP {test}: {reason}");
                None
            }
        }
    }

    pub fn grow(&self, size: &str) {
        let out = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "remount failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}
