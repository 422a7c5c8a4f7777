//! The host-side guard: what a sandbox's veth may deliver to the host, enforced by the host's
//! kernel (nftables, spoken over netlink; no `nft` binary, no daemon).
//!
//! Each runtime with networking owns one table, `inet gigmcp_<link prefix>`, made at start
//! (a table a crashed predecessor left is replaced):
//!
//! ```text
//! set allowed { key: iif . saddr . daddr . tcp dport }   one element per sandbox and port
//! set guarded { key: iif }                                one element per sandbox link
//! chain ingress { hook prerouting priority raw (-300); policy accept
//!     meta nfproto ipv4  meta l4proto tcp  (iif . ip saddr . ip daddr . tcp dport) @allowed  accept
//!     iif @guarded  drop
//! }
//! ```
//!
//! So a packet that arrives on a sandbox's host-side link reaches the host only if it is TCP
//! from that sandbox's own address to that link's own host-side address on one of the allowed
//! ports; everything else (another port, another address, UDP, ICMP, non-first fragments, a
//! protocol with a TCP-like header such as MPTCP's options do not matter here: the port and
//! address decide) is dropped in prerouting, before routing, conntrack or any socket sees it,
//! whatever the sandbox's own seccomp or Landlock state. Packets the host sends to the sandbox
//! are not touched. Links of other runtimes are not in this table's sets, so runtimes that
//! coexist never drop each other's traffic.
//!
//! Elements are added before the link is brought up (before the server runs) and removed with
//! the link. The messages are built by hand: [`Batch`] writes nfnetlink attributes, and
//! [`Guard`] sends one transaction per change and reads the kernel's acknowledgements.

use std::net::Ipv4Addr;
use std::os::fd::OwnedFd;
use std::time::Duration;

// netlink and nfnetlink
const NETLINK_NETFILTER: u32 = 12;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_CREATE: u16 = 0x400;
const NLM_F_APPEND: u16 = 0x800;
const NLA_F_NESTED: u16 = 0x8000;
const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFNL_MSG_BATCH_BEGIN: u16 = 16;
const NFNL_MSG_BATCH_END: u16 = 17;
const NFPROTO_INET: u8 = 1;
const NFPROTO_IPV4: u8 = 2;

// nf_tables message types
const NFT_MSG_NEWTABLE: u16 = 0;
const NFT_MSG_DELTABLE: u16 = 2;
const NFT_MSG_NEWCHAIN: u16 = 3;
const NFT_MSG_NEWRULE: u16 = 6;
const NFT_MSG_NEWSET: u16 = 9;
const NFT_MSG_NEWSETELEM: u16 = 12;
const NFT_MSG_DELSETELEM: u16 = 14;

// attributes
const NFTA_TABLE_NAME: u16 = 1;
const NFTA_CHAIN_TABLE: u16 = 1;
const NFTA_CHAIN_NAME: u16 = 3;
const NFTA_CHAIN_HOOK: u16 = 4;
const NFTA_CHAIN_POLICY: u16 = 5;
const NFTA_CHAIN_TYPE: u16 = 7;
const NFTA_HOOK_HOOKNUM: u16 = 1;
const NFTA_HOOK_PRIORITY: u16 = 2;
const NFTA_SET_TABLE: u16 = 1;
const NFTA_SET_NAME: u16 = 2;
const NFTA_SET_FLAGS: u16 = 3;
const NFTA_SET_KEY_TYPE: u16 = 4;
const NFTA_SET_KEY_LEN: u16 = 5;
const NFTA_SET_ID: u16 = 10;
const NFTA_SET_ELEM_LIST_TABLE: u16 = 1;
const NFTA_SET_ELEM_LIST_SET: u16 = 2;
const NFTA_SET_ELEM_LIST_ELEMENTS: u16 = 3;
const NFTA_SET_ELEM_KEY: u16 = 1;
const NFTA_LIST_ELEM: u16 = 1;
const NFTA_DATA_VALUE: u16 = 1;
const NFTA_DATA_VERDICT: u16 = 2;
const NFTA_VERDICT_CODE: u16 = 1;
const NFTA_RULE_TABLE: u16 = 1;
const NFTA_RULE_CHAIN: u16 = 2;
const NFTA_RULE_EXPRESSIONS: u16 = 4;
const NFTA_EXPR_NAME: u16 = 1;
const NFTA_EXPR_DATA: u16 = 2;
const NFTA_META_DREG: u16 = 1;
const NFTA_META_KEY: u16 = 2;
const NFTA_PAYLOAD_DREG: u16 = 1;
const NFTA_PAYLOAD_BASE: u16 = 2;
const NFTA_PAYLOAD_OFFSET: u16 = 3;
const NFTA_PAYLOAD_LEN: u16 = 4;
const NFTA_CMP_SREG: u16 = 1;
const NFTA_CMP_OP: u16 = 2;
const NFTA_CMP_DATA: u16 = 3;
const NFTA_LOOKUP_SET: u16 = 1;
const NFTA_LOOKUP_SREG: u16 = 2;
const NFTA_LOOKUP_SET_ID: u16 = 4;
const NFTA_IMMEDIATE_DREG: u16 = 1;
const NFTA_IMMEDIATE_DATA: u16 = 2;

