//! `gigmcp credential …`: per-user secrets for installed servers, encrypted by the vault.
//!
//! Until the control plane exists, a credential belongs to the owner of a profile. The secret is
//! read from standard input only (never from argv, where `ps` and shell history would see it).
//! A `type: basic` credential takes `--user` and its password on standard input; it is stored
//! sealed as `user:password`, and the proxy injects `base64(user:password)`.

use std::io::IsTerminal;

use anyhow::{Context as _, anyhow, bail};
use clap::Subcommand;
use gigmcp_registry::{CredentialType, Manifest};
use gigmcp_store::{AuditEvent, Server, Store};
use gigmcp_vault::{KeyError, Keyring, ReadSecretError, Zeroizing, put_secret, read_secret};

use super::Context;

/// Longest credential name accepted.
const MAX_CREDENTIAL_NAME: usize = 128;

#[derive(Subcommand, Debug)]
pub enum CredentialCmd {
    /// Store a secret for SERVER, owned by the owner of profile SLUG. The secret is read from
    /// standard input (one trailing newline dropped), e.g. `printf %s "$TOKEN" | gigmcp
    /// credential set github --profile work`.
    Set {
        /// Installed server the secret is for.
        server: String,
        /// Profile whose owner the secret belongs to.
        #[arg(long)]
        profile: String,
        /// Name of the credential within the server (letters, digits, `_`, `-`, `.`): for a
        /// server whose manifest declares credentials, the `id` of one of them (not needed when
        /// it declares only one); `default` for a server without.
        #[arg(long)]
        name: Option<String>,
        /// The user of a `type: basic` credential (its password is read from standard input;
        /// the proxy sends `Basic base64(user:password)`).
        #[arg(long)]
        user: Option<String>,
    },
    /// List stored credentials: owner, server, name, master-key id and dates (never secrets);
    /// with --profile, also the credentials its servers declare that are still missing.
    List {
        /// Only the credentials of this profile's owner.
        #[arg(long)]
        profile: Option<String>,
    },
    /// Delete a stored credential.
    Delete {
        /// Installed server the secret is for.
        server: String,
        /// Profile whose owner the secret belongs to.
        #[arg(long)]
        profile: String,
        /// Name of the credential (not needed when the server declares only one).
        #[arg(long)]
        name: Option<String>,
    },
}

pub async fn run(cmd: CredentialCmd, ctx: &Context) -> anyhow::Result<()> {
    let store = &ctx.store;
    match cmd {
        CredentialCmd::Set {
            server,
            profile,
            name,
            user,
        } => set(ctx, &server, &profile, name.as_deref(), user).await?,
        CredentialCmd::List { profile } => {
            let owner = match &profile {
                Some(slug) => Some(profile_owner(store, slug).await?.id),
                None => None,
            };
            let rows = store.list_credentials(owner).await?;
            if let Some(slug) = &profile {
                print_missing(store, slug, &rows).await?;
            }
            if rows.is_empty() {
                eprintln!("no credentials stored");
            }
            println!(
                "{:<16} {:<24} {:<24} {:<16} UPDATED (unix ms)",
                "OWNER", "SERVER", "NAME", "MASTER KEY"
            );
            for c in rows {
                println!(
                    "{:<16} {:<24} {:<24} {:<16} {}",
                    c.owner_name, c.server_name, c.credential_id, c.kek_id, c.updated_at
                );
            }
        }
        CredentialCmd::Delete {
            server,
            profile,
            name,
        } => {
            let owner = profile_owner(store, &profile).await?;
            let server = server_named(store, &server).await?;
            let name = credential_name(&server, name.as_deref())?;
            if !store.delete_credential(owner.id, server.id, &name).await? {
                bail!(
                    "no credential {name} for server {} owned by {}; see `gigmcp credential list`",
                    server.name,
                    owner.username
                );
            }
            store
                .append_audit(AuditEvent {
                    actor: "admin".into(),
                    action: "credential.delete".into(),
                    target: format!("{}/{}/{name}", owner.username, server.name),
                    detail: "{}".into(),
                })
                .await?;
            eprintln!("deleted credential {name} for server {}", server.name);
        }
    }
    Ok(())
}

