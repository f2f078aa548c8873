//! The render worker: Kustomize, Helm and Jsonnet renders run in a child
//! process, so that whatever a repository makes them do (recurse until the
//! stack overflows, allocate until memory runs out, loop forever, open files
//! without end) fails that one render and never the agent, its other apps or
//! its shutdown.
//!
//! The agent re-executes its own binary (`tether render-worker`) with one
//! [`Job`] as JSON on stdin. The worker lowers its own resource limits
//! (address space that holds data, CPU seconds, open files), which every tool
//! it starts inherits, runs the same code an in-process render runs, and
//! writes the result as JSON on stdout. The parent puts the worker in a
//! process group of its own, enforces the wall-clock limit and the output
//! cap, and kills the whole group when a limit is hit or the render is
//! dropped (a cancelled reconcile, the agent stopping).
//!
//! Plain directories are parsed in-process: their YAML parser has its own
//! budgets, and a process per plain render would cost more than the render.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tether_model::{Source, Tool};
use tokio::io::AsyncWriteExt;

use crate::helm::ChartInfo;
use crate::kustomize::KustomizeBin;
use crate::process::{Capped, read_capped, read_tail, tail};
use crate::{Ctx, Manifest, RenderError};

/// How to start a worker: the agent's own binary and the subcommand that
/// serves one job.
#[derive(Clone, Debug)]
pub struct WorkerCommand {
    pub program: PathBuf,
    pub args: Vec<OsString>,
}

impl WorkerCommand {
    /// This very executable, with `args` (e.g. `["render-worker"]`).
    pub fn current_exe(args: &[&str]) -> std::io::Result<Self> {
        Ok(WorkerCommand {
            program: std::env::current_exe()?,
            args: args.iter().map(OsString::from).collect(),
        })
    }
}

/// Per-render resource limits. The defaults are far above what real charts
/// and overlays need (a large chart renders in well under a second and a
/// hundred MiB), and far below what takes a node down.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Limits {
    /// Memory the worker and its tool may hold: RLIMIT_DATA (heap and
    /// private mappings), and twice this as RLIMIT_AS. Both are needed: the
    /// Go runtime of Helm and Kustomize escapes RLIMIT_DATA (its heap grows
    /// in place inside address space it reserved at start), and reserves
    /// far more address space than it uses, so RLIMIT_AS alone at this value
    /// would stop it from starting.
    pub memory_bytes: u64,
    /// CPU seconds (RLIMIT_CPU), counted per process.
    pub cpu_secs: u64,
    /// Open file descriptors (RLIMIT_NOFILE).
    pub open_files: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: 1 << 30,
            cpu_secs: 60,
            open_files: 1024,
        }
    }
}

/// Everything one render needs, resolved by the parent.
#[derive(Serialize, Deserialize)]
pub(crate) struct Job {
    pub tool: Tool,
    pub rel: String,
    pub root_canon: PathBuf,
    pub dir: PathBuf,
    pub chart: ChartInfo,
    pub source: Source,
    pub app_name: String,
    pub namespace: Option<String>,
    pub kube_version: Option<String>,
    pub api_versions: Vec<String>,
    pub timeout: Duration,
    pub max_file_size: u64,
    pub max_output_size: u64,
    pub allow_remote: bool,
    pub kustomize: Option<KustomizeBin>,
    pub helm: Option<PathBuf>,
    pub limits: Limits,
    /// More objects than this fail the render before they are sent back.
    pub max_objects: usize,
}

impl Job {
    pub(crate) fn ctx(&self) -> Ctx {
        Ctx {
            root_canon: self.root_canon.clone(),
            timeout: self.timeout,
            max_file_size: self.max_file_size,
            max_output_size: self.max_output_size,
            allow_remote: self.allow_remote,
        }
    }
}

/// The worker's whole process group (the worker and any tool it started),
/// killed when the render ends however it ends. Always before the worker is
/// reaped: until then the group's id cannot be given to another process.
struct KillGroup(Option<i32>);

impl KillGroup {
    fn kill(&mut self) {
        if let Some(pgid) = self.0.take() {
            use nix::sys::signal::{Signal, killpg};
            // ESRCH (already gone) is the common, harmless case.
            let _ = killpg(nix::unistd::Pid::from_raw(pgid), Signal::SIGKILL);
        }
    }
}

