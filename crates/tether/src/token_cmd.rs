//! `tether token create|list|revoke`: the HTTP API's bearer tokens. They are
//! stored hashed in the Secret `tether-api-tokens` in the agent's namespace, so
//! every agent replica sees them; the value is printed once, at creation.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::anyhow;
use serde_json::json;
use tether_server::api::auth::{self, Role, TokenError};

use crate::cli::ClusterArgs;
use crate::output::{self, Format};

/// Exit code when the token named does not exist (`revoke`) or already exists (`create`).
pub const EXIT_NOT_FOUND_OR_EXISTS: u8 = 2;

#[derive(clap::Subcommand, Debug)]
pub enum TokenCommand {
    /// Create a token for the HTTP API and print it (once: it cannot be shown again).
    ///
    /// The admin role may do everything; readonly may read apps, objects, history, events,
    /// audit, logs and the live stream. Send it as `Authorization: Bearer TOKEN`.
    /// Exit codes: 0 created, 1 error, 2 a token of that name exists (revoke it first).
    #[command(
        after_help = "Examples:\n  tether token create ci --role admin --expires-in 720h\n  \
        TOKEN=$(tether token create dashboard --role readonly)"
    )]
    Create(CreateArgs),
    /// List the tokens: name, role, created, expires (never the token or its hash).
    List(ListArgs),
    /// Revoke a token: every agent replica refuses it within seconds.
    ///
    /// Exit codes: 0 revoked, 1 error, 2 no token of that name.
    Revoke(RevokeArgs),
}

#[derive(clap::Args, Debug)]
pub struct Common {
    #[command(flatten)]
    cluster: ClusterArgs,
    /// The agent's namespace, where the token Secret lives (as `tether agent --namespace`).
    #[arg(short = 'n', long, env = "TETHER_NAMESPACE", default_value = "tether")]
    namespace: String,
}

#[derive(clap::Args, Debug)]
pub struct CreateArgs {
    #[command(flatten)]
    common: Common,
    /// The token's name: letters, digits, '-', '_' or '.'; it is the actor (`token:NAME`)
    /// in the audit log.
    name: String,
    /// `admin` (everything) or `readonly` (reads and the live stream).
    #[arg(long, value_parser = ["admin", "readonly"])]
    role: String,
    /// Expire after this long, e.g. 24h, 30m, 720h [default: never].
    #[arg(long, value_parser = crate::app::parse_timeout, value_name = "DURATION")]
    expires_in: Option<Duration>,
}

#[derive(clap::Args, Debug)]
pub struct ListArgs {
    #[command(flatten)]
    common: Common,
    /// Output format: table, json or yaml.
    #[arg(short = 'o', long, value_parser = output::formats(&["table", "json", "yaml"]), default_value = "table")]
    output: Format,
}

#[derive(clap::Args, Debug)]
pub struct RevokeArgs {
    #[command(flatten)]
    common: Common,
    name: String,
}

pub async fn run(cmd: TokenCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        TokenCommand::Create(args) => create(args).await,
        TokenCommand::List(args) => list(args).await,
        TokenCommand::Revoke(args) => revoke(args).await,
    }
}

fn fail(e: TokenError) -> anyhow::Result<ExitCode> {
    match e {
        TokenError::Exists(_) | TokenError::NotFound(_) => {
            eprintln!("error: {e}");
            Ok(ExitCode::from(EXIT_NOT_FOUND_OR_EXISTS))
        }
        e => Err(anyhow!(e)),
    }
}

async fn create(args: CreateArgs) -> anyhow::Result<ExitCode> {
    auth::check_name(&args.name).map_err(anyhow::Error::msg)?;
    let role =
        Role::parse(&args.role).ok_or_else(|| anyhow!("--role must be admin or readonly"))?;
    let expires = match args.expires_in {
        Some(d) => Some(
            jiff::Timestamp::now()
                .checked_add(jiff::SignedDuration::try_from(d)?)
                .map_err(|e| anyhow!("--expires-in is too long: {e}"))?,
        ),
        None => None,
    };
    let cluster = args.common.cluster.connect().await?;
    match auth::create(
        cluster.client(),
        &args.common.namespace,
        &args.name,
        role,
        expires,
    )
    .await
    {
        Ok(token) => {
            // The token alone on stdout, so `TOKEN=$(tether token create …)` works.
            println!("{token}");
            eprintln!(
                "token {:?} created with the {} role{}; it is shown only now and cannot be shown again",
                args.name,
                role.as_str(),
                expires
                    .map(|t| format!(", expires {t}"))
                    .unwrap_or_default()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => fail(e),
    }
}

async fn list(args: ListArgs) -> anyhow::Result<ExitCode> {
    let cluster = args.common.cluster.connect().await?;
    let tokens = match auth::list(cluster.client(), &args.common.namespace).await {
        Ok(t) => t,
        Err(e) => return fail(e),
    };
    let now = jiff::Timestamp::now();
    let rows: Vec<serde_json::Value> = tokens
        .iter()
        .map(|(name, rec)| {
            let expired = rec
                .expires_at
                .as_deref()
                .and_then(|t| t.parse::<jiff::Timestamp>().ok())
                .is_some_and(|t| t <= now);
            json!({
                "name": name,
                "role": rec.role.as_str(),
                "createdAt": rec.created_at,
                "expiresAt": rec.expires_at,
                "expired": expired,
            })
        })
        .collect();
    if output::print_structured(args.output, &rows)? {
        return Ok(ExitCode::SUCCESS);
    }
    if rows.is_empty() {
        eprintln!(
            "no tokens in namespace {}; create one with `tether token create NAME --role admin|readonly`",
            args.common.namespace
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!("{:<24} {:<9} {:<22} EXPIRES", "NAME", "ROLE", "CREATED");
    for r in &rows {
        let expires = match (r["expiresAt"].as_str(), r["expired"].as_bool()) {
            (Some(t), Some(true)) => format!("{t} (expired)"),
            (Some(t), _) => t.to_string(),
            (None, _) => "never".to_string(),
        };
        println!(
            "{:<24} {:<9} {:<22} {}",
            output::line(r["name"].as_str().unwrap_or("")),
            r["role"].as_str().unwrap_or(""),
            r["createdAt"].as_str().unwrap_or(""),
            expires
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn revoke(args: RevokeArgs) -> anyhow::Result<ExitCode> {
    let cluster = args.common.cluster.connect().await?;
    match auth::revoke(cluster.client(), &args.common.namespace, &args.name).await {
        Ok(()) => {
            println!("token {:?} revoked", args.name);
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => fail(e),
    }
}
