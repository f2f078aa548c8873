//! Render errors. Each message is shown to users on the Application, so it says
//! what is wrong and where (file and line, or both origins of a duplicate).

use tether_model::Tool;

#[derive(Debug, thiserror::Error)]
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

    #[error("{} took longer than {secs}s and was stopped", tool.as_str())]
    Timeout { tool: Tool, secs: u64 },

    #[error("jsonnet error in {file}: {message}")]
    Jsonnet { file: String, message: String },

    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl RenderError {
    pub(crate) fn io(path: impl Into<String>, source: std::io::Error) -> Self {
        RenderError::Io {
            path: path.into(),
            source,
        }
    }
}
