//! `tether up`: the whole loop on one machine. A sandbox cluster (or an
//! existing one), the agent, and a demo Git repository with three
//! Applications, so a new user sees GitOps work with no cluster at all.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use kube::api::{Api, Patch, PatchParams};
use tether_engine::{Agent, AgentConfig};
use tether_model::{Application, HealthCode, SyncCode};

/// The demo repository, embedded in the binary.
const DEMO_FILES: &[(&str, &str)] = &[
    ("README.md", include_str!("../demo/README.md")),
    (
        "plain/configmap.yaml",
        include_str!("../demo/plain/configmap.yaml"),
    ),
    (
        "plain/deployment.yaml",
        include_str!("../demo/plain/deployment.yaml"),
    ),
    (
        "plain/service.yaml",
        include_str!("../demo/plain/service.yaml"),
    ),
    (
        "kustomize/base/kustomization.yaml",
        include_str!("../demo/kustomize/base/kustomization.yaml"),
    ),
    (
        "kustomize/base/deployment.yaml",
        include_str!("../demo/kustomize/base/deployment.yaml"),
    ),
    (
        "kustomize/base/service.yaml",
        include_str!("../demo/kustomize/base/service.yaml"),
    ),
    (
        "kustomize/overlays/dev/kustomization.yaml",
        include_str!("../demo/kustomize/overlays/dev/kustomization.yaml"),
    ),
    (
        "kustomize/overlays/prod/kustomization.yaml",
        include_str!("../demo/kustomize/overlays/prod/kustomization.yaml"),
    ),
    (
        "helm/web/Chart.yaml",
        include_str!("../demo/helm/web/Chart.yaml"),
    ),
    (
        "helm/web/values.yaml",
        include_str!("../demo/helm/web/values.yaml"),
    ),
    (
        "helm/web/values-dev.yaml",
        include_str!("../demo/helm/web/values-dev.yaml"),
    ),
    (
        "helm/web/templates/deployment.yaml",
        include_str!("../demo/helm/web/templates/deployment.yaml"),
    ),
    (
        "helm/web/templates/service.yaml",
        include_str!("../demo/helm/web/templates/service.yaml"),
    ),
];

/// Namespace the demo Applications live in (the CLI's default).
const APPS_NAMESPACE: &str = "tether";

#[derive(clap::Args, Debug)]
pub struct UpArgs {
    /// Where everything lives: the demo repo, the sandbox's data, the kubeconfig, the Git cache.
    #[arg(long, env = "TETHER_STATE_DIR", default_value = ".tether")]
    state_dir: PathBuf,
    /// Use this cluster instead of starting a sandbox.
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// Kubeconfig context (with --kubeconfig).
    #[arg(long)]
    context: Option<String>,
    /// Sandbox port at 127.0.0.1; 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// How often the demo repository is polled, in seconds.
    #[arg(long, default_value_t = 10.0)]
    poll_interval: f64,
    /// How long the sandbox's simulated rollouts take, in milliseconds.
    #[arg(long, default_value_t = 1500)]
    rollout_delay_ms: u64,
    /// Serve the HTTP API (and the browser sign-in) here. Default: 127.0.0.1:8080, or the
    /// first free port after it; a given address must be free.
    #[arg(long)]
    listen: Option<std::net::SocketAddr>,
    /// Give up waiting for the demo apps after this many seconds (they keep running).
    #[arg(long, default_value_t = 120)]
    wait_timeout: u64,
    #[command(flatten)]
    render: crate::render_limits::RenderLimitArgs,
    /// The agent's limits on repositories, as for `tether agent`. Local repositories are
    /// always allowed here: the demo repository is one.
    #[command(flatten)]
    source: crate::agent_cmd::SourceArgs,
}

/// The file `tether up` writes its logs to, in its state directory.
const LOG_FILE: &str = "tether.log";

impl UpArgs {
    /// Opens (appending) the log file in the state directory, creating both.
    pub fn open_log_file(&self) -> anyhow::Result<std::fs::File> {
        std::fs::create_dir_all(&self.state_dir)
            .with_context(|| format!("creating {}", self.state_dir.display()))?;
        let path = self.state_dir.join(LOG_FILE);
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("opening the log file {}", path.display()))
    }
}

