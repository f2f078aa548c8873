//! Command-line parsing and dispatch.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};

/// tether: GitOps continuous delivery for Kubernetes.
///
/// Git is the source of truth; tether keeps a cluster equal to what Git declares.
#[derive(Parser, Debug)]
#[command(name = "tether", version, about, long_about)]
struct Cli {
    /// Log filter, e.g. `info`, `debug`, `tether_sandbox=debug`.
    #[arg(long, global = true, env = "TETHER_LOG", default_value = "info")]
    log: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Start everything on this machine: a sandbox cluster, the agent, and a demo Git
    /// repository with three Applications (plain YAML, Kustomize, Helm).
    ///
    /// State (the demo repo, the sandbox's data, the kubeconfig) lives in --state-dir, so
    /// a second run picks up where the first left off. Use --kubeconfig to run against an
    /// existing cluster instead of the sandbox. Stops on Ctrl-C.
    Up(crate::up::UpArgs),
    /// Reconcile every Application on one cluster: fetch from Git, render, plan,
    /// apply, assess, and record the result in each Application's status.
    ///
    /// Installs the Application CRD when it is missing. Stops on SIGTERM or Ctrl-C after
    /// running syncs finish; a second signal forces the stop.
    Agent(Box<crate::agent_cmd::AgentArgs>),
    /// Create, inspect, diff, sync, wait for and delete Applications.
    #[command(subcommand)]
    App(crate::app::AppCommand),
    /// Render a local directory the way the agent would (like `flux build`), and print
    /// the objects as YAML or JSON.
    Render(crate::render_cmd::RenderArgs),
    /// Print the Application CRD (generated from tether's types) as YAML.
    Crd,
    /// Query the agent's durable audit log: syncs, per-object changes, prunes, errors.
    Audit(crate::audit_cmd::AuditArgs),
    /// Manage the HTTP API's bearer tokens (create, list, revoke).
    #[command(subcommand)]
    Token(crate::token_cmd::TokenCommand),
    /// Run a local Kubernetes-API-compatible server that kubectl and kube-rs accept.
    ///
    /// Writes a kubeconfig for it and serves until interrupted (Ctrl-C). State is in
    /// memory unless --data-dir is given. It serves HTTPS with its own CA (kept in the
    /// data directory), and the kubeconfig carries that CA and the admin's token
    /// (user kubernetes-admin, group system:masters). Other users are ServiceAccounts
    /// (`kubectl create token`), authorized by RBAC; impersonation works as on a real
    /// cluster. --insecure-http serves plain HTTP; --anonymous-admin lets every request
    /// in as the admin. Exit codes: 0 after a clean stop, 1 when the server cannot start
    /// (port in use, unusable data directory).
    Sandbox(SandboxArgs),
}

/// How to reach the cluster: shared by every command that talks to one.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ClusterArgs {
    /// Kubeconfig file [default: $KUBECONFIG, then ~/.kube/config, then in-cluster].
    #[arg(long, global = true, env = "KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context [default: the current context].
    #[arg(long, global = true)]
    pub context: Option<String>,
}

impl ClusterArgs {
    pub async fn connect(&self) -> anyhow::Result<tether_kube::Cluster> {
        // KUBECONFIG may list several files; kube-rs reads the first here.
        let path = self
            .kubeconfig
            .as_ref()
            .and_then(|p| std::env::split_paths(p).next());
        tether_kube::Cluster::connect(path.as_deref(), self.context.as_deref())
            .await
            .context("connecting to the cluster")
    }
}

