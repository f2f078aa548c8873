//! `tether app create`: an Application from flags or from a YAML manifest.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use kube::ResourceExt;
use kube::api::PostParams;
use serde_json::Value;
use tether_kube::KubeError;
use tether_model::{
    Application, ApplicationSpec, Automated, CASCADE_FINALIZER, Destination, DirectoryOptions,
    HelmOptions, JsonnetOptions, JsonnetVar, KustomizeOptions, Source, SyncPolicy, Tool,
};

use super::{Ctx, Target, split_name};

/// The render tool, as a flag value.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ToolArg {
    /// A plain directory of YAML/JSON manifests.
    Directory,
    /// A kustomization (`kustomization.yaml`), built with `kustomize build`.
    Kustomize,
    /// A Helm chart (`Chart.yaml`), rendered with `helm template`.
    Helm,
    /// Jsonnet (`*.jsonnet`), evaluated in-process.
    Jsonnet,
}

impl From<ToolArg> for Tool {
    fn from(t: ToolArg) -> Tool {
        match t {
            ToolArg::Directory => Tool::Directory,
            ToolArg::Kustomize => Tool::Kustomize,
            ToolArg::Helm => Tool::Helm,
            ToolArg::Jsonnet => Tool::Jsonnet,
        }
    }
}

/// How to render the source path: the tool and its options. Shared by
/// `tether app create` and `tether render`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ToolArgs {
    /// Render tool [default: detected from the files: kustomization.yaml → kustomize,
    /// Chart.yaml → helm, *.jsonnet → jsonnet, else directory].
    #[arg(long, value_enum)]
    pub tool: Option<ToolArg>,
    /// Directory: also read subdirectories.
    #[arg(long, help_heading = "Directory options")]
    pub recurse: bool,
    /// Directory: only read files matching this glob (relative to the path); repeatable.
    #[arg(long, value_name = "GLOB", help_heading = "Directory options")]
    pub include: Vec<String>,
    /// Directory: skip files matching this glob; repeatable.
    #[arg(long, value_name = "GLOB", help_heading = "Directory options")]
    pub exclude: Vec<String>,
    /// Helm: a values file, relative to the chart directory; repeatable, applied in order.
    #[arg(long, value_name = "FILE", help_heading = "Helm options")]
    pub helm_values_file: Vec<String>,
    /// Helm: inline values as a YAML document, applied after the values files,
    /// e.g. `replicaCount: 2`.
    #[arg(long, value_name = "YAML", help_heading = "Helm options")]
    pub helm_set_values: Option<String>,
    /// Helm: the release name [default: the Application's name].
    #[arg(long, value_name = "NAME", help_heading = "Helm options")]
    pub release_name: Option<String>,
    /// Helm: leave out the chart's crds/ directory.
    #[arg(long, help_heading = "Helm options")]
    pub helm_skip_crds: bool,
    /// Kustomize: an image override as `kustomize edit set image` takes it
    /// (`name=newname:tag`, `name:tag`, `name@digest`); repeatable.
    #[arg(long, value_name = "IMAGE", help_heading = "Kustomize options")]
    pub kustomize_image: Vec<String>,
    /// Kustomize: a prefix for every object's name.
    #[arg(long, value_name = "PREFIX", help_heading = "Kustomize options")]
    pub name_prefix: Option<String>,
    /// Jsonnet: a top-level argument as a string, `name=value`; repeatable.
    #[arg(long, value_name = "NAME=VALUE", value_parser = parse_kv, help_heading = "Jsonnet options")]
    pub jsonnet_tla: Vec<(String, String)>,
    /// Jsonnet: a top-level argument as Jsonnet code, `name=code`; repeatable.
    #[arg(long, value_name = "NAME=CODE", value_parser = parse_kv, help_heading = "Jsonnet options")]
    pub jsonnet_tla_code: Vec<(String, String)>,
    /// Jsonnet: an external variable (`std.extVar`) as a string, `name=value`; repeatable.
    #[arg(long, value_name = "NAME=VALUE", value_parser = parse_kv, help_heading = "Jsonnet options")]
    pub ext_var: Vec<(String, String)>,
    /// Jsonnet: an external variable as Jsonnet code, `name=code`; repeatable.
    #[arg(long, value_name = "NAME=CODE", value_parser = parse_kv, help_heading = "Jsonnet options")]
    pub ext_var_code: Vec<(String, String)>,
    /// Jsonnet: a library search path, relative to the repository root; repeatable.
    #[arg(long, value_name = "DIR", help_heading = "Jsonnet options")]
    pub jsonnet_lib: Vec<String>,
}

