//! `gigmcp serve`.

use super::StoreArgs;
use super::registry::RegistryArgs;
use anyhow::Context as _;
use clap::Args;
use gigmcp_gateway::{Gateway, GatewayConfig, router};
use gigmcp_store::Store;
use gigmcp_vault::Keyring;

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address and port to listen on.
    #[arg(long, env = "GIG_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Extra allowed browser origins (scheme://host[:port]), comma-separated.
    #[arg(
        long = "allowed-origin",
        env = "GIG_ALLOWED_ORIGINS",
        value_delimiter = ','
    )]
    pub allowed_origins: Vec<String>,
    /// Largest accepted MCP request body, in bytes.
    #[arg(long, env = "GIG_MAX_BODY_BYTES", default_value_t = 4 * 1024 * 1024)]
    pub max_body_bytes: u64,
    /// Seconds a tool call may take before the client gets an error.
    #[arg(long, env = "GIG_CALL_TIMEOUT", default_value_t = 60)]
    pub call_timeout: u64,
    /// Seconds of disuse after which a server's sandbox is stopped.
    #[arg(long, env = "GIG_IDLE_TIMEOUT", default_value_t = 600)]
    pub idle_timeout: u64,
    /// The bubblewrap binary.
    #[arg(long, env = "GIG_BWRAP", default_value = "bwrap")]
    pub bwrap: String,
    /// The static sandbox bootstrap binary (default: gigmcp-bootstrap beside gigmcp).
    #[arg(long, env = "GIG_BOOTSTRAP")]
    pub bootstrap: Option<String>,
    /// The static toolpack engine run by built-in toolpack servers (default: gigmcp-toolpack
    /// beside gigmcp).
    #[arg(long, env = "GIG_TOOLPACK")]
    pub toolpack: Option<String>,
    /// Give servers whose manifest grants egress a network (a veth pair and the egress proxy);
    /// `off`: no server gets a network. Needs root.
    #[arg(long, env = "GIG_SANDBOX_NETWORK", default_value = "on", value_parser = ["on", "off"])]
    pub sandbox_network: String,
    /// Address pool for the sandboxes' /30 links.
    #[arg(long, env = "GIG_SANDBOX_POOL", default_value = "10.88.0.0/16")]
    pub sandbox_pool: String,
    /// Private ranges (CIDR) upstreams may resolve to despite the SSRF guard, comma-separated.
    #[arg(
        long = "egress-allow-range",
        env = "GIG_EGRESS_ALLOW_RANGES",
        value_delimiter = ','
    )]
    pub egress_allow_ranges: Vec<String>,
    /// PEM file of extra CA certificates trusted for upstream TLS.
    #[arg(long, env = "GIG_EGRESS_CA_BUNDLE")]
    pub egress_ca_bundle: Option<String>,
    /// `host=ip` answers the egress proxy uses before DNS, comma-separated.
    #[arg(
        long = "egress-resolve",
        env = "GIG_EGRESS_RESOLVE",
        value_delimiter = ','
    )]
    pub egress_resolve: Vec<String>,
    /// Where the egress proxy's CA comes from: `ephemeral` (a new one at every start) or
    /// `vault` (sealed in the vault, created on first start, the same after restarts).
    #[arg(long, env = "GIG_EGRESS_CA", default_value = "ephemeral")]
    pub egress_ca: String,
    /// Image registries (`host[:port]`) reached over plain HTTP, comma-separated; loopback/test only.
    #[arg(
        long = "insecure-registry",
        env = "GIG_INSECURE_REGISTRIES",
        value_delimiter = ','
    )]
    pub insecure_registries: Vec<String>,
    /// Servers to install from the registry index at start (`name` or `name@version`,
    /// comma-separated), for unattended deployments: setting it is the operator's consent to
    /// what their manifests grant. Already installed names are left as they are.
    #[arg(long = "install", env = "GIG_INSTALL", value_delimiter = ',')]
    pub install: Vec<String>,
    /// `on`: after each refresh, apply updates that do not widen what a server may do (those
    /// that do always wait for `gigmcp server update`).
    #[arg(long, env = "GIG_REGISTRY_AUTO_UPDATE", default_value = "off", value_parser = ["on", "off"])]
    pub registry_auto_update: String,
}

