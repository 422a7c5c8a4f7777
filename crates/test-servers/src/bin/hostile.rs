//! `hostile`: an MCP server whose tools each try one escape from its sandbox and report, as
//! JSON, whether it worked: `{"escaped": bool, "detail": "..."}` (plus tool-specific fields).
//!
//! The sandbox tests call every tool and assert `escaped == false`. Raw system calls go through
//! a tiny inline-assembly shim (x86_64) so this crate needs no libc binding; on other
//! architectures the syscall tools report `unsupported`.

use gigmcp_test_servers::{Tool, serve};
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::time::{Duration, Instant};

mod sys {
    //! Raw Linux syscalls (x86_64 numbers). Returns the kernel's result: >= 0 or -errno.
    pub const OPEN: i64 = 2;
    pub const SOCKET: i64 = 41;
    pub const CONNECT: i64 = 42;
    pub const SOCKETPAIR: i64 = 53;
    pub const SETSOCKOPT: i64 = 54;
    pub const CLOSE: i64 = 3;
    pub const CLONE: i64 = 56;
    pub const EXIT: i64 = 60;
    pub const PTRACE: i64 = 101;
    pub const SETUID: i64 = 105;
    pub const IOCTL: i64 = 16;
    pub const MOUNT: i64 = 165;
    pub const UNSHARE: i64 = 272;
    pub const SETNS: i64 = 308;
    pub const KEYCTL: i64 = 250;
    pub const BPF: i64 = 321;
    pub const PERF_EVENT_OPEN: i64 = 298;
    pub const USERFAULTFD: i64 = 323;
    pub const IO_URING_SETUP: i64 = 425;
    pub const CLONE3: i64 = 435;
    pub const PROCESS_VM_READV: i64 = 310;
    pub const INIT_MODULE: i64 = 175;
    pub const KEXEC_LOAD: i64 = 246;
    pub const CHROOT: i64 = 161;
    pub const PIVOT_ROOT: i64 = 155;
    pub const LANDLOCK_CREATE_RULESET: i64 = 444;

    #[cfg(not(target_arch = "x86_64"))]
    pub const ENOSYS: i64 = 38;

    #[cfg(target_arch = "x86_64")]
    pub fn call(nr: i64, a: [u64; 6]) -> i64 {
        let ret: i64;
        // SAFETY: a raw system call. Callers pass either plain integers or pointers to live,
        // correctly sized buffers; the kernel validates everything else.
        unsafe {
            std::arch::asm!(
                "syscall",
                inlateout("rax") nr => ret,
                in("rdi") a[0], in("rsi") a[1], in("rdx") a[2],
                in("r10") a[3], in("r8") a[4], in("r9") a[5],
                lateout("rcx") _, lateout("r11") _,
                options(nostack),
            );
        }
        ret
    }

    #[cfg(not(target_arch = "x86_64"))]
    pub fn call(_nr: i64, _a: [u64; 6]) -> i64 {
        -ENOSYS
    }

    pub fn call0(nr: i64) -> i64 {
        call(nr, [0; 6])
    }
}

fn report(escaped: bool, detail: impl Into<String>) -> Result<String, String> {
    Ok(json!({"escaped": escaped, "detail": detail.into()}).to_string())
}

fn str_arg<'a>(args: &'a Value, key: &str) -> Result<&'a str, String> {
    args.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("argument `{key}` (string) is required"))
}

fn read_file(args: &Value) -> Result<String, String> {
    let path = str_arg(args, "path")?;
    match std::fs::File::open(path) {
        Ok(mut f) => {
            let mut buf = [0u8; 64];
            match f.read(&mut buf) {
                Ok(n) => report(true, format!("read {n} bytes of {path}")),
                Err(e) => report(false, format!("opened but cannot read {path}: {e}")),
            }
        }
        Err(e) => report(false, format!("{path}: {e}")),
    }
}