// values
const NF_INET_PRE_ROUTING: u32 = 0;
const NF_IP_PRI_RAW: i32 = -300;
const NF_DROP: u32 = 0;
const NF_ACCEPT: u32 = 1;
const NFT_REG_VERDICT: u32 = 0;
/// The 16-byte register 1; it overlaps the 32-bit registers 00..03.
const NFT_REG_1: u32 = 1;
const NFT_REG32_00: u32 = 8;
const NFT_META_IIF: u32 = 4;
const NFT_META_NFPROTO: u32 = 15;
const NFT_META_L4PROTO: u32 = 16;
const NFT_PAYLOAD_NETWORK_HEADER: u32 = 1;
const NFT_PAYLOAD_TRANSPORT_HEADER: u32 = 2;
const NFT_CMP_EQ: u32 = 0;
const IPPROTO_TCP: u8 = 6;

const CHAIN: &str = "ingress";
const SET_ALLOWED: &str = "allowed";
const SET_GUARDED: &str = "guarded";
const SET_ALLOWED_ID: u32 = 1;
const SET_GUARDED_ID: u32 = 2;
/// iif (4) . saddr (4) . daddr (4) . dport (2, padded to a 32-bit register).
const ALLOWED_KEY_LEN: u32 = 16;
const GUARDED_KEY_LEN: u32 = 4;
/// How long the kernel may take to answer one transaction.
const ACK_TIMEOUT: Duration = Duration::from_secs(5);

/// One sandbox link as the guard sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuardedLink {
    /// Interface index of the host-side end.
    pub ifindex: u32,
    /// The host-side end's address (the only destination the sandbox may reach).
    pub host: Ipv4Addr,
    /// The sandbox-side address (the only source it may send from).
    pub sandbox: Ipv4Addr,
}

/// A runtime's nftables table.
#[derive(Clone, Debug)]
pub struct Guard {
    table: String,
    ports: Vec<u16>,
}

