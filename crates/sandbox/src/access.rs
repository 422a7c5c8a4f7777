//! Checks that the sandbox's user may use what it gets from the host (the bootstrap, a server
//! binary, an image's root directory).
//!
//! Its path need not be reachable by that user: the runtime binds it into its host view
//! ([`crate::host_view`]), so a checkout in root's 0700 home or a 0700 data dir works. Inside
//! the sandbox that uid is "other" to the file, so the object itself still needs the "other"
//! bits the sandbox uses: execute for a binary, read and execute for a directory it lists.

use crate::error::SandboxError;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// What the sandbox needs to do with the object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// A file it executes (`o+x`).
    ExecFile,
    /// A directory it lists and reads (`o+rx`).
    Dir,
}

/// Checks `need` on `path` (symlinks followed).
pub fn check_usable(uid: u32, path: &Path, need: Need) -> Result<(), SandboxError> {
    let fail = |reason: String| SandboxError::NotReachable {
        uid,
        path: path.to_path_buf(),
        reason,
    };
    let meta = std::fs::metadata(path).map_err(|e| fail(format!("cannot stat it: {e}")))?;
    check_mode(meta.file_type().is_file(), meta.is_dir(), meta.mode(), need).map_err(fail)
}

fn check_mode(is_file: bool, is_dir: bool, mode: u32, need: Need) -> Result<(), String> {
    let (kind_ok, bits, wanted) = match need {
        Need::ExecFile => (is_file, 0o001, "o+x"),
        Need::Dir => (is_dir, 0o005, "o+rx"),
    };
    if !kind_ok {
        return Err(match need {
            Need::Dir => "not a directory".into(),
            Need::ExecFile => "not a regular file".into(),
        });
    }
    if mode & bits != bits {
        return Err(format!("mode {:o} lacks {wanted}", mode & 0o7777));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_private_parent_directory_does_not_matter_but_the_file_mode_does() {
        let dir = tempfile::tempdir().unwrap();
        let private = dir.path().join("private");
        std::fs::create_dir(&private).unwrap();
        let bin = private.join("bin");
        std::fs::write(&bin, b"x").unwrap();
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700)).unwrap();
        check_usable(1, &bin, Need::ExecFile).unwrap();
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o700)).unwrap();
        let err = check_usable(1, &bin, Need::ExecFile)
            .unwrap_err()
            .to_string();
        assert!(err.contains("lacks o+x"), "{err}");
        let err = check_usable(1, &private, Need::Dir)
            .unwrap_err()
            .to_string();
        assert!(err.contains("lacks o+rx"), "{err}");
        assert!(check_usable(1, &bin, Need::Dir).is_err());
        assert!(check_usable(1, &private, Need::ExecFile).is_err());
    }
}
