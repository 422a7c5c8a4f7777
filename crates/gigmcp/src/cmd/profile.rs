//! `gigmcp profile …`: profiles and their tokens.

use super::Context;
use anyhow::{Context as _, anyhow};
use clap::Subcommand;
use gigmcp_gateway::token;
use gigmcp_store::{NewProfile, Slug};

#[derive(Subcommand, Debug)]
pub enum ProfileCmd {
    /// Create profile SLUG and print its bearer token (shown this once only).
    Create { slug: String },
    /// Add installed server NAME to profile SLUG.
    AddServer { slug: String, name: String },
    /// Remove server NAME from profile SLUG.
    RemoveServer { slug: String, name: String },
    /// Replace the token of profile SLUG and print the new one (the old one stops working).
    RotateToken { slug: String },
    /// Expose TOOL of SERVER in profile SLUG.
    EnableTool {
        slug: String,
        server: String,
        tool: String,
    },
    /// Hide TOOL of SERVER in profile SLUG: it is neither listed nor callable.
    DisableTool {
        slug: String,
        server: String,
        tool: String,
    },
    /// Forget the choice for TOOL (back to the default: the manifest's `default`, or exposed).
    ResetTool {
        slug: String,
        server: String,
        tool: String,
    },
    /// Turn meta-tools mode on or off for profile SLUG: the profile then exposes
    /// search_tools, load_tools and call_tool instead of every tool.
    MetaTools {
        slug: String,
        #[arg(value_parser = ["on", "off"])]
        mode: String,
    },
    /// Turn name prefixes on (the default) or off for profile SLUG. On: tools and prompts are
    /// named <server>_<name> and resources gigmcp://<server>/<uri>. Off: they keep their
    /// server's own names, which only a profile with one server may do.
    PrefixNames {
        slug: String,
        #[arg(value_parser = ["on", "off"])]
        mode: String,
    },
    /// List profiles with their servers and explicit tool choices.
    List,
}

// Long: one short arm per subcommand.
pub async fn run(cmd: ProfileCmd, ctx: &Context) -> anyhow::Result<()> {
    let store = &ctx.store;
    match cmd {
        ProfileCmd::Create { slug } => {
            let slug = Slug::new(&slug)?;
            let owner = ctx.operator().await?;
            let t = token::generate();
            store
                .create_profile(NewProfile {
                    slug: slug.clone(),
                    owner: owner.id,
                    token_hash: t.hash,
                })
                .await
                .with_context(|| format!("creating profile {slug}"))?;
            eprintln!(
                "created profile {slug}; endpoint /mcp/p/{slug}; its token follows (shown once, store it now):"
            );
            println!("{}", t.token);
        }
        ProfileCmd::AddServer { slug, name } => {
            let profile = store
                .profile_by_slug(&slug)
                .await?
                .ok_or_else(|| anyhow!("no profile {slug}; see `gigmcp profile list`"))?;
            let server = store
                .server_by_name(&name)
                .await?
                .ok_or_else(|| anyhow!("no server {name}; see `gigmcp server list`"))?;
            store
                .add_profile_server(profile.id, server.id)
                .await
                .with_context(|| format!("adding {name} to {slug}"))?;
            println!("profile {slug} now serves {name} (tools appear as {name}_<tool>)");
            print_setup_needed(store, &profile, &server).await?;
        }
        ProfileCmd::RemoveServer { slug, name } => {
            let profile = store
                .profile_by_slug(&slug)
                .await?
                .ok_or_else(|| anyhow!("no profile {slug}"))?;
            let server = store
                .server_by_name(&name)
                .await?
                .ok_or_else(|| anyhow!("no server {name}"))?;
            store.remove_profile_server(profile.id, server.id).await?;
            println!("removed {name} from {slug}");
        }
        ProfileCmd::RotateToken { slug } => {
            let t = token::generate();
            store
                .set_profile_token(&slug, t.hash)
                .await
                .with_context(|| format!("rotating the token of {slug}"))?;
            eprintln!("new token for {slug} (shown once; the old one no longer works):");
            println!("{}", t.token);
        }
        ProfileCmd::EnableTool { slug, server, tool } => {
            set_tool(ctx, &slug, &server, &tool, Some(true)).await?;
            println!("{slug}: {server}_{tool} enabled");
        }
        ProfileCmd::DisableTool { slug, server, tool } => {
            set_tool(ctx, &slug, &server, &tool, Some(false)).await?;
            println!("{slug}: {server}_{tool} disabled (neither listed nor callable)");
        }
        ProfileCmd::ResetTool { slug, server, tool } => {
            set_tool(ctx, &slug, &server, &tool, None).await?;
            println!("{slug}: {server}_{tool} back to its default");
        }
        ProfileCmd::MetaTools { slug, mode } => {
            let on = mode == "on";
            store
                .set_profile_meta_tools(&slug, on)
                .await
                .with_context(|| format!("setting meta-tools mode of {slug}"))?;
            println!("{slug}: meta-tools mode {mode}");
        }
        ProfileCmd::PrefixNames { slug, mode } => {
            store
                .set_profile_prefix_names(&slug, mode == "on")
                .await
                .with_context(|| format!("setting name prefixes of {slug}"))?;
            println!(
                "{slug}: name prefixes {mode} (clients see the change when they list again; \
                 a running server's resource notifications follow once it restarts)"
            );
        }
        ProfileCmd::List => {
            for p in store.list_profiles().await? {
                let servers = if p.servers.is_empty() {
                    "-".to_string()
                } else {
                    p.servers.join(",")
                };
                println!(
                    "{}\towner={}\tmeta_tools={}\tprefix_names={}\tservers={}",
                    p.slug, p.owner_name, p.meta_tools, p.prefix_names, servers
                );
                for sel in store.tool_selections(p.id).await? {
                    let server = store
                        .server(sel.server)
                        .await?
                        .map(|s| s.name)
                        .unwrap_or_default();
                    let state = if sel.enabled { "enabled" } else { "disabled" };
                    println!("  {server}_{}\t{state}", sel.tool);
                }
            }
        }
    }
    Ok(())
}