impl Guard {
    /// Replaces the table of runtime `prefix` with an empty guard allowing `ports`.
    pub fn install(prefix: &str, ports: &[u16]) -> Result<Self, String> {
        let guard = Self {
            table: format!("gigmcp_{prefix}"),
            ports: ports.to_vec(),
        };
        let mut del = Batch::new();
        del.message(NFT_MSG_DELTABLE, NFPROTO_INET, 0, |b| {
            b.str(NFTA_TABLE_NAME, &guard.table);
        });
        match transact(del) {
            Ok(()) => {
                tracing::info!(table = %guard.table, "replaced the host guard table left by an earlier gateway")
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => return Err(guard.explain("removing an old table", e)),
        }
        transact(guard.create()).map_err(|e| guard.explain("creating the table", e))?;
        Ok(guard)
    }

    /// The table, its sets and its chain with both rules, as one transaction.
    fn create(&self) -> Batch {
        let t = self.table.as_str();
        let mut b = Batch::new();
        b.message(NFT_MSG_NEWTABLE, NFPROTO_INET, NLM_F_CREATE, |b| {
            b.str(NFTA_TABLE_NAME, t);
        });
        for (name, id, len) in [
            (SET_ALLOWED, SET_ALLOWED_ID, ALLOWED_KEY_LEN),
            (SET_GUARDED, SET_GUARDED_ID, GUARDED_KEY_LEN),
        ] {
            b.message(NFT_MSG_NEWSET, NFPROTO_INET, NLM_F_CREATE, |b| {
                b.str(NFTA_SET_TABLE, t);
                b.str(NFTA_SET_NAME, name);
                b.u32(NFTA_SET_FLAGS, 0);
                // The key type only serves listings (`nft list`); the kernel uses the length.
                b.u32(NFTA_SET_KEY_TYPE, 0);
                b.u32(NFTA_SET_KEY_LEN, len);
                b.u32(NFTA_SET_ID, id);
            });
        }
        b.message(NFT_MSG_NEWCHAIN, NFPROTO_INET, NLM_F_CREATE, |b| {
            b.str(NFTA_CHAIN_TABLE, t);
            b.str(NFTA_CHAIN_NAME, CHAIN);
            b.nest(NFTA_CHAIN_HOOK, |b| {
                b.u32(NFTA_HOOK_HOOKNUM, NF_INET_PRE_ROUTING);
                b.u32(NFTA_HOOK_PRIORITY, NF_IP_PRI_RAW as u32);
            });
            b.u32(NFTA_CHAIN_POLICY, NF_ACCEPT);
            b.str(NFTA_CHAIN_TYPE, "filter");
        });
        let rule = |b: &mut Batch, exprs: &dyn Fn(&mut Batch)| {
            b.message(
                NFT_MSG_NEWRULE,
                NFPROTO_INET,
                NLM_F_CREATE | NLM_F_APPEND,
                |b| {
                    b.str(NFTA_RULE_TABLE, t);
                    b.str(NFTA_RULE_CHAIN, CHAIN);
                    b.nest(NFTA_RULE_EXPRESSIONS, exprs);
                },
            );
        };
        rule(&mut b, &|b| {
            expr_meta(b, NFT_META_NFPROTO, NFT_REG_1);
            expr_cmp_eq(b, NFT_REG_1, &[NFPROTO_IPV4]);
            expr_meta(b, NFT_META_L4PROTO, NFT_REG_1);
            expr_cmp_eq(b, NFT_REG_1, &[IPPROTO_TCP]);
            expr_meta(b, NFT_META_IIF, NFT_REG32_00);
            expr_payload(b, NFT_PAYLOAD_NETWORK_HEADER, 12, 4, NFT_REG32_00 + 1); // saddr
            expr_payload(b, NFT_PAYLOAD_NETWORK_HEADER, 16, 4, NFT_REG32_00 + 2); // daddr
            expr_payload(b, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, NFT_REG32_00 + 3); // dport
            expr_lookup(b, SET_ALLOWED, SET_ALLOWED_ID, NFT_REG32_00);
            expr_verdict(b, NF_ACCEPT);
        });
        rule(&mut b, &|b| {
            expr_meta(b, NFT_META_IIF, NFT_REG32_00);
            expr_lookup(b, SET_GUARDED, SET_GUARDED_ID, NFT_REG32_00);
            expr_verdict(b, NF_DROP);
        });
        b
    }

    /// Starts guarding `link`: from now on it delivers only what the table allows.
    pub fn admit(&self, link: &GuardedLink) -> Result<(), String> {
        transact(self.elements(NFT_MSG_NEWSETELEM, link))
            .map_err(|e| self.explain("adding a sandbox link", e))
    }

    /// Forgets `link` (call when it is removed; its ifindex may be reused).
    pub fn forget(&self, link: &GuardedLink) -> Result<(), String> {
        match transact(self.elements(NFT_MSG_DELSETELEM, link)) {
            Err(e) if e.raw_os_error() != Some(libc::ENOENT) => {
                Err(self.explain("removing a sandbox link", e))
            }
            _ => Ok(()),
        }
    }

    fn elements(&self, kind: u16, link: &GuardedLink) -> Batch {
        let flags = if kind == NFT_MSG_NEWSETELEM {
            NLM_F_CREATE
        } else {
            0
        };
        let mut b = Batch::new();
        b.message(kind, NFPROTO_INET, flags, |b| {
            b.str(NFTA_SET_ELEM_LIST_TABLE, &self.table);
            b.str(NFTA_SET_ELEM_LIST_SET, SET_GUARDED);
            b.nest(NFTA_SET_ELEM_LIST_ELEMENTS, |b| {
                element(b, &link.ifindex.to_ne_bytes());
            });
        });
        b.message(kind, NFPROTO_INET, flags, |b| {
            b.str(NFTA_SET_ELEM_LIST_TABLE, &self.table);
            b.str(NFTA_SET_ELEM_LIST_SET, SET_ALLOWED);
            b.nest(NFTA_SET_ELEM_LIST_ELEMENTS, |b| {
                for port in &self.ports {
                    element(b, &allowed_key(link, *port));
                }
            });
        });
        b
    }

    /// Removes the table (the runtime is going away).
    pub fn remove(&self) {
        let mut del = Batch::new();
        del.message(NFT_MSG_DELTABLE, NFPROTO_INET, 0, |b| {
            b.str(NFTA_TABLE_NAME, &self.table);
        });
        if let Err(e) = transact(del) {
            tracing::warn!(table = %self.table, error = %e, "could not remove the host guard table");
        }
    }

    fn explain(&self, what: &str, e: std::io::Error) -> String {
        let hint = match e.raw_os_error() {
            Some(libc::EPERM) => {
                "; the gateway needs CAP_NET_ADMIN (run it as root) to guard sandbox links"
            }
            Some(libc::EPROTONOSUPPORT) | Some(libc::EOPNOTSUPP) | Some(libc::ENOENT) => {
                "; the kernel needs nf_tables with inet tables and hash sets \
                 (CONFIG_NF_TABLES, CONFIG_NF_TABLES_INET)"
            }
            _ => "",
        };
        format!(
            "host guard (nftables table inet {}): {what}: {e}{hint}",
            self.table
        )
    }
}

/// The `allowed` set key of `link` and `port`: iif (host order) . saddr . daddr . dport, each
/// in a 32-bit register (network order for addresses and port, as the packet carries them).
fn allowed_key(link: &GuardedLink, port: u16) -> [u8; 16] {
    let mut key = [0u8; 16];
    key[0..4].copy_from_slice(&link.ifindex.to_ne_bytes());
    key[4..8].copy_from_slice(&link.sandbox.octets());
    key[8..12].copy_from_slice(&link.host.octets());
    key[12..14].copy_from_slice(&port.to_be_bytes());
    key
}

fn element(b: &mut Batch, key: &[u8]) {
    b.nest(NFTA_LIST_ELEM, |b| {
        b.nest(NFTA_SET_ELEM_KEY, |b| b.bytes(NFTA_DATA_VALUE, key));
    });
}

fn expr(b: &mut Batch, name: &str, data: impl FnOnce(&mut Batch)) {
    b.nest(NFTA_LIST_ELEM, |b| {
        b.str(NFTA_EXPR_NAME, name);
        b.nest(NFTA_EXPR_DATA, data);
    });
}

fn expr_meta(b: &mut Batch, key: u32, dreg: u32) {
    expr(b, "meta", |b| {
        b.u32(NFTA_META_DREG, dreg);
        b.u32(NFTA_META_KEY, key);
    });
}

fn expr_payload(b: &mut Batch, base: u32, offset: u32, len: u32, dreg: u32) {
    expr(b, "payload", |b| {
        b.u32(NFTA_PAYLOAD_DREG, dreg);
        b.u32(NFTA_PAYLOAD_BASE, base);
        b.u32(NFTA_PAYLOAD_OFFSET, offset);
        b.u32(NFTA_PAYLOAD_LEN, len);
    });
}

fn expr_cmp_eq(b: &mut Batch, sreg: u32, value: &[u8]) {
    expr(b, "cmp", |b| {
        b.u32(NFTA_CMP_SREG, sreg);
        b.u32(NFTA_CMP_OP, NFT_CMP_EQ);
        b.nest(NFTA_CMP_DATA, |b| b.bytes(NFTA_DATA_VALUE, value));
    });
}

fn expr_lookup(b: &mut Batch, set: &str, set_id: u32, sreg: u32) {
    expr(b, "lookup", |b| {
        b.str(NFTA_LOOKUP_SET, set);
        b.u32(NFTA_LOOKUP_SREG, sreg);
        b.u32(NFTA_LOOKUP_SET_ID, set_id);
    });
}

fn expr_verdict(b: &mut Batch, verdict: u32) {
    expr(b, "immediate", |b| {
        b.u32(NFTA_IMMEDIATE_DREG, NFT_REG_VERDICT);
        b.nest(NFTA_IMMEDIATE_DATA, |b| {
            b.nest(NFTA_DATA_VERDICT, |b| b.u32(NFTA_VERDICT_CODE, verdict));
        });
    });
}

/// An nfnetlink batch: BATCH_BEGIN, the messages (each asking for an ack), BATCH_END.
struct Batch {
    buf: Vec<u8>,
    seq: u32,
    acks: Vec<u32>,
}

impl Batch {
    fn new() -> Self {
        let mut b = Self {
            buf: Vec::with_capacity(1024),
            seq: 0,
            acks: Vec::new(),
        };
        b.control(NFNL_MSG_BATCH_BEGIN);
        b
    }

