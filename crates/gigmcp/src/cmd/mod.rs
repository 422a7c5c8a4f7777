//! Command-line interface.

mod credential;
mod install;
mod profile;
mod registry;
mod serve;
mod server;
mod toolpack;
mod vault;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use gigmcp_gateway::config::RawConfig;
use gigmcp_store::{Role, Store, StoreUrl, User};
use gigmcp_vault::{Keyring, MasterKeySources};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "gigmcp",
    version,
    about = "Gig'MCP: run anyone's MCP server safely, behind one gateway"
)]
pub struct Cli {
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub registry: registry::RegistryArgs,
    /// Log as JSON lines instead of human-readable text.
    #[arg(long, global = true, env = "GIG_LOG_JSON")]
    pub log_json: bool,
    #[command(subcommand)]
    pub command: Command,
}

/// Where the gateway keeps its state (shared by every command).
#[derive(Args, Debug, Clone)]
pub struct StoreArgs {
    /// Directory for the SQLite database and copies of server binaries.
    #[arg(
        long,
        global = true,
        env = "GIG_DATA_DIR",
        default_value = "./gigmcp-data"
    )]
    pub data_dir: String,
    /// PostgreSQL URL (postgres://…); unset means SQLite in the data dir.
    #[arg(long, global = true, env = "GIG_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// File holding the PostgreSQL URL (for secrets mounted as files).
    #[arg(
        long,
        global = true,
        env = "GIG_DATABASE_URL_FILE",
        conflicts_with = "database_url"
    )]
    pub database_url_file: Option<PathBuf>,
}

impl StoreArgs {
    pub fn database_url(&self) -> anyhow::Result<Option<String>> {
        if let Some(path) = &self.database_url_file {
            let url = std::fs::read_to_string(path).with_context(|| {
                format!("GIG_DATABASE_URL_FILE={}: cannot read it; give a readable file holding the URL", path.display())
            })?;
            return Ok(Some(url.trim().to_string()));
        }
        Ok(self.database_url.clone())
    }

    pub fn url(&self) -> anyhow::Result<StoreUrl> {
        let data_dir = PathBuf::from(&self.data_dir);
        Ok(StoreUrl::from_setting(
            self.database_url()?.as_deref(),
            &data_dir,
        )?)
    }
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the gateway.
    Serve(Box<serve::ServeArgs>),
    /// Manage installed servers (install from the registry index, add by hand, update, remove).
    #[command(subcommand)]
    Server(server::ServerCmd),
    /// The catalogue of the signed registry index: list, show, refresh, import.
    #[command(subcommand)]
    Registry(registry::RegistryCmd),
    /// Manage profiles (each one MCP endpoint with its own token).
    #[command(subcommand)]
    Profile(profile::ProfileCmd),
    /// Manage per-user secrets for servers (encrypted with the master key).
    #[command(subcommand)]
    Credential(credential::CredentialCmd),
    /// Master-key status and rotation.
    #[command(subcommand)]
    Vault(vault::VaultCmd),
}

/// What every operator command needs.
pub struct Context {
    pub store: Store,
    pub data_dir: PathBuf,
    /// The master keys from `GIG_MASTER_KEY*`; `None` when none is configured (commands that
    /// need one say how to make it).
    pub keyring: Option<Keyring>,
    /// The registry settings.
    pub registry: registry::RegistryArgs,
}

impl Context {
    pub async fn open(args: &StoreArgs, registry: &registry::RegistryArgs) -> anyhow::Result<Self> {
        let url = args.url()?;
        let store = Store::connect(&url)
            .await
            .with_context(|| format!("opening the store at {url}"))?;
        let sources = MasterKeySources::from_env();
        let keyring = if sources.has_key() {
            Some(Keyring::from_sources(sources)?)
        } else {
            None
        };
        Ok(Self {
            store,
            data_dir: PathBuf::from(&args.data_dir),
            keyring,
            registry: registry.clone(),
        })
    }

    /// The built-in local operator account, owner of profiles made from the CLI.
    pub async fn operator(&self) -> anyhow::Result<User> {
        Ok(self.store.ensure_user("admin", Role::Admin).await?)
    }
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve::run(*args, &cli.store, &cli.registry).await,
        Command::Server(cmd) => server::run(cmd, &open(&cli.store, &cli.registry).await?).await,
        Command::Registry(cmd) => registry::run(cmd, &open(&cli.store, &cli.registry).await?).await,
        Command::Profile(cmd) => profile::run(cmd, &open(&cli.store, &cli.registry).await?).await,
        Command::Credential(cmd) => {
            credential::run(cmd, &open(&cli.store, &cli.registry).await?).await
        }
        Command::Vault(cmd) => vault::run(cmd, &open(&cli.store, &cli.registry).await?).await,
    }
}

async fn open(store: &StoreArgs, registry: &registry::RegistryArgs) -> anyhow::Result<Context> {
    Context::open(store, registry).await
}

/// Human-readable logs on a terminal (or JSON lines); level from `GIG_LOG` (default `info`).
pub fn init_logging(json: bool) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("GIG_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.compact().init();
    }
}

/// Raw gateway settings from the serve flags.
pub fn raw_config(args: &serve::ServeArgs, store: &StoreArgs) -> anyhow::Result<RawConfig> {
    Ok(RawConfig {
        listen: args.listen.clone(),
        data_dir: store.data_dir.clone(),
        database_url: store.database_url()?,
        allowed_origins: args.allowed_origins.clone(),
        max_body_bytes: args.max_body_bytes,
        call_timeout_secs: args.call_timeout,
        idle_timeout_secs: args.idle_timeout,
        bwrap: args.bwrap.clone(),
        bootstrap: args.bootstrap.clone(),
        toolpack: args.toolpack.clone(),
        sandbox_network: args.sandbox_network == "on",
        sandbox_pool: args.sandbox_pool.clone(),
        egress_allow_ranges: args.egress_allow_ranges.clone(),
        egress_ca_bundle: args.egress_ca_bundle.clone(),
        egress_resolve: args.egress_resolve.clone(),
        egress_ca: args.egress_ca.clone(),
        insecure_registries: args.insecure_registries.clone(),
    })
}