pub async fn run(args: UpArgs) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(&args.state_dir)
        .with_context(|| format!("creating {}", args.state_dir.display()))?;
    let state_dir = std::path::absolute(&args.state_dir)?;
    println!("logs: {}", state_dir.join(LOG_FILE).display());

    // The cluster: an existing one, or the embedded sandbox.
    let (kubeconfig, sandbox) = match &args.kubeconfig {
        Some(k) => (k.clone(), None),
        None => {
            let config = tether_sandbox::Config {
                port: args.port,
                data_dir: Some(state_dir.join("sandbox")),
                rollout_delay: Duration::from_millis(args.rollout_delay_ms),
                watch_window: 10_000,
                ..tether_sandbox::Config::default()
            };
            let sandbox = tether_sandbox::Sandbox::start(config)
                .await
                .context("starting the sandbox")?;
            let kubeconfig = state_dir.join("kubeconfig");
            sandbox.write_kubeconfig(&kubeconfig)?;
            println!("sandbox cluster serving at {}", sandbox.url());
            (kubeconfig, Some(sandbox))
        }
    };
    let cluster = Arc::new(
        tether_kube::Cluster::connect(Some(&kubeconfig), args.context.as_deref())
            .await
            .context("connecting to the cluster")?,
    );

    let repo = state_dir.join("demo-repo");
    let created = ensure_demo_repo(&repo)?;
    println!(
        "demo Git repository: {} ({})",
        repo.display(),
        if created {
            "created"
        } else {
            "kept from an earlier run"
        }
    );

    let mut config = AgentConfig {
        state_dir: state_dir.join("agent"),
        poll_interval: Duration::from_secs_f64(args.poll_interval.max(0.5)),
        renderer: args.render.config(),
        source: args.source.options(true),
        gc_interval: args.source.gc_interval,
        ..AgentConfig::default()
    };
    // The server's context first: the agent's facts feed its metrics, and
    // webhooks reach the agent through the link.
    let server = crate::serve::context(
        &crate::serve::ServeArgs {
            listen: None,
            metrics_listen: None,
            namespace: AGENT_NAMESPACE.to_string(),
        },
        cluster.clone(),
        &config,
    );
    config.sinks = crate::serve::sinks(&server);
    config.link = server.agent.clone();
    let mut notifications = crate::notify_args::NotifyArgs::default().attach(
        cluster.client().clone(),
        APPS_NAMESPACE,
        &mut config,
    );
    let agent = Agent::new(cluster.clone(), config)
        .await
        .context("starting the agent")?;
    crate::notify_args::start(&mut notifications, &agent).await;
    create_demo_apps(&cluster, &repo).await?;

    // The API, with an admin token for this machine's user.
    let listener = bind_api(args.listen).await?;
    let api = crate::serve::serve_on(listener, &server)?;
    let token_file = state_dir.join(TOKEN_FILE);
    let (token, token_created) = admin_token(cluster.client(), &token_file).await?;
    let base = format!("http://{api}");
    println!("API serving at {base}/api/v1");

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let agent_task = tokio::spawn(agent.run(async {
        let _ = stop_rx.await;
    }));

    let kc = kubeconfig.display();
    println!();
    println!("Applications are syncing; waiting for them to be Synced and Healthy…");
    let converged = wait_for_demo(&cluster, Duration::from_secs(args.wait_timeout)).await;
    println!();
    if converged {
        println!("All demo applications are Synced and Healthy.");
    } else {
        println!(
            "Not every demo application converged yet; `tether app list` shows where they are, and {} what happened.",
            state_dir.join(LOG_FILE).display()
        );
    }
    println!();
    println!("Next:");
    println!("  export KUBECONFIG={kc}");
    println!("  tether app list                 # the three demo apps");
    println!("  tether app get demo-plain       # objects, health, last sync");
    println!("  kubectl get deploy -A           # what they deployed");
    println!();
    println!("Change Git and watch the cluster follow:");
    println!("  cd {}", repo.display());
    println!("  sed -i 's/replicas: 2/replicas: 3/' plain/deployment.yaml");
    println!("  git commit -am 'Scale hello to 3'");
    println!(
        "  tether app sync demo-plain      # or wait up to {}s for the next poll",
        args.poll_interval
    );
    println!("  tether app history demo-plain");
    println!();
    println!(
        "The HTTP API ({} admin token in {}):",
        if token_created { "a new" } else { "the" },
        token_file.display()
    );
    println!("  {base}/login#token={token}");
    println!("      # open in a browser: signs it in");
    println!(
        "  curl -H \"Authorization: Bearer $(cat {})\" {base}/api/v1/applications",
        token_file.display()
    );
    println!();
    println!(
        "Press Ctrl-C to stop (state stays in {}).",
        state_dir.display()
    );

    crate::cli::wait_for_interrupt().await;
    eprintln!("stopping: letting running syncs finish (press Ctrl-C again to force)");
    let _ = stop_tx.send(());
    tokio::select! {
        _ = agent_task => {}
        _ = crate::cli::wait_for_interrupt() => eprintln!("forced stop"),
    }
    if let Some(sandbox) = sandbox {
        sandbox.shutdown().await;
    }
    Ok(ExitCode::SUCCESS)
}