/// The ids of every [`ToolArgs`] flag and `--secret` (for `-f`'s conflicts).
const TOOL_FLAGS: [&str; 16] = [
    "tool",
    "recurse",
    "include",
    "exclude",
    "helm_values_file",
    "helm_set_values",
    "release_name",
    "helm_skip_crds",
    "kustomize_image",
    "name_prefix",
    "jsonnet_tla",
    "jsonnet_tla_code",
    "ext_var",
    "ext_var_code",
    "jsonnet_lib",
    "secret",
];

fn parse_kv(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!("expected NAME=VALUE, got {text:?}")),
    }
}

fn parse_sync_option(text: &str) -> Result<String, String> {
    match text.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() && !v.trim().is_empty() => Ok(text.trim().to_string()),
        _ => Err(format!(
            "expected KEY=VALUE such as CreateNamespace=true, got {text:?}"
        )),
    }
}

impl ToolArgs {
    /// Set the tool and its options on `source`. Options stay unset (not empty)
    /// when no flag for them was given.
    pub fn apply_to(&self, source: &mut Source) -> anyhow::Result<()> {
        if let Some(tool) = self.tool {
            source.tool = Some(tool.into());
        }
        if self.recurse || !self.include.is_empty() || !self.exclude.is_empty() {
            source.directory = Some(DirectoryOptions {
                recurse: self.recurse,
                include: self.include.clone(),
                exclude: self.exclude.clone(),
            });
        }
        if !self.helm_values_file.is_empty()
            || self.helm_set_values.is_some()
            || self.release_name.is_some()
            || self.helm_skip_crds
        {
            if let Some(values) = &self.helm_set_values {
                let parsed: Value = serde_saphyr::from_str(values)
                    .map_err(|e| anyhow::anyhow!("--helm-set-values is not valid YAML: {e}"))?;
                if !(parsed.is_object() || parsed.is_null()) {
                    bail!("--helm-set-values must be a YAML mapping, e.g. `replicaCount: 2`");
                }
            }
            source.helm = Some(HelmOptions {
                value_files: self.helm_values_file.clone(),
                values: self.helm_set_values.clone(),
                release_name: self.release_name.clone(),
                skip_crds: self.helm_skip_crds,
            });
        }
        if !self.kustomize_image.is_empty() || self.name_prefix.is_some() {
            source.kustomize = Some(KustomizeOptions {
                images: self.kustomize_image.clone(),
                name_prefix: self.name_prefix.clone(),
                namespace: None,
            });
        }
        fn vars(list: &[(String, String)], code: bool) -> impl Iterator<Item = JsonnetVar> + '_ {
            list.iter().map(move |(name, value)| JsonnetVar {
                name: name.clone(),
                value: value.clone(),
                code,
            })
        }
        let tlas: Vec<JsonnetVar> = vars(&self.jsonnet_tla, false)
            .chain(vars(&self.jsonnet_tla_code, true))
            .collect();
        let ext_vars: Vec<JsonnetVar> = vars(&self.ext_var, false)
            .chain(vars(&self.ext_var_code, true))
            .collect();
        if !tlas.is_empty() || !ext_vars.is_empty() || !self.jsonnet_lib.is_empty() {
            source.jsonnet = Some(JsonnetOptions {
                tlas,
                ext_vars,
                libs: self.jsonnet_lib.clone(),
            });
        }
        Ok(())
    }
}

