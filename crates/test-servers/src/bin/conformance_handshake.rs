//! `conformance_handshake`: the `conformance` fixture as a server of the handshake era only: it
//! refuses `server/discover`, so a client (the gateway) must initialize it.
#![forbid(unsafe_code)]

#[allow(dead_code)]
#[path = "conformance.rs"]
mod fixture;

fn main() {
    fixture::run(false);
}
