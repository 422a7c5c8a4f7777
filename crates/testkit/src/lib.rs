//! Test support shared by the workspace's integration tests.
//!
//! Sandboxed servers run in an empty root, so the binaries tests put there must be static.
//! [`static_bin`] builds them once per test run with `+crt-static` into `target/static` (a target
//! dir of its own, so it never waits on the lock of the `cargo test` that called it).
#![forbid(unsafe_code)]

pub mod rootfs;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// The workspace root (two levels above this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("testkit lives at <root>/crates/testkit")
        .to_path_buf()
}

static BUILD: Mutex<()> = Mutex::new(());

/// Path of a statically linked release build of binary `bin` of workspace package `package`.
///
/// If `GIG_TEST_BIN_DIR` is set, the binary is taken from there (CI may prebuild them); otherwise
/// it is built (or found up to date) with `cargo rustc --release -- -C target-feature=+crt-static`.
pub fn static_bin(package: &str, bin: &str) -> PathBuf {
    if let Some(dir) = std::env::var_os("GIG_TEST_BIN_DIR") {
        let path = PathBuf::from(dir).join(bin);
        assert!(
            path.is_file(),
            "GIG_TEST_BIN_DIR has no {bin}: {}",
            path.display()
        );
        return path;
    }
    let _guard = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    let root = workspace_root();
    let target_dir = root.join("target").join("static");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(&root)
        .args([
            "rustc",
            "--quiet",
            "--release",
            "-p",
            package,
            "--bin",
            bin,
            "--target-dir",
        ])
        .arg(&target_dir)
        .args(["--", "-C", "target-feature=+crt-static"])
        .status()
        .expect("run cargo to build a static test binary");
    assert!(status.success(), "building static {package}/{bin} failed");
    let path = target_dir.join("release").join(bin);
    assert!(path.is_file(), "cargo built no {}", path.display());
    path
}

/// True if `path` is a statically linked ELF (no `PT_INTERP` program header).
pub fn is_static_elf(path: &Path) -> bool {
    let Ok(bytes) = std::fs::read(path) else {
        return false;
    };
    if bytes.len() < 64 || &bytes[..4] != b"\x7fELF" || bytes[4] != 2 {
        return false;
    }
    let u64_at = |o: usize| u64::from_le_bytes(bytes[o..o + 8].try_into().unwrap_or_default());
    let u16_at = |o: usize| u16::from_le_bytes(bytes[o..o + 2].try_into().unwrap_or_default());
    let (phoff, phentsize, phnum) = (
        u64_at(32) as usize,
        u16_at(54) as usize,
        u16_at(56) as usize,
    );
    (0..phnum).all(|i| {
        let off = phoff + i * phentsize;
        off + 4 > bytes.len()
            || u32::from_le_bytes(bytes[off..off + 4].try_into().unwrap_or_default()) != 3
    })
}

/// Where `scripts/test-deps` puts the external test peers (Python venv, npm packages).
pub fn testenv_dir() -> PathBuf {
    std::env::var_os("GIG_TESTENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".testenv"))
}

/// The Python interpreter of the test venv that has the official `mcp` SDK installed.
///
/// Panics with the fix if it is missing: the SDK tests never skip.
pub fn python() -> PathBuf {
    let python = testenv_dir().join("venv/bin/python");
    assert!(
        python.is_file(),
        "{} is missing: run scripts/test-deps (it installs the official MCP SDK clients), or use scripts/test",
        python.display()
    );
    python
}

/// The npm project dir holding `@modelcontextprotocol/sdk`; scripts importing it must live here.
pub fn node_project() -> PathBuf {
    let dir = testenv_dir().join("node");
    assert!(
        dir.join("node_modules/@modelcontextprotocol/sdk").is_dir(),
        "{} has no @modelcontextprotocol/sdk: run scripts/test-deps, or use scripts/test",
        dir.display()
    );
    dir
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_a_static_echo_server() {
        let echo = static_bin("gigmcp-test-servers", "echo");
        assert!(is_static_elf(&echo), "{} is not static", echo.display());
    }

    #[test]
    fn a_dynamic_binary_is_not_static() {
        assert!(!is_static_elf(Path::new("/bin/sh")));
    }
}