    fn header(&mut self, kind: u16, flags: u16, family: u8, res_id: u16) -> usize {
        let start = self.buf.len();
        self.seq += 1;
        self.buf.extend_from_slice(&0u32.to_ne_bytes()); // length, patched in `finish`
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        self.buf.extend_from_slice(&flags.to_ne_bytes());
        self.buf.extend_from_slice(&self.seq.to_ne_bytes());
        self.buf.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel's
        self.buf.push(family); // nfgenmsg
        self.buf.push(0); // NFNETLINK_V0
        self.buf.extend_from_slice(&res_id.to_be_bytes());
        start
    }

    fn finish(&mut self, start: usize) {
        let len = (self.buf.len() - start) as u32;
        self.buf[start..start + 4].copy_from_slice(&len.to_ne_bytes());
    }

    fn control(&mut self, kind: u16) {
        let start = self.header(kind, NLM_F_REQUEST, 0, NFNL_SUBSYS_NFTABLES);
        self.finish(start);
    }

    fn message(&mut self, kind: u16, family: u8, flags: u16, attrs: impl FnOnce(&mut Self)) {
        let kind = (NFNL_SUBSYS_NFTABLES << 8) | kind;
        let start = self.header(kind, NLM_F_REQUEST | NLM_F_ACK | flags, family, 0);
        self.acks.push(self.seq);
        attrs(self);
        self.finish(start);
    }

