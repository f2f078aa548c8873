//! Running `kustomize`, `kubectl kustomize` and `helm` with a deadline and an
//! output cap. The child is killed when either is hit (and when the render is
//! dropped), so a hung or runaway tool cannot pin the agent.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tether_model::Tool;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;

use crate::RenderError;

/// What a tool keeps of the agent's environment: where to find programs,
/// how to reach the network, which CAs to trust.
const PASSED_THROUGH: [&str; 9] = [
    "PATH",
    "HTTPS_PROXY",
    "HTTP_PROXY",
    "NO_PROXY",
    "https_proxy",
    "http_proxy",
    "no_proxy",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
];

/// The tail of stderr shown to users: the real error is nearly always last.
const STDERR_SHOWN: usize = 4096;

pub(crate) struct Invocation<'a> {
    pub tool: Tool,
    pub program: &'a Path,
    pub args: Vec<OsString>,
    /// How the command is shown to users (repository-relative paths).
    pub shown: String,
    pub cwd: &'a Path,
    pub env: Vec<(&'static str, PathBuf)>,
    /// Replaced by nothing in stderr: temp paths mean nothing to users.
    pub scrub: Vec<String>,
    pub timeout: Duration,
    pub max_output: u64,
}

pub(crate) async fn run(inv: Invocation<'_>) -> Result<String, RenderError> {
    let mut cmd = Command::new(inv.program);
    cmd.args(&inv.args)
        .current_dir(inv.cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    // A tool sees PATH, the proxy and CA settings, and an empty HOME of its
    // own: nothing else of the agent's environment (no kubeconfig, no
    // credentials, no user Helm settings). HOME is outside the repository's
    // copy, so a committed `.gitconfig` or kubectl `kuberc` is never read as
    // the tool's own configuration.
    let home = tempfile::Builder::new()
        .prefix("tether-home-")
        .tempdir()
        .map_err(|e| RenderError::io("a temporary directory", e))?;
    cmd.env_clear();
    for (k, v) in std::env::vars_os() {
        if PASSED_THROUGH.iter().any(|p| k == *p) {
            cmd.env(k, v);
        }
    }
    cmd.env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path())
        // Git, which Kustomize runs for remote bases: no configuration but
        // tether's, and no `file://` (nor any local transport), even for a
        // base that a fetched remote base names in turn.
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_ALLOW_PROTOCOL", "https:http:ssh:git")
        .env("GIT_TERMINAL_PROMPT", "0");
    for (k, v) in &inv.env {
        cmd.env(k, v);
    }
    tracing::debug!(command = %inv.shown, "running render tool");
    let mut child = cmd.spawn().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            RenderError::ToolMissing {
                tool: inv.tool,
                detail: format!("{} not found: {e}", inv.program.display()),
            }
        } else {
            RenderError::ToolMissing {
                tool: inv.tool,
                detail: format!("cannot start {}: {e}", inv.program.display()),
            }
        }
    })?;
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(RenderError::ToolMissing {
            tool: inv.tool,
            detail: "the child process has no output pipes".into(),
        });
    };
    let work = async {
        let (out, err) = tokio::try_join!(read_capped(stdout, inv.max_output), read_tail(stderr))?;
        let status = child.wait().await.map_err(Capped::Io)?;
        Ok::<_, Capped>((out, err, status))
    };
    let (out, err, status) = match tokio::time::timeout(inv.timeout, work).await {
        Err(_) => {
            return Err(RenderError::Timeout {
                tool: inv.tool,
                secs: inv.timeout.as_secs(),
            });
        }
        Ok(Err(Capped::TooLarge(size))) => {
            return Err(RenderError::FileTooLarge {
                file: format!("output of `{}`", inv.shown),
                size,
                limit: inv.max_output,
            });
        }
        Ok(Err(Capped::Io(e))) => return Err(RenderError::io(inv.shown.clone(), e)),
        Ok(Ok(v)) => v,
    };
    if !status.success() {
        let mut stderr = String::from_utf8_lossy(&err).into_owned();
        // A Go runtime crash (out of memory, a stack overflow in a template)
        // says why first and then dumps every goroutine: the reason is the
        // line to show, not the dump's tail.
        if let Some(fatal) = go_fatal_error(&stderr) {
            stderr = fatal;
        }
        for s in &inv.scrub {
            stderr = stderr.replace(s.as_str(), "");
        }
        let stderr: Vec<&str> = stderr.lines().map(strip_klog).collect();
        let stderr = tail(stderr.join("\n").trim(), STDERR_SHOWN);
        return Err(RenderError::Tool {
            tool: inv.tool,
            command: inv.shown,
            status: status.to_string(),
            stderr,
        });
    }
    String::from_utf8(out).map_err(|_| RenderError::Tool {
        tool: inv.tool,
        command: inv.shown,
        status: "succeeded".into(),
        stderr: "its output is not UTF-8".into(),
    })
}

