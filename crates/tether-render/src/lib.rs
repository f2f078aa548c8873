//! Render: turn a directory of a checked-out repository into an ordered list of
//! Kubernetes objects, with plain YAML/JSON, Kustomize, Helm or Jsonnet.
//!
//! Kustomize and Helm run as the real binaries on a temp copy of what they need
//! (the checkout itself is never written), after [`confine`] has checked that
//! nothing they would read lies outside the repository; Jsonnet is evaluated
//! with jrsonnet. In the agent, all three run in a [`worker`] process with
//! resource limits, so a hostile repository fails its own render and nothing
//! else. Whatever the tool, its output goes through the same YAML defences,
//! object checks and duplicate detection.
//!
//! Output is cached by a hash of everything that can change it, and so are
//! deterministic failures: a broken commit is rendered once, not on every
//! retry, until its input or options change or a hard refresh asks. A checkout
//! directory is treated as immutable (one directory per commit), so the content
//! hash of a tree is worked out once per (root, path) and a cache hit costs a
//! few map lookups, never a walk.

mod confine;
mod directory;
mod error;
mod helm;
mod jsonnet;
mod kustomize;
mod paths;
mod process;
pub mod worker;
mod yaml;

use std::collections::HashMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use sha2::{Digest, Sha256};
use tether_model::{Source, Tool};

pub use error::{RenderError, origin_location};
pub use worker::{Limits, WorkerCommand};

use crate::helm::ChartInfo;
use crate::kustomize::KustomizeBin;
use crate::paths::TreeInfo;

/// Jsonnet's evaluation thread: deep enough for real libraries (jrsonnet's
/// own depth limit usually answers first).
const JSONNET_THREAD_STACK: usize = 64 << 20;

#[derive(Clone, Debug)]
pub struct RendererConfig {
    /// Per render: a tool run, or a Jsonnet evaluation.
    pub timeout: Duration,
    /// Per file read from Git.
    pub max_file_size: u64,
    /// Per tool output (and for all files of a plain directory together).
    pub max_output_size: u64,
    /// Rendered results kept; the least recently used is dropped first. An
    /// agent re-plans every app each poll interval, so this should exceed the
    /// number of apps: below it, an LRU cache misses on every re-plan and each
    /// one renders again.
    pub cache_entries: usize,
    /// Limits on each Kustomize, Helm and Jsonnet render's worker process.
    pub limits: Limits,
    /// How to start a render worker. `None` renders in this process (library
    /// tests and benchmarks; limits other than the timeout do not apply).
    pub worker: Option<WorkerCommand>,
    /// Let Kustomize fetch remote bases and Helm fetch dependencies from chart
    /// repositories at render time. Off by default: a repository could make
    /// the agent fetch from any address its network reaches.
    pub allow_remote_bases: bool,
    /// A render with more objects fails with `TooManyObjects`, in the worker,
    /// before the objects are sent to the agent and parsed there.
    pub max_objects: usize,
}

impl Default for RendererConfig {
    fn default() -> Self {
        RendererConfig {
            timeout: Duration::from_secs(90),
            max_file_size: 4 << 20,
            max_output_size: 64 << 20,
            cache_entries: 4096,
            limits: Limits::default(),
            worker: None,
            allow_remote_bases: false,
            max_objects: usize::MAX,
        }
    }
}

pub struct RenderRequest<'a> {
    /// The checked-out repository root. Read only; treated as immutable.
    pub root: &'a Path,
    /// Directory inside root (`""` or `"."` is the root).
    pub path: &'a str,
    pub source: &'a Source,
    /// The Helm release name unless the Helm options name one.
    pub app_name: &'a str,
    /// Destination namespace (`helm --namespace`).
    pub namespace: Option<&'a str>,
    /// The cluster's version, e.g. `v1.35.0` (`helm --kube-version`).
    pub kube_version: Option<&'a str>,
    /// From discovery, e.g. `apps/v1` (`helm --api-versions`).
    pub api_versions: &'a [String],
    /// Render again even if this input's result (or failure) is cached.
    pub hard_refresh: bool,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Manifest {
    pub object: serde_json::Value,
    /// Where it came from, e.g. `apps/web/deploy.yaml:12`,
    /// `kustomize build overlays/prod (document 3)`,
    /// `helm template charts/web: templates/svc.yaml`, `main.jsonnet`.
    pub origin: String,
}

