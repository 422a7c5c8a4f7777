//! The hostile server tries every escape through the real runtime; each must fail while the
//! server (and the runtime) keep serving. Positive controls prove the probes can succeed.

mod common;

use common::*;
use gigmcp_sandbox::{ExitReason, Limits, SandboxRuntime, SandboxSpec};
use serde_json::{Value, json};
use std::net::TcpListener;

const BINARY_ID: u32 = 1;

fn hostile(name: &str, limits: Option<Limits>) -> SandboxSpec {
    let mut s = static_spec(name, "hostile");
    s.limits = limits;
    s
}

async fn call(c: &mut Client, tool: &str, args: Value) -> Value {
    let (text, is_error) = c
        .call(tool, args.clone())
        .await
        .unwrap_or_else(|| panic!("{tool} {args} got no answer"));
    assert!(!is_error, "{tool} {args}: {text}");
    serde_json::from_str(&text).unwrap()
}

async fn assert_contained(c: &mut Client, tool: &str, args: Value) -> Value {
    let v = call(c, tool, args.clone()).await;
    assert_eq!(v["escaped"], json!(false), "{tool} {args} escaped: {v}");
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_is_fully_dropped_and_confined() {
    let rt = runtime(config(BINARY_ID, false, vec![])).await;
    let (mut c, _h) = Client::start(rt.spawn(&hostile("ident", None)).await.unwrap()).await;
    let v = call(&mut c, "identity", json!({})).await;
    let s = &v["status"];
    for cap in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        assert_eq!(s[cap], json!("0000000000000000"), "{cap}: {v}");
    }
    assert_eq!(s["NoNewPrivs"], json!("1"));
    assert_eq!(s["Uid"], json!("65534\t65534\t65534\t65534"));
    assert_eq!(s["Gid"], json!("65534\t65534\t65534\t65534"));
    assert_eq!(s["Groups"], json!(""));
    assert_eq!(s["Seccomp"], json!("2"), "seccomp filter mode: {v}");
    assert_eq!(s["Seccomp_filters"], json!("3"), "{v}");
    assert!(v["landlock_abi"].as_i64().unwrap() >= 1, "{v}");
    // Landlock in force: /tmp is writable but nothing written there may run.
    let e = assert_contained(&mut c, "exec_tmp", json!({})).await;
    assert!(
        e["detail"].as_str().unwrap().contains("ermission denied"),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filesystem_escapes_fail() {
    let rt = runtime(config(BINARY_ID, false, vec![])).await;
    let data_dir = tempfile::tempdir().unwrap();
    let secret = data_dir.path().join("vault.key");
    std::fs::write(&secret, "secret").unwrap();
    let (mut a, _ha) = Client::start(rt.spawn(&hostile("fs-a", None)).await.unwrap()).await;
    let (mut b, _hb) = Client::start(rt.spawn(&hostile("fs-b", None)).await.unwrap()).await;
    // Control: /tmp is writable and readable back.
    let w = call(&mut b, "write_file", json!({"path": "/tmp/b-secret"})).await;
    assert_eq!(w["escaped"], json!(true), "{w}");
    let r = call(&mut b, "read_file", json!({"path": "/tmp/b-secret"})).await;
    assert_eq!(r["escaped"], json!(true), "{r}");
    for path in [
        "/etc/shadow",
        "/etc/hostname",
        secret.to_str().unwrap(),
        "/tmp/b-secret",
        "/proc/1/environ",
        "/proc/timer_list",
        "/proc/keys",
    ] {
        assert_contained(&mut a, "read_file", json!({"path": path})).await;
    }
    for path in [
        "/.gig/server",
        "/.gig/bootstrap",
        "/evil",
        "/dev/evil",
        "/proc/self/attr/current",
    ] {
        assert_contained(&mut a, "write_file", json!({"path": path})).await;
    }
    assert_contained(&mut a, "exec_tmp", json!({})).await;
    let p = assert_contained(&mut a, "processes", json!({})).await;
    assert!(p["pids"].as_array().unwrap().len() <= 3, "{p}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syscall_escapes_fail() {
    let rt = runtime(config(BINARY_ID, false, vec![])).await;
    let (mut c, _h) = Client::start(rt.spawn(&hostile("sys", None)).await.unwrap()).await;
    const EPERM: i64 = 1;
    const ENOSYS: i64 = 38;
    for name in [
        "unshare_user",
        "unshare_net",
        "unshare_mount",
        "setns",
        "mount",
        "chroot",
        "pivot_root",
        "ptrace",
        "process_vm_readv",
        "bpf",
        "keyctl",
        "perf_event_open",
        "userfaultfd",
        "io_uring_setup",
        "init_module",
        "kexec_load",
        "clone_newuser",
    ] {
        let v = assert_contained(&mut c, "syscall", json!({"name": name})).await;
        assert_eq!(v["errno"], json!(EPERM), "{name}: {v}");
    }
    // uid 0 does not even exist in the sandbox's user namespace.
    let v = assert_contained(&mut c, "syscall", json!({"name": "setuid0"})).await;
    assert!(v["errno"] == json!(EPERM) || v["errno"] == json!(22), "{v}");
    let v = assert_contained(&mut c, "syscall", json!({"name": "clone3"})).await;
    assert_eq!(v["errno"], json!(ENOSYS), "{v}");
    // Still serving after all of that.
    call(&mut c, "identity", json!({})).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network_escapes_fail_and_only_the_proxy_port_is_reachable() {
    let proxy = TcpListener::bind("0.0.0.0:0").unwrap();
    let api = TcpListener::bind("0.0.0.0:0").unwrap();
    let proxy_port = proxy.local_addr().unwrap().port();
    let api_port = api.local_addr().unwrap().port();
    let rt = runtime(config(BINARY_ID, true, vec![proxy_port])).await;
    let sa = rt.spawn(&hostile("net-a", None)).await.unwrap();
    let sb = rt.spawn(&hostile("net-b", None)).await.unwrap();
    let a_addr = sa.addresses().expect("network on");
    let b_addr = sb.addresses().expect("network on");
    assert_ne!(a_addr, b_addr);
    let (mut a, _ha) = Client::start(sa).await;
    let (_b, _hb) = Client::start(sb).await;
    // The only route is the connected /30; no default route, no IPv6 beyond loopback.
    let r = call(&mut a, "routes", json!({})).await;
    let net = std::net::Ipv4Addr::from(u32::from(a_addr.host) & !3);
    assert_eq!(
        r["ipv4"],
        json!([{"iface": "eth0", "dest": net.to_string(), "gateway": "0.0.0.0",
                "mask": "255.255.255.252"}]),
        "{r}"
    );
    assert_eq!(r["ipv6_ifaces"], json!([]), "{r}");
    // Control: the proxy port on the host side is reachable.
    let ok = call(
        &mut a,
        "connect_tcp",
        json!({"addr": format!("{}:{proxy_port}", a_addr.host)}),
    )
    .await;
    assert_eq!(ok["escaped"], json!(true), "proxy port unreachable: {ok}");
    for addr in [
        format!("{}:{api_port}", a_addr.host),
        format!("{}:{proxy_port}", b_addr.host),
        format!("{}:{proxy_port}", b_addr.sandbox),
        format!("127.0.0.1:{proxy_port}"),
        "1.1.1.1:443".to_string(),
        format!("[::1]:{proxy_port}"),
    ] {
        assert_contained(&mut a, "connect_tcp", json!({"addr": addr})).await;
    }
    assert_contained(&mut a, "bind_tcp", json!({})).await;
    // No UDP at all: not to the outside (DNS), not to host services on the host-side address.
    for addr in ["8.8.8.8:53".to_string(), format!("{}:53", a_addr.host)] {
        let u = assert_contained(&mut a, "udp_send", json!({"addr": addr})).await;
        assert!(
            u["detail"].as_str().unwrap().starts_with("udp socket"),
            "{u}"
        );
    }
    for kind in ["raw", "packet"] {
        assert_contained(&mut a, "raw_socket", json!({"kind": kind})).await;
    }
    for ip in [b_addr.sandbox.to_string(), "10.89.250.1".to_string()] {
        assert_contained(&mut a, "set_ip", json!({"ip": ip})).await;
    }
    drop(proxy);
    drop(api);
}

/// Linux protocol numbers the socket tests use.
const AF_UNIX: u64 = 1;
const AF_INET: u64 = 2;
const AF_INET6: u64 = 10;
const AF_NETLINK: u64 = 16;
const AF_PACKET: u64 = 17;
const AF_VSOCK: u64 = 40;
const AF_ALG: u64 = 38;
const AF_TIPC: u64 = 30;
const SOCK_STREAM: u64 = 1;
const SOCK_DGRAM: u64 = 2;
const IPPROTO_TCP: u64 = 6;
const IPPROTO_SCTP: u64 = 132;
const IPPROTO_MPTCP: u64 = 262;
const NETLINK_SOCK_DIAG: u64 = 4;
const EAFNOSUPPORT: i64 = 97;
const EPROTONOSUPPORT: i64 = 93;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sockets_are_refused_by_family_type_and_protocol() {
    // A host service on all interfaces: an MPTCP socket (not covered by Landlock's TCP rules
    // on this kernel) reached it from the sandbox before the protocol was checked.
    let proxy = TcpListener::bind("0.0.0.0:0").unwrap();
    let api = TcpListener::bind("0.0.0.0:0").unwrap();
    let proxy_port = proxy.local_addr().unwrap().port();
    let api_port = api.local_addr().unwrap().port();
    let rt = runtime(config(BINARY_ID, true, vec![proxy_port])).await;
    let sb = rt.spawn(&hostile("sockets", None)).await.unwrap();
    let host = sb.addresses().expect("network on").host;
    let (mut c, _h) = Client::start(sb).await;
    for port in [api_port, proxy_port] {
        let v = assert_contained(
            &mut c,
            "connect_proto",
            json!({"addr": format!("{host}:{port}"), "protocol": IPPROTO_MPTCP}),
        )
        .await;
        assert_eq!(v["errno"], json!(EPROTONOSUPPORT), "{v}");
    }
    // Controls: plain TCP (protocol 0 or IPPROTO_TCP) to the proxy port works.
    for protocol in [0, IPPROTO_TCP] {
        let v = call(
            &mut c,
            "connect_proto",
            json!({"addr": format!("{host}:{proxy_port}"), "protocol": protocol}),
        )
        .await;
        assert_eq!(v["escaped"], json!(true), "plain TCP refused: {v}");
    }
    let refused = [
        (AF_INET, SOCK_STREAM, IPPROTO_SCTP, EPROTONOSUPPORT),
        (AF_INET6, SOCK_STREAM, IPPROTO_MPTCP, EPROTONOSUPPORT),
        (AF_INET, SOCK_DGRAM, 0, EPROTONOSUPPORT),
        (AF_INET6, SOCK_DGRAM, 0, EPROTONOSUPPORT),
        (AF_NETLINK, SOCK_DGRAM, NETLINK_SOCK_DIAG, EPROTONOSUPPORT),
        (AF_PACKET, 3, 0, EAFNOSUPPORT),
        (AF_VSOCK, SOCK_STREAM, 0, EAFNOSUPPORT),
        (AF_ALG, 5, 0, EAFNOSUPPORT),
        (AF_TIPC, SOCK_STREAM, 0, EAFNOSUPPORT),
    ];
    for (family, ty, protocol, errno) in refused {
        let args = json!({"family": family, "type": ty, "protocol": protocol});
        let v = assert_contained(&mut c, "socket", args.clone()).await;
        assert_eq!(v["errno"], json!(errno), "{args}: {v}");
    }
    let pair = json!({"family": AF_TIPC, "type": SOCK_STREAM, "protocol": 0, "pair": true});
    let v = assert_contained(&mut c, "socket", pair).await;
    assert_eq!(v["errno"], json!(EAFNOSUPPORT), "{v}");
    for (family, ty, protocol, pair) in [
        (AF_INET, SOCK_STREAM, 0, false),
        (AF_INET6, SOCK_STREAM, IPPROTO_TCP, false),
        (AF_UNIX, SOCK_DGRAM, 0, false),
        (AF_UNIX, SOCK_STREAM, 0, true),
        (AF_NETLINK, SOCK_DGRAM, 0, false),
    ] {
        let args = json!({"family": family, "type": ty, "protocol": protocol, "pair": pair});
        let v = call(&mut c, "socket", args.clone()).await;
        assert_eq!(v["escaped"], json!(true), "{args} refused: {v}");
    }
    drop((proxy, api));
}

/// A UDP service on all interfaces that answers every datagram.
fn udp_echo() -> (std::net::UdpSocket, u16) {
    let sock = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
    let port = sock.local_addr().unwrap().port();
    let server = sock.try_clone().unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        while let Ok((n, from)) = server.recv_from(&mut buf) {
            let _ = server.send_to(&buf[..n], from);
        }
    });
    (sock, port)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_host_drops_what_an_unconfined_sandbox_sends_beyond_the_proxy_ports() {
    let proxy = TcpListener::bind("0.0.0.0:0").unwrap();
    let api = TcpListener::bind("0.0.0.0:0").unwrap();
    let (_udp, udp_port) = udp_echo();
    let proxy_port = proxy.local_addr().unwrap().port();
    let api_port = api.local_addr().unwrap().port();
    // A server past the bootstrap's layers: no Landlock, no seccomp.
    let mut cfg = config(BINARY_ID, true, vec![proxy_port]);
    cfg.bootstrap = bin_path("unconfined_bootstrap");
    let rt = runtime(cfg).await;
    let sa = rt.spawn(&hostile("unconfined-a", None)).await.unwrap();
    let sb = rt.spawn(&hostile("unconfined-b", None)).await.unwrap();
    let a = sa.addresses().expect("network on");
    let b = sb.addresses().expect("network on");
    let (mut c, _ha) = Client::start(sa).await;
    let (_cb, _hb) = Client::start(sb).await;
    let id = call(&mut c, "identity", json!({})).await;
    assert_eq!(id["status"]["Seccomp"], json!("0"), "{id}");
    // Control: the allowed port answers.
    let ok = call(
        &mut c,
        "connect_tcp",
        json!({"addr": format!("{}:{proxy_port}", a.host)}),
    )
    .await;
    assert_eq!(ok["escaped"], json!(true), "proxy port unreachable: {ok}");
    // A host service on all interfaces, on another port: dropped before it sees the SYN.
    for (tool, args) in [
        (
            "connect_tcp",
            json!({"addr": format!("{}:{api_port}", a.host)}),
        ),
        (
            "connect_proto",
            json!({"addr": format!("{}:{api_port}", a.host), "protocol": IPPROTO_MPTCP}),
        ),
        (
            "udp_send",
            json!({"addr": format!("{}:{udp_port}", a.host)}),
        ),
        ("udp_send", json!({"addr": format!("{}:53", a.host)})),
    ] {
        assert_contained(&mut c, tool, args).await;
    }
    // The other sandbox's host-side address is not routable from here, and its own guard
    // entry is not this sandbox's.
    assert_contained(
        &mut c,
        "connect_tcp",
        json!({"addr": format!("{}:{proxy_port}", b.host)}),
    )
    .await;
    drop((proxy, api));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resource_bombs_are_contained() {
    let rt = runtime(config(BINARY_ID, false, vec![])).await;
    let limits = Limits {
        memory_bytes: 64 << 20,
        pids: 32,
        cpu_millis: 100,
        tmp_bytes: 8 << 20,
    };
    let (mut c, h) = Client::start(rt.spawn(&hostile("bombs", Some(limits))).await.unwrap()).await;
    let t = assert_contained(&mut c, "thread_bomb", json!({"max": 1000})).await;
    assert!(t["created"].as_u64().unwrap() < 32, "{t}");
    let f = assert_contained(&mut c, "fill_tmp", json!({})).await;
    assert!(f["written"].as_u64().unwrap() <= 8 << 20, "{f}");
    let s = assert_contained(&mut c, "cpu_spin", json!({"ms": 1500})).await;
    let (cpu, wall) = (
        s["cpu_ms"].as_f64().unwrap(),
        s["wall_ms"].as_f64().unwrap(),
    );
    assert!(cpu / wall < 0.3, "CPU quota of 0.1 core not applied: {s}");
    // Memory: the bomb is OOM-killed; the sandbox ends and says why.
    assert!(c.call("memory_bomb", json!({"mib": 1024})).await.is_none());
    assert_eq!(h.wait().await, ExitReason::OutOfMemory);
    // The runtime keeps serving.
    let (mut c2, _h2) = Client::start(rt.spawn(&hostile("after", None)).await.unwrap()).await;
    call(&mut c2, "identity", json!({})).await;
}

/// Sandbox cgroups of the runtime named `cgroup_name` (v1 memory hierarchy, as on CI).
fn sandbox_cgroups(cgroup_name: &str) -> usize {
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    let mem = own
        .lines()
        .find_map(|l| {
            l.split_once(":memory:")
                .map(|(_, p)| p.trim_start_matches('/').to_string())
        })
        .unwrap();
    let parent = std::path::Path::new("/sys/fs/cgroup/memory")
        .join(mem)
        .join(cgroup_name);
    std::fs::read_dir(parent)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| e.path().is_dir())
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn a_tokio_runtime_ending_with_sandboxes_running_leaves_no_cgroup() {
    let cfg = config(BINARY_ID, true, vec![]);
    let cgroup_name = cfg.cgroup_name.clone();
    let tokio_rt = tokio::runtime::Runtime::new().unwrap();
    let (rt, pid) = tokio_rt.block_on(async {
        let rt = runtime(cfg).await;
        let sb = rt.spawn(&hostile("orphan", None)).await.unwrap();
        let pid = sb.pid();
        std::mem::forget(sb); // as if the gateway lost track of it
        (rt, pid)
    });
    assert_eq!(sandbox_cgroups(&cgroup_name), 1);
    drop(tokio_rt);
    assert_eq!(sandbox_cgroups(&cgroup_name), 0, "cgroup left behind");
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "bwrap {pid} still there (running or an unreaped zombie)"
    );
    drop(rt);
}

fn links_with_prefix(prefix: &str) -> Vec<String> {
    std::fs::read_dir("/sys/class/net")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with(prefix))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_leaves_no_process_link_or_cgroup() {
    let cfg = config(BINARY_ID, true, vec![]);
    let prefix = cfg.network.as_ref().unwrap().link_prefix.clone();
    let cgroup_name = cfg.cgroup_name.clone();
    // A link a crashed gateway left behind is removed at startup.
    let stale = format!("{prefix}999");
    let st = std::process::Command::new("ip")
        .args([
            "link",
            "add",
            &stale,
            "type",
            "veth",
            "peer",
            "name",
            &format!("{stale}p"),
        ])
        .status()
        .unwrap();
    assert!(st.success());
    let rt: SandboxRuntime = runtime(cfg).await;
    assert!(links_with_prefix(&prefix).is_empty(), "stale link kept");
    let mut handles = Vec::new();
    for i in 0..3 {
        let sb = rt
            .spawn(&hostile(&format!("life-{i}"), None))
            .await
            .unwrap();
        handles.push(Client::start(sb).await);
    }
    let pids: Vec<u32> = handles.iter().map(|(_, h)| h.pid()).collect();
    assert_eq!(links_with_prefix(&prefix).len(), 3);
    let cgroup_dirs = || {
        let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
        let mem = own
            .lines()
            .find_map(|l| {
                l.split_once(":memory:")
                    .map(|(_, p)| p.trim_start_matches('/').to_string())
            })
            .unwrap();
        let parent = std::path::Path::new("/sys/fs/cgroup/memory")
            .join(mem)
            .join(&cgroup_name);
        std::fs::read_dir(parent)
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .filter(|e| e.path().is_dir())
                    .count()
            })
            .unwrap_or(0)
    };
    assert_eq!(cgroup_dirs(), 3);
    rt.shutdown().await;
    assert_eq!(rt.running(), 0);
    for pid in pids {
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "bwrap {pid} alive"
        );
    }
    assert!(
        links_with_prefix(&prefix).is_empty(),
        "{:?}",
        links_with_prefix(&prefix)
    );
    assert_eq!(cgroup_dirs(), 0);
    for (_, h) in &handles {
        assert_eq!(h.wait().await, ExitReason::Killed);
    }
    // Dropping the last reference to the runtime removes its parent cgroup too.
    let parent_exists = || {
        let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
        let mem = own
            .lines()
            .find_map(|l| {
                l.split_once(":memory:")
                    .map(|(_, p)| p.trim_start_matches('/').to_string())
            })
            .unwrap();
        std::path::Path::new("/sys/fs/cgroup/memory")
            .join(mem)
            .join(&cgroup_name)
            .exists()
    };
    assert!(parent_exists());
    drop(handles);
    drop(rt);
    // the reapers hold the runtime until their cleanup is done, a moment after `wait` returns
    let mut gone = false;
    for _ in 0..200 {
        if !parent_exists() {
            gone = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(gone, "runtime's cgroup parent left behind");
}
