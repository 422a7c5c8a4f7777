//! `gigmcp server install|update|remove`: servers from the signed registry index, each step
//! shown before it is taken and taken only on the operator's yes (`--yes`, or an answer at the
//! prompt when standard input is a terminal).

use std::io::{BufRead as _, IsTerminal as _, Write as _};

use anyhow::{Context as _, bail};
use gigmcp_catalog::{InstallOptions, catalogue::is_toolpack};
use gigmcp_gateway::launch::toolpack::MAX_FILE_BYTES;

use super::Context;
use super::registry::{catalogue, registry};

/// The operator's yes: `--yes`, or `y` typed at the prompt; without a terminal and without
/// `--yes`, an error that says how to consent.
fn confirm(question: &str, yes: bool, how: &str) -> anyhow::Result<bool> {
    if yes {
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() {
        bail!("{question} Nothing was changed: standard input is not a terminal; {how}");
    }
    eprint!("{question} [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "YES"))
}

pub fn options(ctx: &Context, insecure_registries: Vec<String>) -> InstallOptions {
    InstallOptions {
        data_dir: ctx.data_dir.clone(),
        insecure_registries,
        max_builtin_toolspec: MAX_FILE_BYTES,
    }
}

/// `server install NAME[@VERSION] [--yes | --dry-run]`.
pub async fn install(
    ctx: &Context,
    reference: &str,
    yes: bool,
    dry_run: bool,
    insecure_registries: Vec<String>,
) -> anyhow::Result<()> {
    let registry = registry(ctx)?;
    let catalogue = catalogue(&registry).await?;
    let plan = gigmcp_catalog::plan_install(&ctx.store, &catalogue, reference).await?;
    println!("{}", plan.document.render());
    if dry_run {
        return Ok(());
    }
    if !confirm(
        &format!(
            "Install {}@{} with these permissions?",
            plan.name, plan.entry.version
        ),
        yes,
        &format!(
            "read the document above and re-run with --yes: `gigmcp server install {reference} --yes`"
        ),
    )? {
        bail!("not installed: consent was not given");
    }
    let actor = ctx.operator().await?.username;
    let server = gigmcp_catalog::install(
        &ctx.store,
        &options(ctx, insecure_registries),
        &plan,
        &actor,
    )
    .await?;
    println!(
        "installed {} {} ({}); add it to a profile: `gigmcp profile add-server <profile> {}`",
        server.name,
        plan.entry.version,
        if is_toolpack(&plan.entry.manifest) {
            "served by the gateway's toolpack engine"
        } else {
            "image pulled and verified"
        },
        server.name
    );
    if let Some(spec) = &plan.entry.toolspec {
        super::server::print_setup_hints(&server.name, &plan.entry.manifest, spec);
    }
    for c in &plan.entry.manifest.credentials {
        eprintln!(
            "note: each profile owner stores `{}`: `gigmcp credential set {} --profile P{}`",
            c.id,
            server.name,
            if plan.entry.manifest.credentials.len() > 1 {
                format!(" --name {}", c.id)
            } else {
                String::new()
            }
        );
    }
    Ok(())
}

/// `server update NAME [--version V] [--yes]`.
pub async fn update(
    ctx: &Context,
    name: &str,
    version: Option<&str>,
    yes: bool,
    insecure_registries: Vec<String>,
) -> anyhow::Result<()> {
    let registry = registry(ctx)?;
    let catalogue = catalogue(&registry).await?;
    let Some(plan) = gigmcp_catalog::plan_update(&ctx.store, &catalogue, name, version).await?
    else {
        println!("{name} is up to date");
        return Ok(());
    };
    println!("{name}: {} → {}", plan.from, plan.target.version);
    let lines = plan.diff.lines();
    if lines.is_empty() {
        println!("  no change in what it may do");
    }
    for line in lines {
        println!("  {line}");
    }
    if plan.needs_consent() {
        println!(
            "\nThis version may do more than the one you consented to. It would run with:\n{}",
            plan.document.render()
        );
        if !confirm(
            &format!(
                "Update {name} to {} with these permissions?",
                plan.target.version
            ),
            yes,
            &format!(
                "re-run with --yes to consent: `gigmcp server update {name} --yes`; until then {} keeps running",
                plan.from
            ),
        )? {
            bail!(
                "not updated: consent was not given; {name} {} keeps running",
                plan.from
            );
        }
    }
    let actor = ctx.operator().await?.username;
    gigmcp_catalog::apply_update(
        &ctx.store,
        &options(ctx, insecure_registries),
        &plan,
        &actor,
    )
    .await?;
    println!(
        "updated {name} to {} (running sandboxes restart on their next use)",
        plan.target.version
    );
    Ok(())
}

/// `server remove NAME [--yes]`.
pub async fn remove(ctx: &Context, name: &str, yes: bool) -> anyhow::Result<()> {
    let profiles = gigmcp_catalog::install::profiles_using(&ctx.store, name).await?;
    if !profiles.is_empty()
        && !confirm(
            &format!(
                "{name} is in profile(s) {}; removing it takes it out of them with its \
                 credentials and settings, and stops its sandboxes. Remove?",
                profiles.join(", ")
            ),
            yes,
            &format!("re-run with --yes: `gigmcp server remove {name} --yes`"),
        )?
    {
        bail!("not removed");
    }
    let actor = ctx.operator().await?.username;
    let done = gigmcp_catalog::uninstall(&ctx.store, &ctx.data_dir, name, &actor)
        .await
        .with_context(|| format!("removing server {name}"))?;
    if done.profiles.is_empty() {
        println!("removed server {name}");
    } else {
        println!(
            "removed server {name} (from profiles {})",
            done.profiles.join(", ")
        );
    }
    Ok(())
}