/// The agent's own namespace (its API tokens live there), as `tether agent`'s default.
const AGENT_NAMESPACE: &str = "tether";
/// The admin token `tether up` creates, by name and where its value is kept.
const TOKEN_NAME: &str = "tether-up";
const TOKEN_FILE: &str = "admin-token";
/// Where the API is served when `--listen` is not given: this port or the
/// next free one of a few.
const DEFAULT_API_PORT: u16 = 8080;

async fn bind_api(listen: Option<std::net::SocketAddr>) -> anyhow::Result<tokio::net::TcpListener> {
    if let Some(addr) = listen {
        return tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("serving the API on {addr} (--listen)"));
    }
    for port in DEFAULT_API_PORT..DEFAULT_API_PORT + 20 {
        if let Ok(l) = tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
            return Ok(l);
        }
    }
    tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .context("serving the API on 127.0.0.1")
}

/// The admin token kept in the state dir (mode 0600) when the cluster still
/// knows it; otherwise a new one, written there. Its value goes to the
/// screen (the sign-in URL), never to the log.
async fn admin_token(client: &kube::Client, file: &Path) -> anyhow::Result<(String, bool)> {
    use tether_server::api::auth;
    let kept = std::fs::read_to_string(file)
        .ok()
        .map(|t| t.trim().to_string());
    let known = auth::list(client, AGENT_NAMESPACE)
        .await
        .context("reading the API tokens")?;
    let entry = known.iter().find(|(name, _)| name == TOKEN_NAME);
    if let (Some(token), Some((_, rec))) = (&kept, entry)
        && rec.sha256 == auth::hash(token)
        && rec.role == auth::Role::Admin
        && rec.expires_at.is_none()
    {
        return Ok((token.clone(), false));
    }
    if entry.is_some() {
        auth::revoke(client, AGENT_NAMESPACE, TOKEN_NAME)
            .await
            .context("replacing the API token tether up made earlier")?;
    }
    let token = auth::create(client, AGENT_NAMESPACE, TOKEN_NAME, auth::Role::Admin, None)
        .await
        .context("creating an admin API token")?;
    write_private(file, &token)?;
    Ok((token, true))
}

