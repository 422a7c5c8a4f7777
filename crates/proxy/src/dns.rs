//! A tiny DNS responder for the transparent path.
//!
//! Only standard queries with exactly one question are understood; names are parsed by hand
//! with strict bounds (no compression pointers in the question, labels ≤ 63 bytes, names ≤ 255
//! bytes, packets ≤ 512 bytes plus EDNS headroom). Allowlisted names resolve to the transparent
//! listener's address; every other name gets NXDOMAIN, so DNS cannot carry data out. The caller
//! is identified by its source address as on the other entry points (unknown: REFUSED); a
//! DNS-over-TCP connection is admitted under the same per-sandbox connection cap.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::timeout;

use crate::admit::{admit, identify};
use crate::audit::{DenyReason, Entry};
use crate::state::{Refusal, Shared};

/// Largest query accepted (classic 512 plus room for an EDNS OPT record).
pub const MAX_QUERY: usize = 1232;
const MAX_NAME: usize = 255;
const MAX_LABEL: usize = 63;
const TTL_SECS: u32 = 30;

pub const TYPE_A: u16 = 1;
pub const TYPE_AAAA: u16 = 28;
const CLASS_IN: u16 = 1;

/// Response codes used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rcode {
    NoError = 0,
    FormErr = 1,
    NxDomain = 3,
    NotImp = 4,
    Refused = 5,
}

/// A parsed single-question query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub id: u16,
    /// Opcode and RD bits of the request flags, echoed back.
    flags: u16,
    /// Lowercase name without trailing dot.
    pub name: String,
    pub qtype: u16,
    pub qclass: u16,
    /// End offset of the question section.
    question_end: usize,
}

/// Why a packet cannot be answered normally.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DnsError {
    /// Too short or too long to carry a header: dropped silently.
    #[error("packet of {0} bytes is not a DNS query")]
    Drop(usize),
    /// Header readable but the rest is not acceptable: answered with this code.
    #[error("query refused with {rcode:?}: {why}")]
    Reply {
        id: u16,
        flags: u16,
        rcode: Rcode,
        why: &'static str,
    },
}

fn u16_at(b: &[u8], i: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(i)?, *b.get(i + 1)?]))
}

/// Parses a query packet.
pub fn parse_query(pkt: &[u8]) -> Result<Query, DnsError> {
    if pkt.len() < 12 || pkt.len() > MAX_QUERY {
        return Err(DnsError::Drop(pkt.len()));
    }
    let id = u16_at(pkt, 0).unwrap_or(0);
    let raw_flags = u16_at(pkt, 2).unwrap_or(0);
    let flags = raw_flags & 0x7900; // opcode + RD
    let reply = |rcode, why| DnsError::Reply {
        id,
        flags,
        rcode,
        why,
    };
    if raw_flags & 0x8000 != 0 {
        return Err(DnsError::Drop(pkt.len())); // a response, not a query: never answer
    }
    if (raw_flags >> 11) & 0xf != 0 {
        return Err(reply(Rcode::NotImp, "only standard queries are supported"));
    }
    let qd = u16_at(pkt, 4).unwrap_or(0);
    let an = u16_at(pkt, 6).unwrap_or(0);
    let ns = u16_at(pkt, 8).unwrap_or(0);
    if qd != 1 || an != 0 || ns != 0 {
        return Err(reply(Rcode::FormErr, "exactly one question expected"));
    }
    let mut i = 12;
    let mut name = String::new();
    loop {
        let Some(&len) = pkt.get(i) else {
            return Err(reply(Rcode::FormErr, "truncated name"));
        };
        i += 1;
        if len == 0 {
            break;
        }
        if len & 0xc0 != 0 || usize::from(len) > MAX_LABEL {
            return Err(reply(Rcode::FormErr, "bad label"));
        }
        let Some(label) = pkt.get(i..i + usize::from(len)) else {
            return Err(reply(Rcode::FormErr, "truncated label"));
        };
        if !label
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_')
        {
            return Err(reply(Rcode::FormErr, "label with invalid characters"));
        }
        if !name.is_empty() {
            name.push('.');
        }
        name.extend(label.iter().map(|b| char::from(b.to_ascii_lowercase())));
        if name.len() > MAX_NAME {
            return Err(reply(Rcode::FormErr, "name too long"));
        }
        i += usize::from(len);
    }
    let (Some(qtype), Some(qclass)) = (u16_at(pkt, i), u16_at(pkt, i + 2)) else {
        return Err(reply(Rcode::FormErr, "truncated question"));
    };
    Ok(Query {
        id,
        flags,
        name,
        qtype,
        qclass,
        question_end: i + 4,
    })
}