#[derive(clap::Args, Debug)]
pub struct CreateArgs {
    #[command(flatten)]
    target: Target,
    /// Name of the Application (`NAMESPACE/NAME` also works). Not used with -f.
    #[arg(required_unless_present = "file", conflicts_with = "file")]
    name: Option<String>,
    /// Create from a YAML file of one or more Application manifests (`-` reads stdin)
    /// instead of flags. Their namespace defaults to -n.
    #[arg(short = 'f', long, value_name = "FILE",
          conflicts_with_all = ["repo", "revision", "path", "dest_namespace", "auto", "prune",
                                "self_heal", "allow_empty", "sync_option"],
          conflicts_with_all = TOOL_FLAGS)]
    file: Option<PathBuf>,
    /// Git repository URL: https://, ssh://, user@host:path or file://.
    #[arg(long, value_name = "URL", required_unless_present = "file")]
    repo: Option<String>,
    /// Branch, tag or commit to deploy [default: the repository's HEAD branch].
    #[arg(long, value_name = "REV")]
    revision: Option<String>,
    /// Directory inside the repository [default: the root].
    #[arg(long, value_name = "DIR")]
    path: Option<String>,
    /// Namespace for the objects that do not name one [default: the Application's namespace].
    #[arg(long, value_name = "NS")]
    dest_namespace: Option<String>,
    #[command(flatten)]
    tool: ToolArgs,
    /// Sync automatically whenever Git changes. Without it, the app only reports
    /// OutOfSync until `tether app sync`.
    #[arg(long, help_heading = "Sync policy")]
    auto: bool,
    /// With --auto: delete objects that Git no longer declares.
    #[arg(long, requires = "auto", help_heading = "Sync policy")]
    prune: bool,
    /// With --auto: undo changes made in the cluster (drift) as soon as they are seen.
    #[arg(long, requires = "auto", help_heading = "Sync policy")]
    self_heal: bool,
    /// Report drift (status, audit log, a Warning event) but never correct it, even with
    /// --self-heal. New commits are still synced as --auto says.
    #[arg(long, help_heading = "Sync policy")]
    detect_only: bool,
    /// With --auto --prune: let a render with no objects prune everything (off by
    /// default, so a broken commit cannot wipe the app).
    #[arg(long, requires = "auto", help_heading = "Sync policy")]
    allow_empty: bool,
    /// A sync option, KEY=VALUE; repeatable. Known: CreateNamespace=true (create the
    /// destination namespace), ServerSideApply=force-conflicts, PruneLast=true,
    /// TakeOver=true (take objects over from other apps that manage them).
    #[arg(long, value_name = "KEY=VALUE", value_parser = parse_sync_option, help_heading = "Sync policy")]
    sync_option: Vec<String>,
    /// Name of a Secret in the Application's namespace with Git credentials
    /// (`username` + `password`/`token`, or `sshPrivateKey` [+ `knownHosts`]).
    #[arg(long, value_name = "NAME")]
    secret: Option<String>,
    /// Update the Application when it exists already, instead of failing.
    #[arg(long)]
    upsert: bool,
}

impl CreateArgs {
    fn application(&self) -> anyhow::Result<Application> {
        let name = self.name.as_deref().unwrap_or_default();
        let (ns, name) = split_name(name, &self.target.namespace);
        let mut source = Source {
            repo_url: self.repo.clone().unwrap_or_default(),
            revision: self.revision.clone().filter(|r| !r.is_empty()),
            path: self.path.clone().filter(|p| !p.is_empty() && p != "."),
            secret_ref: self.secret.clone(),
            ..Default::default()
        };
        self.tool.apply_to(&mut source)?;
        let automated = self.auto.then_some(Automated {
            prune: self.prune,
            self_heal: self.self_heal,
            allow_empty: self.allow_empty,
        });
        let sync_policy = (automated.is_some() || !self.sync_option.is_empty() || self.detect_only)
            .then(|| SyncPolicy {
                automated,
                sync_options: self.sync_option.clone(),
                retry: None,
                detect_only: self.detect_only,
            });
        let spec = ApplicationSpec {
            source,
            destination: Destination {
                namespace: self.dest_namespace.clone(),
                cluster: None,
            },
            sync_policy,
            ..Default::default()
        };
        let mut app = Application::new(&name, spec);
        app.metadata.namespace = Some(ns);
        Ok(app)
    }
}

