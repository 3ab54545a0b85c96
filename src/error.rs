//! Errors raised to JavaScript: one type, a stable string `code` per kind, and one conversion
//! from driver errors.

use std::fmt;

use mongodb::error::{Error as DriverError, ErrorKind, WriteFailure};

use crate::js::{ErrorClass, Js, Value};

/// The stable `code` of every error the package raises. The strings are part of the public API.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
  /// A constructor option is missing or invalid.
  InvalidOption,
  /// A method received the wrong number or type of arguments.
  InvalidArgument,
  /// A session object, or a value inside it, cannot be stored.
  InvalidSession,
  /// The session's BSON document is larger than MongoDB's 16 MiB limit.
  SessionTooLarge,
  /// The session id belongs to another store, or the session names another store.
  StoreMismatch,
  /// No server could be reached, or the connection failed or timed out.
  Connection,
  /// The server rejected the credentials.
  Authentication,
  /// The server refused to create an index.
  IndexCreation,
  /// The server rejected a command.
  Server,
  /// The instance was closed by `disconnect()`.
  Disconnected,
  /// A bug in this package.
  Internal,
}

impl Code {
  pub fn as_str(self) -> &'static str {
    match self {
      Code::InvalidOption => "ERR_INVALID_OPTION",
      Code::InvalidArgument => "ERR_INVALID_ARGUMENT",
      Code::InvalidSession => "ERR_INVALID_SESSION",
      Code::SessionTooLarge => "ERR_SESSION_TOO_LARGE",
      Code::StoreMismatch => "ERR_STORE_MISMATCH",
      Code::Connection => "ERR_CONNECTION",
      Code::Authentication => "ERR_AUTHENTICATION",
      Code::IndexCreation => "ERR_INDEX_CREATION",
      Code::Server => "ERR_SERVER",
      Code::Disconnected => "ERR_DISCONNECTED",
      Code::Internal => "ERR_INTERNAL",
    }
  }

  fn class(self) -> ErrorClass {
    match self {
      Code::InvalidOption | Code::InvalidArgument | Code::InvalidSession => ErrorClass::TypeError,
      Code::SessionTooLarge => ErrorClass::RangeError,
      _ => ErrorClass::Error,
    }
  }
}

/// An error on its way to JavaScript.
#[derive(Debug, Clone)]
pub struct StorageError {
  pub code: Code,
  pub message: String,
  /// MongoDB's numeric error code, when the server returned one.
  pub server_code: Option<i32>,
}

pub type StorageResult<T> = std::result::Result<T, StorageError>;

impl StorageError {
  pub fn new(code: Code, message: impl Into<String>) -> Self {
    StorageError {
      code,
      message: message.into(),
      server_code: None,
    }
  }

  /// Converts a driver error, keeping its message as the cause and MongoDB's numeric code.
  /// `context` names the operation, for example `storeSession`.
  pub fn from_driver(context: &str, error: &DriverError) -> Self {
    let (code, server_code) = classify(error);
    let advice = match code {
      Code::Connection => {
        "; check that the server is running and reachable, or raise serverSelectionTimeoutMS"
      }
      Code::Authentication => "; check the user name, password and authSource in the URL",
      _ => "",
    };
    StorageError {
      code,
      // The kind alone; the full error also prints labels and the raw server reply in hex.
      message: format!("{context} failed: {}{advice}", error.kind),
      server_code,
    }
  }

  /// Replaces every occurrence of each secret of at least six bytes with `****`.
  ///
  /// NOTE: the driver does not echo passwords, so this is a second line of defence. Shorter
  /// secrets are left alone, because replacing a password such as `a` or `servers` everywhere
  /// garbles the message and reveals the password by what is missing.
  pub fn redact(mut self, secrets: &[String]) -> Self {
    for secret in secrets {
      if secret.len() >= MIN_REDACTED_BYTES && self.message.contains(secret.as_str()) {
        self.message = self.message.replace(secret.as_str(), "****");
      }
    }
    self
  }

  /// Creates the JS error object: an `Error`, `TypeError` or `RangeError` with `code` and,
  /// when the server gave one, `serverCode`.
  pub fn to_js(&self, js: Js) -> napi::Result<Value> {
    let error = js.error(self.code.class(), self.code.as_str(), &self.message)?;
    if let Some(server_code) = self.server_code {
      js.set(error, "serverCode", js.int32(server_code)?)?;
    }
    Ok(error)
  }

  /// Wraps the JS error object in a napi error, so that napi-rs rejects or throws that object.
  pub fn into_napi(self, js: Js) -> napi::Error {
    match self.to_js(js) {
      Ok(value) => {
        // SAFETY: `value` is a live handle in the current scope of `js.env`.
        let unknown = unsafe { napi::Unknown::from_raw_unchecked(js.env, value) };
        napi::Error::from(unknown)
      }
      Err(error) => error,
    }
  }
}

impl fmt::Display for StorageError {
  fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    write!(f, "{}: {}", self.code.as_str(), self.message)
  }
}

/// The shortest secret that `redact` removes from messages.
const MIN_REDACTED_BYTES: usize = 6;

/// Duplicate key, from a unique index such as `_id`.
pub const DUPLICATE_KEY: i32 = 11000;

/// Returns MongoDB's numeric code of a server-side failure.
pub fn server_code(error: &DriverError) -> Option<i32> {
  match error.kind.as_ref() {
    ErrorKind::Command(command) => Some(command.code),
    ErrorKind::Write(WriteFailure::WriteError(write)) => Some(write.code),
    ErrorKind::Write(WriteFailure::WriteConcernError(concern)) => Some(concern.code),
    _ => None,
  }
}

fn mentions_authentication_failure(message: &str) -> bool {
  let lowered = message.to_ascii_lowercase();
  lowered.contains("authentication failed") || lowered.contains("scram failure")
}

fn classify(error: &DriverError) -> (Code, Option<i32>) {
  let code = server_code(error);
  let kind = match error.kind.as_ref() {
    // After a failed handshake the driver marks the server unknown, so later calls time out
    // in server selection with the authentication failure inside the topology description.
    ErrorKind::ServerSelection { message, .. } if mentions_authentication_failure(message) => {
      Code::Authentication
    }
    ErrorKind::ServerSelection { .. }
    | ErrorKind::Io(_)
    | ErrorKind::ConnectionPoolCleared { .. }
    | ErrorKind::DnsResolve { .. }
    | ErrorKind::InvalidTlsConfig { .. } => Code::Connection,
    ErrorKind::Authentication { .. } => Code::Authentication,
    // 18 is AuthenticationFailed.
    ErrorKind::Command(command) if command.code == 18 => Code::Authentication,
    ErrorKind::Shutdown => Code::Disconnected,
    ErrorKind::InvalidArgument { .. } => Code::InvalidOption,
    ErrorKind::Command(_) | ErrorKind::Write(_) => Code::Server,
    _ if error.contains_label("NetworkError") => Code::Connection,
    _ => Code::Server,
  };
  (kind, code)
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn redacts_long_secrets() {
    let error = StorageError::new(Code::Connection, "failed for s3cr3t-pass at host");
    let redacted = error.redact(&["s3cr3t-pass".to_string()]);
    assert_eq!(redacted.message, "failed for **** at host");
  }

  #[test]
  fn leaves_short_secrets() {
    let error = StorageError::new(Code::Connection, "No available servers");
    let redacted = error.redact(&["a".to_string(), "serve".to_string()]);
    assert_eq!(redacted.message, "No available servers");
  }
}