pub async fn run(
    args: ServeArgs,
    store_args: &StoreArgs,
    registry_args: &RegistryArgs,
) -> anyhow::Result<()> {
    let config = GatewayConfig::from_raw(super::raw_config(&args, store_args)?)?;
    // The master key is required: the gateway holds secrets and must be able to open them.
    let keyring = Keyring::from_env()?;
    tracing::info!(kek = %keyring.current_kek_id(), "master key loaded");
    let store = Store::connect(&config.store)
        .await
        .with_context(|| format!("opening the store at {}", config.store))?;
    let listen = config.listen;
    let install_options = gigmcp_catalog::InstallOptions {
        data_dir: std::path::PathBuf::from(&store_args.data_dir),
        insecure_registries: args.insecure_registries.clone(),
        max_builtin_toolspec: gigmcp_gateway::launch::toolpack::MAX_FILE_BYTES,
    };
    start_registry(
        registry_args,
        &store,
        &args.install,
        args.registry_auto_update == "on",
        install_options,
    )
    .await?;
    let gateway = Gateway::start(config, store, std::sync::Arc::new(keyring)).await?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| {
            format!("GIG_LISTEN={listen}: cannot listen there; is another process using the port?")
        })?;
    tracing::info!(
        "gigmcp listening on http://{} (MCP endpoints at /mcp/p/<profile>)",
        listener.local_addr()?
    );
    axum::serve(gigmcp_gateway::nodelay(listener), router(gateway.clone()))
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("serving HTTP")?;
    tracing::info!("shutting down: stopping sandboxes");
    gateway.shutdown().await;
    Ok(())
}

/// The registry at start: one refresh (a failure leaves the last good index in use), the
/// `GIG_INSTALL` servers installed, and the periodic refresh started.
async fn start_registry(
    args: &RegistryArgs,
    store: &Store,
    install: &[String],
    auto_update: bool,
    options: gigmcp_catalog::InstallOptions,
) -> anyhow::Result<()> {
    let Some(config) = args.config()? else {
        if !install.is_empty() {
            anyhow::bail!(
                "GIG_INSTALL is set but no registry index is configured: set                  GIG_REGISTRY_INDEX_URL and GIG_REGISTRY_PUBKEY"
            );
        }
        return Ok(());
    };
    let every = config.refresh_every;
    let has_source = config.source.is_some();
    let registry = gigmcp_catalog::Registry::new(store.clone(), config);
    // Only boot installs wait for a fresh index; otherwise the first refresh runs in the
    // background, so a slow index host never delays serving.
    let installs = install.iter().any(|r| !r.trim().is_empty());
    if has_source
        && installs
        && let Err(e) = registry.refresh().await
    {
        tracing::warn!(error = %e, "registry refresh at start failed; using the last good index if there is one");
    }
    for reference in install.iter().map(|r| r.trim()).filter(|r| !r.is_empty()) {
        let (name, _) = gigmcp_catalog::install::parse_reference(reference);
        if store.server_by_name(name).await?.is_some() {
            tracing::info!(server = name, "GIG_INSTALL: already installed");
            continue;
        }
        let catalogue = registry
            .catalogue()
            .await
            .with_context(|| format!("GIG_INSTALL={reference}"))?;
        let plan = gigmcp_catalog::plan_install(store, &catalogue, reference)
            .await
            .with_context(|| format!("GIG_INSTALL={reference}"))?;
        gigmcp_catalog::install(store, &options, &plan, "GIG_INSTALL")
            .await
            .with_context(|| format!("GIG_INSTALL={reference}"))?;
        tracing::info!(server = %plan.name, version = %plan.entry.version, "installed from the registry index (GIG_INSTALL)");
    }
    if has_source {
        tokio::spawn(async move {
            let mut first = !installs;
            loop {
                if !first {
                    let Some(every) = every else { break };
                    tokio::time::sleep(every).await;
                }
                first = false;
                match registry.refresh().await {
                    Ok(_) if auto_update => apply_safe_updates(&registry, &options).await,
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "registry refresh failed; the last good index stays in use")
                    }
                }
            }
        });
    }
    Ok(())
}

/// Applies the pending updates that do not widen what a server may do.
async fn apply_safe_updates(
    registry: &gigmcp_catalog::Registry,
    options: &gigmcp_catalog::InstallOptions,
) {
    let store = registry.store();
    let Ok(catalogue) = registry.catalogue().await else {
        return;
    };
    let Ok(pending) = gigmcp_catalog::pending_updates(store, &catalogue).await else {
        return;
    };
    for u in pending {
        if u.needs_consent {
            tracing::info!(server = %u.name, from = %u.from, to = %u.to, "update widens what the server may do: waiting for `gigmcp server update`");
            continue;
        }
        let applied = async {
            let plan = gigmcp_catalog::plan_update(store, &catalogue, &u.name, Some(&u.to))
                .await?
                .ok_or(gigmcp_catalog::CatalogError::NotInstalled {
                    name: u.name.clone(),
                })?;
            gigmcp_catalog::apply_update(store, options, &plan, "GIG_REGISTRY_AUTO_UPDATE").await
        }
        .await;
        match applied {
            Ok(()) => {
                tracing::info!(server = %u.name, to = %u.to, "applied an update that does not widen entitlements")
            }
            Err(e) => tracing::warn!(server = %u.name, error = %e, "automatic update failed"),
        }
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("install SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
