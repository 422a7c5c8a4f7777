//! Registry-relative document paths: `manifests/<name>/<version>.yaml` and
//! `manifests/<name>/<version>.toolspec.yaml`.

/// Which document a path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DocKind {
    Manifest,
    Toolspec,
}

/// A structurally valid document path. Name and version are *not* validated here (lint does
/// that, so that it can say which rule failed).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DocPath {
    pub name: String,
    pub version: String,
    pub kind: DocKind,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error(
        "`{0}` has an empty, `.` or `..` component, or is absolute: use paths relative to the registry root"
    )]
    Traversal(String),
    #[error(
        "`{0}` is not `manifests/<name>/<version>.yaml` or `manifests/<name>/<version>.toolspec.yaml`: move or remove it"
    )]
    Layout(String),
}

const TOOLSPEC_SUFFIX: &str = ".toolspec.yaml";
const MANIFEST_SUFFIX: &str = ".yaml";

impl DocPath {
    /// Parses a `/`-separated path relative to the registry root.
    pub fn parse(rel: &str) -> Result<Self, PathError> {
        let parts: Vec<&str> = rel.split('/').collect();
        if rel.starts_with('/')
            || rel.contains('\\')
            || parts
                .iter()
                .any(|p| p.is_empty() || *p == "." || *p == "..")
        {
            return Err(PathError::Traversal(rel.to_owned()));
        }
        let [root, name, file] = parts.as_slice() else {
            return Err(PathError::Layout(rel.to_owned()));
        };
        if *root != "manifests" {
            return Err(PathError::Layout(rel.to_owned()));
        }
        let (version, kind) = if let Some(v) = file.strip_suffix(TOOLSPEC_SUFFIX) {
            (v, DocKind::Toolspec)
        } else if let Some(v) = file.strip_suffix(MANIFEST_SUFFIX) {
            (v, DocKind::Manifest)
        } else {
            return Err(PathError::Layout(rel.to_owned()));
        };
        if version.is_empty() {
            return Err(PathError::Layout(rel.to_owned()));
        }
        Ok(Self {
            name: (*name).to_owned(),
            version: version.to_owned(),
            kind,
        })
    }

    /// The path of this name/version's document of `kind`.
    pub fn to_path(&self) -> String {
        Self::path_of(&self.name, &self.version, self.kind)
    }

    /// `manifests/<name>/<version>.yaml` or `.toolspec.yaml`.
    pub fn path_of(name: &str, version: &str, kind: DocKind) -> String {
        let suffix = match kind {
            DocKind::Manifest => MANIFEST_SUFFIX,
            DocKind::Toolspec => TOOLSPEC_SUFFIX,
        };
        format!("manifests/{name}/{version}{suffix}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_documents() {
        let m = DocPath::parse("manifests/ably/0.1.0.yaml").unwrap();
        assert_eq!(
            (m.name.as_str(), m.version.as_str(), m.kind),
            ("ably", "0.1.0", DocKind::Manifest)
        );
        let t = DocPath::parse("manifests/ably/0.1.0.toolspec.yaml").unwrap();
        assert_eq!((t.version.as_str(), t.kind), ("0.1.0", DocKind::Toolspec));
        assert_eq!(t.to_path(), "manifests/ably/0.1.0.toolspec.yaml");
    }

    #[test]
    fn rejects_traversal_and_stray_files() {
        for bad in [
            "manifests/../x/1.0.0.yaml",
            "/manifests/a/1.0.0.yaml",
            "manifests//1.0.0.yaml",
            "manifests/./a.yaml",
            "manifests\\a\\1.yaml",
        ] {
            assert!(
                matches!(DocPath::parse(bad), Err(PathError::Traversal(_))),
                "{bad}"
            );
        }
        for bad in [
            "manifests/a/README.md",
            "manifests/a/b/1.0.0.yaml",
            "other/a/1.0.0.yaml",
            "manifests/a/.yaml",
            "manifests/a/.toolspec.yaml",
        ] {
            assert!(
                matches!(DocPath::parse(bad), Err(PathError::Layout(_))),
                "{bad}"
            );
        }
    }
}
