//! Builds image-like root filesystems for dynamic runtimes from the host's own binaries (what an
//! OCI image of Node or Python would hold): the interpreter, the libraries `ldd` names, and the
//! app. Shared by the sandbox and gateway tests and the sandbox bench.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

pub const EVERYTHING: &str = "@modelcontextprotocol/server-everything@2026.8.31";
pub const EVERYTHING_ENTRY: &str =
    "/app/node_modules/@modelcontextprotocol/server-everything/dist/index.js";

/// `npm install`s the everything server once per checkout into `target/test-npm/everything`.
pub fn everything_modules() -> PathBuf {
    let dir = crate::workspace_root().join("target/test-npm/everything");
    let entry = dir.join("node_modules/@modelcontextprotocol/server-everything/dist/index.js");
    if !entry.is_file() {
        std::fs::create_dir_all(&dir).unwrap();
        let st = Command::new("npm")
            .current_dir(&dir)
            .args([
                "install",
                "--no-audit",
                "--no-fund",
                "--no-save",
                EVERYTHING,
            ])
            .status()
            .expect("npm must be installed (apt-get install -y nodejs npm)");
        assert!(st.success(), "npm install {EVERYTHING} failed");
    }
    dir.join("node_modules")
}

fn copy_into(root: &Path, host_path: &Path) {
    let dest = root.join(host_path.strip_prefix("/").unwrap());
    std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
    std::fs::copy(host_path, &dest).unwrap();
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    let st = Command::new("cp")
        .arg("-r")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(st.success(), "cp -r {} {}", from.display(), to.display());
}

/// Copies `binary` (at its canonical path, plus `/usr/bin/<name>` if that is a link) and its
/// `ldd` libraries into `root`.
fn add_binary(root: &Path, binary: &str) {
    let real = std::fs::canonicalize(binary).unwrap();
    copy_into(root, &real);
    if real != Path::new(binary) {
        let link = root.join(binary.trim_start_matches('/'));
        std::fs::create_dir_all(link.parent().unwrap()).unwrap();
        let _ = std::os::unix::fs::symlink(&real, link);
    }
    let ldd = Command::new("ldd").arg(&real).output().unwrap();
    for line in String::from_utf8_lossy(&ldd.stdout).lines() {
        if let Some(p) = line.split_whitespace().find(|w| w.starts_with('/')) {
            copy_into(root, Path::new(p));
        }
    }
}

fn finish(root: &Path) {
    let st = Command::new("chmod")
        .args(["-R", "a+rX"])
        .arg(root)
        .status()
        .unwrap();
    assert!(st.success());
    std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Node + the npm everything server under `/app/node_modules`.
pub fn node_everything(root: &Path) {
    add_binary(root, "/usr/bin/node");
    copy_tree(&everything_modules(), &root.join("app/node_modules"));
    finish(root);
}

/// Node alone, with `script` as `/app/server.js` (a server without npm dependencies).
pub fn node_script(root: &Path, script: &str) {
    add_binary(root, "/usr/bin/node");
    std::fs::create_dir_all(root.join("app")).unwrap();
    std::fs::write(root.join("app/server.js"), script).unwrap();
    finish(root);
}

/// Python 3.11 with its standard library, and `script` as `/app/server.py`.
pub fn python(root: &Path, script: &str) {
    add_binary(root, "/usr/bin/python3.11");
    copy_tree(
        Path::new("/usr/lib/python3.11"),
        &root.join("usr/lib/python3.11"),
    );
    std::fs::create_dir_all(root.join("app")).unwrap();
    std::fs::write(root.join("app/server.py"), script).unwrap();
    finish(root);
}

/// Copies the libraries `ldd` names for every shared object under `dir` (as found on the host)
/// into `root`.
fn add_libraries_of(root: &Path, dir: &Path) {
    let found = Command::new("find")
        .arg(dir)
        .args(["-name", "*.so*", "-type", "f"])
        .output()
        .unwrap();
    let mut libs = std::collections::BTreeSet::new();
    for object in String::from_utf8_lossy(&found.stdout).lines() {
        let ldd = Command::new("ldd").arg(object).output().unwrap();
        for line in String::from_utf8_lossy(&ldd.stdout).lines() {
            if let Some(p) = line.split_whitespace().find(|w| w.starts_with('/')) {
                libs.insert(PathBuf::from(p));
            }
        }
    }
    for lib in libs {
        copy_into(root, &lib);
    }
}

/// Python 3.11 with its standard library (less its tests and GUI parts) and the libraries its
/// extension modules need, the packages of `site_packages` (a venv's, less pip and setuptools)
/// at `/app/site-packages` with theirs, and `script` as `/app/server.py`. The image must set
/// `PYTHONPATH=/app/site-packages`.
pub fn python_with_packages(root: &Path, script: &str, site_packages: &Path) {
    python(root, script);
    let stdlib = root.join("usr/lib/python3.11");
    for unused in [
        "test",
        "idlelib",
        "tkinter",
        "ensurepip",
        "lib2to3",
        "turtledemo",
    ] {
        let _ = std::fs::remove_dir_all(stdlib.join(unused));
    }
    add_libraries_of(root, Path::new("/usr/lib/python3.11/lib-dynload"));
    let packages = root.join("app/site-packages");
    copy_tree(site_packages, &packages);
    for unused in ["pip", "setuptools", "_distutils_hack", "pkg_resources"] {
        let _ = std::fs::remove_dir_all(packages.join(unused));
    }
    add_libraries_of(root, site_packages);
    finish(root);
}
