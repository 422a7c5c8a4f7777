//! `unconfined_bootstrap`: a stand-in for `gigmcp-bootstrap` that confines nothing. It takes the
//! same command line (`--go-fd N [--tcp-port P]... -- PROGRAM [ARGS...]`), waits for the go
//! byte, and execs the program with no Landlock, no seccomp filter and no further privilege
//! drop (bwrap has already made it uid 65534 without capabilities).
//!
//! Tests only: it stands for a server that found a way past the in-sandbox layers, to show that
//! the host-side layers (the host guard's nftables rules, route isolation) hold on their own.

use std::io::Read;
use std::os::unix::process::CommandExt;

fn main() {
    let mut args = std::env::args_os().skip(1);
    let mut go_fd = None;
    let mut argv = Vec::new();
    while let Some(a) = args.next() {
        match a.to_str() {
            Some("--go-fd") => go_fd = args.next(),
            Some("--tcp-port") => {
                args.next();
            }
            Some("--") => {
                argv = args.by_ref().collect();
            }
            _ => {
                eprintln!("unconfined_bootstrap: unexpected argument {a:?}");
                std::process::exit(125);
            }
        }
    }
    let Some(fd) = go_fd
        .and_then(|f| f.into_string().ok())
        .and_then(|f| f.parse::<i32>().ok())
        .filter(|fd| *fd > 2)
    else {
        eprintln!("unconfined_bootstrap: --go-fd N (N > 2) is required");
        std::process::exit(125);
    };
    // SAFETY: the runtime passes this fd open (the read end of its go pipe) and nothing else in
    // this process uses it; the File closes it once the byte is read.
    let mut go_pipe = unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    let mut byte = [0u8; 1];
    let go = go_pipe.read_exact(&mut byte);
    drop(go_pipe);
    if go.is_err() || byte[0] != b'G' {
        eprintln!("unconfined_bootstrap: no go signal on fd {fd}");
        std::process::exit(125);
    }
    let Some((program, rest)) = argv.split_first() else {
        eprintln!("unconfined_bootstrap: no program after --");
        std::process::exit(125);
    };
    let err = std::process::Command::new(program).args(rest).exec();
    eprintln!("unconfined_bootstrap: cannot execute {program:?}: {err}");
    std::process::exit(126);
}
