//! The host view: the one host directory a sandbox's bubblewrap reads from.
//!
//! bwrap runs as the sandbox's unprivileged host uid and resolves every source path itself (it
//! canonicalises even `--ro-bind-fd` sources), so whatever it binds must be reachable by that
//! uid: every parent directory `o+x`. A checkout in root's home (0700 on Debian) or a private
//! data dir holding secrets is not, and must not have to be. So the runtime binds each object a
//! sandbox needs (the bootstrap, a server binary, an image's root directory) read-only into a
//! directory of its own, `/run/gigmcp/<runtime>` (mode 0711: traversable, not listable), as
//! `<dir>/<n>`, and bwrap binds from there.
//!
//! - The view is a private mount (its binds never propagate to other mount namespaces) and each
//!   object is bound once, keyed by device and inode, so a re-installed binary gets a new entry
//!   and sandboxes already running keep the one they started with.
//! - Dropping the view detaches it and every bind under it; a view a crashed gateway left is
//!   detached when the next runtime with the same name starts.
//! - The object itself still needs the "other" bits the sandbox uses (checked by
//!   [`crate::access`]): the view makes its path reachable, not its contents readable.

use crate::error::SandboxError;
use rustix::mount::{MountPropagationFlags, UnmountFlags};
use std::collections::HashMap;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Parent of every runtime's view.
pub const VIEW_ROOT: &str = "/run/gigmcp";
/// Mode of the view and its parent: the sandbox's uid may traverse, not list.
const VIEW_MODE: u32 = 0o711;

/// A runtime's host view.
#[derive(Debug)]
pub struct HostView {
    dir: PathBuf,
    /// (device, inode) of each bound object → its path in the view.
    bound: Mutex<HashMap<(u64, u64), PathBuf>>,
}

fn io(context: String) -> impl FnOnce(std::io::Error) -> SandboxError {
    move |e| SandboxError::io(context, e)
}

impl HostView {
    /// Makes `dir` (detaching whatever a crashed predecessor left there) a private mount.
    pub fn create(dir: &Path) -> Result<Self, SandboxError> {
        if !dir.is_absolute() || dir.parent().is_none() {
            return Err(SandboxError::Config(format!(
                "host view directory {} must be an absolute path below a parent",
                dir.display()
            )));
        }
        // A view left by a crashed gateway: detach it and everything under it.
        while rustix::mount::unmount(dir, UnmountFlags::DETACH).is_ok() {
            tracing::info!(dir = %dir.display(), "detached a host view left by an earlier gateway");
        }
        if let Some(parent) = dir.parent() {
            make_dir(parent)?;
        }
        if dir.exists() {
            clear_mount_points(dir)?;
        }
        make_dir(dir)?;
        let fail = |what: &str, e: rustix::io::Errno| SandboxError::Io {
            context: format!(
                "making the host view {} a private mount ({what}; the gateway needs \
                 CAP_SYS_ADMIN, i.e. root)",
                dir.display()
            ),
            source: e.into(),
        };
        rustix::mount::mount_bind(dir, dir).map_err(|e| fail("bind", e))?;
        rustix::mount::mount_change(dir, MountPropagationFlags::PRIVATE)
            .map_err(|e| fail("make private", e))?;
        Ok(Self {
            dir: dir.to_path_buf(),
            bound: Mutex::new(HashMap::new()),
        })
    }

    /// The path in the view under which `source` (a file or a directory; symlinks followed)
    /// is bound read-only, binding it on first use.
    pub fn expose(&self, source: &Path) -> Result<PathBuf, SandboxError> {
        let meta = std::fs::metadata(source)
            .map_err(io(format!("stat {} for the sandbox", source.display())))?;
        let key = (meta.dev(), meta.ino());
        let mut bound = self.bound.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = bound.get(&key) {
            return Ok(p.clone());
        }
        let target = self.dir.join(bound.len().to_string());
        if meta.is_dir() {
            std::fs::DirBuilder::new()
                .mode(0o555)
                .create(&target)
                .map_err(io(format!("creating {}", target.display())))?;
        } else {
            std::fs::File::create(&target).map_err(io(format!("creating {}", target.display())))?;
        }
        let fail = |what: &str, e: rustix::io::Errno| SandboxError::Io {
            context: format!(
                "{what} {} at {} for the sandbox",
                source.display(),
                target.display()
            ),
            source: e.into(),
        };
        rustix::mount::mount_bind(source, &target).map_err(|e| fail("binding", e))?;
        rustix::mount::mount_remount(
            &target,
            rustix::mount::MountFlags::BIND
                | rustix::mount::MountFlags::RDONLY
                | rustix::mount::MountFlags::NOSUID
                | rustix::mount::MountFlags::NODEV,
            c"",
        )
        .map_err(|e| fail("making read-only the bind of", e))?;
        bound.insert(key, target.clone());
        Ok(target)
    }
}

fn make_dir(dir: &Path) -> Result<(), SandboxError> {
    match std::fs::DirBuilder::new().mode(VIEW_MODE).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(SandboxError::io(format!("creating {}", dir.display()), e)),
    }
    // An existing directory keeps no wider or narrower mode than the view needs.
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(VIEW_MODE)).map_err(io(format!(
        "chmod {:o} {}",
        VIEW_MODE,
        dir.display()
    )))
}

impl Drop for HostView {
    fn drop(&mut self) {
        // Detaches the view and every bind under it; the empty mount points go with the dir.
        if let Err(e) = rustix::mount::unmount(&self.dir, UnmountFlags::DETACH) {
            tracing::warn!(dir = %self.dir.display(), error = %e, "could not detach the host view");
            return;
        }
        if let Err(e) = clear_mount_points(&self.dir) {
            tracing::warn!(dir = %self.dir.display(), error = %e, "could not remove the host view");
        }
    }
}

/// Removes `dir` and the empty mount points in it, and nothing else: never recursively, so a
/// bind still in place (its source's contents) can never be deleted through the view.
fn clear_mount_points(dir: &Path) -> Result<(), SandboxError> {
    let entries =
        std::fs::read_dir(dir).map_err(io(format!("listing the host view {}", dir.display())))?;
    for entry in entries {
        let path = entry
            .map_err(io(format!("listing the host view {}", dir.display())))?
            .path();
        let meta =
            std::fs::symlink_metadata(&path).map_err(io(format!("stat {}", path.display())))?;
        let removed = if meta.is_dir() {
            std::fs::remove_dir(&path)
        } else if meta.is_file() && meta.len() == 0 {
            std::fs::remove_file(&path)
        } else {
            Err(std::io::Error::other("not an empty mount point"))
        };
        removed.map_err(|e| {
            SandboxError::io(
                format!(
                    "removing {} from the host view (a bind may still be mounted there: \
                     `umount -l {}` and start again)",
                    path.display(),
                    dir.display()
                ),
                e,
            )
        })?;
    }
    std::fs::remove_dir(dir).map_err(io(format!("removing the host view {}", dir.display())))
}