fn write_file(args: &Value) -> Result<String, String> {
    let path = str_arg(args, "path")?;
    let content = args
        .get("content")
        .and_then(Value::as_str)
        .unwrap_or("pwned");
    match std::fs::write(path, content) {
        Ok(()) => report(true, format!("wrote {path}")),
        Err(e) => report(false, format!("{path}: {e}")),
    }
}

fn exec_tmp(_: &Value) -> Result<String, String> {
    let target = "/tmp/copied-server";
    let me = std::fs::read("/proc/self/exe").map_err(|e| format!("reading own binary: {e}"))?;
    std::fs::write(target, me).map_err(|e| format!("writing {target}: {e}"))?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(target, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| format!("chmod {target}: {e}"))?;
    match std::process::Command::new(target)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .spawn()
    {
        Ok(mut child) => {
            let _ = child.kill();
            let _ = child.wait();
            report(true, format!("executed {target}"))
        }
        Err(e) => report(false, format!("exec {target}: {e}")),
    }
}

fn connect_tcp(args: &Value) -> Result<String, String> {
    let addr = str_arg(args, "addr")?;
    let sa: std::net::SocketAddr = addr.parse().map_err(|e| format!("bad addr {addr}: {e}"))?;
    match std::net::TcpStream::connect_timeout(&sa, Duration::from_secs(3)) {
        Ok(_) => report(true, format!("connected to {addr}")),
        Err(e) => report(false, format!("{addr}: {e}")),
    }
}

fn bind_tcp(_: &Value) -> Result<String, String> {
    match std::net::TcpListener::bind("0.0.0.0:8081") {
        Ok(_) => report(true, "listening on 0.0.0.0:8081"),
        Err(e) => report(false, format!("bind: {e}")),
    }
}

fn udp_send(args: &Value) -> Result<String, String> {
    let addr = str_arg(args, "addr")?;
    let sock = match std::net::UdpSocket::bind("0.0.0.0:0") {
        Ok(s) => s,
        Err(e) => return report(false, format!("udp socket: {e}")),
    };
    // A DNS query for example.com, so a resolver on the path would answer.
    let query: &[u8] =
        b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07example\x03com\x00\x00\x01\x00\x01";
    match sock.send_to(query, addr) {
        Ok(_) => {
            let _ = sock.set_read_timeout(Some(Duration::from_secs(2)));
            let mut buf = [0u8; 512];
            match sock.recv_from(&mut buf) {
                Ok((n, from)) => report(true, format!("{n}-byte answer from {from}")),
                Err(e) => report(false, format!("sent to {addr}, no answer: {e}")),
            }
        }
        Err(e) => report(false, format!("send to {addr}: {e}")),
    }
}

fn errno_report(what: &str, ret: i64) -> Result<String, String> {
    let escaped = ret >= 0;
    Ok(
        json!({"escaped": escaped, "ret": ret, "errno": if ret < 0 { -ret } else { 0 },
              "detail": format!("{what} returned {ret}")})
        .to_string(),
    )
}

fn raw_socket(args: &Value) -> Result<String, String> {
    const AF_INET: u64 = 2;
    const AF_PACKET: u64 = 17;
    const SOCK_RAW: u64 = 3;
    const IPPROTO_ICMP: u64 = 1;
    const ETH_P_ALL_BE: u64 = 0x0300;
    let kind = str_arg(args, "kind")?;
    let ret = match kind {
        "raw" => sys::call(sys::SOCKET, [AF_INET, SOCK_RAW, IPPROTO_ICMP, 0, 0, 0]),
        "packet" => sys::call(sys::SOCKET, [AF_PACKET, SOCK_RAW, ETH_P_ALL_BE, 0, 0, 0]),
        other => return Err(format!("kind must be raw or packet, not {other}")),
    };
    errno_report(&format!("socket({kind})"), ret)
}

fn int_arg(args: &Value, key: &str) -> Result<u64, String> {
    args.get(key)
        .and_then(Value::as_u64)
        .ok_or_else(|| format!("argument `{key}` (non-negative integer) is required"))
}

