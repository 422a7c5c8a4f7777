//! The set of master keys: the current one encrypts, all of them decrypt.

use std::fmt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::envelope;
use crate::{Aad, KekId, KeyError, MasterKey, VaultError};

/// The current master key (64 hex characters).
pub const ENV_MASTER_KEY: &str = "GIG_MASTER_KEY";
/// A file holding the current master key.
pub const ENV_MASTER_KEY_FILE: &str = "GIG_MASTER_KEY_FILE";
/// Older master keys, comma separated (still decrypt; rotation moves secrets off them).
pub const ENV_MASTER_KEY_PREVIOUS: &str = "GIG_MASTER_KEY_PREVIOUS";
/// A file holding older master keys, separated by commas or newlines.
pub const ENV_MASTER_KEY_PREVIOUS_FILE: &str = "GIG_MASTER_KEY_PREVIOUS_FILE";

/// Where the master keys come from (normally the environment).
#[derive(Default, Clone)]
pub struct MasterKeySources {
    /// Value of `GIG_MASTER_KEY`.
    pub key: Option<Zeroizing<String>>,
    /// Value of `GIG_MASTER_KEY_FILE`.
    pub key_file: Option<PathBuf>,
    /// Value of `GIG_MASTER_KEY_PREVIOUS`.
    pub previous: Option<Zeroizing<String>>,
    /// Value of `GIG_MASTER_KEY_PREVIOUS_FILE`.
    pub previous_file: Option<PathBuf>,
}

impl fmt::Debug for MasterKeySources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKeySources")
            .field("key", &self.key.as_ref().map(|_| "<redacted>"))
            .field("key_file", &self.key_file)
            .field("previous", &self.previous.as_ref().map(|_| "<redacted>"))
            .field("previous_file", &self.previous_file)
            .finish()
    }
}

impl MasterKeySources {
    /// Reads the four `GIG_MASTER_KEY*` variables (empty values count as unset).
    pub fn from_env() -> Self {
        let text = |name: &str| {
            std::env::var(name)
                .ok()
                .filter(|v| !v.trim().is_empty())
                .map(Zeroizing::new)
        };
        let path = |name: &str| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        Self {
            key: text(ENV_MASTER_KEY),
            key_file: path(ENV_MASTER_KEY_FILE),
            previous: text(ENV_MASTER_KEY_PREVIOUS),
            previous_file: path(ENV_MASTER_KEY_PREVIOUS_FILE),
        }
    }

    /// True when a current key is configured (by value or file).
    pub fn has_key(&self) -> bool {
        self.key.is_some() || self.key_file.is_some()
    }
}

fn read_key_file(var: &str, path: &Path) -> Result<Zeroizing<String>, KeyError> {
    let read = |p: &Path| -> std::io::Result<Zeroizing<String>> {
        let meta = std::fs::metadata(p)?;
        if meta.len() > 64 * 1024 {
            return Err(std::io::Error::other(
                "file larger than 64 KiB; not a key file",
            ));
        }
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(
                file = %p.display(),
                "{var} file is readable by group/others; restrict it with chmod 600"
            );
        }
        Ok(Zeroizing::new(std::fs::read_to_string(p)?))
    };
    read(path).map_err(|source| KeyError::ReadFile {
        var: var.to_owned(),
        path: path.to_owned(),
        source,
    })
}

/// The master keys in use. Never printed: `Debug` shows KEK ids only.
#[derive(Clone)]
pub struct Keyring {
    current: MasterKey,
    previous: Vec<MasterKey>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let previous: Vec<KekId> = self.previous.iter().map(MasterKey::id).collect();
        f.debug_struct("Keyring")
            .field("current", &self.current.id())
            .field("previous", &previous)
            .finish()
    }
}

impl Keyring {
    /// A keyring with `current` for sealing and `previous` for opening older secrets.
    /// Keys equal to `current` or repeated are dropped from `previous`.
    pub fn new(current: MasterKey, previous: Vec<MasterKey>) -> Self {
        let mut kept: Vec<MasterKey> = Vec::with_capacity(previous.len());
        for key in previous {
            if key.id() != current.id() && kept.iter().all(|k| k.id() != key.id()) {
                kept.push(key);
            }
        }
        Self {
            current,
            previous: kept,
        }
    }

    /// Loads the keys, failing with a message naming the variable and how to fix it.
    pub fn from_sources(sources: MasterKeySources) -> Result<Self, KeyError> {
        let current = match (&sources.key, &sources.key_file) {
            (Some(_), Some(_)) => {
                return Err(KeyError::Ambiguous {
                    var: ENV_MASTER_KEY.into(),
                });
            }
            (Some(text), None) => MasterKey::from_hex(ENV_MASTER_KEY, text)?,
            (None, Some(path)) => {
                let text = read_key_file(ENV_MASTER_KEY_FILE, path)?;
                MasterKey::from_hex(
                    &format!("{ENV_MASTER_KEY_FILE} ({})", path.display()),
                    &text,
                )?
            }
            (None, None) => return Err(KeyError::Missing),
        };
        let mut previous = Vec::new();
        if let Some(text) = &sources.previous {
            previous.extend(parse_list(ENV_MASTER_KEY_PREVIOUS, text)?);
        }
        if let Some(path) = &sources.previous_file {
            let text = read_key_file(ENV_MASTER_KEY_PREVIOUS_FILE, path)?;
            let var = format!("{ENV_MASTER_KEY_PREVIOUS_FILE} ({})", path.display());
            previous.extend(parse_list(&var, &text)?);
        }
        Ok(Self::new(current, previous))
    }

