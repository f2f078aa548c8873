//! Render errors. Each message is shown to users on the Application, so it says
//! what is wrong and where (file and line, or both origins of a duplicate).
//!
//! Errors are plain data (they cross from the render worker to the agent as
//! JSON), and a deterministic one is cached like a result.

use tether_model::Tool;
// File names are one-line fields inside a message that may span lines (a
// tool's stderr): a newline or escape in a name is escaped, so it cannot pass
// for a line of the message, of a log, or reach a terminal raw.
use tether_model::text::one_line;

#[derive(Debug, Clone, PartialEq, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum RenderError {
    #[error("path {path:?} does not exist in the repository or is not a directory")]
    PathNotFound { path: String },

    #[error("path {path:?} escapes the repository: {detail}")]
    PathEscapes { path: String, detail: String },

    #[error("{} is {size} bytes, over the limit of {limit} bytes", one_line(file))]
    FileTooLarge { file: String, size: u64, limit: u64 },

    #[error(
        "invalid YAML in {} at line {line}, column {column}: {message}",
        one_line(file)
    )]
    Yaml {
        file: String,
        line: u64,
        column: u64,
        message: String,
    },

    #[error("{} is not a Kubernetes object: {detail}", one_line(origin))]
    NotAnObject { origin: String, detail: String },

    #[error(
        "duplicate object {object}: first in {}, again in {}",
        one_line(first),
        one_line(second)
    )]
    Duplicate {
        object: String,
        first: String,
        second: String,
    },

    #[error("{} failed: `{command}` {status}: {stderr}", tool.as_str())]
    Tool {
        tool: Tool,
        command: String,
        status: String,
        stderr: String,
    },

    #[error("{} cannot run: {detail}", tool.as_str())]
    ToolMissing { tool: Tool, detail: String },

    #[error("{} exceeded its {limit} limit: {detail}", tool.as_str())]
    LimitExceeded {
        tool: Tool,
        /// Which limit, with its value: `memory (1 GiB)`, `CPU time (60s)`.
        limit: String,
        detail: String,
    },

    #[error(
        "{file}: {entry:?} is a remote source, and remote bases and chart dependencies are turned off (start the agent with --allow-remote-bases to fetch them)"
    )]
    RemoteNotAllowed { file: String, entry: String },

    #[error("the render was stopped because the agent is shutting down")]
    Stopped,

    /// Killed from outside, or ended without a result: not cached.
    #[error("{} crashed: {detail}", tool.as_str())]
    Crashed { tool: Tool, detail: String },

    #[error(
        "the render produced {count} objects, over the limit of {limit} per app (tether agent --max-objects-per-app); split the app or raise the limit"
    )]
    TooManyObjects { count: usize, limit: usize },

    #[error("{} took longer than {secs}s and was stopped", tool.as_str())]
    Timeout { tool: Tool, secs: u64 },

    #[error("jsonnet error in {}: {message}", one_line(file))]
    Jsonnet { file: String, message: String },

    /// The I/O error as text: it must cross a process boundary.
    #[error("cannot read {}: {message}", one_line(path))]
    Io { path: String, message: String },
}

impl RenderError {
    pub(crate) fn io(path: impl Into<String>, source: std::io::Error) -> Self {
        RenderError::Io {
            path: path.into(),
            message: source.to_string(),
        }
    }

    /// Whether the same input would fail the same way again: such failures
    /// are cached per input, so a broken commit is not rendered on every
    /// retry. A missing tool or an I/O error may pass.
    pub fn is_deterministic(&self) -> bool {
        !matches!(
            self,
            RenderError::ToolMissing { .. }
                | RenderError::Io { .. }
                | RenderError::Stopped
                | RenderError::Crashed { .. }
        )
    }