/// `socket(family, type, protocol)` (or `socketpair` with `"pair": true`) with raw numbers, so
/// any combination the kernel knows can be tried; the socket is closed again.
fn socket_tool(args: &Value) -> Result<String, String> {
    let (family, ty, protocol) = (
        int_arg(args, "family")?,
        int_arg(args, "type")?,
        int_arg(args, "protocol")?,
    );
    let pair = args.get("pair").and_then(Value::as_bool).unwrap_or(false);
    let ret = if pair {
        let mut fds = [0i32; 2];
        let r = sys::call(
            sys::SOCKETPAIR,
            [family, ty, protocol, fds.as_mut_ptr() as u64, 0, 0],
        );
        if r >= 0 {
            for fd in fds {
                sys::call(sys::CLOSE, [fd as u64, 0, 0, 0, 0, 0]);
            }
        }
        r
    } else {
        let r = sys::call(sys::SOCKET, [family, ty, protocol, 0, 0, 0]);
        if r >= 0 {
            sys::call(sys::CLOSE, [r as u64, 0, 0, 0, 0, 0]);
        }
        r
    };
    let call = if pair { "socketpair" } else { "socket" };
    errno_report(&format!("{call}({family}, {ty}, {protocol})"), ret)
}

/// A TCP-like connect over IPv4 with an explicit protocol number (e.g. 262, IPPROTO_MPTCP),
/// giving up after 3 s.
fn connect_proto(args: &Value) -> Result<String, String> {
    const AF_INET: u64 = 2;
    const SOCK_STREAM: u64 = 1;
    const SOL_SOCKET: u64 = 1;
    const SO_SNDTIMEO: u64 = 21;
    let addr = str_arg(args, "addr")?;
    let protocol = int_arg(args, "protocol")?;
    let sa: std::net::SocketAddrV4 = addr.parse().map_err(|e| format!("bad addr {addr}: {e}"))?;
    let fd = sys::call(sys::SOCKET, [AF_INET, SOCK_STREAM, protocol, 0, 0, 0]);
    if fd < 0 {
        return errno_report(&format!("socket(AF_INET, SOCK_STREAM, {protocol})"), fd);
    }
    // connect(2) gives up after SO_SNDTIMEO.
    let timeout: [i64; 2] = [3, 0];
    sys::call(
        sys::SETSOCKOPT,
        [
            fd as u64,
            SOL_SOCKET,
            SO_SNDTIMEO,
            timeout.as_ptr() as u64,
            16,
            0,
        ],
    );
    let mut sin = [0u8; 16];
    sin[0..2].copy_from_slice(&(AF_INET as u16).to_ne_bytes());
    sin[2..4].copy_from_slice(&sa.port().to_be_bytes());
    sin[4..8].copy_from_slice(&sa.ip().octets());
    let ret = sys::call(sys::CONNECT, [fd as u64, sin.as_ptr() as u64, 16, 0, 0, 0]);
    sys::call(sys::CLOSE, [fd as u64, 0, 0, 0, 0, 0]);
    errno_report(&format!("connect {addr} with protocol {protocol}"), ret)
}

/// ifreq for SIOCSIFADDR: 16-byte name + sockaddr_in.
fn set_ip(args: &Value) -> Result<String, String> {
    const SIOCSIFADDR: u64 = 0x8916;
    let ip: std::net::Ipv4Addr = str_arg(args, "ip")?
        .parse()
        .map_err(|e| format!("bad ip: {e}"))?;
    let iface = args.get("iface").and_then(Value::as_str).unwrap_or("eth0");
    let fd = sys::call(sys::SOCKET, [2, 2, 0, 0, 0, 0]); // AF_INET, SOCK_DGRAM
    if fd < 0 {
        return errno_report("socket(AF_INET, SOCK_DGRAM)", fd);
    }
    let mut ifr = [0u8; 40];
    let name = iface.as_bytes();
    ifr[..name.len().min(15)].copy_from_slice(&name[..name.len().min(15)]);
    ifr[16..18].copy_from_slice(&2u16.to_ne_bytes());
    ifr[20..24].copy_from_slice(&ip.octets());
    let ret = sys::call(
        sys::IOCTL,
        [fd as u64, SIOCSIFADDR, ifr.as_ptr() as u64, 0, 0, 0],
    );
    errno_report(&format!("SIOCSIFADDR {iface} {ip}"), ret)
}

