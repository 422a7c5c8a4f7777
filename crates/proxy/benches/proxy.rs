//! Side-by-side figures on loopback: direct to the upstream, through this proxy, through
//! mitmproxy doing the same interception (header replacement), keep-alive and new-connection;
//! plus leaf mint time, first and cached.
//!
//! `cargo bench -p gigmcp-proxy --bench proxy` (mitmproxy is used if `MITMDUMP` points at a
//! `mitmdump` binary, default `target/mitmvenv/bin/mitmdump`).

#[path = "../tests/common/mod.rs"]
#[allow(unused_imports)]
mod common;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use gigmcp_proxy::{
    AuditSink, CertificateAuthority, EgressProxy, IdentityTable, PortPolicy, ProxyConfig,
    ProxyDeps, StaticCredentials, StaticResolver,
};
use tokio::net::TcpStream;

const LATENCY_SAMPLES: usize = 400;
const NEWCONN_SAMPLES: usize = 150;
const CONCURRENCY: usize = 8;
const THROUGHPUT_WINDOW: Duration = Duration::from_secs(3);

#[derive(Clone)]
enum Path {
    Direct {
        upstream: SocketAddr,
        ca: String,
    },
    Ours {
        proxy: SocketAddr,
        port: u16,
        ca: String,
    },
    Mitm {
        proxy: SocketAddr,
        port: u16,
        ca: String,
    },
}

impl Path {
    fn host_header(&self) -> String {
        match self {
            Path::Direct { upstream, .. } => format!("{API}:{}", upstream.port()),
            Path::Ours { port, .. } => format!("{API}:{port}"),
            Path::Mitm { port, .. } => format!("localhost:{port}"),
        }
    }

    async fn open(&self) -> Sender {
        match self {
            Path::Direct { upstream, ca } => {
                let s = TcpStream::connect(upstream).await.unwrap();
                s.set_nodelay(true).unwrap();
                http_over(s, API, ca).await.unwrap()
            }
            Path::Ours { proxy, port, ca } => {
                let mut s = connect_from(sandbox_a(), *proxy).await;
                s.set_nodelay(true).unwrap();
                let (st, text) = send_connect(&mut s, &format!("{API}:{port}")).await;
                assert_eq!(st, 200, "{text}");
                http_over(s, API, ca).await.unwrap()
            }
            Path::Mitm { proxy, port, ca } => {
                let mut s = TcpStream::connect(proxy).await.unwrap();
                s.set_nodelay(true).unwrap();
                let (st, text) = send_connect(&mut s, &format!("localhost:{port}")).await;
                assert_eq!(st, 200, "{text}");
                http_over(s, "localhost", ca).await.unwrap()
            }
        }
    }