#[derive(Clone, Debug)]
pub struct Rendered {
    pub tool: Tool,
    pub manifests: Arc<Vec<Manifest>>,
    pub cache_hit: bool,
    /// The cache key (hex sha256): equal keys mean equal output.
    pub key: String,
}

/// Argo CD's rules: a kustomization means Kustomize, `Chart.yaml` Helm, any
/// `*.jsonnet` Jsonnet, anything else a plain directory.
pub fn detect_tool(dir: &Path) -> Tool {
    let names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default();
    let has = |n: &str| names.iter().any(|x| x == n);
    if has("kustomization.yaml") || has("kustomization.yml") || has("Kustomization") {
        Tool::Kustomize
    } else if has("Chart.yaml") {
        Tool::Helm
    } else if names.iter().any(|n| n.ends_with(".jsonnet")) {
        Tool::Jsonnet
    } else {
        Tool::Directory
    }
}

/// What every tool needs to know about the checkout and the limits.
#[derive(Clone)]
pub(crate) struct Ctx {
    pub root_canon: PathBuf,
    pub timeout: Duration,
    pub max_file_size: u64,
    pub max_output_size: u64,
    pub allow_remote: bool,
}

/// What is known about one (root, path): resolved once, since the checkout
/// does not change under a given root.
struct PathInfo {
    root_canon: PathBuf,
    dir: PathBuf,
    detected: Tool,
    chart: ChartInfo,
}

/// What a render came to: its objects, or a failure that would recur.
type Outcome = Result<Arc<Vec<Manifest>>, RenderError>;

struct Entry<T> {
    value: T,
    used: u64,
}

#[derive(Default)]
struct State {
    tick: u64,
    /// Successful renders and deterministic failures, by cache key.
    results: HashMap<String, Entry<Outcome>>,
    paths: HashMap<(PathBuf, String), Entry<Arc<PathInfo>>>,
    trees: HashMap<(PathBuf, String), Entry<Arc<TreeInfo>>>,
}

impl State {
    fn next(&mut self) -> u64 {
        self.tick += 1;
        self.tick
    }
}

/// Drop least recently used entries until `map` holds at most `cap`.
fn trim<K: Clone + Eq + std::hash::Hash, V>(map: &mut HashMap<K, Entry<V>>, cap: usize) {
    while map.len() > cap {
        let Some(oldest) = map
            .iter()
            .min_by_key(|(_, e)| e.used)
            .map(|(k, _)| k.clone())
        else {
            return;
        };
        map.remove(&oldest);
    }
}

