//! `gigmcp-toolpack`: the toolpack engine as a stdio MCP server. The runtime contract (files,
//! environment, exit statuses) is in the library's crate docs.
#![forbid(unsafe_code)]

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use gigmcp_toolpack::config::{BODY_CAP, CONNECT_TIMEOUT, Settings, read_bounded, read_document};
use gigmcp_toolpack::http::{Connector, HttpClient, tls_config};
use gigmcp_toolpack::{Engine, Setup, Toolpack, log, server};

/// Largest CA bundle read.
const MAX_CA_BUNDLE: usize = 4 * 1024 * 1024;

/// Everything start-up checks; an error is the message printed before exiting with 1.
fn start() -> Result<Engine, String> {
    let started = Instant::now();
    let settings = Settings::from_env().map_err(|e| e.to_string())?;
    let manifest = read_document(&settings.manifest_path, "manifest").map_err(|e| e.to_string())?;
    let spec = read_document(&settings.spec_path, "toolspec").map_err(|e| e.to_string())?;
    let env = |k: &str| std::env::var(k).ok();
    let setup = Setup {
        host_overrides: &settings.host_overrides,
        env: &env,
    };
    let pack = Toolpack::load(&manifest, &spec, &setup).map_err(|e| e.to_string())?;
    let ca = settings
        .ca_file
        .as_deref()
        .map(|p| read_bounded(p, MAX_CA_BUNDLE, "SSL_CERT_FILE"))
        .transpose()
        .map_err(|e| e.to_string())?;
    let tls = tls_config(ca.as_deref()).map_err(|e| match &settings.ca_file {
        Some(p) => format!("SSL_CERT_FILE {}: {e}", p.display()),
        None => e,
    })?;
    let connector = Connector::new(settings.proxy.clone(), tls, CONNECT_TIMEOUT);
    let client = HttpClient::new(connector, pack.policy.clone(), BODY_CAP);
    log::note(&format!(
        "serving {}@{}: {} tools, {} host override(s), loaded in {} ms",
        pack.manifest.name,
        pack.manifest.version,
        pack.tools.len(),
        settings.host_overrides.len(),
        started.elapsed().as_millis()
    ));
    for host in &pack.unused_overrides {
        log::note(&format!(
            "GIG_TOOLPACK_HOSTS overrides {host}, which no base URL of this toolspec uses: ignored"
        ));
    }
    if let Some(missing) = pack.credentials.missing() {
        log::note(missing);
    }
    if settings.proxy.is_none() {
        log::note(
            "HTTPS_PROXY is not set: every call will fail until the server runs behind the egress proxy",
        );
    }
    Ok(Engine::new(pack, settings, client))
}

fn main() -> ExitCode {
    let engine = match start() {
        Ok(e) => Arc::new(e),
        Err(e) => {
            log::note(&format!("cannot start: {e}"));
            return ExitCode::from(1);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            log::note(&format!("cannot start the async runtime: {e}"));
            return ExitCode::from(1);
        }
    };
    runtime.block_on(server::serve(
        engine,
        tokio::io::stdin(),
        tokio::io::stdout(),
    ));
    // Stdin is gone; blocked reads on it must not hold the exit.
    runtime.shutdown_background();
    ExitCode::SUCCESS
}