    /// The file at fault, with line and column when known, for a client to
    /// point at: `(file, line, column)`. Files named by tether are relative to
    /// the repository's root; a file only a tool's output names (Helm's
    /// `chart/templates/x.yaml`, Kustomize's) is as the tool printed it,
    /// Helm's chart name replaced by the app's path. Best effort: `None` when
    /// no file can be told.
    pub fn location(&self, app_path: &str) -> Option<(String, Option<u64>, Option<u64>)> {
        match self {
            // A file in the repository; or a tool's output, where the line is
            // the output's: Helm's names its template (without a line), a
            // Kustomize output names nothing.
            RenderError::Yaml {
                file, line, column, ..
            } if is_manifest_file(file) => Some((file.clone(), Some(*line), Some(*column))),
            RenderError::Yaml { file, .. } => helm_template(file).map(|f| (f, None, None)),
            RenderError::FileTooLarge { file, .. } if !file.contains(' ') => {
                Some((file.clone(), None, None))
            }
            RenderError::NotAnObject { origin, .. } => origin_location(origin),
            RenderError::Duplicate { second, .. } => origin_location(second),
            RenderError::Jsonnet { file, message } => Some(
                find_location(message)
                    .map(|(f, l, c)| (f, Some(l), c))
                    .unwrap_or_else(|| (file.clone(), None, None)),
            ),
            RenderError::Tool { tool, stderr, .. } => {
                let (f, line, column) = find_location(stderr)
                    .map(|(f, l, c)| (f, Some(l), c))
                    .or_else(|| find_file(stderr).map(|f| (f, find_line_word(stderr), None)))?;
                let f = match (tool, f.split_once('/')) {
                    // `chart/templates/x.yaml`: the chart is the app's path.
                    (Tool::Helm, Some((_, rest))) => {
                        let app = app_path.trim_matches('/');
                        if app.is_empty() || app == "." {
                            rest.to_string()
                        } else {
                            format!("{app}/{rest}")
                        }
                    }
                    _ => f,
                };
                Some((f, line, column))
            }
            RenderError::RemoteNotAllowed { file, .. } => Some((file.clone(), None, None)),
            _ => None,
        }
    }

    /// A short reason for the Application's condition.
    pub fn reason(&self) -> &'static str {
        match self {
            RenderError::PathNotFound { .. } => "PathNotFound",
            RenderError::PathEscapes { .. } | RenderError::RemoteNotAllowed { .. } => {
                "SourceNotAllowed"
            }
            RenderError::LimitExceeded { .. } | RenderError::Timeout { .. } => {
                "RenderLimitExceeded"
            }
            RenderError::FileTooLarge { .. } => "SourceTooLarge",
            RenderError::TooManyObjects { .. } => "TooManyObjects",
            _ => "RenderFailed",
        }
    }
}

/// `helm template charts/web: templates/x.yaml (output line 40)`: the
/// template, relative to the repository (`charts/web/templates/x.yaml`).
fn helm_template(label: &str) -> Option<String> {
    let rest = label.strip_prefix("helm template ")?;
    let (chart, src) = rest.split_once(": ")?;
    let src = src.split(" (").next().unwrap_or(src).trim();
    if !is_manifest_file(src) {
        return None;
    }
    Some(if chart.is_empty() || chart == "." {
        src.to_string()
    } else {
        format!("{}/{src}", chart.trim_end_matches('/'))
    })
}

/// Where a rendered object came from (its origin: `dir/x.yaml:12`, the
/// file and its document's first line; Helm's template), as `(file, line,
/// column)`; `None` for a Kustomize output.
pub fn origin_location(origin: &str) -> Option<(String, Option<u64>, Option<u64>)> {
    if let Some(f) = helm_template(origin) {
        return Some((f, None, None));
    }
    match origin.rsplit_once(':') {
        Some((file, line)) if line.parse::<u64>().is_ok() && is_manifest_file(file) => {
            Some((file.to_string(), line.parse().ok(), None))
        }
        _ if is_manifest_file(origin) => Some((origin.to_string(), None, None)),
        _ => None,
    }
}

fn is_manifest_file(word: &str) -> bool {
    [".yaml", ".yml", ".json", ".jsonnet", ".libsonnet", ".tpl"]
        .iter()
        .any(|ext| word.ends_with(ext))
        && !word.contains("://")
}

/// Words of a tool's output, split at spaces, quotes and brackets.
fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| c.is_whitespace() || "'\"`()[]{},;".contains(c))
        .filter(|w| !w.is_empty())
}