    async fn one(&self, s: &mut Sender) {
        let req = request(
            &self.host_header(),
            "/",
            Some(&format!("Bearer {PLACEHOLDER_A}")),
        );
        let (status, _, body) = get(s, req).await;
        assert_eq!((status, body.as_str()), (200, "ok"));
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

async fn latency(path: &Path, keepalive: bool) -> Duration {
    let mut samples = Vec::new();
    if keepalive {
        let mut s = path.open().await;
        for _ in 0..20 {
            path.one(&mut s).await; // warm-up
        }
        for _ in 0..LATENCY_SAMPLES {
            let t = Instant::now();
            path.one(&mut s).await;
            samples.push(t.elapsed());
        }
    } else {
        for i in 0..NEWCONN_SAMPLES + 10 {
            let t = Instant::now();
            let mut s = path.open().await;
            path.one(&mut s).await;
            if i >= 10 {
                samples.push(t.elapsed());
            }
        }
    }
    median(samples)
}

async fn throughput(path: &Path, keepalive: bool) -> f64 {
    let deadline = Instant::now() + THROUGHPUT_WINDOW;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CONCURRENCY {
        let path = path.clone();
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            let mut s = path.open().await;
            while Instant::now() < deadline {
                if !keepalive && n > 0 {
                    s = path.open().await;
                }
                path.one(&mut s).await;
                n += 1;
            }
            n
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    total as f64 / start.elapsed().as_secs_f64()
}

struct Mitm {
    child: Child,
}

impl Drop for Mitm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_mitm(upstream_ca: &str) -> Option<(Mitm, SocketAddr, String)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target");
    let bin = std::env::var_os("MITMDUMP")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("mitmvenv/bin/mitmdump"));
    if !bin.exists() {
        eprintln!(
            "mitmdump not found at {}: skipping the mitmproxy column",
            bin.display()
        );
        return None;
    }
    let conf = root.join("mitmconf");
    std::fs::create_dir_all(&conf).unwrap();
    let ca_file = conf.join("upstream-ca.pem");
    std::fs::write(&ca_file, upstream_ca).unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let child = Command::new(&bin)
        .args([
            "--listen-host",
            "127.0.0.1",
            "--listen-port",
            &port.to_string(),
        ])
        .args(["--set", &format!("confdir={}", conf.display())])
        .args([
            "--set",
            &format!("ssl_verify_upstream_trusted_ca={}", ca_file.display()),
        ])
        .args(["--modify-headers", "/~q/Authorization/Bearer REALKEY-mitm"])
        .args(["--set", "connection_strategy=lazy", "-q"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let guard = Mitm { child };
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    for _ in 0..200 {
        if TcpStream::connect(addr).await.is_ok() {
            let ca = std::fs::read_to_string(conf.join("mitmproxy-ca-cert.pem")).ok()?;
            return Some((guard, addr, ca));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

fn mint_figures() {
    let ca = Arc::new(CertificateAuthority::generate("bench CA").unwrap());
    let cache = gigmcp_proxy::LeafCache::new(ca, provider(), 100_000);
    let mut first = Vec::new();
    for i in 0..300 {
        let host = format!("h{i}.bench.example");
        let t = Instant::now();
        cache.get_or_mint(&host).unwrap();
        first.push(t.elapsed());
    }
    let mut cached = Vec::new();
    for i in 0..100_000 {
        let host = format!("h{}.bench.example", i % 300);
        let t = Instant::now();
        cache.get_or_mint(&host).unwrap();
        cached.push(t.elapsed());
    }
    println!(
        "leaf mint: first (mint + rustls config) median {:?}; cached median {:?}",
        median(first),
        median(cached)
    );
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    mint_figures();
    rt.block_on(async {
        let upstream = start_upstream(&[API, "localhost"], false).await;
        let table = Arc::new(IdentityTable::new());
        table.insert(sandbox_a(), identity("alice", &[API], PLACEHOLDER_A, "k"));
        let creds = Arc::new(StaticCredentials::new());
        creds.insert("k", "api_key", KEY_A);
        let resolver = Arc::new(StaticResolver::new());
        resolver.insert(API, vec!["127.0.0.1".parse().unwrap()]);
        // A large channel drained continuously, as the gateway would.
        let (sink, mut rx) = AuditSink::channel(65_536);
        tokio::spawn(async move { while rx.recv().await.is_some() {} });
        let proxy = EgressProxy::new(
            ProxyConfig {
                extra_roots_pem: Some(upstream.ca_pem.clone()),
                ports: PortPolicy::Any,
                allowed_ranges: vec!["127.0.0.1/32".parse().unwrap()],
                ..ProxyConfig::default()
            },
            ProxyDeps {
                ca: Arc::new(CertificateAuthority::generate("bench egress CA").unwrap()),
                identities: table,
                credentials: creds,
                resolver,
                audit: sink,
            },
        )
        .unwrap();
        let listener = proxy.bind_connect("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let port = upstream.addr.port();
        let mut paths = vec![
            ("direct", Path::Direct { upstream: upstream.addr, ca: upstream.ca_pem.clone() }),
            ("gigmcp-proxy", Path::Ours { proxy: listener.local_addr(), port, ca: proxy.ca_pem().to_owned() }),
        ];
        let mitm = start_mitm(&upstream.ca_pem).await;
        if let Some((_, addr, ca)) = &mitm {
            paths.push(("mitmproxy", Path::Mitm { proxy: *addr, port, ca: ca.clone() }));
        }
        println!("| path | keep-alive median | keep-alive req/s (c={CONCURRENCY}) | new-conn median | new-conn req/s (c={CONCURRENCY}) |");
        println!("|---|---|---|---|---|");
        let mut base = None;
        for (name, path) in &paths {
            let ka = latency(path, true).await;
            let ka_rps = throughput(path, true).await;
            let nc = latency(path, false).await;
            let nc_rps = throughput(path, false).await;
            let added = match base {
                None => {
                    base = Some((ka, nc));
                    String::new()
                }
                Some((bka, bnc)) => format!(
                    " (+{:.0} µs / +{:.0} µs)",
                    ka.saturating_sub(bka).as_secs_f64() * 1e6,
                    nc.saturating_sub(bnc).as_secs_f64() * 1e6
                ),
            };
            println!(
                "| {name}{added} | {:.0} µs | {ka_rps:.0} | {:.0} µs | {nc_rps:.0} |",
                ka.as_secs_f64() * 1e6,
                nc.as_secs_f64() * 1e6
            );
        }
        // The upstream saw the real key through both interceptors.
        let seen = upstream.seen();
        assert!(seen.iter().any(|s| s.authorization.as_deref() == Some(&format!("Bearer {KEY_A}"))));
        if mitm.is_some() {
            assert!(seen.iter().any(|s| s.authorization.as_deref() == Some("Bearer REALKEY-mitm")));
        }
        let m = proxy.metrics();
        println!("proxy metrics after the run: {m:?}");
    });
}
