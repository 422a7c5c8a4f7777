//! Dropping every privilege, in an order where each step still has what it needs:
//! no_new_privs, bounding and ambient sets, supplementary groups, gid, uid, then the remaining
//! capability sets; finally the result is read back from `/proc/self/status` and verified.

use rustix::thread::{
    CapabilitySet, CapabilitySets, clear_ambient_capability_set, set_capabilities,
    set_no_new_privs, set_thread_groups, set_thread_res_gid, set_thread_res_uid,
};

/// uid and gid the server runs as inside its user namespace.
pub const SANDBOX_ID: u32 = 65534;

#[derive(Debug, thiserror::Error)]
pub enum PrivError {
    #[error("{step}: {source}")]
    Syscall {
        step: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("verification failed: {0}")]
    Verify(String),
}

fn sys(step: &'static str) -> impl FnOnce(rustix::io::Errno) -> PrivError {
    move |e| PrivError::Syscall {
        step,
        source: e.into(),
    }
}

/// Bits of the bounding set still present, read with PR_CAPBSET_READ up to the last known cap.
fn drop_bounding_set() -> Result<(), PrivError> {
    for cap in 0..64 {
        // SAFETY: prctl(PR_CAPBSET_READ/DROP) takes integer arguments only and touches no memory.
        let present = unsafe { libc::prctl(libc::PR_CAPBSET_READ, cap as libc::c_ulong, 0, 0, 0) };
        if present < 0 {
            break; // past the kernel's last capability
        }
        if present == 1 {
            // SAFETY: as above.
            if unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) } != 0 {
                return Err(PrivError::Syscall {
                    step: "dropping the capability bounding set",
                    source: std::io::Error::last_os_error(),
                });
            }
        }
    }
    Ok(())
}

pub fn drop_all() -> Result<(), PrivError> {
    set_no_new_privs(true).map_err(sys("setting no_new_privs"))?;
    drop_bounding_set()?;
    clear_ambient_capability_set().map_err(sys("clearing the ambient capability set"))?;
    let groups = rustix::process::getgroups().map_err(sys("getgroups"))?;
    if !groups.is_empty() {
        set_thread_groups(&[]).map_err(sys("setgroups([])"))?;
    }
    let gid = rustix::process::Gid::from_raw(SANDBOX_ID);
    set_thread_res_gid(gid, gid, gid).map_err(sys("setresgid(65534)"))?;
    let uid = rustix::process::Uid::from_raw(SANDBOX_ID);
    set_thread_res_uid(uid, uid, uid).map_err(sys("setresuid(65534)"))?;
    set_capabilities(
        None,
        CapabilitySets {
            effective: CapabilitySet::empty(),
            permitted: CapabilitySet::empty(),
            inheritable: CapabilitySet::empty(),
        },
    )
    .map_err(sys("clearing effective/permitted/inheritable capabilities"))?;
    verify(
        &std::fs::read_to_string("/proc/self/status").map_err(|e| PrivError::Syscall {
            step: "reading /proc/self/status",
            source: e,
        })?,
    )
}

/// Checks a `/proc/<pid>/status` text: no capability, no_new_privs, ids 65534, no groups.
pub fn verify(status: &str) -> Result<(), PrivError> {
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .map(str::trim)
            .ok_or_else(|| PrivError::Verify(format!("{name} missing from /proc/self/status")))
    };
    for cap in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        let v = field(cap)?;
        if !v.trim_start_matches('0').is_empty() {
            return Err(PrivError::Verify(format!("{cap} is {v}, not empty")));
        }
    }
    if field("NoNewPrivs")? != "1" {
        return Err(PrivError::Verify("NoNewPrivs is not 1".into()));
    }
    for ids in ["Uid", "Gid"] {
        let v = field(ids)?;
        if !v.split_whitespace().all(|x| x == "65534") || v.split_whitespace().count() != 4 {
            return Err(PrivError::Verify(format!(
                "{ids} is `{v}`, not 65534 throughout"
            )));
        }
    }
    if !field("Groups")?.is_empty() {
        return Err(PrivError::Verify("supplementary groups remain".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "Name:\tx\nUid:\t65534\t65534\t65534\t65534\nGid:\t65534\t65534\t65534\t65534\n\
        Groups:\t\nCapInh:\t0000000000000000\nCapPrm:\t0000000000000000\n\
        CapEff:\t0000000000000000\nCapBnd:\t0000000000000000\nCapAmb:\t0000000000000000\n\
        NoNewPrivs:\t1\n";

    #[test]
    fn accepts_a_fully_dropped_status() {
        verify(GOOD).unwrap();
    }

    #[test]
    fn rejects_any_leftover_privilege() {
        for (from, to) in [
            ("CapBnd:\t0000000000000000", "CapBnd:\t000001ffffffffff"),
            ("NoNewPrivs:\t1", "NoNewPrivs:\t0"),
            (
                "Uid:\t65534\t65534\t65534\t65534",
                "Uid:\t65534\t0\t65534\t65534",
            ),
            ("Groups:\t", "Groups:\t0"),
        ] {
            assert!(verify(&GOOD.replace(from, to)).is_err(), "{to} passed");
        }
    }
}
