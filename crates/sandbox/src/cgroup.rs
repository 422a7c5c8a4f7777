//! Per-sandbox cgroups: memory, pids and CPU limits on cgroup v2 or v1.
//!
//! Each sandbox gets `<gateway's cgroup>/<name>/<sandbox id>` (v2), or that path in each of the
//! v1 `memory`, `pids` and `cpu` hierarchies. bwrap is moved in before it executes (see
//! `runtime/start.rs`), so every process of the sandbox is accounted and limited.

use crate::config::Limits;
use crate::error::SandboxError;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

const ROOT: &str = "/sys/fs/cgroup";
const V1_CONTROLLERS: [&str; 3] = ["memory", "pids", "cpu"];
/// CFS period used for CPU quotas (100 ms, the kernel default).
const CPU_PERIOD_US: u64 = 100_000;

/// Where this gateway's sandbox cgroups live.
#[derive(Clone, Debug)]
pub enum CgroupLayout {
    V2 {
        parent: PathBuf,
    },
    V1 {
        parents: Vec<(&'static str, PathBuf)>,
    },
}

fn cg_err(path: &Path) -> impl FnOnce(std::io::Error) -> SandboxError + '_ {
    move |source| SandboxError::Cgroup {
        path: path.to_path_buf(),
        source,
    }
}

fn write_file(path: &Path, value: &str) -> Result<(), SandboxError> {
    std::fs::write(path, value).map_err(cg_err(path))
}

/// This process's cgroup path in the hierarchy whose controller list contains `controller`
/// (`""` for the v2 unified hierarchy).
fn own_path(proc_cgroup: &str, controller: &str) -> Option<String> {
    proc_cgroup.lines().find_map(|line| {
        let mut parts = line.splitn(3, ':');
        let (_, ctrls, path) = (parts.next()?, parts.next()?, parts.next()?);
        let hit = if controller.is_empty() {
            ctrls.is_empty()
        } else {
            ctrls.split(',').any(|c| c == controller)
        };
        hit.then(|| path.trim_start_matches('/').to_string())
    })
}

impl CgroupLayout {
    /// Finds the hierarchy and creates (or reuses) the parent directory `name`, removing empty
    /// sandbox cgroups a crashed gateway left in it.
    pub fn detect(name: &str) -> Result<Self, SandboxError> {
        let proc_cgroup = std::fs::read_to_string("/proc/self/cgroup")
            .map_err(|e| SandboxError::io("reading /proc/self/cgroup", e))?;
        let root = Path::new(ROOT);
        let layout = if root.join("cgroup.controllers").exists() {
            let own = own_path(&proc_cgroup, "").unwrap_or_default();
            let own_dir = root.join(own);
            let parent = own_dir.join(name);
            std::fs::create_dir_all(&parent).map_err(cg_err(&parent))?;
            // v2's "no internal processes" rule: a cgroup that holds processes (this gateway)
            // cannot hand controllers to children. Move the gateway into a leaf of its own first.
            let own_ctl = own_dir.join("cgroup.subtree_control");
            if std::fs::write(&own_ctl, "+memory +pids +cpu")
                .is_err_and(|e| e.raw_os_error() == Some(libc::EBUSY))
            {
                let leaf = own_dir.join(format!("{name}-gateway"));
                std::fs::create_dir_all(&leaf).map_err(cg_err(&leaf))?;
                write_file(&leaf.join("cgroup.procs"), &std::process::id().to_string())?;
            }
            for dir in [&own_dir, &parent] {
                let ctl = dir.join("cgroup.subtree_control");
                std::fs::write(&ctl, "+memory +pids +cpu").map_err(|e| SandboxError::Config(format!(
                    "cannot enable memory/pids/cpu controllers in {} ({e}); run the gateway in a \
                     delegated cgroup (systemd: Delegate=yes) or set RuntimeConfig::cgroups = false",
                    ctl.display()
                )))?;
            }
            CgroupLayout::V2 { parent }
        } else {
            let mut parents = Vec::new();
            for ctrl in V1_CONTROLLERS {
                let mount = root.join(ctrl);
                if !mount.join("cgroup.procs").exists() {
                    return Err(SandboxError::Config(format!(
                        "cgroup v1 controller `{ctrl}` is not mounted at {}; mount it or set \
                         RuntimeConfig::cgroups = false",
                        mount.display()
                    )));
                }
                let own = own_path(&proc_cgroup, ctrl).unwrap_or_default();
                let parent = mount.join(own).join(name);
                std::fs::create_dir_all(&parent).map_err(cg_err(&parent))?;
                parents.push((ctrl, parent));
            }
            CgroupLayout::V1 { parents }
        };
        layout.remove_stale();
        Ok(layout)
    }