/// The credentials `server`'s manifest declares (none without a manifest).
fn declared(server: &Server) -> anyhow::Result<Vec<gigmcp_registry::Credential>> {
    let Some(text) = server.manifest.as_deref() else {
        return Ok(Vec::new());
    };
    let manifest: Manifest = serde_json::from_str(text)
        .with_context(|| format!("the stored manifest of {}; reinstall it", server.name))?;
    Ok(manifest.credentials)
}

/// The credential `--name` stands for: the given one, else the only one the manifest declares,
/// else `default` for a server that declares none.
fn credential_name(server: &Server, given: Option<&str>) -> anyhow::Result<String> {
    if let Some(name) = given {
        return Ok(name.to_owned());
    }
    let declared = declared(server)?;
    match declared.as_slice() {
        [] => Ok("default".into()),
        [only] => Ok(only.id.clone()),
        many => {
            let ids: Vec<&str> = many.iter().map(|c| c.id.as_str()).collect();
            bail!(
                "server {} declares {} credentials: pass --name with one of: {}",
                server.name,
                ids.len(),
                ids.join(", ")
            )
        }
    }
}

/// Prints, for each server of profile `slug`, the declared credentials its owner has not
/// stored yet.
async fn print_missing(
    store: &Store,
    slug: &str,
    stored: &[gigmcp_store::CredentialMeta],
) -> anyhow::Result<()> {
    let Some(profile) = store.profile_by_slug(slug).await? else {
        return Ok(());
    };
    for server in store.profile_servers(profile.id).await? {
        for c in declared(&server)? {
            let have = stored
                .iter()
                .any(|s| s.server_name == server.name && s.credential_id == c.id);
            if !have {
                println!(
                    "MISSING {:<24} {:<24} `gigmcp credential set {} --profile {slug}{}`",
                    server.name,
                    c.id,
                    server.name,
                    if c.kind == CredentialType::Basic {
                        " --user USER".to_owned()
                    } else {
                        String::new()
                    }
                );
            }
        }
    }
    Ok(())
}

/// The type the server's manifest gives credential `name`; `None` when the server has no
/// manifest or its manifest declares no credentials (any name is then free-form). A manifest
/// that declares credentials must declare `name`.
fn declared_type(server: &Server, name: &str) -> anyhow::Result<Option<CredentialType>> {
    let Some(text) = server.manifest.as_deref() else {
        return Ok(None);
    };
    let manifest: Manifest = serde_json::from_str(text)
        .with_context(|| format!("the stored manifest of {}; reinstall it", server.name))?;
    if manifest.credentials.is_empty() {
        return Ok(None);
    }
    match manifest.credentials.iter().find(|c| c.id == name) {
        Some(c) => Ok(Some(c.kind)),
        None => {
            let ids: Vec<&str> = manifest.credentials.iter().map(|c| c.id.as_str()).collect();
            bail!(
                "server {}'s manifest declares no credential {name:?}; pass --name with one of: {}",
                server.name,
                ids.join(", ")
            )
        }
    }
}

