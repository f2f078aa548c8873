//! `tether app delete`: with its objects (cascade, the default) or without.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail};
use kube::ResourceExt;
use kube::api::{DeleteParams, Patch, PatchParams};
use serde_json::json;
use tether_kube::KubeError;
use tether_model::CASCADE_FINALIZER;

use super::sync::Progress;
use super::{Ctx, Target, parse_timeout, show_duration};

#[derive(clap::Args, Debug)]
pub struct DeleteArgs {
    #[command(flatten)]
    target: Target,
    /// The Application (`NAME` in -n, or `NAMESPACE/NAME`).
    name: String,
    /// Delete the objects the app deployed too (the agent prunes them before the
    /// Application goes). `--cascade=false` keeps them in the cluster, unmanaged.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1,
          default_missing_value = "true", value_name = "BOOL")]
    cascade: bool,
    /// Wait until the Application is gone (with --cascade, until its objects are deleted).
    #[arg(long)]
    wait: bool,
    /// How long --wait waits, e.g. 30s, 5m.
    #[arg(long, default_value = "300s", value_parser = parse_timeout, value_name = "DURATION")]
    timeout: Duration,
}

pub async fn run(args: DeleteArgs) -> anyhow::Result<ExitCode> {
    let ctx = Ctx::connect(&args.target).await?;
    let app = ctx.get(&args.name).await?;
    let (ns, name) = (app.namespace().unwrap_or_default(), app.name_any());
    let key = format!("{ns}/{name}");
    let api = ctx.api(&ns);

    // Set or clear the cascade finalizer first: it decides what the agent does
    // once the Application is marked for deletion. Optimistic concurrency: the
    // patch carries the resourceVersion it was computed from.
    let mut attempts = 0;
    loop {
        attempts += 1;
        let Some(current) = ctx.get_opt(&ns, &name).await? else {
            println!("application {key} deleted");
            return Ok(ExitCode::SUCCESS);
        };
        let has = current.finalizers().iter().any(|f| f == CASCADE_FINALIZER);
        if has == args.cascade {
            break;
        }
        if args.cascade && current.metadata.deletion_timestamp.is_some() {
            // Too late to add a finalizer to an object being deleted.
            bail!(
                "application {key} is already being deleted without cascade; its objects are kept"
            );
        }
        let mut finalizers: Vec<String> = current
            .finalizers()
            .iter()
            .filter(|f| *f != CASCADE_FINALIZER)
            .cloned()
            .collect();
        if args.cascade {
            finalizers.push(CASCADE_FINALIZER.to_string());
        }
        let patch = json!({"metadata": {"finalizers": finalizers, "resourceVersion": current.resource_version()}});
        match api
            .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => break,
            Err(e) => {
                let e = KubeError::from(e);
                if e.is_not_found() {
                    println!("application {key} deleted");
                    return Ok(ExitCode::SUCCESS);
                }
                if e.is_conflict() && attempts < 5 {
                    continue;
                }
                return Err(anyhow!("updating the finalizers of {key}: {e}"));
            }
        }
    }

    match api.delete(&name, &DeleteParams::default()).await {
        Ok(_) => {}
        Err(e) => {
            let e = KubeError::from(e);
            if !e.is_not_found() {
                return Err(anyhow!("deleting application {key}: {e}"));
            }
        }
    }
    if args.cascade {
        println!("application {key} deleted; the agent deletes the objects it deployed");
    } else {
        println!("application {key} deleted; the objects it deployed are kept");
    }
    if !args.wait {
        return Ok(ExitCode::SUCCESS);
    }

    let deadline = Instant::now() + args.timeout;
    let mut progress = Progress::new();
    loop {
        let Some(app) = ctx.get_opt(&ns, &name).await? else {
            progress.finish();
            println!("application {key} is gone");
            return Ok(ExitCode::SUCCESS);
        };
        let waiting_for = if app.finalizers().iter().any(|f| f == CASCADE_FINALIZER) {
            "the agent to delete its objects and remove the finalizer"
        } else if !app.finalizers().is_empty() {
            "other finalizers"
        } else {
            "the API server"
        };
        progress.update(&format!("{key}: waiting for {waiting_for}"));
        if Instant::now() >= deadline {
            progress.finish();
            bail!(
                "timed out after {}: {key} is still there, waiting for {waiting_for} \
                 (finalizers: {}; is `tether agent` running?)",
                show_duration(args.timeout),
                app.finalizers().join(", ")
            );
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}
