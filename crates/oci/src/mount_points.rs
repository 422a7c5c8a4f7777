//! Empty files in an extracted rootfs that a sandbox mounts its own copies over.
//!
//! A rootfs is shared read-only by every sandbox of its image, and bubblewrap cannot create a
//! file inside a read-only tree; so each path a sandbox gets its own file at (its resolver
//! configuration, the egress CA) must already exist in the rootfs. The image decides what its
//! tree looks like, so nothing here follows a symlink: a path whose directories are not plain
//! directories is left alone (the sandbox runtime then refuses to start with a clear error).

use std::fs;
use std::io;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path};

/// What [`ensure`] did for one mount point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A regular file was already there.
    Present,
    /// An empty file was created (replacing a symlink, if the image had one there).
    Created,
    /// Left alone: the path is not a plain relative path, or a directory on the way (or the
    /// entry itself) is not a plain directory (a symlink, a file where a directory should be).
    Skipped(&'static str),
}

/// Makes sure `root/<point>` is a regular file for every absolute `point`.
pub fn ensure(root: &Path, points: &[String]) -> io::Result<Vec<Outcome>> {
    points.iter().map(|p| ensure_one(root, p)).collect()
}

fn ensure_one(root: &Path, point: &str) -> io::Result<Outcome> {
    let rel = Path::new(point.trim_start_matches('/'));
    let mut parts = Vec::new();
    for c in rel.components() {
        match c {
            Component::Normal(p) => parts.push(p),
            _ => return Ok(Outcome::Skipped("not a plain absolute path")),
        }
    }
    let Some((file, dirs)) = parts.split_last() else {
        return Ok(Outcome::Skipped("empty path"));
    };
    let mut dir = root.to_path_buf();
    for d in dirs {
        dir.push(d);
        match fs::symlink_metadata(&dir) {
            Ok(m) if m.file_type().is_dir() => {}
            Ok(_) => {
                return Ok(Outcome::Skipped(
                    "a directory on the way is not a directory",
                ));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir(&dir)?;
                fs::set_permissions(&dir, fs::Permissions::from_mode(0o755))?;
            }
            Err(e) => return Err(e),
        }
    }
    let path = dir.join(file);
    match fs::symlink_metadata(&path) {
        Ok(m) if m.file_type().is_file() => return Ok(Outcome::Present),
        Ok(m) if m.file_type().is_symlink() => fs::remove_file(&path)?,
        Ok(_) => return Ok(Outcome::Skipped("the entry is not a regular file")),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o444)
        // never write through a symlink raced into place
        .custom_flags(libc::O_NOFOLLOW)
        .open(&path)?;
    Ok(Outcome::Created)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn points() -> Vec<String> {
        vec![
            "/etc/resolv.conf".into(),
            "/etc/gigmcp/egress-ca.pem".into(),
        ]
    }

    #[test]
    fn creates_missing_files_and_directories() {
        let root = tempfile::tempdir().unwrap();
        let out = ensure(root.path(), &points()).unwrap();
        assert_eq!(out, [Outcome::Created, Outcome::Created]);
        let m = fs::metadata(root.path().join("etc/gigmcp/egress-ca.pem")).unwrap();
        assert!(m.is_file() && m.len() == 0);
        assert_eq!(m.permissions().mode() & 0o777, 0o444);
        // idempotent
        let out = ensure(root.path(), &points()).unwrap();
        assert_eq!(out, [Outcome::Present, Outcome::Present]);
    }

    #[test]
    fn keeps_existing_files_and_replaces_a_symlinked_entry() {
        let root = tempfile::tempdir().unwrap();
        fs::create_dir(root.path().join("etc")).unwrap();
        fs::write(root.path().join("etc/resolv.conf"), "nameserver 1.1.1.1").unwrap();
        let outside = tempfile::tempdir().unwrap();
        fs::create_dir(root.path().join("etc/gigmcp")).unwrap();
        std::os::unix::fs::symlink(
            outside.path().join("victim"),
            root.path().join("etc/gigmcp/egress-ca.pem"),
        )
        .unwrap();
        let out = ensure(root.path(), &points()).unwrap();
        assert_eq!(out, [Outcome::Present, Outcome::Created]);
        assert_eq!(
            fs::read_to_string(root.path().join("etc/resolv.conf")).unwrap(),
            "nameserver 1.1.1.1"
        );
        assert!(!outside.path().join("victim").exists());
        assert!(
            fs::symlink_metadata(root.path().join("etc/gigmcp/egress-ca.pem"))
                .unwrap()
                .is_file()
        );
    }

    #[test]
    fn never_follows_a_symlinked_directory_out_of_the_root() {
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), root.path().join("etc")).unwrap();
        let out = ensure(root.path(), &points()).unwrap();
        assert!(matches!(out[0], Outcome::Skipped(_)), "{out:?}");
        assert!(matches!(out[1], Outcome::Skipped(_)), "{out:?}");
        assert_eq!(fs::read_dir(outside.path()).unwrap().count(), 0);
        let out = ensure(root.path(), &["/../x".into(), "/".into()]).unwrap();
        assert!(out.iter().all(|o| matches!(o, Outcome::Skipped(_))));
    }
}