/// The first `file.yaml:LINE[:COLUMN]` (Jsonnet's and Helm's template errors).
fn find_location(text: &str) -> Option<(String, u64, Option<u64>)> {
    words(text).find_map(|w| {
        let w = w.trim_end_matches(':');
        let mut parts = w.split(':');
        let file = parts.next()?;
        let line = parts.next()?.parse::<u64>().ok()?;
        // Jsonnet: `3:5-10`; the column is where the span starts.
        let column = parts
            .next()
            .and_then(|c| c.split('-').next())
            .and_then(|c| c.parse::<u64>().ok());
        is_manifest_file(file).then(|| (file.to_string(), line, column))
    })
}

/// The first word that names a manifest file.
fn find_file(text: &str) -> Option<String> {
    words(text)
        .map(|w| w.trim_end_matches(':'))
        .find(|w| is_manifest_file(w))
        .map(str::to_string)
}

/// `line 4` in a YAML parser's message.
fn find_line_word(text: &str) -> Option<u64> {
    let mut it = words(text).peekable();
    while let Some(w) = it.next() {
        if w == "line"
            && let Some(n) = it.peek().and_then(|n| n.trim_end_matches(':').parse().ok())
        {
            return Some(n);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_say_which_file_and_line() {
        let yaml = RenderError::Yaml {
            file: "apps/web/cm.yaml".into(),
            line: 3,
            column: 7,
            message: "x".into(),
        };
        assert_eq!(
            yaml.location("apps/web"),
            Some(("apps/web/cm.yaml".into(), Some(3), Some(7)))
        );
        let helm = RenderError::Tool {
            tool: Tool::Helm,
            command: "helm template".into(),
            status: "exit status 1".into(),
            stderr: "Error: YAML parse error on web/templates/cm.yaml: error converting YAML to JSON: yaml: line 4: did not find expected key".into(),
        };
        assert_eq!(
            helm.location("charts/web"),
            Some(("charts/web/templates/cm.yaml".into(), Some(4), None))
        );
        let tpl = RenderError::Tool {
            tool: Tool::Helm,
            command: "helm template".into(),
            status: "exit status 1".into(),
            stderr: "Error: parse error at (web/templates/cm.yaml:9): unexpected \"}\"".into(),
        };
        assert_eq!(
            tpl.location(""),
            Some(("templates/cm.yaml".into(), Some(9), None))
        );
        let jsonnet = RenderError::Jsonnet {
            file: "j/main.jsonnet".into(),
            message: "syntax error\n    j/lib.libsonnet:12:5-9".into(),
        };
        assert_eq!(
            jsonnet.location("j"),
            Some(("j/lib.libsonnet".into(), Some(12), Some(5)))
        );
        let dup = RenderError::NotAnObject {
            origin: "k/a.yaml:4".into(),
            detail: "no kind".into(),
        };
        assert_eq!(dup.location("k"), Some(("k/a.yaml".into(), Some(4), None)));
        // Tool output: Helm's template without the output's line; Kustomize's nothing.
        let rendered = |file: &str| RenderError::Yaml {
            file: file.into(),
            line: 40,
            column: 1,
            message: "x".into(),
        };
        assert_eq!(
            rendered("helm template charts/web: templates/cm.yaml (output line 40)")
                .location("charts/web"),
            Some(("charts/web/templates/cm.yaml".into(), None, None))
        );
        assert_eq!(rendered("output of kustomize build k").location("k"), None);
        let none = RenderError::Tool {
            tool: Tool::Kustomize,
            command: "kustomize build".into(),
            status: "exit status 1".into(),
            stderr: "Error: something went wrong".into(),
        };
        assert_eq!(none.location("k"), None);
        assert_eq!(RenderError::Stopped.location(""), None);
    }

    #[test]
    fn file_names_in_messages_stay_on_one_line() {
        let e = RenderError::Yaml {
            file: "app/x\n2026-01-01T00:00:00Z  INFO forged\x1b[2J.yaml".into(),
            line: 3,
            column: 1,
            message: "unclosed bracket".into(),
        };
        assert_eq!(
            e.to_string(),
            "invalid YAML in app/x\\u{a}2026-01-01T00:00:00Z  INFO forged\\u{1b}[2J.yaml at line 3, column 1: unclosed bracket"
        );
        let d = RenderError::Duplicate {
            object: "ConfigMap a/b".into(),
            first: "a\nb.yaml".into(),
            second: "c.yaml".into(),
        };
        assert!(!d.to_string().contains('\n'));
    }
}
