//! Name resolution, injectable so tests can make names resolve to chosen addresses.
//!
//! Contract: a [`Resolver`] only answers; every address it returns is still judged by the SSRF
//! guard (`vet.rs`), and the proxy connects to exactly those addresses, never resolving again.

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::sync::RwLock;

use crate::credentials::BoxFuture;

/// Resolves a hostname to addresses.
pub trait Resolver: Send + Sync {
    fn lookup<'a>(&'a self, host: &'a str, port: u16) -> BoxFuture<'a, io::Result<Vec<IpAddr>>>;
}

/// The host's resolver (`getaddrinfo` through tokio).
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemResolver;

impl Resolver for SystemResolver {
    fn lookup<'a>(&'a self, host: &'a str, port: u16) -> BoxFuture<'a, io::Result<Vec<IpAddr>>> {
        Box::pin(async move {
            let addrs = tokio::net::lookup_host((host, port)).await?;
            Ok(addrs.map(|a| a.ip()).collect())
        })
    }
}

/// A fixed name → addresses map (tests, or operator overrides). Unknown names fail with
/// `NotFound`.
#[derive(Debug, Default)]
pub struct StaticResolver {
    map: RwLock<HashMap<String, Vec<IpAddr>>>,
}

impl StaticResolver {
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes `host` (case-insensitive) resolve to `addrs`.
    pub fn insert(&self, host: &str, addrs: Vec<IpAddr>) {
        self.map
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(host.to_ascii_lowercase(), addrs);
    }
}

impl Resolver for StaticResolver {
    fn lookup<'a>(&'a self, host: &'a str, _port: u16) -> BoxFuture<'a, io::Result<Vec<IpAddr>>> {
        let found = self
            .map
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&host.to_ascii_lowercase())
            .cloned();
        Box::pin(async move {
            found.ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "name not known"))
        })
    }
}
