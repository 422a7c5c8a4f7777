//! `gigmcp serve`.

use super::StoreArgs;
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
}

pub async fn run(args: ServeArgs, store_args: &StoreArgs) -> anyhow::Result<()> {
    let config = GatewayConfig::from_raw(super::raw_config(&args, store_args)?)?;
    // The master key is required: the gateway holds secrets and must be able to open them.
    let keyring = Keyring::from_env()?;
    tracing::info!(kek = %keyring.current_kek_id(), "master key loaded");
    let store = Store::connect(&config.store)
        .await
        .with_context(|| format!("opening the store at {}", config.store))?;
    let listen = config.listen;
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

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("install SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
