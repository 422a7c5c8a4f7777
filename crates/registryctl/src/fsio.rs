//! Filesystem side: bounded reads of a registry directory, atomic writes, key files.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use gigmcp_registry::limits::MAX_DOCUMENT_BYTES;
use gigmcp_registry::{Denylist, Diagnostic, Report, Severity, SourceFile};

use crate::error::CliError;

/// Most entries read from a registry's `manifests/` tree; guards against runaway directories.
const MAX_ENTRIES: usize = 100_000;

/// The registry's files plus problems found while reading them (symlinks, stray directories,
/// unreadable files), reported like lint findings.
pub struct Loaded {
    pub files: Vec<SourceFile>,
    pub report: Report,
}

/// Reads every file under `<root>/manifests/<name>/`, in sorted order. Files are read up to one
/// byte past the document limit, so an oversized file costs at most ~1 MiB of memory and is then
/// refused by the parser. Symlinks are refused, not followed.
pub fn load_registry(root: &Path) -> Result<Loaded, CliError> {
    let manifests = root.join("manifests");
    if !fs::symlink_metadata(&manifests).is_ok_and(|m| m.is_dir()) {
        return Err(CliError::NotARegistry(root.to_path_buf()));
    }
    let mut loaded = Loaded {
        files: Vec::new(),
        report: Report::default(),
    };
    let mut seen = 0usize;
    for name_dir in sorted_entries(&manifests)? {
        let rel_dir = format!("manifests/{}", file_name(&name_dir));
        let meta = fs::symlink_metadata(&name_dir).map_err(CliError::io(&name_dir))?;
        if !meta.is_dir() {
            // A stray file directly under manifests/: let the path rules name it.
            visit_file(&name_dir, rel_dir, &meta, &mut loaded)?;
            continue;
        }
        for entry in sorted_entries(&name_dir)? {
            seen += 1;
            if seen > MAX_ENTRIES {
                return Err(CliError::Usage(format!(
                    "{} holds more than {MAX_ENTRIES} files; this is not a registry",
                    manifests.display()
                )));
            }
            let rel = format!("{rel_dir}/{}", file_name(&entry));
            let meta = fs::symlink_metadata(&entry).map_err(CliError::io(&entry))?;
            visit_file(&entry, rel, &meta, &mut loaded)?;
        }
    }
    Ok(loaded)
}

fn visit_file(
    path: &Path,
    rel: String,
    meta: &fs::Metadata,
    loaded: &mut Loaded,
) -> Result<(), CliError> {
    if meta.file_type().is_symlink() {
        problem(
            &mut loaded.report,
            rel,
            "is a symlink; registry files must be regular files",
            "replace the link with the file itself",
        );
    } else if meta.is_dir() {
        problem(
            &mut loaded.report,
            rel,
            "is a directory; manifests/<name>/ holds only files",
            "move its contents up or remove it",
        );
    } else if !meta.is_file() {
        problem(
            &mut loaded.report,
            rel,
            "is not a regular file",
            "remove it",
        );
    } else {
        let bytes = read_prefix(path, MAX_DOCUMENT_BYTES + 1)?;
        loaded.files.push(SourceFile { path: rel, bytes });
    }
    Ok(())
}

fn problem(report: &mut Report, file: String, message: &str, fix: &str) {
    report.diagnostics.push(Diagnostic {
        severity: Severity::Error,
        file,
        field: "-".into(),
        message: message.into(),
        fix: fix.into(),
    });
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>, CliError> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(CliError::io(dir))? {
        out.push(entry.map_err(CliError::io(dir))?.path());
        if out.len() > MAX_ENTRIES {
            return Err(CliError::Usage(format!(
                "{} holds more than {MAX_ENTRIES} entries; this is not a registry",
                dir.display()
            )));
        }
    }
    out.sort();
    Ok(out)
}

/// Reads at most `limit` bytes.
pub fn read_prefix(path: &Path, limit: usize) -> Result<Vec<u8>, CliError> {
    let file = File::open(path).map_err(CliError::io(path))?;
    let mut bytes = Vec::new();
    file.take(limit as u64)
        .read_to_end(&mut bytes)
        .map_err(CliError::io(path))?;
    Ok(bytes)
}

/// Reads a whole file, refusing more than `max` bytes.
pub fn read_bounded(path: &Path, max: usize) -> Result<Vec<u8>, CliError> {
    let bytes = read_prefix(path, max + 1)?;
    if bytes.len() > max {
        return Err(CliError::TooLarge {
            path: path.to_path_buf(),
            max,
        });
    }
    Ok(bytes)
}

/// The denylist: `--denylist FILE` or `<root>/denylist/exfil-domains.txt`, plus the built-in
/// local/internal names.
pub fn load_denylist(root: &Path, explicit: Option<&Path>) -> Result<Denylist, CliError> {
    let path = explicit.map_or_else(
        || root.join("denylist/exfil-domains.txt"),
        Path::to_path_buf,
    );
    let bytes = read_bounded(&path, MAX_DOCUMENT_BYTES).map_err(|e| match e {
        CliError::Io { path, source } if source.kind() == std::io::ErrorKind::NotFound => CliError::Denylist {
            path,
            message: "missing: every registry needs its exfiltration denylist (copy the shared one, or pass --denylist FILE)".into(),
        },
        other => other,
    })?;
    let text = String::from_utf8(bytes).map_err(|_| CliError::Denylist {
        path: path.clone(),
        message: "not UTF-8".into(),
    })?;
    Denylist::parse_with_builtin(&text).map_err(|e| CliError::Denylist {
        path,
        message: e.to_string(),
    })
}

/// Writes `bytes` to `path` via a temporary file in the same directory and a rename, so readers
/// never see a partial file. `mode` applies to the new file.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), CliError> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = dir.join(format!(".{}.tmp{}", file_name(path), std::process::id()));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(CliError::io(path))
}

/// Creates `path` with mode 0600; refuses to replace an existing file unless `force`.
pub fn write_secret(path: &Path, bytes: &[u8], force: bool) -> Result<(), CliError> {
    if !force && fs::symlink_metadata(path).is_ok() {
        return Err(CliError::Exists {
            path: path.to_path_buf(),
        });
    }
    write_atomic(path, bytes, 0o600)
}

/// Reads a private key file, refusing one that group or others can read.
pub fn read_secret(path: &Path) -> Result<String, CliError> {
    let meta = fs::metadata(path).map_err(CliError::io(path))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(CliError::KeyPermissions {
            path: path.to_path_buf(),
            mode,
        });
    }
    let bytes = read_bounded(path, 4096)?;
    String::from_utf8(bytes)
        .map_err(|_| CliError::Usage(format!("{}: the key file is not text", path.display())))
}
