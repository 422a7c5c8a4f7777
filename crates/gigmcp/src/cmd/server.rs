//! `gigmcp server …`: installed servers.

use super::Context;
use anyhow::{Context as _, bail};
use clap::Subcommand;
use gigmcp_gateway::names;
use gigmcp_store::{NewServer, ServerSource};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

#[derive(Subcommand, Debug)]
pub enum ServerCmd {
    /// Install a local static binary as server NAME (the binary is copied into the data dir).
    Add {
        name: String,
        /// Path of a statically linked MCP server speaking stdio.
        #[arg(long)]
        binary: PathBuf,
    },
    /// List installed servers.
    List,
    /// Uninstall server NAME.
    Remove { name: String },
}

pub async fn run(cmd: ServerCmd, ctx: &Context) -> anyhow::Result<()> {
    match cmd {
        ServerCmd::Add { name, binary } => {
            names::validate("server name", &name)?;
            let meta = std::fs::metadata(&binary)
                .with_context(|| format!("--binary {}: cannot read it", binary.display()))?;
            if !meta.is_file() {
                bail!("--binary {}: not a regular file", binary.display());
            }
            if ctx.store.server_by_name(&name).await?.is_some() {
                bail!("server {name} already exists; remove it first or pick another name");
            }
            let dir = ctx.data_dir.join("servers").join(&name);
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            let dest = dir.join("server");
            let tmp = dir.join(".server.tmp");
            std::fs::copy(&binary, &tmp)
                .with_context(|| format!("copying {} into the data dir", binary.display()))?;
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o555))?;
            std::fs::rename(&tmp, &dest)?;
            let dest = std::fs::canonicalize(&dest)?;
            let server = ctx
                .store
                .create_server(NewServer {
                    name: name.clone(),
                    source: ServerSource::LocalBinary {
                        path: dest.display().to_string(),
                    },
                })
                .await?;
            println!("added server {} ({})", server.name, dest.display());
        }
        ServerCmd::List => {
            for s in ctx.store.list_servers().await? {
                let ServerSource::LocalBinary { path } = &s.source;
                println!("{}\tlocal binary\t{}", s.name, path);
            }
        }
        ServerCmd::Remove { name } => {
            ctx.store
                .delete_server(&name)
                .await
                .with_context(|| format!("removing server {name}"))?;
            let _ = std::fs::remove_dir_all(ctx.data_dir.join("servers").join(&name));
            println!("removed server {name}");
        }
    }
    Ok(())
}
