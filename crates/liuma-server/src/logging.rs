//! Structured logs with `tracing`: `RUST_LOG` filters (default
//! `info,s3s=off`), text or JSON lines on stderr.

use tracing_subscriber::EnvFilter;

/// Install the global subscriber.
pub fn init(format: Option<&str>) {
    // s3s logs every client error (a 404, a bad signature) at ERROR; the S3
    // layer logs the failures that are ours (5xx) itself.
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,s3s=off"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if format == Some("json") {
        builder.json().init();
    } else {
        builder.init();
    }
}