pub struct Renderer {
    config: RendererConfig,
    kustomize: Option<KustomizeBin>,
    helm: Option<PathBuf>,
    state: Mutex<State>,
    /// One render per key at a time: a second caller waits and then hits.
    inflight: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Set when the agent stops: running renders are killed, not awaited.
    stopping: tokio::sync::watch::Sender<bool>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl Renderer {
    /// Finds `kustomize` (else `kubectl`, for `kubectl kustomize`) and `helm` on
    /// PATH now; a missing binary is reported when a render needs it.
    pub fn new(config: RendererConfig) -> Self {
        let path = std::env::var_os("PATH");
        Self::with_search_path(config, path.as_deref().unwrap_or_default())
    }

    /// As `new`, searching `path` (PATH syntax) instead of the environment.
    pub fn with_search_path(config: RendererConfig, path: &OsStr) -> Self {
        let kustomize = process::find_on_path("kustomize", Some(path))
            .map(KustomizeBin::Kustomize)
            .or_else(|| process::find_on_path("kubectl", Some(path)).map(KustomizeBin::Kubectl));
        let helm = process::find_on_path("helm", Some(path));
        Renderer {
            config,
            kustomize,
            helm,
            state: Mutex::new(State::default()),
            inflight: Mutex::new(HashMap::new()),
            stopping: tokio::sync::watch::Sender::new(false),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// Kill every running render (and refuse new ones): the agent is stopping
    /// and must not wait out a render's timeout.
    pub fn stop_renders(&self) {
        self.stopping.send_replace(true);
    }

    /// (hits, misses) since creation; a miss is a render that actually ran.
    pub fn cache_stats(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // The state is a cache: a panic elsewhere cannot leave it inconsistent
        // in a way that matters, so a poisoned lock is simply taken over.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn memo_cap(&self) -> usize {
        self.config.cache_entries.max(64) * 4
    }

    pub async fn render(&self, req: &RenderRequest<'_>) -> Result<Rendered, RenderError> {
        let rel = paths::normalize_rel(req.path)?;
        let info = self.path_info(req.root, &rel).await?;
        let tool = req.source.tool.unwrap_or(info.detected);

        // The part of the checkout the output can depend on.
        let scope = match tool {
            Tool::Directory => rel.clone(),
            Tool::Helm
                if !info.chart.file_deps
                    && !helm::values_outside_chart(&rel, req.source.helm.as_ref()) =>
            {
                rel.clone()
            }
            Tool::Helm | Tool::Kustomize | Tool::Jsonnet => String::new(),
        };
        let tree = self.tree_info(req.root, &info, &scope).await?;
        if matches!(tool, Tool::Helm | Tool::Kustomize)
            && let Some((file, size)) = tree
                .oversized
                .iter()
                .find(|(f, _)| paths::is_under(f, &rel))
        {
            return Err(RenderError::FileTooLarge {
                file: file.clone(),
                size: *size,
                limit: self.config.max_file_size,
            });
        }
        let key = cache_key(tool, &rel, req, &tree);

        if !req.hard_refresh
            && let Some(hit) = self.lookup(&key, tool)
        {
            return hit;
        }
        let gate = {
            let mut inflight = self.inflight.lock().unwrap_or_else(|p| p.into_inner());
            inflight.entry(key.clone()).or_default().clone()
        };
        let _turn = gate.lock().await;
        // A hard refresh still takes what a concurrent render just produced:
        // that render started after the refresh was asked for.
        if !req.hard_refresh
            && let Some(hit) = self.lookup(&key, tool)
        {
            return hit;
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        let result = self
            .run(tool, &rel, &info, req)
            .await
            .and_then(|m| yaml::check_duplicates(&m).map(|()| Arc::new(m)));
        // With remote sources allowed, a tool's failure may be the network's.
        let cacheable = result.as_ref().map_or_else(
            |e| {
                e.is_deterministic()
                    && !(self.config.allow_remote_bases && matches!(e, RenderError::Tool { .. }))
            },
            |_| true,
        );
        if let Err(e) = &result {
            tracing::info!(
                app = req.app_name,
                path = paths::shown(&rel),
                tool = tool.as_str(),
                cached = cacheable,
                "render failed: {e}"
            );
        }
        if cacheable && self.config.cache_entries > 0 {
            let mut st = self.state();
            let used = st.next();
            st.results.insert(
                key.clone(),
                Entry {
                    value: result.clone(),
                    used,
                },
            );
            trim(&mut st.results, self.config.cache_entries);
        }
        // Only now, with the result cached, may a newcomer skip the gate.
        // A missing binary or an I/O error is not cached: it may pass.
        self.inflight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&key);
        let manifests = result?;
        Ok(Rendered {
            tool,
            manifests,
            cache_hit: false,
            key,
        })
    }

    /// A cached result or cached failure for `key`.
    fn lookup(&self, key: &str, tool: Tool) -> Option<Result<Rendered, RenderError>> {
        let mut st = self.state();
        let used = st.next();
        let entry = st.results.get_mut(key)?;
        entry.used = used;
        let cached = entry.value.clone();
        drop(st);
        self.hits.fetch_add(1, Ordering::Relaxed);
        Some(cached.map(|manifests| Rendered {
            tool,
            manifests,
            cache_hit: true,
            key: key.to_string(),
        }))
    }

    async fn path_info(&self, root: &Path, rel: &str) -> Result<Arc<PathInfo>, RenderError> {
        let memo_key = (root.to_path_buf(), rel.to_string());
        {
            let mut st = self.state();
            let used = st.next();
            if let Some(e) = st.paths.get_mut(&memo_key) {
                e.used = used;
                return Ok(e.value.clone());
            }
        }
        let root_owned = root.to_path_buf();
        let rel_owned = rel.to_string();
        let info = blocking(move || {
            let (root_canon, dir) = paths::resolve_dir(&root_owned, &rel_owned)?;
            let detected = detect_tool(&dir);
            let chart = helm::chart_info(&dir);
            Ok(PathInfo {
                root_canon,
                dir,
                detected,
                chart,
            })
        })
        .await?;
        let info = Arc::new(info);
        let mut st = self.state();
        let used = st.next();
        st.paths.insert(
            memo_key,
            Entry {
                value: info.clone(),
                used,
            },
        );
        let cap = self.memo_cap();
        trim(&mut st.paths, cap);
        Ok(info)
    }

    async fn tree_info(
        &self,
        root: &Path,
        info: &PathInfo,
        scope: &str,
    ) -> Result<Arc<TreeInfo>, RenderError> {
        let memo_key = (root.to_path_buf(), scope.to_string());
        {
            let mut st = self.state();
            let used = st.next();
            if let Some(e) = st.trees.get_mut(&memo_key) {
                e.used = used;
                return Ok(e.value.clone());
            }
        }
        let root_canon = info.root_canon.clone();
        let start = if scope.is_empty() {
            root_canon.clone()
        } else {
            info.dir.clone()
        };
        let scope_owned = scope.to_string();
        let max = self.config.max_file_size;
        let tree =
            blocking(move || paths::hash_tree(&root_canon, &start, &scope_owned, max)).await?;
        let tree = Arc::new(tree);
        let mut st = self.state();
        let used = st.next();
        st.trees.insert(
            memo_key,
            Entry {
                value: tree.clone(),
                used,
            },
        );
        let cap = self.memo_cap();
        trim(&mut st.trees, cap);
        Ok(tree)
    }

    async fn run(
        &self,
        tool: Tool,
        rel: &str,
        info: &PathInfo,
        req: &RenderRequest<'_>,
    ) -> Result<Vec<Manifest>, RenderError> {
        let job = worker::Job {
            tool,
            rel: rel.to_string(),
            root_canon: info.root_canon.clone(),
            dir: info.dir.clone(),
            chart: info.chart.clone(),
            source: req.source.clone(),
            app_name: req.app_name.to_string(),
            namespace: req.namespace.map(str::to_string),
            kube_version: req.kube_version.map(str::to_string),
            api_versions: req.api_versions.to_vec(),
            timeout: self.config.timeout,
            max_file_size: self.config.max_file_size,
            max_output_size: self.config.max_output_size,
            allow_remote: self.config.allow_remote_bases,
            kustomize: self.kustomize.clone(),
            helm: self.helm.clone(),
            limits: self.config.limits.clone(),
            max_objects: self.config.max_objects,
        };
        let render = async {
            match (tool, &self.config.worker) {
                // A plain directory is parsed here: the parser has its own budgets,
                // and a process per render would cost more than the render.
                (Tool::Directory, _) | (_, None) => {
                    tokio::time::timeout(self.config.timeout, run_tool(&job))
                        .await
                        .map_err(|_| RenderError::Timeout {
                            tool,
                            secs: self.config.timeout.as_secs(),
                        })?
                }
                (_, Some(cmd)) => worker::run(cmd, &job).await,
            }
        };
        let mut stopping = self.stopping.subscribe();
        // Dropping the render kills its worker's process group.
        tokio::select! {
            result = render => result,
            _ = stopping.wait_for(|s| *s) => Err(RenderError::Stopped),
        }
    }
}

/// One render, by the tool's own code: in the worker process, or in this one
/// when no worker is configured.
pub(crate) async fn run_tool(job: &worker::Job) -> Result<Vec<Manifest>, RenderError> {
    let manifests = run_tool_unbounded(job).await?;
    if manifests.len() > job.max_objects {
        return Err(RenderError::TooManyObjects {
            count: manifests.len(),
            limit: job.max_objects,
        });
    }
    Ok(manifests)
}

async fn run_tool_unbounded(job: &worker::Job) -> Result<Vec<Manifest>, RenderError> {
    let ctx = job.ctx();
    match job.tool {
        Tool::Directory => {
            let (ctx, rel, dir) = (ctx.clone(), job.rel.clone(), job.dir.clone());
            let opts = job.source.directory.clone();
            blocking(move || {
                directory::render(
                    &ctx,
                    &directory::DirRequest {
                        rel: &rel,
                        dir: &dir,
                        opts: opts.as_ref(),
                        jsonnet: None,
                    },
                )
            })
            .await
        }
        Tool::Jsonnet => run_jsonnet(ctx, job).await,
        Tool::Kustomize => {
            confine::check_kustomize(&ctx.root_canon, &job.rel, ctx.allow_remote)?;
            kustomize::render(
                &ctx,
                job.kustomize.as_ref(),
                &job.rel,
                job.source.kustomize.as_ref(),
            )
            .await
        }
        Tool::Helm => {
            confine::check_chart(
                &ctx.root_canon,
                &job.rel,
                job.chart.missing_deps,
                ctx.allow_remote,
            )?;
            helm::render(
                &ctx,
                job.helm.as_deref(),
                helm::HelmRequest {
                    rel: &job.rel,
                    opts: job.source.helm.as_ref(),
                    chart: &job.chart,
                    app_name: &job.app_name,
                    namespace: job.namespace.as_deref(),
                    kube_version: job.kube_version.as_deref(),
                    api_versions: &job.api_versions,
                },
            )
            .await
        }
    }
}

/// Jsonnet recursion goes deep on the native stack, so it is evaluated on a
/// thread with a large (lazily committed) stack. In the worker, a recursion
/// deeper still overflows it and kills the worker alone.
async fn run_jsonnet(ctx: Ctx, job: &worker::Job) -> Result<Vec<Manifest>, RenderError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let rel = job.rel.clone();
    let dir = job.dir.clone();
    let dir_opts = job.source.directory.clone();
    let jsonnet_opts = job.source.jsonnet.clone();
    let spawned = std::thread::Builder::new()
        .name("tether-jsonnet".into())
        .stack_size(JSONNET_THREAD_STACK)
        .spawn(move || {
            let result = jsonnet::setup(&ctx.root_canon, jsonnet_opts.as_ref()).and_then(|setup| {
                directory::render(
                    &ctx,
                    &directory::DirRequest {
                        rel: &rel,
                        dir: &dir,
                        opts: dir_opts.as_ref(),
                        jsonnet: Some(&setup),
                    },
                )
            });
            // The receiver is gone only if the render timed out or was dropped.
            let _ = tx.send(result);
        });
    if let Err(e) = spawned {
        return Err(RenderError::io("a thread for jsonnet", e));
    }
    rx.await.unwrap_or_else(|_| {
        Err(RenderError::Jsonnet {
            file: paths::shown(&job.rel).to_string(),
            message: "the evaluator crashed (see the agent log)".into(),
        })
    })
}

/// Run blocking file-system work off the async threads.
async fn blocking<T, F>(f: F) -> Result<T, RenderError>
where
    F: FnOnce() -> Result<T, RenderError> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| RenderError::io("render worker", std::io::Error::other(e.to_string())))?
}

