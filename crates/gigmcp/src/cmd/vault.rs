//! `gigmcp vault …`: master-key status and rotation.

use anyhow::{anyhow, bail};
use clap::Subcommand;
use gigmcp_store::AuditEvent;
use gigmcp_vault::{KekRole, KeyError, RotateOptions, rotate_with, status};

use super::Context;

#[derive(Subcommand, Debug)]
pub enum VaultCmd {
    /// Re-wrap every secret's data key under GIG_MASTER_KEY. The old keys must be given in
    /// GIG_MASTER_KEY_PREVIOUS. Runs in batches; safe to interrupt and run again.
    Rotate {
        /// Secrets per batch (one transaction each).
        #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=10_000))]
        batch_size: u32,
        /// Stop after this many batches (rotate in slices); default: until done.
        #[arg(long)]
        max_batches: Option<u64>,
    },
    /// How many secrets sit under each master key id, and which key that is.
    Status,
}

pub async fn run(cmd: VaultCmd, ctx: &Context) -> anyhow::Result<()> {
    match cmd {
        VaultCmd::Status => {
            let usage = status(&ctx.store, ctx.keyring.as_ref()).await?;
            println!("{:<18} {:>10}  ROLE", "MASTER KEY ID", "SECRETS");
            for u in &usage {
                println!("{:<18} {:>10}  {}", u.kek_id, u.secrets, u.role);
            }
            if usage.iter().any(|u| u.role == KekRole::Unknown) {
                bail!(
                    "some secrets are sealed under a master key that is not loaded; add it to \
                     GIG_MASTER_KEY_PREVIOUS"
                );
            }
        }
        VaultCmd::Rotate {
            batch_size,
            max_batches,
        } => {
            let keyring = ctx
                .keyring
                .as_ref()
                .ok_or_else(|| anyhow!(KeyError::Missing))?;
            let report = rotate_with(
                &ctx.store,
                keyring,
                RotateOptions {
                    batch_size,
                    max_batches,
                },
            )
            .await?;
            ctx.store
                .append_audit(AuditEvent {
                    actor: "admin".into(),
                    action: "vault.rotate".into(),
                    target: keyring.current_kek_id().to_string(),
                    detail: format!(
                        r#"{{"rewrapped":{},"changed_concurrently":{},"failed":{},"complete":{}}}"#,
                        report.rewrapped,
                        report.changed_concurrently,
                        report.failed.len(),
                        report.complete
                    ),
                })
                .await?;
            eprintln!(
                "rewrapped {} secrets under master key {} in {} batches{}",
                report.rewrapped,
                keyring.current_kek_id(),
                report.batches,
                if report.complete {
                    ""
                } else {
                    " (stopped at --max-batches; run again to continue)"
                }
            );
            if report.changed_concurrently > 0 {
                eprintln!(
                    "{} secrets changed while rotating and were left as written; run `gigmcp vault status`",
                    report.changed_concurrently
                );
            }
            for f in &report.failed {
                eprintln!("{}: under key {}: {}", f.id, f.kek_id, f.reason);
            }
            if !report.failed.is_empty() {
                bail!(
                    "{} secrets could not be rewrapped (see above)",
                    report.failed.len()
                );
            }
        }
    }
    Ok(())
}