/// Write a file only its owner can read.
fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    // An older file keeps its mode on open; make sure.
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    f.write_all(format!("{text}\n").as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Write the embedded files and commit them, unless the repository exists.
fn ensure_demo_repo(repo: &Path) -> anyhow::Result<bool> {
    if repo.join(".git").exists() {
        return Ok(false);
    }
    for (path, text) in DEMO_FILES {
        let file = repo.join(path);
        std::fs::create_dir_all(file.parent().expect("a file has a parent"))?;
        std::fs::write(&file, text).with_context(|| format!("writing {}", file.display()))?;
    }
    git(repo, &["init", "--quiet", "--initial-branch=main"])?;
    git(repo, &["add", "--all"])?;
    git(
        repo,
        &[
            "commit",
            "--quiet",
            "-m",
            "Demo apps: plain YAML, Kustomize and Helm",
        ],
    )?;
    Ok(true)
}

fn git(repo: &Path, args: &[&str]) -> anyhow::Result<()> {
    // Commits are made by `tether up` unless the user's git config says who they are.
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=tether up",
            "-c",
            "user.email=up@tether.invalid",
        ])
        .args(args)
        .current_dir(repo)
        .output()
        .context("running git (is it installed?)")?;
    if !out.status.success() {
        bail!(
            "git {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

async fn create_demo_apps(cluster: &tether_kube::Cluster, repo: &Path) -> anyhow::Result<()> {
    cluster
        .ensure_namespace(APPS_NAMESPACE, "tether-up")
        .await
        .context("creating the tether namespace")?;
    let url = format!("file://{}", repo.display());
    let apps = [
        ("demo-plain", "plain", serde_json::json!({})),
        (
            "demo-kustomize",
            "kustomize/overlays/dev",
            serde_json::json!({}),
        ),
        (
            "demo-helm",
            "helm/web",
            serde_json::json!({"helm": {"valueFiles": ["values-dev.yaml"]}}),
        ),
    ];
    let api: Api<Application> = Api::namespaced(cluster.client().clone(), APPS_NAMESPACE);
    for (name, path, extra) in apps {
        let mut source = serde_json::json!({"repoURL": url, "path": path});
        if let (Some(s), Some(e)) = (source.as_object_mut(), extra.as_object()) {
            s.extend(e.clone());
        }
        let app = serde_json::json!({
            "apiVersion": "tether.dev/v1alpha1",
            "kind": "Application",
            "metadata": {"name": name, "namespace": APPS_NAMESPACE,
                         "finalizers": [tether_model::CASCADE_FINALIZER]},
            "spec": {
                "source": source,
                "destination": {"namespace": name},
                "syncPolicy": {"automated": {"prune": true}, "syncOptions": ["CreateNamespace=true"]},
            }
        });
        api.patch(
            name,
            &PatchParams::apply("tether-up").force(),
            &Patch::Apply(&app),
        )
        .await
        .with_context(|| format!("creating Application {name}"))?;
    }
    Ok(())
}

/// Print each demo app's state as it changes, until all are Synced and Healthy.
/// An app that is stuck (`Stalled`) gets a line saying why, once per new reason:
/// the logs go to a file, so the screen must carry the failures itself.
async fn wait_for_demo(cluster: &tether_kube::Cluster, timeout: Duration) -> bool {
    let api: Api<Application> = Api::namespaced(cluster.client().clone(), APPS_NAMESPACE);
    let deadline = Instant::now() + timeout;
    let mut last = String::new();
    let mut problems_shown = std::collections::HashMap::<String, String>::new();
    while Instant::now() < deadline {
        if let Ok(list) = api.list(&Default::default()).await {
            let mut line = Vec::new();
            let mut problems = Vec::new();
            let mut done = !list.items.is_empty();
            for app in &list.items {
                let status = app.status.clone().unwrap_or_default();
                let name = kube::ResourceExt::name_any(app);
                if let Some(stalled) = status
                    .conditions
                    .iter()
                    .find(|c| c.type_ == "Stalled" && c.status == "True")
                {
                    let problem = format!("{}: {}", stalled.reason, stalled.message);
                    if problems_shown.get(&name) != Some(&problem) {
                        problems.push(format!("{name} {problem}"));
                        problems_shown.insert(name.clone(), problem);
                    }
                }
                let sync = status.sync.map(|s| s.status).unwrap_or_default();
                let health = status.health.map(|h| h.status).unwrap_or_default();
                done &= sync == SyncCode::Synced && health == HealthCode::Healthy;
                line.push(format!(
                    "{} {}/{}",
                    kube::ResourceExt::name_any(app),
                    sync.as_str(),
                    health.as_str()
                ));
            }
            let line = line.join("  ");
            if line != last {
                println!("  {}", crate::output::line(&line));
                last = line;
            }
            for problem in problems {
                println!("    {}", crate::output::line(&problem));
            }
            if done {
                return true;
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    false
}
