use std::fmt;

/// Everything that can go wrong in the core, each with a message that says exactly what.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid weights: {0}")]
    Weights(String),
    #[error("invalid data set: {0}")]
    Data(String),
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("invalid input: {0}")]
    Input(String),
    #[error("training diverged at step {step}: {what}")]
    Diverged { step: u64, what: String },
    #[error("backend error: {0}")]
    Backend(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    pub(crate) fn backend(what: impl fmt::Display) -> Self {
        Error::Backend(what.to_string())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
