//! Opt-in `tracing` output on stderr, set up once when the addon loads.

use tracing_subscriber::EnvFilter;

/// The environment variable that turns logging on. A level such as `debug` applies to this
/// package and to the driver's command, connection, server selection and topology events; any
/// other value is read as a full `tracing` filter, as in `mongodb::command=debug`.
pub const LOG_ENV: &str = "QUMRA_SESSION_STORAGE_LOG";

const LEVELS: [&str; 5] = ["error", "warn", "info", "debug", "trace"];

const DRIVER_TARGETS: [&str; 4] = [
  "mongodb::command",
  "mongodb::connection",
  "mongodb::server_selection",
  "mongodb::topology",
];

/// Installs the subscriber when the variable is set; does nothing otherwise.
pub fn init() {
  let Ok(value) = std::env::var(LOG_ENV) else {
    return;
  };
  let value = value.trim().to_ascii_lowercase();
  if value.is_empty() || value == "off" {
    return;
  }
  let directives = if LEVELS.contains(&value.as_str()) {
    let mut directives = vec![format!("{}={value}", env!("CARGO_CRATE_NAME"))];
    directives.extend(
      DRIVER_TARGETS
        .iter()
        .map(|target| format!("{target}={value}")),
    );
    directives.join(",")
  } else {
    value
  };
  let filter = match EnvFilter::try_new(&directives) {
    Ok(filter) => filter,
    Err(error) => {
      eprintln!("{LOG_ENV}: invalid filter {directives:?} ({error}); logging stays off");
      return;
    }
  };
  // A second addon instance in the same process (worker threads) finds a subscriber already
  // installed, which is fine.
  let _ = tracing_subscriber::fmt()
    .with_env_filter(filter)
    .with_writer(std::io::stderr)
    .try_init();
}
