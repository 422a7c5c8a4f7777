//! The bubblewrap command line for one sandbox (a pure function of its inputs, unit-tested).
//!
//! Host objects (the bootstrap, the server binary, an image's top-level entries) are bound from
//! their paths in the runtime's host view ([`crate::host_view`]), which the sandbox's
//! unprivileged uid can traverse wherever the originals live.

use crate::config::Limits;
use crate::error::SandboxError;
use crate::spec::{ProgramSource, SandboxSpec};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// Where the bootstrap is bound inside every sandbox.
pub const BOOTSTRAP_PATH: &str = "/.gig/bootstrap";
/// Where a [`ProgramSource::StaticBinary`] is bound inside its sandbox.
pub const SERVER_PATH: &str = "/.gig/server";
/// uid and gid of the server inside its user namespace.
pub const SANDBOX_ID: u32 = 65534;
/// Top-level rootfs entries the runtime provides itself (never taken from an image).
pub(crate) const RESERVED: &[&str] = &["proc", "dev", "tmp", "sys", ".gig", "run"];
/// A rootfs with more top-level entries than this is refused (each becomes a bind mount).
const MAX_ROOT_ENTRIES: usize = 128;
/// Size of the sandbox's `/dev/shm`.
const SHM_BYTES: u64 = 16 << 20;

/// Host-wide kernel information in `/proc` a sandbox has no business reading (as Docker masks
/// them): files are covered by `/dev/null` (unreadable on the nodev procfs), directories by an
/// empty read-only tmpfs.
const MASKED_PROC_FILES: &[&str] = &[
    "/proc/kcore",
    "/proc/keys",
    "/proc/key-users",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/latency_stats",
    "/proc/sysrq-trigger",
];
const MASKED_PROC_DIRS: &[&str] = &["/proc/acpi", "/proc/scsi", "/proc/asound"];

/// A `/proc` entry to hide in every sandbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProcMask {
    File(&'static str),
    Dir(&'static str),
}

/// The masks that apply on this kernel (bwrap cannot mount over entries that do not exist).
pub fn proc_masks() -> Vec<ProcMask> {
    let files = MASKED_PROC_FILES
        .iter()
        .filter(|p| Path::new(p).exists())
        .map(|p| ProcMask::File(p));
    let dirs = MASKED_PROC_DIRS
        .iter()
        .filter(|p| Path::new(p).is_dir())
        .map(|p| ProcMask::Dir(p));
    files.chain(dirs).collect()
}

/// One top-level entry of an image rootfs, as it will appear in the sandbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RootEntry {
    Bind { name: OsString, source: PathBuf },
    Symlink { name: OsString, target: PathBuf },
}

/// Lists what of `dir` gets bound into the sandbox root.
pub fn root_entries(spec_name: &str, dir: &Path) -> Result<Vec<RootEntry>, SandboxError> {
    let read = std::fs::read_dir(dir)
        .map_err(|e| SandboxError::io(format!("reading rootfs {}", dir.display()), e))?;
    let mut out = Vec::new();
    for entry in read {
        let entry =
            entry.map_err(|e| SandboxError::io(format!("reading rootfs {}", dir.display()), e))?;
        let name = entry.file_name();
        if RESERVED.iter().any(|r| name == *r) {
            continue;
        }
        let ft = entry
            .file_type()
            .map_err(|e| SandboxError::io(format!("stat {}", entry.path().display()), e))?;
        if ft.is_symlink() {
            let target = std::fs::read_link(entry.path())
                .map_err(|e| SandboxError::io(format!("readlink {}", entry.path().display()), e))?;
            out.push(RootEntry::Symlink { name, target });
        } else if ft.is_dir() || ft.is_file() {
            out.push(RootEntry::Bind {
                name,
                source: entry.path(),
            });
        }
        if out.len() > MAX_ROOT_ENTRIES {
            return Err(SandboxError::InvalidSpec {
                name: spec_name.into(),
                reason: format!(
                    "rootfs {} has more than {MAX_ROOT_ENTRIES} top-level entries",
                    dir.display()
                ),
            });
        }
    }
    out.sort_by(|a, b| entry_name(a).cmp(entry_name(b)));
    Ok(out)
}

fn entry_name(e: &RootEntry) -> &OsString {
    match e {
        RootEntry::Bind { name, .. } | RootEntry::Symlink { name, .. } => name,
    }
}

