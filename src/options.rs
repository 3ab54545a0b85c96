//! Constructor options: read from JS, checked synchronously, and turned into a connection
//! configuration. Nothing here does I/O.

use mongodb::options::ConnectionString;

use crate::error::{Code, StorageError, StorageResult};
use crate::js::{Js, JsType, Value};
use crate::validate::describe;

/// The collection that `collectionName` defaults to.
pub const DEFAULT_COLLECTION: &str = "sessions";

/// MongoDB's maximum database name length in bytes.
const MAX_DATABASE_NAME_BYTES: usize = 63;

/// Everything needed to connect later, checked at construction.
#[derive(Clone)]
pub struct Config {
  /// The connection string as given; it may contain a password, so it is never printed.
  pub url: String,
  pub connection_string: ConnectionString,
  pub database: String,
  pub collection: String,
  /// Credentials found in the URL, removed from every message.
  pub secrets: Vec<String>,
}

fn invalid(message: String, secrets: &[String]) -> StorageError {
  StorageError::new(Code::InvalidOption, message).redact(secrets)
}

/// Reads `{ url, dbName?, collectionName? }`.
pub fn read_options(js: Js, options: Value) -> StorageResult<Config> {
  let wrap = |error: napi::Error| StorageError::new(Code::Internal, error.reason.clone());

  let kind = js.type_of(options).map_err(wrap)?;
  if kind != JsType::Object || js.is_array(options).map_err(wrap)? {
    return Err(invalid(
      format!(
        "MongoDBSessionStorage: expected an options object {{ url, dbName?, collectionName? }} \
         or a Db of the mongodb package, received {}",
        describe(js, options)
      ),
      &[],
    ));
  }

  let url_value = js.named(options, "url").map_err(wrap)?;
  if js.type_of(url_value).map_err(wrap)? != JsType::String {
    return Err(invalid(
      format!(
        "MongoDBSessionStorage: options.url must be a connection string such as \
         mongodb://localhost:27017/app, received {}; to reuse a connection, pass a Db of the \
         mongodb package instead",
        describe(js, url_value)
      ),
      &[],
    ));
  }
  let url = js.get_string(url_value).map_err(wrap)?;
  let database = read_name(js, options, "dbName")?;
  let collection = read_name(js, options, "collectionName")?;
  parse(&url, database, collection)
}

/// Reads an optional string option; `undefined` means absent.
fn read_name(js: Js, options: Value, name: &str) -> StorageResult<Option<String>> {
  let wrap = |error: napi::Error| StorageError::new(Code::Internal, error.reason.clone());
  let value = js.named(options, name).map_err(wrap)?;
  match js.type_of(value).map_err(wrap)? {
    JsType::Undefined => Ok(None),
    JsType::String => Ok(Some(js.get_string(value).map_err(wrap)?)),
    _ => Err(invalid(
      format!(
        "MongoDBSessionStorage: options.{name} must be a non-empty string, received {}",
        describe(js, value)
      ),
      &[],
    )),
  }
}

/// Checks the URL and names and builds the configuration.
pub fn parse(
  url: &str,
  database: Option<String>,
  collection: Option<String>,
) -> StorageResult<Config> {
  let secrets = url_secrets(url);

  let scheme_ok = url.starts_with("mongodb://") || url.starts_with("mongodb+srv://");
  if !scheme_ok {
    let scheme = url
      .split_once("://")
      .map(|(scheme, _)| scheme)
      .unwrap_or("");
    let received = if scheme.is_empty() || scheme.len() > 32 {
      "no scheme".to_string()
    } else {
      format!("the scheme \"{scheme}\"")
    };
    return Err(invalid(
      format!(
        "MongoDBSessionStorage: options.url must start with mongodb:// or mongodb+srv://, \
         received {received}"
      ),
      &secrets,
    ));
  }

  #[allow(deprecated)]
  let connection_string = match ConnectionString::parse(url) {
    Ok(mut parsed) => {
      // NOTE: the Rust driver has no socketTimeoutMS and rejects URLs that carry it. Node.js
      // apps often set it, so it is dropped here; timeoutMS and the other timeouts still apply.
      parsed.socket_timeout = None;
      parsed
    }
    Err(error) => {
      return Err(invalid(
        format!("MongoDBSessionStorage: options.url is not a valid connection string: {error}"),
        &secrets,
      ))
    }
  };
  let mut secrets = secrets;
  if let Some(password) = connection_string
    .credential
    .as_ref()
    .and_then(|credential| credential.password.clone())
  {
    secrets.push(password);
  }

  let database = match database {
    Some(name) => check_database_name(name, "options.dbName", &secrets)?,
    None => match connection_string.default_database.clone() {
      Some(name) => check_database_name(name, "the database in options.url", &secrets)?,
      None => {
        return Err(invalid(
          "MongoDBSessionStorage: no database given; pass options.dbName or put the database \
           in the URL path, as in mongodb://localhost:27017/app"
            .to_string(),
          &secrets,
        ))
      }
    },
  };

  let collection = match collection {
    Some(name) => check_collection_name(name, &secrets)?,
    None => DEFAULT_COLLECTION.to_string(),
  };

  Ok(Config {
    url: url.to_string(),
    connection_string,
    database,
    collection,
    secrets,
  })
}

