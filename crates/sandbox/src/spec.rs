//! What to run in a sandbox.

use crate::config::Limits;
use crate::error::SandboxError;
use std::path::PathBuf;

/// One server to run in a sandbox.
#[derive(Clone, Debug)]
pub struct SandboxSpec {
    /// Used in logs, cgroup names and errors only.
    pub name: String,
    pub program: ProgramSource,
    /// Arguments after the program (after the entrypoint for a rootfs).
    pub args: Vec<String>,
    /// The server's entire environment (nothing of the gateway's is passed).
    pub env: Vec<(String, String)>,
    /// Resource limits; `None` takes [`crate::RuntimeConfig::default_limits`].
    pub limits: Option<Limits>,
    /// Small files placed read-only in this sandbox only (a CA certificate, `/etc/resolv.conf`).
    pub files: Vec<SandboxFile>,
}

/// A file given to one sandbox: its contents are copied in by bubblewrap and mounted read-only
/// at `path`, over whatever the image has there. [`HOST_ADDR_TOKEN`](crate::HOST_ADDR_TOKEN) in
/// UTF-8 contents is replaced by the sandbox's host-side address, as in environment values.
///
/// In an image rootfs, the file's directory comes from the read-only image, so the image must
/// already hold an entry at `path` to mount over (the OCI puller creates such mount points).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SandboxFile {
    /// Absolute path inside the sandbox.
    pub path: String,
    pub contents: Vec<u8>,
}

impl SandboxFile {
    pub fn new(path: impl Into<String>, contents: impl Into<Vec<u8>>) -> Self {
        Self {
            path: path.into(),
            contents: contents.into(),
        }
    }
}

/// Where the server's program comes from.
#[derive(Clone, Debug)]
pub enum ProgramSource {
    /// A statically linked binary, bound read-only at `/.gig/server` in an otherwise empty root.
    StaticBinary(PathBuf),
    /// An extracted image root filesystem (read-only); each top-level entry is bound read-only.
    Rootfs {
        dir: PathBuf,
        /// argv prefix; a first element without `/` is looked up in the spec env's `PATH`
        /// (or the usual default PATH) inside the sandbox.
        entrypoint: Vec<String>,
        /// Working directory inside the sandbox (default `/`).
        workdir: Option<String>,
    },
}

/// Upper bounds on untrusted-ish spec input, so a bad manifest cannot build a huge command line.
const MAX_ARGS: usize = 256;
const MAX_ENV: usize = 256;
const MAX_ITEM_BYTES: usize = 32 * 1024;
/// Files are handed to bubblewrap through a pipe written before it starts, so each must fit in
/// the pipe's default buffer.
pub(crate) const MAX_FILE_BYTES: usize = 60 * 1024;
const MAX_FILES: usize = 16;

impl SandboxSpec {
    pub(crate) fn validate(&self) -> Result<(), SandboxError> {
        let bad = |reason: String| SandboxError::InvalidSpec {
            name: self.name.clone(),
            reason,
        };
        if self.name.is_empty()
            || self.name.len() > 128
            || !self
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        {
            return Err(bad(
                "name must be 1-128 characters of [A-Za-z0-9._-] (it names cgroups and logs)"
                    .into(),
            ));
        }
        if self.args.len() > MAX_ARGS || self.env.len() > MAX_ENV {
            return Err(bad(format!(
                "at most {MAX_ARGS} args and {MAX_ENV} env entries are allowed"
            )));
        }
        for a in &self.args {
            check_item("argument", a).map_err(bad)?;
        }
        for (k, v) in &self.env {
            check_item("env value", v).map_err(bad)?;
            check_item("env name", k).map_err(bad)?;
            if k.is_empty() || k.contains('=') {
                return Err(bad(format!(
                    "env name `{k}` must be non-empty and contain no `=`"
                )));
            }
        }
        if self.files.len() > MAX_FILES {
            return Err(bad(format!("at most {MAX_FILES} files are allowed")));
        }
        for f in &self.files {
            check_file_path(&f.path).map_err(bad)?;
            if f.contents.len() > MAX_FILE_BYTES {
                return Err(bad(format!(
                    "file {} is {} bytes; at most {MAX_FILE_BYTES} are allowed",
                    f.path,
                    f.contents.len()
                )));
            }
        }
        match &self.program {
            ProgramSource::StaticBinary(p) => {
                if !p.is_absolute() {
                    return Err(bad(format!(
                        "static binary path `{}` must be absolute",
                        p.display()
                    )));
                }
            }
            ProgramSource::Rootfs {
                dir,
                entrypoint,
                workdir,
            } => {
                if !dir.is_absolute() {
                    return Err(bad(format!(
                        "rootfs dir `{}` must be absolute",
                        dir.display()
                    )));
                }
                if entrypoint.is_empty() || entrypoint[0].is_empty() {
                    return Err(bad("rootfs entrypoint must name a program".into()));
                }
                for e in entrypoint {
                    check_item("entrypoint element", e).map_err(bad)?;
                }
                if let Some(w) = workdir {
                    check_item("workdir", w).map_err(bad)?;
                    if !w.starts_with('/') {
                        return Err(bad(format!("workdir `{w}` must be absolute")));
                    }
                }
            }
        }
        Ok(())
    }
}