impl Drop for KillGroup {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Run `job` in a worker process. Called by the agent for Kustomize, Helm and
/// Jsonnet.
pub(crate) async fn run(cmd: &WorkerCommand, job: &Job) -> Result<Vec<Manifest>, RenderError> {
    let input = serde_json::to_vec(job)
        .map_err(|e| RenderError::io("the render job", std::io::Error::other(e)))?;
    let mut child = tokio::process::Command::new(&cmd.program)
        .args(&cmd.args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| RenderError::ToolMissing {
            tool: job.tool,
            detail: format!(
                "cannot start the render worker {}: {e}",
                cmd.program.display()
            ),
        })?;
    let mut group = KillGroup(child.id().and_then(|id| i32::try_from(id).ok()));
    let (Some(mut stdin), Some(stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return Err(RenderError::io(
            "the render worker",
            std::io::Error::other("no pipes"),
        ));
    };
    // The result is JSON of what the tool printed: allow for JSON's quoting
    // on top of the tool's own output cap.
    let max_result = job
        .max_output_size
        .saturating_mul(2)
        .saturating_add(1 << 20);
    let work = async {
        // A worker that dies before reading its job closes the pipe: that is
        // reported from its exit status below, not as a write error.
        let _ = stdin.write_all(&input).await;
        drop(stdin);
        let (out, err) = tokio::join!(read_capped(stdout, max_result), read_tail(stderr));
        // Whatever the worker left behind (a tool's child that outlived a
        // killed tool) goes with it; the result, if any, is already read.
        group.kill();
        let status = child.wait().await;
        (out, err, status)
    };
    let (out, err, status) = match tokio::time::timeout(job.timeout, work).await {
        Ok(v) => v,
        Err(_) => {
            return Err(RenderError::Timeout {
                tool: job.tool,
                secs: job.timeout.as_secs(),
            });
        }
    };
    let status = status.map_err(|e| RenderError::io("the render worker", e))?;
    let stderr = String::from_utf8_lossy(&err.unwrap_or_default()).into_owned();
    let out = match out {
        Ok(out) => out,
        Err(Capped::Io(e)) => return Err(RenderError::io("the render worker's output", e)),
        Err(Capped::TooLarge(size)) => {
            return Err(RenderError::LimitExceeded {
                tool: job.tool,
                limit: format!("output size ({})", bytes(job.max_output_size)),
                detail: format!("the render produced more than {size} bytes"),
            });
        }
    };
    // Only the worker writes to this pipe (its tools' output is piped into
    // it), so a complete result is its own, even if the group was killed as
    // the worker was exiting.
    match serde_json::from_slice::<Result<Vec<Manifest>, RenderError>>(&out) {
        Ok(result) => result,
        // A finished worker whose result does not parse back (an object
        // nested past serde_json's depth limit): the input's doing, so a
        // failure that is cached, with the reason.
        Err(e) if status.success() && !out.is_empty() => Err(RenderError::Tool {
            tool: job.tool,
            command: "render worker".into(),
            status: "succeeded".into(),
            stderr: format!("its result cannot be read back: {e}"),
        }),
        Err(_) => Err(crash(job, status, &stderr)),
    }
}

/// Explain a worker that died without a result, naming the limit it hit
/// when that is what happened.
fn crash(job: &Job, status: std::process::ExitStatus, stderr: &str) -> RenderError {
    use std::os::unix::process::ExitStatusExt;
    let limits = &job.limits;
    let memory = || RenderError::LimitExceeded {
        tool: job.tool,
        limit: format!("memory ({})", bytes(limits.memory_bytes)),
        detail: "it ran out of memory".into(),
    };
    if stderr.contains("memory allocation of") || stderr.contains("out of memory") {
        return memory();
    }
    if stderr.contains("has overflowed its stack") {
        return RenderError::LimitExceeded {
            tool: job.tool,
            limit: "stack".into(),
            detail: "the recursion is too deep (stack overflow)".into(),
        };
    }
    match status.signal() {
        Some(s) if s == nix::sys::signal::Signal::SIGXCPU as i32 => RenderError::LimitExceeded {
            tool: job.tool,
            limit: format!("CPU time ({}s)", limits.cpu_secs),
            detail: "it used all its CPU time".into(),
        },
        // Killed from outside (the kernel's OOM killer, an operator): not
        // the commit's doing, so not cached.
        Some(s) => RenderError::Crashed {
            tool: job.tool,
            detail: format!(
                "the render worker was killed by signal {s}: {}",
                tail(stderr.trim(), 2048)
            ),
        },
        None => RenderError::Crashed {
            tool: job.tool,
            detail: format!(
                "the render worker ended with {status}: {}",
                tail(stderr.trim(), 2048)
            ),
        },
    }
}

/// `1073741824` → `1 GiB`.
pub(crate) fn bytes(n: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
    for (size, unit) in UNITS {
        if n >= size && n.is_multiple_of(size) {
            return format!("{} {unit}", n / size);
        }
    }
    format!("{n} bytes")
}

/// The worker's side: read one job from stdin, lower the limits, render,
/// print the result. Returns the process exit code.
pub fn serve() -> std::process::ExitCode {
    let mut input = Vec::new();
    if let Err(e) = std::io::stdin().read_to_end(&mut input) {
        eprintln!("render worker: cannot read the job: {e}");
        return std::process::ExitCode::from(2);
    }
    let job: Job = match serde_json::from_slice(&input) {
        Ok(j) => j,
        Err(e) => {
            eprintln!("render worker: invalid job: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    drop(input);
    if let Err(e) = confine_self(&job.limits) {
        eprintln!("render worker: cannot set limits: {e}");
        return std::process::ExitCode::from(2);
    }
    let result = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(crate::run_tool(&job)),
        Err(e) => Err(RenderError::io("the render worker's runtime", e)),
    };
    let result = result.map_err(|e| name_limit(e, &job.limits));
    let mut out = std::io::stdout().lock();
    if serde_json::to_writer(&mut out, &result).is_err() || out.flush().is_err() {
        return std::process::ExitCode::from(2);
    }
    std::process::ExitCode::SUCCESS
}

/// Helm and Kustomize are Go: out of memory, they print Go's fatal error and
/// exit; out of CPU time, the kernel kills them. The worker sees a failed
/// tool either way; name the limit instead.
fn name_limit(e: RenderError, limits: &Limits) -> RenderError {
    match e {
        RenderError::Tool { tool, stderr, .. } if stderr.contains("runtime: out of memory") => {
            RenderError::LimitExceeded {
                tool,
                limit: format!("memory ({})", bytes(limits.memory_bytes)),
                detail: "it ran out of memory".into(),
            }
        }
        RenderError::Tool { tool, .. } if children_cpu_secs() >= limits.cpu_secs.max(1) => {
            RenderError::LimitExceeded {
                tool,
                limit: format!("CPU time ({}s)", limits.cpu_secs),
                detail: "it used all its CPU time".into(),
            }
        }
        other => other,
    }
}

/// CPU seconds used by the tools this worker waited for.
fn children_cpu_secs() -> u64 {
    use nix::sys::resource::{UsageWho, getrusage};
    getrusage(UsageWho::RUSAGE_CHILDREN).map_or(0, |u| {
        let secs = |t: nix::sys::time::TimeVal| t.tv_sec().max(0) as u64;
        secs(u.user_time()) + secs(u.system_time())
    })
}

/// Lower this process's limits (inherited by every tool it starts), and die
/// with the agent rather than outlive it.
fn confine_self(limits: &Limits) -> nix::Result<()> {
    watch_parent();
    use nix::sys::resource::{Resource, setrlimit};
    setrlimit(
        Resource::RLIMIT_DATA,
        limits.memory_bytes,
        limits.memory_bytes,
    )?;
    let address_space = limits.memory_bytes.saturating_mul(2);
    setrlimit(Resource::RLIMIT_AS, address_space, address_space)?;
    // Soft then hard: SIGXCPU first, which names the limit; SIGKILL a second
    // later if it is ignored.
    setrlimit(
        Resource::RLIMIT_CPU,
        limits.cpu_secs.max(1),
        limits.cpu_secs.max(1) + 1,
    )?;
    setrlimit(
        Resource::RLIMIT_NOFILE,
        limits.open_files.max(32),
        limits.open_files.max(32),
    )?;
    Ok(())
}

/// When the agent dies the worker is re-parented: then it kills its own
/// process group (itself and its tools). Not PR_SET_PDEATHSIG, which fires
/// when the *thread* that started the worker exits, and the agent's runtime
/// retires threads while their workers still run.
fn watch_parent() {
    let parent = std::os::unix::process::parent_id();
    let _ = std::thread::Builder::new()
        .name("parent-watch".into())
        .spawn(move || {
            loop {
                if std::os::unix::process::parent_id() != parent {
                    use nix::sys::signal::{Signal, killpg};
                    let _ = killpg(nix::unistd::getpgrp(), Signal::SIGKILL);
                    std::process::exit(3);
                }
                std::thread::sleep(Duration::from_millis(500));
            }
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_shown_in_their_unit() {
        assert_eq!(bytes(1 << 30), "1 GiB");
        assert_eq!(bytes(64 << 20), "64 MiB");
        assert_eq!(bytes(1000), "1000 bytes");
    }

    #[test]
    fn go_out_of_memory_names_the_limit() {
        let e = RenderError::Tool {
            tool: Tool::Helm,
            command: "helm template".into(),
            status: "exit status: 2".into(),
            stderr: "runtime: out of memory: cannot allocate 2000683008-byte block (the Go runtime crashed)".into(),
        };
        let named = name_limit(e, &Limits::default());
        assert_eq!(
            named.to_string(),
            "Helm exceeded its memory (1 GiB) limit: it ran out of memory"
        );
    }
}
