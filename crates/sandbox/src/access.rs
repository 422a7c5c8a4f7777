//! Checks that a path bound into a sandbox is reachable by the sandbox's unprivileged host uid.
//!
//! bwrap runs as that uid, so it can only bind what "others" may traverse and read. Checking up
//! front turns a cryptic bwrap failure into an error naming the directory and the fix.

use crate::error::SandboxError;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// What the sandbox needs to do with the final path component.
#[derive(Clone, Copy, Debug)]
pub enum Need {
    /// A file it executes (`o+rx`).
    ExecFile,
    /// A directory it lists and reads (`o+rx`).
    Dir,
}

pub fn check_reachable(uid: u32, path: &Path, need: Need) -> Result<(), SandboxError> {
    let fail = |p: &Path, reason: String| SandboxError::NotReachable {
        uid,
        path: p.to_path_buf(),
        reason,
    };
    let real = path
        .canonicalize()
        .map_err(|e| fail(path, format!("cannot resolve it: {e}")))?;
    let meta = std::fs::metadata(&real).map_err(|e| fail(&real, format!("cannot stat: {e}")))?;
    match need {
        Need::ExecFile if !meta.is_file() => return Err(fail(&real, "not a regular file".into())),
        Need::Dir if !meta.is_dir() => return Err(fail(&real, "not a directory".into())),
        _ => {}
    }
    if meta.mode() & 0o005 != 0o005 {
        return Err(fail(
            &real,
            format!("mode {:o} lacks o+rx", meta.mode() & 0o7777),
        ));
    }
    for dir in real.ancestors().skip(1) {
        let m = std::fs::metadata(dir).map_err(|e| fail(dir, format!("cannot stat: {e}")))?;
        if m.mode() & 0o001 == 0 {
            return Err(fail(
                dir,
                format!("directory mode {:o} lacks o+x", m.mode() & 0o7777),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_private_parent_directory_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let private = dir.path().join("private");
        std::fs::create_dir(&private).unwrap();
        let bin = private.join("bin");
        std::fs::write(&bin, b"x").unwrap();
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700)).unwrap();
        let err = check_reachable(1, &bin, Need::ExecFile)
            .unwrap_err()
            .to_string();
        assert!(err.contains("lacks o+x"), "{err}");
        std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o711)).unwrap();
        check_reachable(1, &bin, Need::ExecFile).unwrap();
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o700)).unwrap();
        assert!(check_reachable(1, &bin, Need::ExecFile).is_err());
        assert!(check_reachable(1, &bin, Need::Dir).is_err());
    }
}