/// Everything [`bwrap_args`] needs besides the spec.
pub struct CommandInputs<'a> {
    pub spec: &'a SandboxSpec,
    pub limits: &'a Limits,
    /// The bootstrap, in the host view.
    pub bootstrap: &'a Path,
    /// The server binary in the host view, for [`ProgramSource::StaticBinary`].
    pub program: Option<&'a Path>,
    /// The image's top-level entries (sources in the host view), for [`ProgramSource::Rootfs`].
    pub root_entries: &'a [RootEntry],
    /// fd (in bwrap and the sandbox) from which the bootstrap reads the go signal.
    pub go_fd: i32,
    /// fd to which bwrap writes its JSON info (child pid, namespaces).
    pub info_fd: i32,
    pub allowed_tcp_ports: &'a [u16],
    pub proc_masks: &'a [ProcMask],
    /// The host side of the sandbox's veth pair, substituted for [`HOST_ADDR_TOKEN`] in the
    /// spec's environment values.
    pub host_addr: Option<std::net::Ipv4Addr>,
    /// The spec's files: (fd bwrap reads the contents from, path in the sandbox), in order.
    pub file_fds: &'a [(i32, String)],
}

/// `text` with [`HOST_ADDR_TOKEN`] replaced by `addr`, when there is one.
pub(crate) fn substitute_host_addr(text: &str, addr: Option<std::net::Ipv4Addr>) -> String {
    match addr {
        Some(addr) if text.contains(HOST_ADDR_TOKEN) => {
            text.replace(HOST_ADDR_TOKEN, &addr.to_string())
        }
        _ => text.to_owned(),
    }
}

/// In a spec's environment values, stands for the host-side address of the sandbox's veth pair
/// (where the egress proxy listens), which is only known once the sandbox has its slot: e.g.
/// `HTTPS_PROXY=http://{gig_host_addr}:3128`.
pub const HOST_ADDR_TOKEN: &str = "{gig_host_addr}";

