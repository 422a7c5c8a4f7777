//! The socket filter: which sockets a server may create, decided on every argument of
//! `socket(2)` and `socketpair(2)`: family, type and protocol.
//!
//! Allowed, and nothing else:
//! - `AF_UNIX`, any type, protocol 0 (local IPC; `socketpair` only for this family);
//! - `AF_NETLINK` with protocol `NETLINK_ROUTE` (read-only without CAP_NET_ADMIN; glibc's
//!   `getifaddrs` and `getaddrinfo` use it);
//! - `AF_INET`/`AF_INET6` with type `SOCK_STREAM` and protocol 0 or `IPPROTO_TCP`: plain TCP,
//!   whose connects Landlock limits to the proxy ports.
//!
//! The protocol argument matters: `IPPROTO_MPTCP` (a `SOCK_STREAM` over `AF_INET`) is not
//! covered by Landlock's TCP rules on some kernels, and `IPPROTO_SCTP` has a stream mode too.
//! A refused family fails with `EAFNOSUPPORT`, a refused type or protocol with
//! `EPROTONOSUPPORT`, the answers a kernel without that support gives: programs that probe
//! (Go and curl try MPTCP first) fall back to plain TCP instead of failing.
//!
//! This is a hand-assembled classic BPF program rather than a rule of the allowlist: the
//! allowlist can only answer EPERM, and when several filters answer with an errno the kernel
//! keeps one of them, so the allowlist lets `socket` and `socketpair` through and this filter
//! alone decides them. [`evaluate`] runs the program in user space for the unit tests.

use seccompiler::{BpfProgram, sock_filter};

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xc000_003e; // AUDIT_ARCH_X86_64
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xc000_00b7; // AUDIT_ARCH_AARCH64

/// Offsets in `struct seccomp_data`: nr, arch, then the arguments (the low 32 bits of each
/// 64-bit slot on a little-endian machine, which is all an `int` argument is).
const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;
const OFF_ARG0: u32 = 16;
const OFF_ARG1: u32 = 24;
const OFF_ARG2: u32 = 32;

const RET_ALLOW: u32 = 0x7fff_0000; // SECCOMP_RET_ALLOW
const RET_ERRNO: u32 = 0x0005_0000; // SECCOMP_RET_ERRNO

/// The socket type without `SOCK_NONBLOCK`/`SOCK_CLOEXEC`.
const SOCK_TYPE_MASK: u32 = 0xf;
const NETLINK_ROUTE: u32 = 0;
const IPPROTO_TCP: u32 = 6;

const BPF_LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
const BPF_ALU_AND_K: u16 = 0x54; // BPF_ALU | BPF_AND | BPF_K
const BPF_JMP_JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const BPF_RET_K: u16 = 0x06; // BPF_RET | BPF_K