    /// Loads the keys from the environment.
    pub fn from_env() -> Result<Self, KeyError> {
        Self::from_sources(MasterKeySources::from_env())
    }

    /// Id of the key new secrets are sealed under.
    pub fn current_kek_id(&self) -> KekId {
        self.current.id()
    }

    /// Ids of the older keys still accepted for opening.
    pub fn previous_kek_ids(&self) -> Vec<KekId> {
        self.previous.iter().map(MasterKey::id).collect()
    }

    /// Whether a key with this id is in the keyring.
    pub fn knows(&self, id: KekId) -> bool {
        self.key(id).is_ok()
    }

    fn key(&self, id: KekId) -> Result<&MasterKey, VaultError> {
        std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|k| k.id() == id)
            .ok_or(VaultError::UnknownKek {
                kek_id: id,
                current: self.current.id(),
            })
    }

    /// Seals a secret under a fresh DEK wrapped by the current key.
    pub fn seal(&self, plaintext: &[u8], aad: &Aad) -> Result<Vec<u8>, VaultError> {
        envelope::seal(&self.current, plaintext, aad)
    }

    /// Opens a secret sealed under any key of the keyring, for exactly this owner and purpose.
    pub fn open(&self, ciphertext: &[u8], aad: &Aad) -> Result<Zeroizing<Vec<u8>>, VaultError> {
        envelope::open(ciphertext, aad, |id| self.key(id))
    }

    /// Re-wraps only the DEK of a ciphertext under the current key (the body is unchanged).
    pub fn rewrap(&self, ciphertext: &[u8]) -> Result<Vec<u8>, VaultError> {
        envelope::rewrap(ciphertext, &self.current, |id| self.key(id))
    }
}

/// Parses a comma/whitespace separated list of hex keys.
fn parse_list(var: &str, text: &str) -> Result<Vec<MasterKey>, KeyError> {
    text.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .enumerate()
        .map(|(i, entry)| MasterKey::from_hex(&format!("{var} entry {}", i + 1), entry))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    const C: &str = "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc";

    fn src(key: Option<&str>, previous: Option<&str>) -> MasterKeySources {
        MasterKeySources {
            key: key.map(|k| Zeroizing::new(k.to_owned())),
            previous: previous.map(|k| Zeroizing::new(k.to_owned())),
            ..Default::default()
        }
    }

    #[test]
    fn missing_key_says_how_to_make_one() {
        let e = Keyring::from_sources(MasterKeySources::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("GIG_MASTER_KEY") && e.contains("openssl rand -hex 32"),
            "{e}"
        );
    }

    #[test]
    fn previous_keys_are_parsed_and_deduplicated() {
        let ring =
            Keyring::from_sources(src(Some(A), Some(&format!("{B}, {C},{A} ,{B}")))).unwrap();
        assert_eq!(ring.previous_kek_ids().len(), 2);
        let e = Keyring::from_sources(src(Some(A), Some(&format!("{B},xyz")))).unwrap_err();
        assert!(
            e.to_string().contains("GIG_MASTER_KEY_PREVIOUS entry 2"),
            "{e}"
        );
    }

    #[test]
    fn key_and_file_together_are_ambiguous() {
        let mut s = src(Some(A), None);
        s.key_file = Some("/nonexistent".into());
        let e = Keyring::from_sources(s).unwrap_err().to_string();
        assert!(e.contains("GIG_MASTER_KEY_FILE"), "{e}");
    }

    #[test]
    fn keys_load_from_files() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("key");
        let prev = dir.path().join("prev");
        std::fs::write(&key, format!("{A}\n")).unwrap();
        std::fs::write(&prev, format!("{B}\n{C}\n")).unwrap();
        let ring = Keyring::from_sources(MasterKeySources {
            key_file: Some(key),
            previous_file: Some(prev),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            ring.current_kek_id(),
            MasterKey::from_hex("t", A).unwrap().id()
        );
        assert_eq!(ring.previous_kek_ids().len(), 2);
        let missing = MasterKeySources {
            key_file: Some(dir.path().join("nope")),
            ..Default::default()
        };
        let e = Keyring::from_sources(missing).unwrap_err().to_string();
        assert!(
            e.contains("GIG_MASTER_KEY_FILE") && e.contains("nope"),
            "{e}"
        );
    }

    #[test]
    fn sources_debug_hides_values() {
        let shown = format!("{:?}", src(Some(A), Some(B)));
        assert!(
            !shown.contains("aaaa") && !shown.contains("bbbb"),
            "{shown}"
        );
    }
}