pub(crate) enum Capped {
    TooLarge(u64),
    Io(std::io::Error),
}

pub(crate) async fn read_capped(
    mut r: impl AsyncRead + Unpin,
    max: u64,
) -> Result<Vec<u8>, Capped> {
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = r.read(&mut chunk).await.map_err(Capped::Io)?;
        if n == 0 {
            return Ok(buf);
        }
        if (buf.len() + n) as u64 > max {
            return Err(Capped::TooLarge((buf.len() + n) as u64));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Read everything, keep the first 4 KiB and the last 64 KiB (trimmed
/// further for display): a crash says why at the start, a tool's error
/// comes last.
pub(crate) async fn read_tail(mut r: impl AsyncRead + Unpin) -> Result<Vec<u8>, Capped> {
    const HEAD: usize = 4 * 1024;
    const KEEP: usize = 64 * 1024;
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        let n = r.read(&mut chunk).await.map_err(Capped::Io)?;
        if n == 0 {
            return Ok(buf);
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() > HEAD + 2 * KEEP {
            let cut = buf.len() - KEEP;
            buf.drain(HEAD..cut);
        }
    }
}

/// The `fatal error: …` line of a Go runtime crash, if stderr holds one.
fn go_fatal_error(stderr: &str) -> Option<String> {
    let line = stderr
        .lines()
        .find(|l| l.starts_with("fatal error: ") || l.starts_with("runtime: out of memory"))?;
    Some(format!("{line} (the Go runtime crashed)"))
}

/// kubectl logs through klog: `E1122 04:23:13.375428    4808 run.go:72] msg`.
/// The header is noise to a user reading the Application's status.
fn strip_klog(line: &str) -> &str {
    let b = line.as_bytes();
    let looks_like = b.len() > 22
        && matches!(b[0], b'I' | b'W' | b'E' | b'F')
        && b[1..5].iter().all(u8::is_ascii_digit)
        && b[5] == b' ';
    if !looks_like {
        return line;
    }
    match line.find("] ") {
        Some(i) => &line[i + 2..],
        None => line,
    }
}

/// The last `max` bytes of `s`, cut at a character boundary.
pub(crate) fn tail(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut start = s.len() - max;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    format!("…{}", &s[start..])
}

/// `name` on a PATH-style search list, if it is there and is a file.
pub(crate) fn find_on_path(name: &str, path: Option<&std::ffi::OsStr>) -> Option<PathBuf> {
    let path = path?;
    std::env::split_paths(path)
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

#[cfg(unix)]
fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(p: &Path) -> bool {
    p.is_file()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn klog_header_is_stripped() {
        assert_eq!(
            strip_klog("E1122 04:23:13.375428    4808 run.go:72] \"command failed\" err=x"),
            "\"command failed\" err=x"
        );
        assert_eq!(strip_klog("Error: plain"), "Error: plain");
    }

    #[test]
    fn a_go_crash_shows_its_reason_not_its_goroutines() {
        let dump = "fatal error: runtime: out of memory\n\nruntime stack:\nruntime.throw(...)\ngoroutine 1 [running]:\n";
        assert_eq!(
            go_fatal_error(dump).as_deref(),
            Some("fatal error: runtime: out of memory (the Go runtime crashed)")
        );
        assert_eq!(go_fatal_error("Error: template: x:1: bad"), None);
    }

    #[test]
    fn tail_keeps_the_end() {
        assert_eq!(tail("abcdef", 3), "…def");
        assert_eq!(tail("abc", 3), "abc");
    }
}