fn syscall_tool(args: &Value) -> Result<String, String> {
    const CLONE_NEWNS: u64 = 0x0002_0000;
    const CLONE_NEWUSER: u64 = 0x1000_0000;
    const CLONE_NEWNET: u64 = 0x4000_0000;
    const SIGCHLD: u64 = 17;
    let name = str_arg(args, "name")?;
    let path = |s: &str| std::ffi::CString::new(s).expect("no NUL");
    let ret = match name {
        "unshare_user" => sys::call(sys::UNSHARE, [CLONE_NEWUSER, 0, 0, 0, 0, 0]),
        "unshare_net" => sys::call(sys::UNSHARE, [CLONE_NEWNET, 0, 0, 0, 0, 0]),
        "unshare_mount" => sys::call(sys::UNSHARE, [CLONE_NEWNS, 0, 0, 0, 0, 0]),
        "setns" => {
            let p = path("/proc/self/ns/net");
            let fd = sys::call(sys::OPEN, [p.as_ptr() as u64, 0, 0, 0, 0, 0]);
            if fd < 0 {
                fd
            } else {
                sys::call(sys::SETNS, [fd as u64, 0, 0, 0, 0, 0])
            }
        }
        "mount" => {
            let (src, dst, fs) = (path("none"), path("/tmp"), path("tmpfs"));
            sys::call(
                sys::MOUNT,
                [
                    src.as_ptr() as u64,
                    dst.as_ptr() as u64,
                    fs.as_ptr() as u64,
                    0,
                    0,
                    0,
                ],
            )
        }
        "chroot" => {
            let p = path("/tmp");
            sys::call(sys::CHROOT, [p.as_ptr() as u64, 0, 0, 0, 0, 0])
        }
        "pivot_root" => {
            let (a, b) = (path("/tmp"), path("/tmp"));
            sys::call(
                sys::PIVOT_ROOT,
                [a.as_ptr() as u64, b.as_ptr() as u64, 0, 0, 0, 0],
            )
        }
        // PTRACE_ATTACH to the sandbox's init.
        "ptrace" => sys::call(sys::PTRACE, [16, 1, 0, 0, 0, 0]),
        "process_vm_readv" => sys::call(sys::PROCESS_VM_READV, [1, 0, 0, 0, 0, 0]),
        // BPF_MAP_CREATE with a null attr: reaching the kernel would give EFAULT/EINVAL.
        "bpf" => sys::call(sys::BPF, [0, 0, 0, 0, 0, 0]),
        // KEYCTL_GET_KEYRING_ID of the session keyring, creating it.
        "keyctl" => sys::call(sys::KEYCTL, [0, (-3i64) as u64, 1, 0, 0, 0]),
        "perf_event_open" => sys::call(sys::PERF_EVENT_OPEN, [0, 0, u64::MAX, u64::MAX, 0, 0]),
        "userfaultfd" => sys::call0(sys::USERFAULTFD),
        "io_uring_setup" => {
            let params = [0u8; 120];
            sys::call(sys::IO_URING_SETUP, [1, params.as_ptr() as u64, 0, 0, 0, 0])
        }
        "init_module" => sys::call(sys::INIT_MODULE, [0, 0, 0, 0, 0, 0]),
        "kexec_load" => sys::call(sys::KEXEC_LOAD, [0, 0, 0, 0, 0, 0]),
        "setuid0" => sys::call(sys::SETUID, [0, 0, 0, 0, 0, 0]),
        "clone_newuser" => {
            let r = sys::call(sys::CLONE, [CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0, 0]);
            if r == 0 {
                sys::call(sys::EXIT, [0; 6]); // the child, should it exist, leaves at once
            }
            r
        }
        "clone3" => {
            let args = [0u64; 11];
            sys::call(sys::CLONE3, [args.as_ptr() as u64, 88, 0, 0, 0, 0])
        }
        other => return Err(format!("unknown syscall probe {other}")),
    };
    errno_report(name, ret)
}