    fn attr(&mut self, kind: u16, payload: &[u8]) {
        let len = 4 + payload.len();
        self.buf
            .extend_from_slice(&u16::try_from(len).expect("small attribute").to_ne_bytes());
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        self.buf.extend_from_slice(payload);
        self.pad();
    }

    fn pad(&mut self) {
        while !self.buf.len().is_multiple_of(4) {
            self.buf.push(0);
        }
    }

    fn bytes(&mut self, kind: u16, v: &[u8]) {
        self.attr(kind, v);
    }

    fn str(&mut self, kind: u16, v: &str) {
        let mut z = v.as_bytes().to_vec();
        z.push(0);
        self.attr(kind, &z);
    }

    fn u32(&mut self, kind: u16, v: u32) {
        self.attr(kind, &v.to_be_bytes());
    }

    fn nest(&mut self, kind: u16, inner: impl FnOnce(&mut Self)) {
        let start = self.buf.len();
        self.buf.extend_from_slice(&[0, 0]);
        self.buf
            .extend_from_slice(&(kind | NLA_F_NESTED).to_ne_bytes());
        inner(self);
        let len = u16::try_from(self.buf.len() - start).expect("small nest");
        self.buf[start..start + 2].copy_from_slice(&len.to_ne_bytes());
    }

