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

#[cfg(test)]
mod tests {
    use super::*;

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
