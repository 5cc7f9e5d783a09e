//! Structured logs with `tracing`: `RUST_LOG` filters (default `info`),
//! text or JSON lines on stderr.

use tracing_subscriber::EnvFilter;

/// Install the global subscriber.
pub fn init(format: Option<&str>) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if format == Some("json") {
        builder.json().init();
    } else {
        builder.init();
    }
}