fn check_database_name(name: String, source: &str, secrets: &[String]) -> StorageResult<String> {
  let problem = if name.is_empty() {
    Some("must not be empty".to_string())
  } else if name.len() > MAX_DATABASE_NAME_BYTES {
    Some(format!(
      "must be at most {MAX_DATABASE_NAME_BYTES} bytes long"
    ))
  } else {
    name
      .chars()
      .find(|c| "/\\. \"$*<>:|?\0".contains(*c))
      .map(|bad| format!("must not contain {bad:?}"))
  };
  match problem {
    Some(problem) => Err(invalid(
      format!("MongoDBSessionStorage: {source} {problem}, received {name:?}"),
      secrets,
    )),
    None => Ok(name),
  }
}

fn check_collection_name(name: String, secrets: &[String]) -> StorageResult<String> {
  let problem = if name.is_empty() {
    Some("must not be empty")
  } else if name.contains('$') {
    Some("must not contain '$'")
  } else if name.contains('\0') {
    Some("must not contain a NUL character")
  } else if name.starts_with("system.") {
    Some("must not start with 'system.'")
  } else {
    None
  };
  match problem {
    Some(problem) => Err(invalid(
      format!("MongoDBSessionStorage: options.collectionName {problem}, received {name:?}"),
      secrets,
    )),
    None => Ok(name),
  }
}

/// Returns the password of a URL's user information, as written and percent-decoded.
fn url_secrets(url: &str) -> Vec<String> {
  let Some((_, rest)) = url.split_once("://") else {
    return Vec::new();
  };
  let authority = rest.split(['/', '?']).next().unwrap_or("");
  let Some(at) = authority.rfind('@') else {
    return Vec::new();
  };
  let Some((_, password)) = authority[..at].split_once(':') else {
    return Vec::new();
  };
  let mut secrets = vec![password.to_string()];
  if let Some(decoded) = percent_decode(password) {
    if decoded != password {
      secrets.push(decoded);
    }
  }
  secrets
}

fn percent_decode(text: &str) -> Option<String> {
  let bytes = text.as_bytes();
  let mut out = Vec::with_capacity(bytes.len());
  let mut i = 0;
  while i < bytes.len() {
    if bytes[i] == b'%' && i + 2 < bytes.len() {
      let hex = text.get(i + 1..i + 3)?;
      out.push(u8::from_str_radix(hex, 16).ok()?);
      i += 3;
    } else {
      out.push(bytes[i]);
      i += 1;
    }
  }
  String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn secrets_of_url_with_encoded_password() {
    let secrets = url_secrets("mongodb://user:p%40ss%3Aw@localhost:27017/app");
    assert_eq!(
      secrets,
      vec!["p%40ss%3Aw".to_string(), "p@ss:w".to_string()]
    );
  }

  #[test]
  fn secrets_of_url_without_credentials() {
    assert!(url_secrets("mongodb://localhost:27017/app").is_empty());
  }

  #[test]
  fn database_from_url_path() {
    let config = parse("mongodb://localhost:27017/app", None, None).unwrap();
    assert_eq!(config.database, "app");
    assert_eq!(config.collection, "sessions");
  }

  #[test]
  fn missing_database_is_rejected() {
    let error = parse("mongodb://localhost:27017", None, None).err();
    assert_eq!(error.map(|error| error.code), Some(Code::InvalidOption));
  }

  #[test]
  fn password_never_in_parse_error() {
    let error = parse(
      "mongodb://user:hunter2@localhost:27017/app?maxPoolSize=bogus",
      None,
      None,
    );
    let message = error.map(|_| String::new()).unwrap_or_else(|e| e.message);
    assert!(!message.contains("hunter2"), "{message}");
  }
}