#[derive(clap::Args, Debug)]
struct SandboxArgs {
    /// Port to listen on at 127.0.0.1; 0 picks a free port.
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Keep state in this directory so it survives restarts.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Where to write the kubeconfig [default: <data-dir>/kubeconfig, or ./tether-sandbox.kubeconfig].
    #[arg(long)]
    kubeconfig_out: Option<PathBuf>,
    /// How long simulated rollouts, pods, jobs, load balancers and volumes take, in milliseconds.
    #[arg(long, default_value_t = 2000)]
    rollout_delay_ms: u64,
    /// How many past events a watch can resume from before it gets 410 Expired.
    #[arg(long, default_value_t = 10_000)]
    watch_window: usize,
    /// Serve plain HTTP instead of HTTPS.
    #[arg(long)]
    insecure_http: bool,
    /// Treat every request as the admin, with or without a token: no authentication,
    /// no authorization (RBAC is not enforced).
    #[arg(long)]
    anonymous_admin: bool,
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        // One line per event, whatever a field holds (see log_format).
        .fmt_fields(crate::log_format::CleanFields::default())
        .with_env_filter(filter);
    // `tether up` draws progress on the terminal; its logs go to a file beside
    // its state, so they never scroll over what a newcomer reads.
    let log_file = match &cli.command {
        Command::Up(args) => match args.open_log_file() {
            Ok(file) => Some(file),
            Err(e) => {
                eprintln!("error: {e:#}");
                return ExitCode::FAILURE;
            }
        },
        _ => None,
    };
    match log_file {
        Some(file) => logs
            .with_writer(std::sync::Mutex::new(file))
            .with_ansi(false)
            .init(),
        // Colours only for a terminal: logs sent to a file stay plain text.
        None => logs
            .with_writer(std::io::stderr)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Sandbox(args) => sandbox(args).await.map(|()| ExitCode::SUCCESS),
            Command::Up(args) => crate::up::run(args).await,
            Command::Agent(args) => crate::agent_cmd::run(*args).await,
            Command::App(cmd) => crate::app::run(cmd).await,
            Command::Render(args) => crate::render_cmd::run(args).await,
            Command::Audit(args) => crate::audit_cmd::run(args).await,
            Command::Token(cmd) => crate::token_cmd::run(cmd).await,
            Command::Crd => {
                print!("{}", tether_model::crd_yaml());
                Ok(ExitCode::SUCCESS)
            }
        }
    });
    // Leave running background work behind (a forced stop) instead of waiting.
    runtime.shutdown_timeout(Duration::from_millis(100));
    match result {
        Ok(code) => code,
        Err(e) => {
            // Errors quote status messages and tool output: escaped.
            eprintln!("error: {}", crate::output::text(&format!("{e:#}")));
            ExitCode::FAILURE
        }
    }
}

async fn sandbox(args: SandboxArgs) -> anyhow::Result<()> {
    let SandboxArgs {
        port,
        data_dir,
        kubeconfig_out,
        rollout_delay_ms,
        watch_window,
        insecure_http,
        anonymous_admin,
    } = args;
    let kubeconfig = kubeconfig_out.unwrap_or_else(|| match &data_dir {
        Some(d) => d.join("kubeconfig"),
        None => PathBuf::from("tether-sandbox.kubeconfig"),
    });
    let config = tether_sandbox::Config {
        port,
        data_dir,
        rollout_delay: Duration::from_millis(rollout_delay_ms),
        watch_window,
        https: !insecure_http,
        anonymous_admin,
    };
    let sandbox = tether_sandbox::Sandbox::start(config)
        .await
        .context("starting the sandbox")?;
    sandbox.write_kubeconfig(&kubeconfig)?;
    let shown = std::path::absolute(&kubeconfig).unwrap_or(kubeconfig.clone());
    println!(
        "tether sandbox serving the Kubernetes API at {}",
        sandbox.url()
    );
    println!("kubeconfig: {}", shown.display());
    println!();
    println!("Point kubectl at it:");
    println!("  export KUBECONFIG={}", shown.display());
    println!("  kubectl get namespaces");
    println!();
    println!("Press Ctrl-C to stop.");
    wait_for_interrupt().await;
    eprintln!("stopping (press Ctrl-C again to force)");
    tokio::select! {
        _ = sandbox.shutdown() => {}
        _ = wait_for_interrupt() => eprintln!("forced stop"),
    }
    Ok(())
}

pub async fn wait_for_interrupt() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
