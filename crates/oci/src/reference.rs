//! Image references: `host[:port]/repo@sha256:<hex>` (registry), `oci:<dir>@sha256:<hex>` (image layout)
//! and `host[:port]/repo:tag` (push targets).

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use crate::digest::Digest;
use crate::error::Error;

/// A registry host plus repository name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Repository {
    /// `host[:port]` as used in URLs (`docker.io` is mapped to its API host).
    pub host: String,
    /// Repository path (`library/alpine`).
    pub name: String,
}

impl fmt::Display for Repository {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.host, self.name)
    }
}

/// Where to pull an image from, always pinned by digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageSource {
    /// `host/repo@sha256:…` over the distribution API.
    Registry {
        /// Registry and repository.
        repository: Repository,
        /// Pinned manifest or index digest.
        digest: Digest,
    },
    /// `oci:<dir>@sha256:…` from an OCI image-layout directory.
    Layout {
        /// Layout directory (contains `oci-layout`, `index.json`, `blobs/`).
        dir: PathBuf,
        /// Pinned manifest or index digest.
        digest: Digest,
    },
}

impl ImageSource {
    /// The pinned digest.
    pub fn digest(&self) -> &Digest {
        match self {
            Self::Registry { digest, .. } | Self::Layout { digest, .. } => digest,
        }
    }
}

impl fmt::Display for ImageSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Registry { repository, digest } => write!(f, "{repository}@{digest}"),
            Self::Layout { dir, digest } => write!(f, "oci:{}@{digest}", dir.display()),
        }
    }
}

impl FromStr for ImageSource {
    type Err = Error;
    fn from_str(input: &str) -> Result<Self, Error> {
        let bad = |reason: &str| Error::InvalidReference {
            input: input.to_owned(),
            reason: reason.to_owned(),
        };
        let (name, digest) = input
            .rsplit_once('@')
            .ok_or_else(|| bad("images must be pinned by digest: append @sha256:<hex>"))?;
        let digest = Digest::parse(digest)?;
        if let Some(dir) = name.strip_prefix("oci:") {
            if dir.is_empty() {
                return Err(bad("empty layout directory"));
            }
            return Ok(Self::Layout {
                dir: PathBuf::from(dir),
                digest,
            });
        }
        // A tag before the digest is allowed and ignored (the digest wins), as docker does.
        let name = match name.rsplit_once(':') {
            Some((n, tag)) if !tag.contains('/') => n,
            _ => name,
        };
        Ok(Self::Registry {
            repository: parse_repository(input, name)?,
            digest,
        })
    }
}

/// A push target `host[:port]/repo:tag`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushTarget {
    /// Registry and repository.
    pub repository: Repository,
    /// Tag to put the manifest under.
    pub tag: String,
}

impl FromStr for PushTarget {
    type Err = Error;
    fn from_str(input: &str) -> Result<Self, Error> {
        let bad = |reason: &str| Error::InvalidReference {
            input: input.to_owned(),
            reason: reason.to_owned(),
        };
        let (name, tag) = match input.rsplit_once(':') {
            Some((n, t)) if !t.contains('/') && n.contains('/') => (n, t),
            _ => return Err(bad("push targets need a tag: host/repo:tag")),
        };
        validate_tag(tag).map_err(bad)?;
        Ok(Self {
            repository: parse_repository(input, name)?,
            tag: tag.to_owned(),
        })
    }
}

impl fmt::Display for PushTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.repository, self.tag)
    }
}

/// Validates an OCI tag (`[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`).
pub fn validate_tag(tag: &str) -> Result<(), &'static str> {
    let mut bytes = tag.bytes();
    let first_ok = bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !first_ok
        || tag.len() > 128
        || !bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
    {
        return Err("invalid tag: use [A-Za-z0-9_][A-Za-z0-9._-]{0,127}");
    }
    Ok(())
}

fn parse_repository(input: &str, name: &str) -> Result<Repository, Error> {
    let bad = |reason: &str| Error::InvalidReference {
        input: input.to_owned(),
        reason: reason.to_owned(),
    };
    let (host, repo) = name
        .split_once('/')
        .ok_or_else(|| bad("name the registry explicitly: host[:port]/repository"))?;
    let host_ok = !host.is_empty()
        && (host.contains('.') || host.contains(':') || host == "localhost")
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
    if !host_ok {
        return Err(bad(
            "the first component must be a registry host (with a dot or port, or localhost)",
        ));
    }
    let repo_ok = !repo.is_empty()
        && repo.len() <= 255
        && repo.split('/').all(|c| {
            !c.is_empty()
                && c.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
                })
                && c.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
                && c.bytes().last().is_some_and(|b| b.is_ascii_alphanumeric())
        });
    if !repo_ok {
        return Err(bad(
            "repository components are lowercase [a-z0-9] separated by . _ - and /",
        ));
    }
    let (host, repo) = if host == "docker.io" || host == "index.docker.io" {
        let repo = if repo.contains('/') {
            repo.to_owned()
        } else {
            format!("library/{repo}")
        };
        ("registry-1.docker.io".to_owned(), repo)
    } else {
        (host.to_owned(), repo.to_owned())
    };
    Ok(Repository { host, name: repo })
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn parses_registry_and_layout_sources() {
        let s: ImageSource = format!("127.0.0.1:5000/test/app@{D}").parse().unwrap();
        let ImageSource::Registry { repository, digest } = &s else {
            panic!("{s:?}")
        };
        assert_eq!(repository.host, "127.0.0.1:5000");
        assert_eq!(repository.name, "test/app");
        assert_eq!(digest.to_string(), D);
        let s: ImageSource = format!("ghcr.io/a/b:v1@{D}").parse().unwrap();
        assert!(
            matches!(s, ImageSource::Registry { ref repository, .. } if repository.name == "a/b")
        );
        let s: ImageSource = format!("docker.io/alpine@{D}").parse().unwrap();
        assert!(
            matches!(s, ImageSource::Registry { ref repository, .. } if repository.name == "library/alpine" && repository.host == "registry-1.docker.io")
        );
        let s: ImageSource = format!("oci:/tmp/x:y@{D}").parse().unwrap();
        assert!(
            matches!(s, ImageSource::Layout { ref dir, .. } if dir == &PathBuf::from("/tmp/x:y"))
        );
    }

    #[test]
    fn refuses_unpinned_or_ambiguous_references() {
        for bad in [
            "127.0.0.1:5000/test/app:latest",
            "alpine@sha256:00",
            &format!("alpine@{D}"),
            &format!("host.io/UPPER@{D}"),
            &format!("host.io/a/../b@{D}"),
        ] {
            assert!(bad.parse::<ImageSource>().is_err(), "{bad}");
        }
    }

    #[test]
    fn parses_push_targets() {
        let t: PushTarget = "localhost:5000/gig/echo:v1".parse().unwrap();
        assert_eq!(t.repository.host, "localhost:5000");
        assert_eq!(t.repository.name, "gig/echo");
        assert_eq!(t.tag, "v1");
        assert!("localhost:5000/gig/echo".parse::<PushTarget>().is_err());
        assert!(
            "localhost:5000/gig/echo:-bad"
                .parse::<PushTarget>()
                .is_err()
        );
    }
}