/// One instruction before jump offsets are known.
#[derive(Clone, Copy)]
enum Op {
    /// Load the 32-bit word at this offset of `seccomp_data`.
    Load(u32),
    /// Accumulator &= mask.
    And(u32),
    /// If the accumulator equals the value, go to the label; otherwise fall through.
    JumpIfEq(u32, Label),
    Return(u32),
    /// A jump target (emits nothing).
    At(Label),
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Label {
    NativeArch,
    Socket,
    Pair,
    Unix,
    Inet,
    InetProtocol,
    Netlink,
    Allow,
}

fn errno(e: i32) -> u32 {
    RET_ERRNO | (e as u32 & 0xffff)
}

/// The program, symbolically.
fn ops() -> Vec<Op> {
    use Label::*;
    use Op::*;
    vec![
        // Another architecture's calling convention: the allowlist filter refuses it.
        Load(OFF_ARCH),
        JumpIfEq(AUDIT_ARCH, NativeArch),
        Return(RET_ALLOW),
        At(NativeArch),
        Load(OFF_NR),
        JumpIfEq(libc::SYS_socket as u32, Socket),
        JumpIfEq(libc::SYS_socketpair as u32, Pair),
        Return(RET_ALLOW),
        // socket(family, type, protocol)
        At(Socket),
        Load(OFF_ARG0),
        JumpIfEq(libc::AF_UNIX as u32, Unix),
        JumpIfEq(libc::AF_INET as u32, Inet),
        JumpIfEq(libc::AF_INET6 as u32, Inet),
        JumpIfEq(libc::AF_NETLINK as u32, Netlink),
        Return(errno(libc::EAFNOSUPPORT)),
        At(Unix),
        Load(OFF_ARG2),
        JumpIfEq(0, Allow),
        Return(errno(libc::EPROTONOSUPPORT)),
        At(Inet),
        Load(OFF_ARG1),
        And(SOCK_TYPE_MASK),
        JumpIfEq(libc::SOCK_STREAM as u32, InetProtocol),
        Return(errno(libc::EPROTONOSUPPORT)),
        At(InetProtocol),
        Load(OFF_ARG2),
        JumpIfEq(0, Allow),
        JumpIfEq(IPPROTO_TCP, Allow),
        Return(errno(libc::EPROTONOSUPPORT)),
        At(Netlink),
        Load(OFF_ARG2),
        JumpIfEq(NETLINK_ROUTE, Allow),
        Return(errno(libc::EPROTONOSUPPORT)),
        // socketpair(family, type, protocol, sv): only local pairs.
        At(Pair),
        Load(OFF_ARG0),
        JumpIfEq(libc::AF_UNIX as u32, Allow),
        Return(errno(libc::EAFNOSUPPORT)),
        At(Allow),
        Return(RET_ALLOW),
    ]
}

/// Resolves the labels into forward jump offsets.
fn assemble(ops: &[Op]) -> BpfProgram {
    let mut index_of = Vec::new();
    let mut n = 0usize;
    for op in ops {
        match op {
            Op::At(l) => index_of.push((*l, n)),
            _ => n += 1,
        }
    }
    let target = |l: Label| {
        index_of
            .iter()
            .find(|(x, _)| *x == l)
            .map(|(_, i)| *i)
            .expect("every label is placed")
    };
    let mut out = Vec::with_capacity(n);
    for op in ops {
        let insn = |code: u16, jt: u8, k: u32| sock_filter { code, jt, jf: 0, k };
        match *op {
            Op::Load(off) => out.push(insn(BPF_LD_W_ABS, 0, off)),
            Op::And(mask) => out.push(insn(BPF_ALU_AND_K, 0, mask)),
            Op::Return(v) => out.push(insn(BPF_RET_K, 0, v)),
            Op::JumpIfEq(v, l) => {
                let here = out.len();
                let jt = target(l)
                    .checked_sub(here + 1)
                    .and_then(|d| u8::try_from(d).ok())
                    .expect("jumps go forward, less than 256 instructions");
                out.push(insn(BPF_JMP_JEQ_K, jt, v));
            }
            Op::At(_) => {}
        }
    }
    out
}

/// The filter program.
pub fn filter() -> BpfProgram {
    assemble(&ops())
}

/// Runs `program` on one system call, as the kernel would; `None` for an instruction this
/// module never emits. For tests.
#[cfg(test)]
pub fn evaluate(program: &[sock_filter], arch: u32, nr: i64, args: [u64; 6]) -> Option<u32> {
    let mut data = [0u8; 64];
    data[0..4].copy_from_slice(&(nr as i32).to_ne_bytes());
    data[4..8].copy_from_slice(&arch.to_ne_bytes());
    for (i, a) in args.iter().enumerate() {
        data[16 + 8 * i..24 + 8 * i].copy_from_slice(&a.to_ne_bytes());
    }
    let mut acc = 0u32;
    let mut pc = 0usize;
    while let Some(insn) = program.get(pc) {
        pc += 1;
        match insn.code {
            BPF_LD_W_ABS => {
                let o = insn.k as usize;
                acc = u32::from_ne_bytes(data.get(o..o + 4)?.try_into().ok()?);
            }
            BPF_ALU_AND_K => acc &= insn.k,
            BPF_JMP_JEQ_K => pc += usize::from(if acc == insn.k { insn.jt } else { insn.jf }),
            BPF_RET_K => return Some(insn.k),
            _ => return None,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const IPPROTO_UDP: u64 = 17;
    const IPPROTO_SCTP: u64 = 132;
    const IPPROTO_MPTCP: u64 = 262;

    fn socket(family: i32, ty: i32, proto: u64) -> u32 {
        let p = filter();
        evaluate(
            &p,
            AUDIT_ARCH,
            libc::SYS_socket,
            [family as u64, ty as u64, proto, 0, 0, 0],
        )
        .expect("the program returns")
    }

    #[test]
    fn plain_tcp_unix_and_route_netlink_are_allowed() {
        for family in [libc::AF_INET, libc::AF_INET6] {
            for ty in [
                libc::SOCK_STREAM,
                libc::SOCK_STREAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            ] {
                assert_eq!(socket(family, ty, 0), RET_ALLOW);
                assert_eq!(socket(family, ty, IPPROTO_TCP as u64), RET_ALLOW);
            }
        }
        for ty in [libc::SOCK_STREAM, libc::SOCK_DGRAM, libc::SOCK_SEQPACKET] {
            assert_eq!(socket(libc::AF_UNIX, ty | libc::SOCK_CLOEXEC, 0), RET_ALLOW);
        }
        assert_eq!(socket(libc::AF_NETLINK, libc::SOCK_RAW, 0), RET_ALLOW);
        assert_eq!(socket(libc::AF_NETLINK, libc::SOCK_DGRAM, 0), RET_ALLOW);
    }

    #[test]
    fn other_protocols_over_ip_are_refused_whatever_the_type() {
        let no_proto = errno(libc::EPROTONOSUPPORT);
        for family in [libc::AF_INET, libc::AF_INET6] {
            // MPTCP and SCTP streams: the first escaped Landlock's TCP rules.
            assert_eq!(socket(family, libc::SOCK_STREAM, IPPROTO_MPTCP), no_proto);
            assert_eq!(socket(family, libc::SOCK_STREAM, IPPROTO_SCTP), no_proto);
            // The protocol is compared as the kernel reads it (an int): high bits cannot
            // smuggle a different value past the check.
            assert_eq!(
                socket(family, libc::SOCK_STREAM, (1u64 << 32) | IPPROTO_MPTCP),
                no_proto
            );
            for ty in [
                libc::SOCK_DGRAM,
                libc::SOCK_RAW,
                libc::SOCK_SEQPACKET,
                libc::SOCK_RDM,
                libc::SOCK_DCCP,
                10, // SOCK_PACKET
            ] {
                assert_eq!(socket(family, ty, 0), no_proto, "type {ty}");
                assert_eq!(socket(family, ty, IPPROTO_UDP), no_proto, "type {ty}");
            }
        }
    }

    #[test]
    fn other_families_and_netlink_protocols_are_refused() {
        let no_family = errno(libc::EAFNOSUPPORT);
        for family in [
            libc::AF_PACKET,
            libc::AF_VSOCK,
            libc::AF_ALG,
            libc::AF_TIPC,
            libc::AF_XDP,
            libc::AF_BLUETOOTH,
            libc::AF_KEY,
            libc::AF_CAN,
            libc::AF_RDS,
        ] {
            assert_eq!(socket(family, libc::SOCK_STREAM, 0), no_family, "{family}");
            assert_eq!(socket(family, libc::SOCK_RAW, 0), no_family, "{family}");
        }
        for proto in [
            libc::NETLINK_AUDIT,
            libc::NETLINK_KOBJECT_UEVENT,
            libc::NETLINK_SOCK_DIAG,
            libc::NETLINK_NETFILTER,
            libc::NETLINK_GENERIC,
            libc::NETLINK_XFRM,
        ] {
            assert_eq!(
                socket(libc::AF_NETLINK, libc::SOCK_RAW, proto as u64),
                errno(libc::EPROTONOSUPPORT),
                "netlink protocol {proto}"
            );
        }
        assert_eq!(
            socket(libc::AF_UNIX, libc::SOCK_STREAM, 1),
            errno(libc::EPROTONOSUPPORT)
        );
    }

    #[test]
    fn socketpair_is_local_only_and_other_calls_pass() {
        let p = filter();
        let pair = |family: i32| {
            evaluate(
                &p,
                AUDIT_ARCH,
                libc::SYS_socketpair,
                [family as u64, libc::SOCK_STREAM as u64, 0, 0, 0, 0],
            )
        };
        assert_eq!(pair(libc::AF_UNIX), Some(RET_ALLOW));
        assert_eq!(pair(libc::AF_TIPC), Some(errno(libc::EAFNOSUPPORT)));
        assert_eq!(pair(libc::AF_INET), Some(errno(libc::EAFNOSUPPORT)));
        // Any other call and any other architecture: for the allowlist to decide.
        assert_eq!(
            evaluate(&p, AUDIT_ARCH, libc::SYS_read, [0; 6]),
            Some(RET_ALLOW)
        );
        assert_eq!(
            evaluate(
                &p,
                0x4000_0003,
                libc::SYS_socket,
                [libc::AF_PACKET as u64, 3, 0, 0, 0, 0]
            ),
            Some(RET_ALLOW)
        );
    }
}