/// A file path must be absolute, plain (no `.`, `..` or empty components) and outside the trees
/// the runtime provides itself.
fn check_file_path(path: &str) -> Result<(), String> {
    check_item("file path", path)?;
    let rest = path
        .strip_prefix('/')
        .ok_or_else(|| format!("file path `{path}` must be absolute"))?;
    let parts: Vec<&str> = rest.split('/').collect();
    if parts
        .iter()
        .any(|p| p.is_empty() || *p == "." || *p == "..")
    {
        return Err(format!(
            "file path `{path}` must name a file by plain components (no `.`, `..` or `//`)"
        ));
    }
    if crate::command::RESERVED.contains(&parts[0]) {
        return Err(format!(
            "file path `{path}` is inside /{}, which the runtime provides itself",
            parts[0]
        ));
    }
    Ok(())
}

fn check_item(what: &str, s: &str) -> Result<(), String> {
    if s.len() > MAX_ITEM_BYTES {
        return Err(format!("{what} longer than {MAX_ITEM_BYTES} bytes"));
    }
    if s.contains('\0') {
        return Err(format!("{what} contains a NUL byte"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> SandboxSpec {
        SandboxSpec {
            name: "echo".into(),
            program: ProgramSource::StaticBinary("/bin/echo".into()),
            args: vec![],
            env: vec![],
            limits: None,
            files: vec![],
        }
    }

    #[test]
    fn accepts_a_plain_spec() {
        spec().validate().unwrap();
    }

    #[test]
    fn rejects_bad_names_env_and_paths() {
        let mut s = spec();
        s.name = "a/b".into();
        assert!(s.validate().is_err());
        let mut s = spec();
        s.env = vec![("A=B".into(), "x".into())];
        assert!(s.validate().is_err());
        let mut s = spec();
        s.args = vec!["a\0b".into()];
        assert!(s.validate().is_err());
        let mut s = spec();
        s.program = ProgramSource::StaticBinary("rel/path".into());
        assert!(s.validate().is_err());
        let mut s = spec();
        s.program = ProgramSource::Rootfs {
            dir: "/r".into(),
            entrypoint: vec![],
            workdir: None,
        };
        assert!(s.validate().is_err());
    }

    #[test]
    fn files_need_plain_absolute_paths_outside_runtime_trees_and_bounded_contents() {
        let with = |path: &str, len: usize| {
            let mut s = spec();
            s.files = vec![SandboxFile::new(path, vec![b'x'; len])];
            s.validate()
        };
        with("/etc/resolv.conf", 10).unwrap();
        with("/etc/gigmcp/egress-ca.pem", MAX_FILE_BYTES).unwrap();
        for bad in [
            "etc/x",
            "/etc/../x",
            "/etc//x",
            "/etc/./x",
            "/proc/x",
            "/tmp/x",
            "/.gig/x",
        ] {
            let err = with(bad, 1).unwrap_err().to_string();
            assert!(err.contains(bad), "{bad}: {err}");
        }
        let err = with("/etc/big", MAX_FILE_BYTES + 1)
            .unwrap_err()
            .to_string();
        assert!(err.contains("at most"), "{err}");
        let mut s = spec();
        s.files = (0..=MAX_FILES)
            .map(|i| SandboxFile::new(format!("/f{i}"), b"x".to_vec()))
            .collect();
        assert!(s.validate().is_err());
    }
}