fn status_field(status: &str, name: &str) -> String {
    status
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .map(|v| v.trim().to_string())
        .unwrap_or_default()
}

fn identity(_: &Value) -> Result<String, String> {
    let status = std::fs::read_to_string("/proc/self/status").map_err(|e| e.to_string())?;
    let fields: serde_json::Map<String, Value> = [
        "Uid",
        "Gid",
        "Groups",
        "CapInh",
        "CapPrm",
        "CapEff",
        "CapBnd",
        "CapAmb",
        "NoNewPrivs",
        "Seccomp",
        "Seccomp_filters",
    ]
    .iter()
    .map(|f| (f.to_string(), Value::String(status_field(&status, f))))
    .collect();
    // LANDLOCK_CREATE_RULESET_VERSION: the ABI the kernel offers.
    let abi = sys::call(sys::LANDLOCK_CREATE_RULESET, [0, 0, 1, 0, 0, 0]);
    Ok(json!({"escaped": false, "status": fields, "landlock_abi": abi}).to_string())
}

fn processes(_: &Value) -> Result<String, String> {
    let pids: Vec<u32> = std::fs::read_dir("/proc")
        .map_err(|e| e.to_string())?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    let cmdlines: Vec<String> = pids
        .iter()
        .map(|p| {
            std::fs::read(format!("/proc/{p}/cmdline"))
                .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
                .unwrap_or_default()
        })
        .collect();
    Ok(json!({"escaped": pids.len() > 3, "pids": pids, "cmdlines": cmdlines}).to_string())
}

/// The sandbox's IPv4 routes (`/proc/net/route`) and interfaces with an IPv6 route.
fn routes(_: &Value) -> Result<String, String> {
    let v4 = std::fs::read_to_string("/proc/net/route").map_err(|e| e.to_string())?;
    let hex_ip = |h: &str| {
        u32::from_str_radix(h, 16)
            .map(|n| std::net::Ipv4Addr::from(n.to_le_bytes()).to_string())
            .unwrap_or_default()
    };
    let routes: Vec<Value> = v4
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 8).then(|| {
                json!({"iface": f[0], "dest": hex_ip(f[1]),
                                         "gateway": hex_ip(f[2]), "mask": hex_ip(f[7])})
            })
        })
        .collect();
    let v6: Vec<String> = std::fs::read_to_string("/proc/net/ipv6_route")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().last().map(str::to_string))
        .filter(|i| i != "lo")
        .collect();
    Ok(json!({"escaped": false, "ipv4": routes, "ipv6_ifaces": v6}).to_string())
}

fn thread_bomb(args: &Value) -> Result<String, String> {
    let max = args.get("max").and_then(Value::as_u64).unwrap_or(10_000);
    let mut created = 0u64;
    let mut error = String::new();
    for _ in 0..max {
        match std::thread::Builder::new()
            .stack_size(64 * 1024)
            .spawn(std::thread::park)
        {
            Ok(_) => created += 1,
            Err(e) => {
                error = e.to_string();
                break;
            }
        }
    }
    Ok(json!({"escaped": created >= max, "created": created, "detail": error}).to_string())
}

fn memory_bomb(args: &Value) -> Result<String, String> {
    let mib = args.get("mib").and_then(Value::as_u64).unwrap_or(4096);
    let mut hold: Vec<Vec<u8>> = Vec::new();
    for _ in 0..mib {
        hold.push(vec![0x5a; 1 << 20]);
    }
    report(true, format!("holding {} MiB", hold.len()))
}