/// Everything that can change the output. Namespace, cluster version, API
/// versions and app name only reach Helm, so only Helm's key includes them:
/// a CRD installed in the cluster must not invalidate every plain directory.
fn cache_key(tool: Tool, rel: &str, req: &RenderRequest<'_>, tree: &TreeInfo) -> String {
    let mut h = Sha256::new();
    let mut field = |b: &[u8]| {
        h.update((b.len() as u64).to_le_bytes());
        h.update(b);
    };
    field(b"tether-render/1");
    field(tool.as_str().as_bytes());
    field(rel.as_bytes());
    let options = serde_json::json!([
        req.source.directory,
        req.source.kustomize,
        req.source.helm,
        req.source.jsonnet,
    ]);
    field(options.to_string().as_bytes());
    if tool == Tool::Helm {
        field(req.app_name.as_bytes());
        field(req.namespace.map_or(b"\0none".as_slice(), str::as_bytes));
        field(req.kube_version.map_or(b"\0none".as_slice(), str::as_bytes));
        field(&(req.api_versions.len() as u64).to_le_bytes());
        for a in req.api_versions {
            field(a.as_bytes());
        }
    }
    field(&tree.hash);
    let digest = h.finalize();
    digest.iter().map(|b| format!("{b:02x}")).collect()
}
