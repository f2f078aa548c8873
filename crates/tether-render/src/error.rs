//! Render errors. Each message is shown to users on the Application, so it says
//! what is wrong and where (file and line, or both origins of a duplicate).
//!
//! Errors are plain data (they cross from the render worker to the agent as
//! JSON), and a deterministic one is cached like a result.

use tether_model::Tool;

#[derive(Debug, Clone, PartialEq, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum RenderError {
    #[error("path {path:?} does not exist in the repository or is not a directory")]
    PathNotFound { path: String },

    #[error("path {path:?} escapes the repository: {detail}")]
    PathEscapes { path: String, detail: String },

    #[error("{file} is {size} bytes, over the limit of {limit} bytes")]
    FileTooLarge { file: String, size: u64, limit: u64 },

    #[error("invalid YAML in {file} at line {line}, column {column}: {message}")]
    Yaml {
        file: String,
        line: u64,
        column: u64,
        message: String,
    },

    #[error("{origin} is not a Kubernetes object: {detail}")]
    NotAnObject { origin: String, detail: String },

    #[error("duplicate object {object}: first in {first}, again in {second}")]
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

    #[error("{} took longer than {secs}s and was stopped", tool.as_str())]
    Timeout { tool: Tool, secs: u64 },

    #[error("jsonnet error in {file}: {message}")]
    Jsonnet { file: String, message: String },

    /// The I/O error as text: it must cross a process boundary.
    #[error("cannot read {path}: {message}")]
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
            RenderError::ToolMissing { .. } | RenderError::Io { .. } | RenderError::Stopped
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
            _ => "RenderFailed",
        }
    }
}