fn cpu_spin(args: &Value) -> Result<String, String> {
    let ms = args
        .get("ms")
        .and_then(Value::as_u64)
        .unwrap_or(1000)
        .min(10_000);
    let cpu_ns = || {
        std::fs::read_to_string("/proc/self/schedstat")
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let (start, cpu0) = (Instant::now(), cpu_ns());
    let mut x = 0u64;
    while start.elapsed() < Duration::from_millis(ms) {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
    }
    let wall_ms = start.elapsed().as_millis() as u64;
    let cpu_ms = (cpu_ns() - cpu0) / 1_000_000;
    Ok(json!({"escaped": false, "wall_ms": wall_ms, "cpu_ms": cpu_ms, "noise": x % 2}).to_string())
}

fn fill_tmp(_: &Value) -> Result<String, String> {
    let mut f = std::fs::File::create("/tmp/fill").map_err(|e| format!("create: {e}"))?;
    let chunk = vec![0xa5u8; 1 << 20];
    let mut written: u64 = 0;
    let error = loop {
        match f.write(&chunk) {
            Ok(0) => break "wrote 0".to_string(),
            Ok(n) => written += n as u64,
            Err(e) => break e.to_string(),
        }
        if written > (8u64 << 30) {
            break "no limit hit after 8 GiB".into();
        }
    };
    drop(f);
    let _ = std::fs::remove_file("/tmp/fill");
    Ok(json!({"escaped": written > (8u64 << 30), "written": written, "detail": error}).to_string())
}

fn main() {
    let obj = |props: Value| json!({"type": "object", "properties": props});
    let s = json!({"type": "string"});
    let n = json!({"type": "integer"});
    let tools = [
        (
            "read_file",
            "Reads a file.",
            obj(json!({"path": s})),
            read_file as fn(&Value) -> _,
        ),
        (
            "write_file",
            "Writes a file.",
            obj(json!({"path": s, "content": s})),
            write_file,
        ),
        (
            "exec_tmp",
            "Copies itself to /tmp and executes the copy.",
            obj(json!({})),
            exec_tmp,
        ),
        (
            "connect_tcp",
            "Opens a TCP connection.",
            obj(json!({"addr": s})),
            connect_tcp,
        ),
        (
            "bind_tcp",
            "Listens on a TCP port.",
            obj(json!({})),
            bind_tcp,
        ),
        (
            "udp_send",
            "Sends a DNS query over UDP.",
            obj(json!({"addr": s})),
            udp_send,
        ),
        (
            "raw_socket",
            "Opens a raw or packet socket.",
            obj(json!({"kind": s})),
            raw_socket,
        ),
        (
            "socket",
            "Creates a socket (or socketpair) from raw family, type and protocol numbers.",
            obj(json!({"family": n, "type": n, "protocol": n, "pair": {"type": "boolean"}})),
            socket_tool,
        ),
        (
            "connect_proto",
            "Connects over IPv4 with a stream socket of the given protocol number.",
            obj(json!({"addr": s, "protocol": n})),
            connect_proto,
        ),
        (
            "set_ip",
            "Changes an interface address.",
            obj(json!({"ip": s, "iface": s})),
            set_ip,
        ),
        (
            "syscall",
            "Tries one forbidden system call.",
            obj(json!({"name": s})),
            syscall_tool,
        ),
        (
            "identity",
            "Reports credentials and confinement.",
            obj(json!({})),
            identity,
        ),
        (
            "processes",
            "Lists visible processes.",
            obj(json!({})),
            processes,
        ),
        ("routes", "Lists the routing table.", obj(json!({})), routes),
        (
            "thread_bomb",
            "Starts threads until refused.",
            obj(json!({"max": n})),
            thread_bomb,
        ),
        (
            "memory_bomb",
            "Allocates memory.",
            obj(json!({"mib": n})),
            memory_bomb,
        ),
        (
            "cpu_spin",
            "Burns CPU for a while.",
            obj(json!({"ms": n})),
            cpu_spin,
        ),
        (
            "fill_tmp",
            "Writes /tmp until refused.",
            obj(json!({})),
            fill_tmp,
        ),
    ];
    let tools: Vec<Tool> = tools
        .into_iter()
        .map(|(name, description, input_schema, run)| Tool {
            name,
            description,
            input_schema,
            run,
        })
        .collect();
    serve("hostile", &tools);
}