/// A basic credential as stored: `user:password` (RFC 7617: no `:` in the user, no control
/// characters in either). The password is read from `input`; it may be empty (APIs that take
/// a key as the user).
fn basic_secret(user: &str, input: impl std::io::Read) -> anyhow::Result<Zeroizing<Vec<u8>>> {
    if user.is_empty() || user.contains(':') || user.chars().any(char::is_control) {
        bail!("--user must be non-empty, without `:` or control characters (RFC 7617)");
    }
    let password = match read_secret(input) {
        Ok(p) => p,
        Err(ReadSecretError::Empty) => Zeroizing::new(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    if password.iter().any(|b| b.is_ascii_control()) {
        bail!("the password holds control characters; pipe it without them (RFC 7617)");
    }
    let mut stored = Zeroizing::new(Vec::with_capacity(user.len() + 1 + password.len()));
    stored.extend_from_slice(user.as_bytes());
    stored.push(b':');
    stored.extend_from_slice(&password);
    if stored.len() > gigmcp_vault::MAX_SECRET_LEN {
        bail!(
            "user and password are longer than {} bytes together",
            gigmcp_vault::MAX_SECRET_LEN
        );
    }
    Ok(stored)
}

/// `credential set`: the secret (or a basic credential's password) from standard input.
async fn set(
    ctx: &Context,
    server: &str,
    profile: &str,
    name: Option<&str>,
    user: Option<String>,
) -> anyhow::Result<()> {
    let store = &ctx.store;
    if let Some(name) = name {
        validate_name(name)?;
    }
    let keyring = keyring(ctx)?;
    let owner = profile_owner(store, profile).await?;
    let server = server_named(store, server).await?;
    let name = credential_name(&server, name)?;
    let name = name.as_str();
    let basic = declared_type(&server, name)? == Some(CredentialType::Basic);
    if std::io::stdin().is_terminal() {
        let what = if basic { "password" } else { "secret" };
        eprintln!(
            "type the {what} for {}/{name}, then Enter (it will be visible; prefer a pipe):",
            server.name
        );
    }
    let secret = match (basic, user) {
        (true, Some(user)) => basic_secret(&user, std::io::stdin().lock())?,
        (true, None) => bail!(
            "credential {name} of server {} is `type: basic`: give --user USER and the \
             password on standard input",
            server.name
        ),
        (false, Some(_)) => bail!(
            "--user is for `type: basic` credentials, and {name} of server {} is not one: \
             drop --user and pipe the one secret on standard input",
            server.name
        ),
        (false, None) => read_secret(std::io::stdin().lock())?,
    };
    put_secret(store, keyring, owner.id, server.id, name, &secret)
        .await
        .with_context(|| format!("storing credential {name} for {}", server.name))?;
    audit(
        store,
        "credential.set",
        &owner.username,
        &server.name,
        name,
        keyring,
    )
    .await?;
    eprintln!(
        "stored credential {name} for server {} (owner {}, {} bytes, master key {})",
        server.name,
        owner.username,
        secret.len(),
        keyring.current_kek_id()
    );
    Ok(())
}

fn keyring(ctx: &Context) -> anyhow::Result<&Keyring> {
    ctx.keyring
        .as_ref()
        .ok_or_else(|| anyhow!(KeyError::Missing))
}

fn validate_name(name: &str) -> anyhow::Result<()> {
    let ok = !name.is_empty()
        && name.len() <= MAX_CREDENTIAL_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if !ok {
        bail!(
            "invalid credential name {name:?}: use 1-{MAX_CREDENTIAL_NAME} letters, digits, `_`, `-` or `.`"
        );
    }
    Ok(())
}

pub(super) async fn profile_owner(store: &Store, slug: &str) -> anyhow::Result<gigmcp_store::User> {
    let profile = store
        .profile_by_slug(slug)
        .await?
        .ok_or_else(|| anyhow!("no profile {slug}; see `gigmcp profile list`"))?;
    store
        .user(profile.owner)
        .await?
        .ok_or_else(|| anyhow!("profile {slug} has no owner in the database"))
}

async fn server_named(store: &Store, name: &str) -> anyhow::Result<Server> {
    store
        .server_by_name(name)
        .await?
        .ok_or_else(|| anyhow!("no server {name}; see `gigmcp server list`"))
}

async fn audit(
    store: &Store,
    action: &str,
    owner: &str,
    server: &str,
    name: &str,
    keyring: &Keyring,
) -> anyhow::Result<()> {
    store
        .append_audit(AuditEvent {
            actor: "admin".into(),
            action: action.into(),
            target: format!("{owner}/{server}/{name}"),
            detail: format!(r#"{{"kek_id":"{}"}}"#, keyring.current_kek_id()),
        })
        .await?;
    Ok(())
}