    fn parents(&self) -> Vec<&Path> {
        match self {
            CgroupLayout::V2 { parent } => vec![parent.as_path()],
            CgroupLayout::V1 { parents } => parents.iter().map(|(_, p)| p.as_path()).collect(),
        }
    }

    /// Removes sandbox cgroups without processes (left behind by a gateway that crashed).
    fn remove_stale(&self) {
        for parent in self.parents() {
            let Ok(dir) = std::fs::read_dir(parent) else {
                continue;
            };
            for e in dir.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir())
                    && procs(&e.path()).is_empty()
                    && std::fs::remove_dir(e.path()).is_ok()
                {
                    tracing::info!(cgroup = %e.path().display(), "removed stale sandbox cgroup");
                }
            }
        }
    }

    /// Removes this runtime's parent directories if no sandbox cgroup is left in them.
    ///
    /// The kernel may still be releasing a sandbox's cgroup that was just removed (a memory
    /// cgroup lingers until its pages are reclaimed), during which the parent reports busy; so
    /// this retries for up to half a second, blocking (it runs when the runtime is dropped).
    pub fn remove_parents(&self) {
        for _ in 0..50 {
            let mut busy = false;
            for parent in self.parents() {
                match std::fs::remove_dir(parent) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(_) => busy = true,
                }
            }
            if !busy {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Creates the cgroup of one sandbox with `limits` applied.
    pub fn create(&self, id: &str, limits: &Limits) -> Result<SandboxCgroup, SandboxError> {
        let mut cg = SandboxCgroup {
            dirs: Vec::new(),
            v2: matches!(self, CgroupLayout::V2 { .. }),
        };
        let quota = u64::from(limits.cpu_millis) * CPU_PERIOD_US / 1000;
        match self {
            CgroupLayout::V2 { parent } => {
                let dir = parent.join(id);
                make_fresh(&dir)?;
                cg.dirs.push(dir.clone());
                write_file(&dir.join("memory.max"), &limits.memory_bytes.to_string())?;
                // No swap: a memory bomb must hit the limit, not the disk.
                let _ = std::fs::write(dir.join("memory.swap.max"), "0");
                write_file(&dir.join("pids.max"), &limits.pids.to_string())?;
                write_file(&dir.join("cpu.max"), &format!("{quota} {CPU_PERIOD_US}"))?;
            }
            CgroupLayout::V1 { parents } => {
                for (ctrl, parent) in parents {
                    let dir = parent.join(id);
                    make_fresh(&dir)?;
                    cg.dirs.push(dir.clone());
                    match *ctrl {
                        "memory" => {
                            let bytes = limits.memory_bytes.to_string();
                            write_file(&dir.join("memory.limit_in_bytes"), &bytes)?;
                            let memsw = dir.join("memory.memsw.limit_in_bytes");
                            if memsw.exists() {
                                write_file(&memsw, &bytes)?;
                            }
                        }
                        "pids" => write_file(&dir.join("pids.max"), &limits.pids.to_string())?,
                        "cpu" => {
                            write_file(&dir.join("cpu.cfs_period_us"), &CPU_PERIOD_US.to_string())?;
                            write_file(&dir.join("cpu.cfs_quota_us"), &quota.to_string())?;
                        }
                        _ => {}
                    }
                }
            }
        }
        Ok(cg)
    }
}

/// Creates `dir`, first removing a leftover one of the same name.
fn make_fresh(dir: &Path) -> Result<(), SandboxError> {
    if dir.exists() {
        kill_procs(dir);
        let _ = std::fs::remove_dir(dir);
    }
    std::fs::create_dir(dir).map_err(cg_err(dir))
}

fn procs(dir: &Path) -> Vec<i32> {
    std::fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

fn kill_procs(dir: &Path) {
    for pid in procs(dir) {
        // SAFETY: kill(2) with a pid read from the cgroup and a constant signal has no memory
        // effects; a pid that exited meanwhile yields ESRCH, which is ignored.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
    }
}

/// The cgroup(s) of one running sandbox.
#[derive(Debug)]
pub struct SandboxCgroup {
    dirs: Vec<PathBuf>,
    v2: bool,
}

impl SandboxCgroup {
    /// Opens each `cgroup.procs` for writing (close-on-exec), to join the cgroup from the forked
    /// child before exec.
    pub fn procs_files(&self) -> Result<Vec<File>, SandboxError> {
        self.dirs
            .iter()
            .map(|d| {
                let p = d.join("cgroup.procs");
                File::options().write(true).open(&p).map_err(cg_err(&p))
            })
            .collect()
    }

    /// True if the kernel OOM-killed a process of this sandbox.
    pub fn oom_killed(&self) -> bool {
        let file = if self.v2 {
            "memory.events"
        } else {
            "memory.oom_control"
        };
        self.dirs.iter().any(|d| {
            std::fs::read_to_string(d.join(file))
                .unwrap_or_default()
                .lines()
                .any(|l| {
                    l.strip_prefix("oom_kill ")
                        .and_then(|n| n.trim().parse::<u64>().ok())
                        .is_some_and(|n| n > 0)
                })
        })
    }

    /// Like [`Self::destroy`], blocking (for drop paths, e.g. a tokio runtime shutting down
    /// with sandboxes still running); gives up silently after about a second.
    pub fn destroy_blocking(&self) {
        for _ in 0..100 {
            let mut busy = false;
            for d in self.dirs.iter().filter(|d| d.exists()) {
                kill_procs(d);
                busy |= std::fs::remove_dir(d).is_err();
            }
            if !busy {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Kills every process left in the sandbox and removes its cgroup directories.
    pub async fn destroy(&self) -> Result<(), SandboxError> {
        for attempt in 0..200 {
            let mut busy = false;
            for d in &self.dirs {
                if !d.exists() {
                    continue;
                }
                if self.v2 {
                    let _ = File::options()
                        .write(true)
                        .open(d.join("cgroup.kill"))
                        .and_then(|mut f| f.write_all(b"1"));
                }
                kill_procs(d);
                match std::fs::remove_dir(d) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) if attempt == 199 => return Err(cg_err(d)(e)),
                    Err(_) => busy = true,
                }
            }
            if !busy {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(p: &Path) -> String {
        std::fs::read_to_string(p).unwrap()
    }

    #[test]
    fn v2_limits_are_written_in_the_kernel_formats() {
        let parent = tempfile::tempdir().unwrap();
        let layout = CgroupLayout::V2 {
            parent: parent.path().to_path_buf(),
        };
        let limits = Limits {
            memory_bytes: 64 << 20,
            pids: 32,
            cpu_millis: 250,
            tmp_bytes: 4096,
        };
        let cg = layout.create("s1", &limits).unwrap();
        let dir = parent.path().join("s1");
        assert_eq!(read(&dir.join("memory.max")), (64u64 << 20).to_string());
        assert_eq!(read(&dir.join("memory.swap.max")), "0");
        assert_eq!(read(&dir.join("pids.max")), "32");
        assert_eq!(read(&dir.join("cpu.max")), "25000 100000");
        assert!(!cg.oom_killed());
        std::fs::write(
            dir.join("memory.events"),
            "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n",
        )
        .unwrap();
        assert!(cg.oom_killed());
    }

    #[test]
    fn v1_limits_go_to_each_controller() {
        let root = tempfile::tempdir().unwrap();
        let parents: Vec<(&'static str, PathBuf)> = V1_CONTROLLERS
            .iter()
            .map(|c| {
                let p = root.path().join(c);
                std::fs::create_dir(&p).unwrap();
                (*c, p)
            })
            .collect();
        let layout = CgroupLayout::V1 { parents };
        let cg = layout.create("s2", &Limits::default()).unwrap();
        let d = |c: &str| root.path().join(c).join("s2");
        assert_eq!(
            read(&d("memory").join("memory.limit_in_bytes")),
            (512u64 << 20).to_string()
        );
        assert_eq!(read(&d("pids").join("pids.max")), "256");
        assert_eq!(read(&d("cpu").join("cpu.cfs_quota_us")), "100000");
        assert_eq!(read(&d("cpu").join("cpu.cfs_period_us")), "100000");
        std::fs::write(
            d("memory").join("memory.oom_control"),
            "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n",
        )
        .unwrap();
        assert!(!cg.oom_killed());
    }

    #[test]
    fn own_path_reads_v1_and_v2_lines() {
        let text = "9:name=systemd:/\n4:memory:/a/b\n1:cpu,cpuacct:/c\n0::/unified/x\n";
        assert_eq!(own_path(text, "memory").as_deref(), Some("a/b"));
        assert_eq!(own_path(text, "cpu").as_deref(), Some("c"));
        assert_eq!(own_path(text, "").as_deref(), Some("unified/x"));
        assert_eq!(own_path(text, "pids"), None);
    }
}
