//! `gigmcp-bootstrap`: the trusted first process of every sandbox.
//!
//! bwrap starts it (read-only at `/.gig/bootstrap`) as uid/gid 65534 in fresh namespaces. It
//! 1. waits for the runtime's go byte on `--go-fd` (sent once cgroup and network are in place;
//!    EOF means the runtime gave up, so it exits without running anything);
//! 2. closes every other inherited fd;
//! 3. drops privileges: no_new_privs, bounding + ambient capability sets, groups, gid, uid, the
//!    remaining capability sets; then verifies the result in `/proc/self/status`;
//! 4. installs Landlock (read-only root, writable non-executable `/tmp`, TCP connect only to
//!    `--tcp-port`s, no TCP bind, scoped signals and abstract sockets);
//! 5. installs the seccomp filters (allowlist; sockets by family, type and protocol;
//!    clone3 → ENOSYS);
//! 6. execs the server with the environment bwrap gave it.
//!
//! Any failure exits with status 125 before the server runs: it never runs unconfined.

mod args;
mod fs_policy;
mod privileges;
mod socket_policy;
mod syscall_policy;

use std::ffi::{CString, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Exit status when a confinement step fails (the server did not run).
const EXIT_REFUSED: i32 = 125;
const EXIT_CANNOT_EXEC: i32 = 126;
const EXIT_NOT_FOUND: i32 = 127;
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

#[derive(Debug, thiserror::Error)]
enum BootError {
    #[error("bad arguments: {0}")]
    Args(#[from] args::ArgsError),
    #[error("waiting for the go signal on fd {fd}: {reason}")]
    Go { fd: i32, reason: String },
    #[error("closing inherited fds: {0}")]
    CloseFds(std::io::Error),
    #[error("dropping privileges: {0}")]
    Privileges(#[from] privileges::PrivError),
    #[error("{0}")]
    Landlock(#[from] fs_policy::PolicyError),
    #[error("{0}")]
    Seccomp(#[from] syscall_policy::FilterError),
    #[error("installing seccomp: {0}")]
    SeccompApply(seccompiler::Error),
    #[error("program {0:?} not found in PATH")]
    NotFound(OsString),
    #[error("argument or environment holds a NUL byte")]
    Nul,
}

fn wait_for_go(fd: i32) -> Result<(), BootError> {
    let err = |reason: String| BootError::Go { fd, reason };
    if fd < 3 {
        return Err(err("must be above 2".into()));
    }
    // SAFETY: the runtime passes this fd open and owned by nobody else in this process;
    // OwnedFd closes it once the byte is read.
    let owned = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    let mut byte = [0u8; 1];
    loop {
        match rustix::io::read(&owned, &mut byte) {
            Ok(1) if byte[0] == b'G' => return Ok(()),
            Ok(0) => {
                return Err(err(
                    "the runtime closed it without a go (setup failed)".into()
                ));
            }
            Ok(_) => return Err(err(format!("unexpected byte {:#x}", byte[0]))),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(err(e.to_string())),
        }
    }
}

fn close_other_fds() -> Result<(), BootError> {
    // SAFETY: close_range(3, ~0, 0) closes fds this process does not use after this point
    // (std holds none above 2); it takes integers only.
    let r = unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) };
    if r != 0 {
        return Err(BootError::CloseFds(std::io::Error::last_os_error()));
    }
    Ok(())
}

/// Resolves `argv[0]` like execvp, using the server's `PATH` (or the default one).
fn resolve(program: &OsString) -> Result<PathBuf, BootError> {
    let p = Path::new(program);
    if program.as_bytes().contains(&b'/') {
        return Ok(p.to_path_buf());
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| DEFAULT_PATH.into());
    std::env::split_paths(&path)
        .map(|d| d.join(p))
        .find(|c| c.is_file())
        .ok_or_else(|| BootError::NotFound(program.clone()))
}

fn cstring(bytes: &[u8]) -> Result<CString, BootError> {
    CString::new(bytes).map_err(|_| BootError::Nul)
}

fn run() -> Result<i32, BootError> {
    let args = args::Args::parse(std::env::args_os().skip(1))?;
    wait_for_go(args.go_fd)?;
    close_other_fds()?;
    privileges::drop_all()?;
    let landlock = fs_policy::restrict(&args.tcp_ports)?;
    if !landlock.fully {
        eprintln!("gigmcp-bootstrap: Landlock only partially enforced by this kernel (older ABI)");
    }
    let program = resolve(&args.argv[0])?;
    let path = cstring(program.as_os_str().as_bytes())?;
    let argv: Vec<CString> = args
        .argv
        .iter()
        .map(|a| cstring(a.as_bytes()))
        .collect::<Result<_, _>>()?;
    let envp: Vec<CString> = std::env::vars_os()
        .map(|(k, v)| {
            let mut kv = k.as_bytes().to_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            cstring(&kv)
        })
        .collect::<Result<_, _>>()?;
    let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    argv_ptrs.push(std::ptr::null());
    let mut envp_ptrs: Vec<*const libc::c_char> = envp.iter().map(|e| e.as_ptr()).collect();
    envp_ptrs.push(std::ptr::null());
    let filters = syscall_policy::filters()?;
    // The Rust runtime ignores SIGPIPE; the server must start with the default disposition.
    // SAFETY: resetting a signal disposition to SIG_DFL installs no handler code.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    for f in &filters {
        seccompiler::apply_filter(f).map_err(BootError::SeccompApply)?;
    }
    // SAFETY: path, argv and envp are NUL-terminated C strings kept alive by `path`, `argv` and
    // `envp` above, and both pointer arrays end with a null pointer, as execve(2) requires.
    unsafe {
        libc::execve(path.as_ptr(), argv_ptrs.as_ptr(), envp_ptrs.as_ptr());
    }
    let e = std::io::Error::last_os_error();
    eprintln!(
        "gigmcp-bootstrap: cannot execute {}: {e}",
        program.display()
    );
    Ok(if e.kind() == std::io::ErrorKind::NotFound {
        EXIT_NOT_FOUND
    } else {
        EXIT_CANNOT_EXEC
    })
}

fn main() {
    let code = match run() {
        Ok(code) => code,
        Err(BootError::NotFound(p)) => {
            eprintln!("gigmcp-bootstrap: program {p:?} not found in PATH");
            EXIT_NOT_FOUND
        }
        Err(e) => {
            eprintln!("gigmcp-bootstrap: refusing to start the server: {e}");
            EXIT_REFUSED
        }
    };
    std::process::exit(code);
}
