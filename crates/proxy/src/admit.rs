//! Phases 1 and 2, both entry points: **identify** the caller by its source address, then
//! **admit** it under its per-sandbox connection cap.
//!
//! Contract: the only identity is the connection's source address (canonicalised, so an
//! IPv4-mapped IPv6 peer is its IPv4 address); an address that is not a live registration is
//! refused ([`DenyReason::UnknownSource`]) before anything else happens. An admitted connection
//! holds a [`ConnPermit`] for as long as it lives; past the cap it is refused
//! ([`DenyReason::TooManyConnections`], 429 on the explicit path).

use std::net::IpAddr;

use crate::audit::DenyReason;
use crate::identity::Registration;
use crate::limits::ConnPermit;
use crate::state::Shared;

/// Identify: the live registration behind `peer` (already canonical), if any. Callers that
/// must refuse an unknown source map `None` to [`DenyReason::UnknownSource`]; the DNS responder
/// answers it `REFUSED` instead.
pub(crate) fn identify(shared: &Shared, peer: IpAddr) -> Option<Registration> {
    shared.identities.resolve(peer)
}

/// Admit: a connection slot for `peer`, or the refusal when it already holds its maximum.
pub(crate) fn admit(shared: &Shared, peer: IpAddr) -> Result<ConnPermit, DenyReason> {
    shared
        .limiter
        .try_acquire(peer)
        .ok_or(DenyReason::TooManyConnections {
            limit: shared.limiter.max(),
        })
}