/// Applications from a YAML file (or stdin).
fn from_file(path: &Path, default_ns: &str) -> anyhow::Result<Vec<Application>> {
    let text = if path == Path::new("-") {
        std::io::read_to_string(std::io::stdin()).context("reading stdin")?
    } else {
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?
    };
    let docs: Vec<Value> = serde_saphyr::from_multiple(&text)
        .map_err(|e| anyhow::anyhow!("{}: not valid YAML: {e}", path.display()))?;
    let mut apps = Vec::new();
    for (i, doc) in docs.into_iter().enumerate().filter(|(_, d)| !d.is_null()) {
        let kind = doc["kind"].as_str().unwrap_or("");
        let api_version = doc["apiVersion"].as_str().unwrap_or("");
        if kind != "Application" || !api_version.starts_with("tether.dev/") {
            bail!(
                "{} document {}: expected apiVersion tether.dev/v1alpha1 and kind Application, got {:?} {:?}",
                path.display(),
                i + 1,
                api_version,
                kind
            );
        }
        let mut app: Application = serde_json::from_value(doc).with_context(|| {
            format!(
                "{} document {}: not a valid Application",
                path.display(),
                i + 1
            )
        })?;
        if app.metadata.name.as_deref().unwrap_or("").is_empty() {
            bail!(
                "{} document {}: metadata.name is missing",
                path.display(),
                i + 1
            );
        }
        if app.metadata.namespace.as_deref().unwrap_or("").is_empty() {
            app.metadata.namespace = Some(default_ns.to_string());
        }
        // Status is the agent's; server-managed metadata would make the create fail.
        app.status = None;
        app.metadata.resource_version = None;
        app.metadata.uid = None;
        app.metadata.creation_timestamp = None;
        app.metadata.managed_fields = None;
        app.metadata.generation = None;
        apps.push(app);
    }
    if apps.is_empty() {
        bail!("{}: no Application in it", path.display());
    }
    Ok(apps)
}