/// Records (or with `None` forgets) the choice for one tool of one server of a profile.
async fn set_tool(
    ctx: &Context,
    slug: &str,
    server: &str,
    tool: &str,
    enabled: Option<bool>,
) -> anyhow::Result<()> {
    if tool.is_empty() || tool.len() > 128 {
        anyhow::bail!(
            "invalid tool name {tool:?}: give the tool's name as the server reports it (1-128 characters)"
        );
    }
    let store = &ctx.store;
    let profile = store
        .profile_by_slug(slug)
        .await?
        .ok_or_else(|| anyhow!("no profile {slug}; see `gigmcp profile list`"))?;
    let server = store
        .server_by_name(server)
        .await?
        .ok_or_else(|| anyhow!("no server {server}; see `gigmcp server list`"))?;
    match enabled {
        Some(on) => store
            .set_tool_enabled(profile.id, server.id, tool, on)
            .await
            .with_context(|| {
                format!(
                    "is {} in profile {slug}? (`gigmcp profile add-server`)",
                    server.name
                )
            })?,
        None => {
            store
                .clear_tool_selection(profile.id, server.id, tool)
                .await?
        }
    }
    Ok(())
}

/// What the profile's owner still has to set for `server`: declared credentials not stored,
/// tenant hosts and install variables not set. Printed when the server joins a profile.
async fn print_setup_needed(
    store: &gigmcp_store::Store,
    profile: &gigmcp_store::Profile,
    server: &gigmcp_store::Server,
) -> anyhow::Result<()> {
    let Some(manifest) = server
        .manifest
        .as_deref()
        .and_then(|m| serde_json::from_str::<gigmcp_registry::Manifest>(m).ok())
    else {
        return Ok(());
    };
    let slug = &profile.slug;
    let name = &server.name;
    let stored = store.list_credentials(Some(profile.owner)).await?;
    for c in &manifest.credentials {
        if !stored
            .iter()
            .any(|s| s.server == server.id && s.credential_id == c.id)
        {
            eprintln!(
                "next: store {} for this profile's owner: `gigmcp credential set {name} --profile {slug}{}{}`",
                c.id,
                if manifest.credentials.len() > 1 {
                    format!(" --name {}", c.id)
                } else {
                    String::new()
                },
                if c.kind == gigmcp_registry::CredentialType::Basic {
                    " --user USER"
                } else {
                    ""
                }
            );
        }
    }
    let Ok(spec) = gigmcp_gateway::launch::toolpack::stored_toolspec(server) else {
        return Ok(());
    };
    let settings = store.install_settings(server.id, profile.owner).await?;
    for host in gigmcp_registry::settings::wildcard_only_hosts(&manifest, &spec) {
        let key = gigmcp_store::SettingKey::Host(host.clone());
        if !settings.iter().any(|s| s.key == key) {
            eprintln!(
                "next: point {host} at the owner's tenant: `gigmcp server set-host {name} {host}=<host> --profile {slug}`"
            );
        }
    }
    for var in gigmcp_registry::settings::install_vars(&spec) {
        let key = gigmcp_store::SettingKey::Var(var.clone());
        if !settings.iter().any(|s| s.key == key) {
            eprintln!(
                "next: set {var}: `gigmcp server set-var {name} {var}=<value> --profile {slug}`"
            );
        }
    }
    Ok(())
}