/// Builds a response: the question echoed, plus one answer if `answer` is given.
fn build(
    pkt: &[u8],
    q_end: Option<usize>,
    id: u16,
    flags: u16,
    rcode: Rcode,
    answer: Option<IpAddr>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(&id.to_be_bytes());
    // QR, echoed opcode + RD, AA; RA clear (we do not recurse).
    let f = 0x8000 | flags | 0x0400 | rcode as u16;
    out.extend_from_slice(&f.to_be_bytes());
    out.extend_from_slice(&u16::from(q_end.is_some()).to_be_bytes());
    out.extend_from_slice(&u16::from(answer.is_some()).to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    if let Some(end) = q_end {
        out.extend_from_slice(&pkt[12..end]);
    }
    if let Some(ip) = answer {
        out.extend_from_slice(&[0xc0, 0x0c]); // pointer to the question name
        let (t, data): (u16, Vec<u8>) = match ip {
            IpAddr::V4(v4) => (TYPE_A, v4.octets().to_vec()),
            IpAddr::V6(v6) => (TYPE_AAAA, v6.octets().to_vec()),
        };
        out.extend_from_slice(&t.to_be_bytes());
        out.extend_from_slice(&CLASS_IN.to_be_bytes());
        out.extend_from_slice(&TTL_SECS.to_be_bytes());
        out.extend_from_slice(&(data.len() as u16).to_be_bytes());
        out.extend_from_slice(&data);
    }
    out
}

/// Decides the answer for one packet. `allowed` says whether the peer may resolve a name
/// (`None`: unknown peer). Returns the response (if any) and the refusal to audit (if any).
pub(crate) fn answer(
    pkt: &[u8],
    listener: IpAddr,
    allowed: impl FnOnce(&str) -> Option<bool>,
) -> (Option<Vec<u8>>, Option<(String, DenyReason)>) {
    let q = match parse_query(pkt) {
        Ok(q) => q,
        Err(DnsError::Drop(_)) => return (None, None),
        Err(DnsError::Reply {
            id,
            flags,
            rcode,
            why,
        }) => {
            return (
                Some(build(pkt, None, id, flags, rcode, None)),
                Some((String::new(), DenyReason::Malformed(format!("DNS: {why}")))),
            );
        }
    };
    let reply = |rcode, ans| Some(build(pkt, Some(q.question_end), q.id, q.flags, rcode, ans));
    if q.qclass != CLASS_IN {
        return (
            reply(Rcode::Refused, None),
            Some((
                q.name.clone(),
                DenyReason::Malformed("DNS: class is not IN".into()),
            )),
        );
    }
    match allowed(&q.name) {
        None => (
            reply(Rcode::Refused, None),
            Some((q.name.clone(), DenyReason::UnknownSource)),
        ),
        Some(false) => (
            reply(Rcode::NxDomain, None),
            Some((q.name.clone(), DenyReason::NotAllowlisted)),
        ),
        Some(true) => {
            let ans = match (q.qtype, listener) {
                (TYPE_A, IpAddr::V4(_)) | (TYPE_AAAA, IpAddr::V6(_)) => Some(listener),
                _ => None, // NODATA: the name exists, not with this type
            };
            (reply(Rcode::NoError, ans), None)
        }
    }
}

/// Answers one query from `peer` (auditing a refusal); `None` means drop it silently.
fn respond(shared: &Shared, peer: IpAddr, pkt: &[u8], listener: IpAddr) -> Option<Vec<u8>> {
    let started = Instant::now();
    let registration = identify(shared, peer);
    let identity = registration.as_ref().map(|r| &*r.identity);
    let (resp, refusal) = answer(pkt, listener, |name| {
        identity.map(|id| id.egress.allows(name))
    });
    if let Some((host, reason)) = refusal {
        shared.deny(
            Refusal {
                entry: Entry::Dns,
                peer,
                identity,
                host: &host,
                method: "DNS",
                path: "",
                status: None,
                duration: started.elapsed(),
            },
            reason,
        );
    }
    resp
}

/// The UDP responder loop.
pub(crate) async fn serve(shared: Arc<Shared>, socket: UdpSocket, listener: IpAddr) {
    let mut buf = vec![0u8; MAX_QUERY + 1];
    loop {
        let (n, peer): (usize, SocketAddr) = match socket.recv_from(&mut buf).await {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(error = %e, "DNS receive failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        if let Some(resp) = respond(&shared, peer.ip().to_canonical(), &buf[..n], listener) {
            let _ = socket.send_to(&resp, peer).await;
        }
    }
}

/// Queries answered on one TCP connection before it is closed.
const MAX_QUERIES_PER_CONNECTION: usize = 64;

/// One DNS-over-TCP connection (RFC 7766: each message prefixed by its 2-byte length). A
/// sandbox's resolver uses TCP (`options use-vc`), since its seccomp filter allows no UDP.
pub(crate) async fn serve_tcp_connection(
    shared: Arc<Shared>,
    mut stream: TcpStream,
    peer: SocketAddr,
    listener: IpAddr,
) {
    let peer_ip = peer.ip().to_canonical();
    // Counts against the sandbox's connection cap; over it, closed without an answer.
    let Ok(_permit) = admit(&shared, peer_ip) else {
        return;
    };
    let idle = shared.config.limits.handshake_timeout;
    let mut buf = vec![0u8; MAX_QUERY];
    for _ in 0..MAX_QUERIES_PER_CONNECTION {
        let mut len = [0u8; 2];
        match timeout(idle, stream.read_exact(&mut len)).await {
            Ok(Ok(_)) => {}
            _ => return,
        }
        let len = usize::from(u16::from_be_bytes(len));
        if len > MAX_QUERY {
            return;
        }
        match timeout(idle, stream.read_exact(&mut buf[..len])).await {
            Ok(Ok(_)) => {}
            _ => return,
        }
        let Some(resp) = respond(&shared, peer_ip, &buf[..len], listener) else {
            return;
        };
        let Ok(resp_len) = u16::try_from(resp.len()) else {
            return;
        };
        let mut out = Vec::with_capacity(resp.len() + 2);
        out.extend_from_slice(&resp_len.to_be_bytes());
        out.extend_from_slice(&resp);
        if !matches!(timeout(idle, stream.write_all(&out)).await, Ok(Ok(()))) {
            return;
        }
    }
}

/// Builds a query packet (tests and diagnostics).
pub fn build_query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut out = Vec::with_capacity(32 + name.len());
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&0x0100u16.to_be_bytes()); // RD
    out.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.').filter(|l| !l.is_empty()) {
        out.push(label.len().min(255) as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    out.extend_from_slice(&qtype.to_be_bytes());
    out.extend_from_slice(&CLASS_IN.to_be_bytes());
    out
}

/// The response code and the addresses in the answer section of a response we built.
pub fn parse_response(pkt: &[u8]) -> Option<(u16, u8, Vec<IpAddr>)> {
    let id = u16_at(pkt, 0)?;
    let rcode = (u16_at(pkt, 2)? & 0xf) as u8;
    let qd = u16_at(pkt, 4)?;
    let an = u16_at(pkt, 6)?;
    let mut i = 12;
    for _ in 0..qd {
        loop {
            let len = *pkt.get(i)?;
            i += 1;
            if len == 0 {
                break;
            }
            if len & 0xc0 != 0 {
                i += 1;
                break;
            }
            i += usize::from(len);
        }
        i += 4;
    }
    let mut addrs = Vec::new();
    for _ in 0..an {
        i += 2; // name pointer
        let t = u16_at(pkt, i)?;
        let len = usize::from(u16_at(pkt, i + 8)?);
        let data = pkt.get(i + 10..i + 10 + len)?;
        match (t, len) {
            (TYPE_A, 4) => addrs.push(IpAddr::from(<[u8; 4]>::try_from(data).ok()?)),
            (TYPE_AAAA, 16) => addrs.push(IpAddr::from(<[u8; 16]>::try_from(data).ok()?)),
            _ => {}
        }
        i += 10 + len;
    }
    Some((id, rcode, addrs))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LISTENER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 200, 0, 1));

    fn ask(pkt: &[u8], allow: Option<bool>) -> Option<(u16, u8, Vec<IpAddr>)> {
        let (resp, _) = answer(pkt, LISTENER, |_| allow);
        parse_response(&resp?)
    }

    #[test]
    fn allowed_name_gets_listener_address() {
        let q = build_query(7, "API.example.com", TYPE_A);
        assert_eq!(ask(&q, Some(true)), Some((7, 0, vec![LISTENER])));
        let q6 = build_query(8, "api.example.com", TYPE_AAAA);
        assert_eq!(ask(&q6, Some(true)), Some((8, 0, vec![])));
    }

    #[test]
    fn other_names_get_nxdomain_and_unknown_peers_refused() {
        let q = build_query(9, "exfil.attacker.example", TYPE_A);
        assert_eq!(ask(&q, Some(false)), Some((9, 3, vec![])));
        assert_eq!(ask(&q, None), Some((9, 5, vec![])));
    }

    #[test]
    fn parses_name_lowercase() {
        let q = parse_query(&build_query(1, "A.B.example.COM", TYPE_A)).unwrap();
        assert_eq!(q.name, "a.b.example.com");
        assert_eq!(q.qtype, TYPE_A);
    }

    #[test]
    fn malformed_packets_are_bounded() {
        assert!(matches!(parse_query(&[0; 5]), Err(DnsError::Drop(5))));
        assert!(matches!(
            parse_query(&vec![0; MAX_QUERY + 1]),
            Err(DnsError::Drop(_))
        ));
        let mut q = build_query(1, "a.example.com", TYPE_A);
        q[12] = 0xc0; // compression pointer in the question
        assert!(matches!(
            parse_query(&q),
            Err(DnsError::Reply {
                rcode: Rcode::FormErr,
                ..
            })
        ));
        let mut q = build_query(1, "a.example.com", TYPE_A);
        q.truncate(q.len() - 3);
        assert!(matches!(
            parse_query(&q),
            Err(DnsError::Reply {
                rcode: Rcode::FormErr,
                ..
            })
        ));
        let mut q = build_query(1, "a.example.com", TYPE_A);
        q[12] = 60; // label longer than the packet
        assert!(matches!(
            parse_query(&q),
            Err(DnsError::Reply {
                rcode: Rcode::FormErr,
                ..
            })
        ));
        let mut q = build_query(1, "a.example.com", TYPE_A);
        q[2] |= 0x80; // a response
        assert!(matches!(parse_query(&q), Err(DnsError::Drop(_))));
        let mut q = build_query(1, "a.example.com", TYPE_A);
        q[2] |= 0x10; // opcode 2
        assert!(matches!(
            parse_query(&q),
            Err(DnsError::Reply {
                rcode: Rcode::NotImp,
                ..
            })
        ));
        // Name over 255 bytes.
        let long = vec!["a".repeat(63); 5].join(".");
        assert!(matches!(
            parse_query(&build_query(1, &long, TYPE_A)),
            Err(DnsError::Reply {
                rcode: Rcode::FormErr,
                ..
            })
        ));
    }
}