/// The bwrap argv (without `bwrap` itself).
// Long: one function on purpose: bwrap mounts in argv order, so this reads as the root is built.
pub fn bwrap_args(i: &CommandInputs<'_>) -> Vec<OsString> {
    let mut a: Vec<OsString> = Vec::with_capacity(64);
    let mut push = |items: &[&str]| a.extend(items.iter().map(OsString::from));
    let id = SANDBOX_ID.to_string();
    push(&[
        "--unshare-user",
        "--unshare-pid",
        "--unshare-net",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup",
        "--disable-userns",
        "--uid",
        &id,
        "--gid",
        &id,
        "--hostname",
        "sandbox",
        "--die-with-parent",
        "--new-session",
        "--clearenv",
    ]);
    for (k, v) in &i.spec.env {
        push(&["--setenv", k, &substitute_host_addr(v, i.host_addr)]);
    }
    let tmp = i.limits.tmp_bytes.to_string();
    let shm = SHM_BYTES.to_string();
    push(&[
        "--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--size", &tmp, "--tmpfs", "/tmp",
        "--perms", "1777", "--size", &shm, "--tmpfs", "/dev/shm",
    ]);
    for m in i.proc_masks {
        match m {
            ProcMask::File(p) => push(&["--ro-bind", "/dev/null", p]),
            ProcMask::Dir(p) => push(&["--size", "4096", "--tmpfs", p, "--remount-ro", p]),
        }
    }
    let mut argv: Vec<OsString> = Vec::new();
    let mut chdir = "/".to_string();
    match &i.spec.program {
        ProgramSource::StaticBinary(path) => {
            let path = i.program.unwrap_or(path);
            a.extend(["--ro-bind".into(), path.into(), SERVER_PATH.into()]);
            argv.push(SERVER_PATH.into());
        }
        ProgramSource::Rootfs {
            entrypoint,
            workdir,
            ..
        } => {
            for e in i.root_entries {
                match e {
                    RootEntry::Bind { name, source } => {
                        let mut dest = OsString::from("/");
                        dest.push(name);
                        a.extend(["--ro-bind".into(), source.into(), dest]);
                    }
                    RootEntry::Symlink { name, target } => {
                        let mut dest = OsString::from("/");
                        dest.push(name);
                        a.extend(["--symlink".into(), target.into(), dest]);
                    }
                }
            }
            argv.extend(entrypoint.iter().map(OsString::from));
            if let Some(w) = workdir {
                chdir = w.clone();
            }
        }
    }
    argv.extend(i.spec.args.iter().map(OsString::from));
    // After the root entries, so a file mounts over the image's own copy.
    for (fd, path) in i.file_fds {
        a.extend([
            "--perms".into(),
            "0444".into(),
            "--ro-bind-data".into(),
            fd.to_string().into(),
            path.into(),
        ]);
    }
    a.extend([
        "--ro-bind".into(),
        i.bootstrap.into(),
        BOOTSTRAP_PATH.into(),
    ]);
    let info = i.info_fd.to_string();
    a.extend(
        [
            "--remount-ro",
            "/",
            "--chdir",
            &chdir,
            "--info-fd",
            &info,
            "--",
            BOOTSTRAP_PATH,
        ]
        .iter()
        .map(OsString::from),
    );
    a.extend(["--go-fd".into(), i.go_fd.to_string().into()]);
    for p in i.allowed_tcp_ports {
        a.extend(["--tcp-port".into(), p.to_string().into()]);
    }
    a.push("--".into());
    a.extend(argv);
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args_of(spec: &SandboxSpec, entries: &[RootEntry]) -> Vec<String> {
        bwrap_args(&CommandInputs {
            spec,
            limits: &Limits::default(),
            bootstrap: Path::new("/run/gigmcp/t/0"),
            program: Some(Path::new("/run/gigmcp/t/1")),
            root_entries: entries,
            host_addr: Some(std::net::Ipv4Addr::new(10, 88, 0, 1)),
            go_fd: 7,
            info_fd: 8,
            allowed_tcp_ports: &[3128],
            proc_masks: &[ProcMask::File("/proc/keys"), ProcMask::Dir("/proc/acpi")],
            file_fds: &[(9, "/etc/resolv.conf".into())],
        })
        .into_iter()
        .map(|s| s.into_string().unwrap())
        .collect()
    }

    fn has_seq(hay: &[String], needle: &[&str]) -> bool {
        hay.windows(needle.len())
            .any(|w| w.iter().zip(needle).all(|(a, b)| a == b))
    }

    #[test]
    fn static_binary_command_isolates_everything() {
        let spec = SandboxSpec {
            name: "echo".into(),
            program: ProgramSource::StaticBinary("/srv/echo".into()),
            args: vec!["--flag".into()],
            env: vec![
                ("A".into(), "1".into()),
                (
                    "HTTPS_PROXY".into(),
                    format!("http://{HOST_ADDR_TOKEN}:3128"),
                ),
            ],
            limits: None,
            files: vec![],
        };
        let a = args_of(&spec, &[]);
        assert!(has_seq(
            &a,
            &["--perms", "0444", "--ro-bind-data", "9", "/etc/resolv.conf"]
        ));
        assert!(has_seq(
            &a,
            &["--setenv", "HTTPS_PROXY", "http://10.88.0.1:3128"]
        ));
        for flag in [
            "--unshare-user",
            "--unshare-pid",
            "--unshare-net",
            "--unshare-ipc",
            "--unshare-uts",
            "--unshare-cgroup",
            "--die-with-parent",
            "--new-session",
            "--clearenv",
            "--disable-userns",
        ] {
            assert!(a.contains(&flag.to_string()), "missing {flag}");
        }
        assert!(has_seq(&a, &["--setenv", "A", "1"]));
        assert!(has_seq(&a, &["--ro-bind", "/run/gigmcp/t/1", SERVER_PATH]));
        assert!(has_seq(
            &a,
            &["--ro-bind", "/run/gigmcp/t/0", BOOTSTRAP_PATH]
        ));
        assert!(has_seq(
            &a,
            &["--size", &(64u64 << 20).to_string(), "--tmpfs", "/tmp"]
        ));
        assert!(has_seq(&a, &["--remount-ro", "/"]));
        assert!(has_seq(&a, &["--ro-bind", "/dev/null", "/proc/keys"]));
        assert!(has_seq(
            &a,
            &["--tmpfs", "/proc/acpi", "--remount-ro", "/proc/acpi"]
        ));
        let tail: Vec<&str> = a[a.len() - 8..].iter().map(String::as_str).collect();
        assert_eq!(
            tail,
            [
                BOOTSTRAP_PATH,
                "--go-fd",
                "7",
                "--tcp-port",
                "3128",
                "--",
                SERVER_PATH,
                "--flag"
            ]
        );
    }

    #[test]
    fn rootfs_entries_skip_reserved_names_and_keep_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        for d in ["usr", "etc", "proc", "tmp", "dev", ".gig"] {
            std::fs::create_dir(dir.path().join(d)).unwrap();
        }
        std::os::unix::fs::symlink("usr/lib", dir.path().join("lib")).unwrap();
        let entries = root_entries("t", dir.path()).unwrap();
        let names: Vec<_> = entries.iter().map(|e| entry_name(e).clone()).collect();
        assert_eq!(names, ["etc", "lib", "usr"]);
        let spec = SandboxSpec {
            name: "node".into(),
            program: ProgramSource::Rootfs {
                dir: dir.path().into(),
                entrypoint: vec!["node".into(), "main.js".into()],
                workdir: Some("/app".into()),
            },
            args: vec!["stdio".into()],
            env: vec![],
            limits: None,
            files: vec![],
        };
        let a = args_of(&spec, &entries);
        // the file comes after the image's /etc, so it mounts over it
        let etc = a.iter().position(|x| x == "/etc").unwrap();
        let resolv = a.iter().position(|x| x == "/etc/resolv.conf").unwrap();
        assert!(etc < resolv, "{a:?}");
        assert!(has_seq(&a, &["--symlink", "usr/lib", "/lib"]));
        assert!(has_seq(&a, &["--chdir", "/app"]));
        assert!(a.ends_with(&["--".into(), "node".into(), "main.js".into(), "stdio".into()]));
    }
}
