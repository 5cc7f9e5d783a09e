//! Errors that stop a benchmark before it runs. Failures of single
//! operations are not errors here: they are counted in the report.

/// Why `liuma bench` could not run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A flag value does not parse.
    #[error("invalid {flag} {value:?}: {reason}")]
    InvalidArg {
        /// The flag.
        flag: &'static str,
        /// What was given.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The endpoint is not an `http://host[:port]` URL.
    #[error(
        "invalid --endpoint {endpoint:?}: expected http://HOST[:PORT] (https is not supported)"
    )]
    Endpoint {
        /// What was given.
        endpoint: String,
    },
    /// The flags do not make a runnable benchmark.
    #[error("{0}")]
    Plan(&'static str),
    /// The async runtime could not start.
    #[error("starting the tokio runtime")]
    Runtime(#[source] std::io::Error),
    /// Writing the report failed.
    #[error("writing the report")]
    Output(#[source] std::io::Error),
}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
