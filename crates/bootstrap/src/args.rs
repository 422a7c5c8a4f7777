//! The bootstrap's command line: `--go-fd N [--tcp-port P]... -- PROGRAM [ARGS...]`.
//!
//! The runtime builds it; it never comes from the server's environment, so a server (or an
//! image's `ENV`) cannot change how it is confined.

use std::ffi::OsString;

const MAX_PORTS: usize = 64;

#[derive(Debug, PartialEq, Eq)]
pub struct Args {
    /// fd from which one byte means "go" (EOF means the runtime gave up: abort).
    pub go_fd: i32,
    /// TCP ports the server may connect to (Landlock ABI ≥ 4).
    pub tcp_ports: Vec<u16>,
    /// The server's argv (`argv[0]` is the program, absolute or looked up in `PATH`).
    pub argv: Vec<OsString>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ArgsError {
    #[error("missing value after {0}")]
    MissingValue(&'static str),
    #[error("{flag} takes a number, got {value:?}")]
    NotANumber { flag: &'static str, value: OsString },
    #[error("unknown option {0:?} (usage: --go-fd N [--tcp-port P]... -- PROGRAM [ARGS...])")]
    Unknown(OsString),
    #[error("--go-fd is required")]
    NoGoFd,
    #[error("no program after `--`")]
    NoProgram,
    #[error("more than {MAX_PORTS} --tcp-port options")]
    TooManyPorts,
}

fn number<T: std::str::FromStr>(flag: &'static str, v: Option<OsString>) -> Result<T, ArgsError> {
    let v = v.ok_or(ArgsError::MissingValue(flag))?;
    v.to_str()
        .and_then(|s| s.parse().ok())
        .ok_or(ArgsError::NotANumber { flag, value: v })
}

impl Args {
    /// Parses the arguments after `argv[0]`.
    pub fn parse(mut it: impl Iterator<Item = OsString>) -> Result<Self, ArgsError> {
        let mut go_fd = None;
        let mut tcp_ports = Vec::new();
        while let Some(a) = it.next() {
            match a.to_str() {
                Some("--go-fd") => go_fd = Some(number("--go-fd", it.next())?),
                Some("--tcp-port") => {
                    if tcp_ports.len() == MAX_PORTS {
                        return Err(ArgsError::TooManyPorts);
                    }
                    tcp_ports.push(number("--tcp-port", it.next())?);
                }
                Some("--") => {
                    let argv: Vec<OsString> = it.collect();
                    if argv.first().is_none_or(|p| p.is_empty()) {
                        return Err(ArgsError::NoProgram);
                    }
                    return Ok(Self {
                        go_fd: go_fd.ok_or(ArgsError::NoGoFd)?,
                        tcp_ports,
                        argv,
                    });
                }
                _ => return Err(ArgsError::Unknown(a)),
            }
        }
        Err(ArgsError::NoProgram)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: &[&str]) -> Result<Args, ArgsError> {
        Args::parse(v.iter().map(OsString::from))
    }

    #[test]
    fn parses_a_full_command_line() {
        let a = parse(&["--go-fd", "5", "--tcp-port", "3128", "--", "/srv", "--x"]).unwrap();
        assert_eq!(a.go_fd, 5);
        assert_eq!(a.tcp_ports, [3128]);
        assert_eq!(a.argv, [OsString::from("/srv"), OsString::from("--x")]);
    }

    #[test]
    fn rejects_incomplete_or_unknown_input() {
        assert_eq!(parse(&["--", "/srv"]), Err(ArgsError::NoGoFd));
        assert_eq!(parse(&["--go-fd", "3"]), Err(ArgsError::NoProgram));
        assert_eq!(parse(&["--go-fd", "3", "--"]), Err(ArgsError::NoProgram));
        assert!(matches!(
            parse(&["--go-fd", "x", "--", "/a"]),
            Err(ArgsError::NotANumber { .. })
        ));
        assert!(matches!(
            parse(&["--tcp-port", "70000", "--", "/a"]),
            Err(ArgsError::NotANumber { .. })
        ));
        assert!(matches!(
            parse(&["--env", "A=B", "--", "/a"]),
            Err(ArgsError::Unknown(_))
        ));
    }
}
