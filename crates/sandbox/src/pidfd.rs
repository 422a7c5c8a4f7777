//! A pidfd for the sandbox's first process, so it can be killed without a pid-reuse race.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// An open pidfd.
#[derive(Debug)]
pub struct PidFd(OwnedFd);

impl PidFd {
    pub fn open(pid: u32) -> std::io::Result<Self> {
        // SAFETY: pidfd_open(2) takes a pid and flags (0) and returns a new fd or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0u32) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: the kernel just returned this fd to us; nothing else owns it.
        Ok(Self(unsafe { OwnedFd::from_raw_fd(fd as i32) }))
    }

    /// Sends SIGKILL; a process that already exited is not an error.
    pub fn kill(&self) {
        // SAFETY: pidfd_send_signal(2) on an fd we own, with a null siginfo and no flags.
        unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                self.0.as_raw_fd(),
                libc::SIGKILL,
                std::ptr::null::<libc::siginfo_t>(),
                0u32,
            );
        }
    }
}
