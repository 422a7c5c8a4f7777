//! `twenty_stateless`: the `twenty` server, also speaking the stateless revision (2026-07-28):
//! it answers `server/discover`, so the gateway drives it statelessly.
#![forbid(unsafe_code)]

#[allow(dead_code)]
#[path = "twenty.rs"]
mod twenty;

fn main() {
    twenty::run(gigmcp_test_servers::Eras::Both);
}