pub async fn run(args: CreateArgs) -> anyhow::Result<ExitCode> {
    let apps = match &args.file {
        Some(path) => from_file(path, &args.target.namespace)?,
        None => vec![args.application()?],
    };
    let ctx = Ctx::connect(&args.target).await?;
    ensure_crd(&ctx).await?;
    for mut app in apps {
        let ns = app.namespace().unwrap_or_default();
        let name = app.name_any();
        let finalizers = app.metadata.finalizers.get_or_insert_with(Vec::new);
        if !finalizers.iter().any(|f| f == CASCADE_FINALIZER) {
            finalizers.push(CASCADE_FINALIZER.to_string());
        }
        if ctx
            .cluster
            .ensure_namespace(&ns, tether_model::FIELD_MANAGER)
            .await
            .with_context(|| format!("creating namespace {ns}"))?
        {
            eprintln!("namespace {ns} created");
        }
        let api = ctx.api(&ns);
        match api.create(&PostParams::default(), &app).await {
            Ok(_) => println!("application {ns}/{name} created"),
            Err(e) => {
                let e = KubeError::from(e);
                if !e.is_conflict() {
                    return Err(
                        anyhow::Error::new(e).context(format!("creating application {ns}/{name}"))
                    );
                }
                if !args.upsert {
                    bail!("application {ns}/{name} already exists (use --upsert to update it)");
                }
                let changed = upsert(&ctx, &app).await?;
                if changed {
                    println!("application {ns}/{name} updated");
                } else {
                    println!("application {ns}/{name} unchanged");
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Install the Application CRD when the cluster does not serve it yet.
async fn ensure_crd(ctx: &Ctx) -> anyhow::Result<()> {
    match ctx
        .cluster
        .resolve("tether.dev/v1alpha1", "Application")
        .await
    {
        Ok(_) => Ok(()),
        Err(KubeError::UnknownKind { .. }) => {
            use kube::CustomResourceExt;
            ctx.cluster
                .ensure_crd(&Application::crd(), Duration::from_secs(30))
                .await
                .context("installing the Application CRD")?;
            eprintln!("installed the Application CRD (applications.tether.dev)");
            Ok(())
        }
        Err(e) => Err(e).context("discovering the Application kind"),
    }
}

/// Replace the spec (and merge labels, annotations and the finalizer) of an
/// existing Application. Retries when someone else wrote it in between.
/// Returns whether anything changed.
async fn upsert(ctx: &Ctx, app: &Application) -> anyhow::Result<bool> {
    let ns = app.namespace().unwrap_or_default();
    let name = app.name_any();
    let api = ctx.api(&ns);
    for _ in 0..5 {
        let Some(mut existing) = ctx.get_opt(&ns, &name).await? else {
            // Deleted in between: create it after all.
            api.create(&PostParams::default(), app)
                .await
                .with_context(|| format!("creating application {ns}/{name}"))?;
            return Ok(true);
        };
        if existing.metadata.deletion_timestamp.is_some() {
            bail!(
                "application {ns}/{name} is being deleted; wait for it to go before creating it again"
            );
        }
        let before = (existing.spec.clone(), existing.metadata.clone());
        existing.spec = app.spec.clone();
        for (k, v) in app.labels() {
            existing.labels_mut().insert(k.clone(), v.clone());
        }
        for (k, v) in app.annotations() {
            existing.annotations_mut().insert(k.clone(), v.clone());
        }
        let finalizers = existing.metadata.finalizers.get_or_insert_with(Vec::new);
        for f in app.finalizers() {
            if !finalizers.contains(f) {
                finalizers.push(f.clone());
            }
        }
        if (existing.spec.clone(), existing.metadata.clone()) == before {
            return Ok(false);
        }
        match api.replace(&name, &PostParams::default(), &existing).await {
            Ok(_) => return Ok(true),
            Err(e) => {
                let e = KubeError::from(e);
                if e.is_conflict() {
                    continue;
                }
                return Err(
                    anyhow::Error::new(e).context(format!("updating application {ns}/{name}"))
                );
            }
        }
    }
    bail!("updating application {ns}/{name}: it kept changing under us (5 conflicts); try again")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_flags_fill_only_the_options_given() {
        let mut src = Source::default();
        let args = ToolArgs {
            tool: Some(ToolArg::Jsonnet),
            jsonnet_tla: vec![("env".into(), "prod".into())],
            ext_var_code: vec![("n".into(), "3".into())],
            ..Default::default()
        };
        args.apply_to(&mut src).unwrap();
        assert_eq!(src.tool, Some(Tool::Jsonnet));
        assert!(src.helm.is_none() && src.kustomize.is_none() && src.directory.is_none());
        let j = src.jsonnet.unwrap();
        assert_eq!(j.tlas.len(), 1);
        assert!(!j.tlas[0].code);
        assert!(j.ext_vars[0].code);
    }

    #[test]
    fn helm_values_must_be_a_mapping() {
        let mut src = Source::default();
        let args = ToolArgs {
            helm_set_values: Some("- a list".into()),
            ..Default::default()
        };
        assert!(args.apply_to(&mut src).is_err());
        let args = ToolArgs {
            helm_set_values: Some("replicaCount: 2".into()),
            ..Default::default()
        };
        args.apply_to(&mut src).unwrap();
        assert_eq!(src.helm.unwrap().values.as_deref(), Some("replicaCount: 2"));
    }

    #[test]
    fn key_values() {
        assert_eq!(parse_kv("a=b=c"), Ok(("a".into(), "b=c".into())));
        assert!(parse_kv("=x").is_err());
        assert!(parse_kv("nokey").is_err());
        assert!(parse_sync_option("CreateNamespace=true").is_ok());
        assert!(parse_sync_option("CreateNamespace").is_err());
    }
}
