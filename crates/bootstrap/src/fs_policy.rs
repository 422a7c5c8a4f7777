//! The Landlock domain: the filesystem is read-only except `/tmp` and `/dev/shm`, nothing there
//! may be executed, only a few device files are writable; TCP connect only to the allowed ports
//! and no TCP bind (ABI ≥ 4); no abstract-socket or signal reach outside the sandbox (ABI ≥ 6).

use landlock::{
    ABI, Access, AccessFs, AccessNet, BitFlags, NetPort, PathBeneath, PathFd, Ruleset, RulesetAttr,
    RulesetCreatedAttr, RulesetStatus, Scope,
};

/// The newest ABI whose rights we ask for; older kernels get a best-effort subset.
const TARGET_ABI: ABI = ABI::V6;
/// Writable scratch directories (no execute).
const SCRATCH: &[&str] = &["/tmp", "/dev/shm"];
/// Device files a server may open for writing.
const WRITABLE_DEVICES: &[&str] = &["/dev/null", "/dev/zero", "/dev/full", "/dev/tty"];
/// Root entries that get no execute right (beyond what `/` grants: read).
const NO_EXEC_ROOTS: &[&str] = &["tmp", "dev", "proc"];

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("building the Landlock ruleset: {0}")]
    Ruleset(#[from] landlock::RulesetError),
    #[error("listing / for Landlock rules: {0}")]
    ListRoot(std::io::Error),
    #[error(
        "Landlock is not enforced by this kernel (needs Linux ≥ 5.13 with `landlock` in the LSM \
         list); refusing to run the server unconfined"
    )]
    NotEnforced,
}

/// What got enforced.
#[derive(Debug)]
pub struct Enforced {
    pub fully: bool,
}

fn beneath(path: &str, access: BitFlags<AccessFs>) -> Option<PathBeneath<PathFd>> {
    // A path missing from this sandbox simply gets no rule.
    PathFd::new(path)
        .ok()
        .map(|fd| PathBeneath::new(fd, access))
}

pub fn restrict(tcp_ports: &[u16]) -> Result<Enforced, PolicyError> {
    let abi = TARGET_ABI;
    let all = AccessFs::from_all(abi);
    let read = AccessFs::ReadFile | AccessFs::ReadDir;
    let read_exec = read | AccessFs::Execute;
    let scratch =
        all & !(AccessFs::Execute | AccessFs::MakeChar | AccessFs::MakeBlock | AccessFs::IoctlDev);
    let device = AccessFs::ReadFile | AccessFs::WriteFile | AccessFs::Truncate | AccessFs::IoctlDev;

    let mut rules: Vec<PathBeneath<PathFd>> = Vec::new();
    rules.extend(beneath("/", read));
    for entry in std::fs::read_dir("/").map_err(PolicyError::ListRoot)? {
        let entry = entry.map_err(PolicyError::ListRoot)?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if NO_EXEC_ROOTS.contains(&name) {
            continue;
        }
        let is_dir = entry
            .file_type()
            .is_ok_and(|t| t.is_dir() || t.is_symlink());
        let access = if is_dir {
            read_exec
        } else {
            read_exec & AccessFs::from_file(abi)
        };
        rules.extend(beneath(&format!("/{name}"), access));
    }
    for dir in SCRATCH {
        rules.extend(beneath(dir, scratch));
    }
    for dev in WRITABLE_DEVICES {
        rules.extend(beneath(dev, device & AccessFs::from_file(abi)));
    }

    let status = Ruleset::default()
        .handle_access(all)?
        .handle_access(AccessNet::from_all(abi))?
        .scope(Scope::from_all(abi))?
        .create()?
        .add_rules(rules.into_iter().map(Ok::<_, landlock::RulesetError>))?
        .add_rules(
            tcp_ports
                .iter()
                .map(|p| Ok::<_, landlock::RulesetError>(NetPort::new(*p, AccessNet::ConnectTcp))),
        )?
        .restrict_self()?;
    match status.ruleset {
        RulesetStatus::NotEnforced => Err(PolicyError::NotEnforced),
        RulesetStatus::FullyEnforced => Ok(Enforced { fully: true }),
        RulesetStatus::PartiallyEnforced => Ok(Enforced { fully: false }),
    }
}
