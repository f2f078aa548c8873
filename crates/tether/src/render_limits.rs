//! How the binary renders: each Kustomize, Helm and Jsonnet render runs in a
//! child process of this same binary (`tether render-worker`), under the
//! limits set here. The flags are shared by `tether agent` and `tether up`.

use std::time::Duration;

use tether_render::{Limits, RendererConfig, WorkerCommand};

/// The subcommand the render worker answers to. It is not in `--help`: only
/// tether itself starts it, with a job on stdin.
pub const WORKER_SUBCOMMAND: &str = "render-worker";

#[derive(clap::Args, Debug, Clone)]
#[command(next_help_heading = "Render limits")]
pub struct RenderLimitArgs {
    /// Wall-clock seconds one render (Kustomize, Helm or Jsonnet) may take before it is
    /// killed and its app fails with RenderLimitExceeded.
    #[arg(long, default_value_t = 90)]
    pub render_timeout: u64,
    /// Memory one render may use, in MiB (its worker process and the tool it runs; heap
    /// and private mappings).
    #[arg(long, default_value_t = 1024)]
    pub render_max_memory_mib: u64,
    /// CPU seconds one render may use.
    #[arg(long, default_value_t = 60)]
    pub render_max_cpu_seconds: u64,
    /// Bytes of output one render may produce, in MiB.
    #[arg(long, default_value_t = 64)]
    pub render_max_output_mib: u64,
    /// Open files one render may hold.
    #[arg(long, default_value_t = 1024)]
    pub render_max_open_files: u64,
    /// Let Kustomize fetch remote bases (`https://`, `git@`, `github.com/...`) and Helm
    /// fetch chart dependencies from chart repositories while rendering. Off by default:
    /// a repository could otherwise make the agent fetch from any address its network
    /// reaches. `file://` bases are refused even then.
    #[arg(long)]
    pub allow_remote_bases: bool,
}

impl Default for RenderLimitArgs {
    fn default() -> Self {
        <Self as clap::FromArgMatches>::from_arg_matches(
            &<Self as clap::Args>::augment_args(clap::Command::new("defaults"))
                .get_matches_from(["defaults"]),
        )
        .expect("the defaults parse")
    }
}

impl RenderLimitArgs {
    pub fn config(&self) -> RendererConfig {
        let Self {
            render_timeout,
            render_max_memory_mib,
            render_max_cpu_seconds,
            render_max_output_mib,
            render_max_open_files,
            allow_remote_bases,
        } = self;
        RendererConfig {
            timeout: Duration::from_secs((*render_timeout).max(1)),
            max_output_size: render_max_output_mib.max(&1) << 20,
            limits: Limits {
                memory_bytes: render_max_memory_mib.max(&64) << 20,
                cpu_secs: (*render_max_cpu_seconds).max(1),
                open_files: (*render_max_open_files).max(32),
            },
            worker: worker(),
            allow_remote_bases: *allow_remote_bases,
            ..RendererConfig::default()
        }
    }
}

/// This binary as a render worker; `None` (render in-process) only if the
/// executable cannot be found, which is logged.
pub fn worker() -> Option<WorkerCommand> {
    match WorkerCommand::current_exe(&[WORKER_SUBCOMMAND]) {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::warn!("cannot find tether's own executable ({e}); rendering in-process");
            None
        }
    }
}
