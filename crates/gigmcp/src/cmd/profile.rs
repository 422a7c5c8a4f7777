//! `gigmcp profile …`: profiles and their tokens.

use super::Context;
use anyhow::{Context as _, anyhow};
use clap::Subcommand;
use gigmcp_gateway::{names, token};
use gigmcp_store::NewProfile;

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
    /// List profiles with their servers.
    List,
}

pub async fn run(cmd: ProfileCmd, ctx: &Context) -> anyhow::Result<()> {
    let store = &ctx.store;
    match cmd {
        ProfileCmd::Create { slug } => {
            names::validate("slug", &slug)?;
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
        ProfileCmd::List => {
            for p in store.list_profiles().await? {
                let servers = if p.servers.is_empty() {
                    "-".to_string()
                } else {
                    p.servers.join(",")
                };
                println!(
                    "{}\towner={}\tmeta_tools={}\tservers={}",
                    p.slug, p.owner_name, p.meta_tools, servers
                );
            }
        }
    }
    Ok(())
}