    fn end(mut self) -> (Vec<u8>, Vec<u32>) {
        self.control(NFNL_MSG_BATCH_END);
        (self.buf, self.acks)
    }
}

/// Sends one batch and waits for an acknowledgement of each message; the first error wins.
fn transact(batch: Batch) -> std::io::Result<()> {
    use rustix::net::{AddressFamily, SocketFlags, SocketType, netlink, sockopt};
    let (buf, mut pending) = batch.end();
    let fd: OwnedFd = rustix::net::socket_with(
        AddressFamily::NETLINK,
        SocketType::RAW,
        SocketFlags::CLOEXEC,
        Some(rustix::net::Protocol::from_raw(
            std::num::NonZeroU32::new(NETLINK_NETFILTER).expect("nonzero"),
        )),
    )?;
    sockopt::set_socket_timeout(&fd, sockopt::Timeout::Recv, Some(ACK_TIMEOUT))?;
    let kernel = netlink::SocketAddrNetlink::new(0, 0);
    rustix::net::sendto(&fd, &buf, rustix::net::SendFlags::empty(), &kernel)?;
    let mut first_error: Option<std::io::Error> = None;
    let mut rx = vec![0u8; 16 * 1024];
    while !pending.is_empty() {
        let n = rustix::net::recv(&fd, &mut rx[..], rustix::net::RecvFlags::empty())?.0;
        let mut msgs = &rx[..n];
        while msgs.len() >= 16 {
            let len = u32::from_ne_bytes(msgs[0..4].try_into().expect("4 bytes")) as usize;
            let kind = u16::from_ne_bytes(msgs[4..6].try_into().expect("2 bytes"));
            let seq = u32::from_ne_bytes(msgs[8..12].try_into().expect("4 bytes"));
            if len < 16 || len > msgs.len() {
                return Err(std::io::Error::other("malformed netlink answer"));
            }
            if kind == NLMSG_ERROR && len >= 20 {
                let code = i32::from_ne_bytes(msgs[16..20].try_into().expect("4 bytes"));
                pending.retain(|s| *s != seq);
                if code != 0 && first_error.is_none() {
                    first_error = Some(std::io::Error::from_raw_os_error(-code));
                }
            } else if kind == NLMSG_DONE {
                pending.clear();
            }
            msgs = &msgs[len.next_multiple_of(4).min(msgs.len())..];
        }
        // A failed batch is aborted: messages after the failing one are not acknowledged.
        if first_error.is_some() {
            break;
        }
    }
    first_error.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_are_padded_and_nests_sized() {
        let mut b = Batch::new();
        b.message(NFT_MSG_NEWTABLE, NFPROTO_INET, 0, |b| {
            b.str(NFTA_TABLE_NAME, "abc");
            b.nest(NFTA_CHAIN_HOOK, |b| b.u32(NFTA_HOOK_HOOKNUM, 7));
        });
        let (buf, acks) = b.end();
        assert_eq!(acks, [2]);
        assert_eq!(buf.len() % 4, 0);
        // begin (20) + message header (20) + "abc\0" (8) + nest (4 + 8) + end (20)
        assert_eq!(buf.len(), 20 + 20 + 8 + 12 + 20);
        let msg = &buf[20..60];
        assert_eq!(u32::from_ne_bytes(msg[0..4].try_into().unwrap()), 40);
        assert_eq!(
            u16::from_ne_bytes(msg[4..6].try_into().unwrap()),
            (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWTABLE
        );
        assert_eq!(&msg[20..28], &[8, 0, 1, 0, b'a', b'b', b'c', 0]);
        assert_eq!(u16::from_ne_bytes(msg[28..30].try_into().unwrap()), 12);
        assert_eq!(&msg[36..40], &7u32.to_be_bytes());
    }

    #[test]
    fn the_allowed_key_matches_the_packet_layout() {
        let link = GuardedLink {
            ifindex: 0x0102_0304,
            host: Ipv4Addr::new(10, 88, 0, 1),
            sandbox: Ipv4Addr::new(10, 88, 0, 2),
        };
        let key = allowed_key(&link, 3128);
        assert_eq!(&key[0..4], &0x0102_0304u32.to_ne_bytes());
        assert_eq!(&key[4..12], &[10, 88, 0, 2, 10, 88, 0, 1]);
        assert_eq!(&key[12..16], &[0x0c, 0x38, 0, 0]);
    }
}
