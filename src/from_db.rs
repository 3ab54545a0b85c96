//! The constructor form `new MongoDBSessionStorage(db, { collectionName })`, with a `Db` of
//! the official `mongodb` npm package (version 6 or later).
//!
//! The addon cannot use the JS driver's connections, so it opens its own pool to the same
//! deployment. It rebuilds a connection string from the public `client.options` of the `Db`
//! and the `Db`'s own read preference, write concern and read concern, without connecting.
//! An option that a connection string cannot carry is rejected, never dropped.

use crate::error::{Code, StorageError, StorageResult};
use crate::js::{Js, JsType, Value};
use crate::options::{self, Config};
use crate::validate::{describe, internal};

/// Client options copied into the connection string under the same name, as numbers,
/// booleans or strings. Defaults of the Node.js driver are copied too, so that both pools
/// behave alike (its `connectTimeoutMS` is 30 s where the Rust driver's is 10 s).
const COPIED_OPTIONS: [&str; 21] = [
  "replicaSet",
  "tls",
  "tlsCAFile",
  "tlsCertificateKeyFile",
  "tlsAllowInvalidCertificates",
  "tlsAllowInvalidHostnames",
  "tlsInsecure",
  "appName",
  "directConnection",
  "loadBalanced",
  "retryWrites",
  "retryReads",
  "serverSelectionTimeoutMS",
  "connectTimeoutMS",
  "maxPoolSize",
  "minPoolSize",
  "maxIdleTimeMS",
  "maxConnecting",
  "heartbeatFrequencyMS",
  "localThresholdMS",
  "timeoutMS",
];

/// Client options holding material that only lives in memory, or features the addon does
/// not have. Any of them, when set, rejects the construction. The third field names a file
/// option from which the Node.js driver fills the option when it connects; when that file
/// option is set, the file is what gets carried over.
const UNSUPPORTED_OPTIONS: [(&str, &str, Option<&str>); 16] = [
  (
    "ca",
    "TLS material given in memory; pass tlsCAFile instead",
    Some("tlsCAFile"),
  ),
  (
    "cert",
    "TLS material given in memory; pass tlsCertificateKeyFile instead",
    Some("tlsCertificateKeyFile"),
  ),
  (
    "key",
    "TLS material given in memory; pass tlsCertificateKeyFile instead",
    Some("tlsCertificateKeyFile"),
  ),
  (
    "pfx",
    "TLS material given in memory; pass tlsCertificateKeyFile instead",
    None,
  ),
  (
    "crl",
    "a certificate revocation list, which the addon cannot check",
    None,
  ),
  (
    "tlsCRLFile",
    "a certificate revocation list, which the addon cannot check",
    None,
  ),
  (
    "passphrase",
    "a key passphrase, which the addon cannot use",
    None,
  ),
  (
    "tlsCertificateKeyFilePassword",
    "an encrypted client key, which the addon cannot use",
    None,
  ),
  (
    "secureContext",
    "a TLS context object, which the addon cannot use",
    None,
  ),
  (
    "servername",
    "a TLS server name override, which the addon cannot carry",
    None,
  ),
  (
    "autoEncryption",
    "client-side field level encryption, which the addon does not have",
    None,
  ),
  (
    "proxyHost",
    "a SOCKS5 proxy, which the addon does not have",
    None,
  ),
  (
    "serverApi",
    "a Stable API version, which a connection string cannot carry",
    None,
  ),
  (
    "family",
    "a socket address family, which the addon cannot carry",
    None,
  ),
  (
    "localAddress",
    "a local socket address, which the addon cannot carry",
    None,
  ),
  (
    "lookup",
    "a custom DNS lookup function, which the addon cannot call",
    None,
  ),
];

/// Tells whether a value looks like a `Db`: a `databaseName` string and a `client` object.
pub fn is_db(js: Js, value: Value) -> bool {
  let is_object = |value: Value| js.type_of(value).ok() == Some(JsType::Object);
  if !is_object(value) {
    return false;
  }
  let name = js
    .named(value, "databaseName")
    .and_then(|name| js.type_of(name));
  let client = js.named(value, "client").map(is_object);
  name.ok() == Some(JsType::String) && client.ok() == Some(true)
}

fn invalid(message: String) -> StorageError {
  StorageError::new(
    Code::InvalidOption,
    format!("MongoDBSessionStorage: {message}"),
  )
}

/// Reads `(db, { collectionName? })` into a configuration.
pub fn read(js: Js, db: Value, options: Option<Value>) -> StorageResult<Config> {
  let database = string_property(js, db, "databaseName")?.unwrap_or_default();
  if database.is_empty() {
    return Err(invalid("db.databaseName is empty".to_string()));
  }
  let client = js.named(db, "client").map_err(internal)?;
  let client_options = js.named(client, "options").map_err(internal)?;
  if js.type_of(client_options).map_err(internal)? != JsType::Object {
    return Err(invalid(
      "db.client.options is missing; pass a Db of the mongodb npm package, version 6 or later"
        .to_string(),
    ));
  }
  reject_unsupported(js, client_options)?;

  let url = connection_string(js, db, client_options)?;
  let collection = match options {
    Some(options) => read_collection_name(js, options)?,
    None => None,
  };
  options::parse(&url, Some(database), collection).map_err(|mut error| {
    error.message = error.message.replace(
      "options.url is not a valid connection string",
      "the options of the Db's client cannot be used by the addon",
    );
    error
  })
}

fn read_collection_name(js: Js, options: Value) -> StorageResult<Option<String>> {
  let kind = js.type_of(options).map_err(internal)?;
  if kind == JsType::Undefined {
    return Ok(None);
  }
  if kind != JsType::Object || js.is_array(options).map_err(internal)? {
    return Err(invalid(format!(
      "the second argument must be an options object {{ collectionName? }}, received {}",
      describe(js, options)
    )));
  }
  let name = js.named(options, "collectionName").map_err(internal)?;
  match js.type_of(name).map_err(internal)? {
    JsType::Undefined => Ok(None),
    JsType::String => Ok(Some(js.get_string(name).map_err(internal)?)),
    _ => Err(invalid(format!(
      "options.collectionName must be a non-empty string, received {}",
      describe(js, name)
    ))),
  }
}

fn reject_unsupported(js: Js, client_options: Value) -> StorageResult<()> {
  for (name, reason, file_option) in UNSUPPORTED_OPTIONS {
    if let Some(file_option) = file_option {
      if string_property(js, client_options, file_option)?.is_some_and(|path| !path.is_empty()) {
        continue;
      }
    }
    let value = js.named(client_options, name).map_err(internal)?;
    let kind = js.type_of(value).map_err(internal)?;
    let unset = matches!(kind, JsType::Undefined | JsType::Null)
      || (kind == JsType::String && js.get_string(value).map_err(internal)?.is_empty());
    if !unset {
      return Err(invalid(format!(
        "the Db's client sets the option {name}, {reason}"
      )));
    }
  }
  Ok(())
}

fn string_property(js: Js, object: Value, name: &str) -> StorageResult<Option<String>> {
  let value = js.named(object, name).map_err(internal)?;
  match js.type_of(value).map_err(internal)? {
    JsType::String => Ok(Some(js.get_string(value).map_err(internal)?)),
    _ => Ok(None),
  }
}

/// Returns a number, boolean or string property as connection-string text.
fn scalar_text(js: Js, object: Value, name: &str) -> StorageResult<Option<String>> {
  let value = js.named(object, name).map_err(internal)?;
  let text = match js.type_of(value).map_err(internal)? {
    JsType::String => js.get_string(value).map_err(internal)?,
    JsType::Boolean => js.get_bool(value).map_err(internal)?.to_string(),
    JsType::Number => {
      let number = js.get_f64(value).map_err(internal)?;
      if !number.is_finite() {
        return Ok(None);
      }
      format!("{number}")
    }
    _ => return Ok(None),
  };
  Ok(Some(text))
}

fn connection_string(js: Js, db: Value, client_options: Value) -> StorageResult<String> {
  let mut query: Vec<(String, String)> = Vec::new();
  let userinfo = credentials(js, client_options, &mut query)?;
  let (scheme, hosts) = match string_property(js, client_options, "srvHost")? {
    Some(srv_host) if !srv_host.is_empty() => ("mongodb+srv", srv_host),
    _ => ("mongodb", host_list(js, client_options)?),
  };

  for name in COPIED_OPTIONS {
    if let Some(text) = scalar_text(js, client_options, name)? {
      query.push((name.to_string(), text));
    }
  }
  if let Some(text) = scalar_text(js, client_options, "srvMaxHosts")? {
    if scheme == "mongodb+srv" && text != "0" {
      query.push(("srvMaxHosts".to_string(), text));
    }
  }
  if let Some(text) = scalar_text(js, client_options, "srvServiceName")? {
    if scheme == "mongodb+srv" && text != "mongodb" {
      query.push(("srvServiceName".to_string(), text));
    }
  }
  tls_verification(js, client_options, &mut query)?;
  compressors(js, client_options, &mut query)?;
  read_preference(js, db, &mut query)?;
  write_concern(js, db, &mut query)?;
  let read_concern = js.named(db, "readConcern").map_err(internal)?;
  if js.type_of(read_concern).map_err(internal)? == JsType::Object {
    if let Some(level) = string_property(js, read_concern, "level")? {
      query.push(("readConcernLevel".to_string(), level));
    }
  }

  let query = query
    .iter()
    .map(|(name, value)| format!("{name}={}", encode_list_value(value)))
    .collect::<Vec<_>>()
    .join("&");
  Ok(format!("{scheme}://{userinfo}{hosts}/?{query}"))
}

fn host_list(js: Js, client_options: Value) -> StorageResult<String> {
  let hosts = js.named(client_options, "hosts").map_err(internal)?;
  if !js.is_array(hosts).map_err(internal)? {
    return Err(invalid("db.client.options.hosts is missing".to_string()));
  }
  let count = js.array_length(hosts).map_err(internal)?;
  // The length comes from the caller, and a sparse array can claim 2^32 - 1 elements.
  let mut list = Vec::with_capacity((count as usize).min(64));
  for index in 0..count {
    let host = js.element(hosts, index).map_err(internal)?;
    if js.type_of(host).map_err(internal)? != JsType::Object {
      return Err(invalid(format!(
        "db.client.options.hosts[{index}] must be a host address, received {}",
        describe(js, host)
      )));
    }
    let text = match string_property(js, host, "socketPath")? {
      Some(path) => encode_value(&path),
      None => js.coerce_to_string(host).map_err(internal)?,
    };
    // A host is `name:port` or `[IPv6]:port`; anything else could inject URL parts.
    let valid = !text.is_empty()
      && text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-._:[]%".contains(c));
    if !valid {
      return Err(invalid(format!(
        "db.client.options.hosts[{index}] is not a host:port address"
      )));
    }
    list.push(text);
  }
  if list.is_empty() {
    return Err(invalid("db.client.options.hosts is empty".to_string()));
  }
  Ok(list.join(","))
}

/// Returns `user:password@` and adds `authSource`, `authMechanism` and its properties.
fn credentials(
  js: Js,
  client_options: Value,
  query: &mut Vec<(String, String)>,
) -> StorageResult<String> {
  let credentials = js.named(client_options, "credentials").map_err(internal)?;
  if js.type_of(credentials).map_err(internal)? != JsType::Object {
    return Ok(String::new());
  }
  let username = string_property(js, credentials, "username")?.unwrap_or_default();
  let password = string_property(js, credentials, "password")?.unwrap_or_default();
  if let Some(source) = string_property(js, credentials, "source")? {
    query.push(("authSource".to_string(), source));
  }
  if let Some(mechanism) = string_property(js, credentials, "mechanism")? {
    if mechanism != "DEFAULT" {
      query.push(("authMechanism".to_string(), mechanism));
    }
  }
  let properties = js
    .named(credentials, "mechanismProperties")
    .map_err(internal)?;
  if js.type_of(properties).map_err(internal)? == JsType::Object {
    let mut pairs = Vec::new();
    let keys = js.own_keys(properties).map_err(internal)?;
    for index in 0..js.array_length(keys).map_err(internal)? {
      let key = js.element(keys, index).map_err(internal)?;
      let name = js.get_string(key).map_err(internal)?;
      let value = js.property(properties, key).map_err(internal)?;
      match js.type_of(value).map_err(internal)? {
        JsType::Function => {
          return Err(invalid(format!(
            "the Db's client sets authMechanismProperties.{name} to a function, which the \
             addon cannot call; use a mechanism configured by the connection string"
          )))
        }
        JsType::String | JsType::Boolean | JsType::Number => {
          let text = scalar_text(js, properties, &name)?.unwrap_or_default();
          pairs.push(list_pair("authMechanismProperties", &name, &text)?);
        }
        // Lists such as the driver's default ALLOWED_HOSTS have no connection-string form.
        _ => {}
      }
    }
    if !pairs.is_empty() {
      query.push(("authMechanismProperties".to_string(), pairs.join(",")));
    }
  }
  if username.is_empty() {
    return Ok(String::new());
  }
  let mut userinfo = encode_value(&username);
  if !password.is_empty() {
    userinfo.push(':');
    userinfo.push_str(&encode_value(&password));
  }
  userinfo.push('@');
  Ok(userinfo)
}

/// Carries `tlsAllowInvalidCertificates` and `tlsAllowInvalidHostnames`, which the Node.js
/// driver stores as `rejectUnauthorized: false` and a `checkServerIdentity` function.
fn tls_verification(
  js: Js,
  client_options: Value,
  query: &mut Vec<(String, String)>,
) -> StorageResult<()> {
  let has = |query: &Vec<(String, String)>, name: &str| query.iter().any(|(key, _)| key == name);
  let reject_unauthorized = js
    .named(client_options, "rejectUnauthorized")
    .map_err(internal)?;
  if js.type_of(reject_unauthorized).map_err(internal)? == JsType::Boolean
    && !js.get_bool(reject_unauthorized).map_err(internal)?
    && !has(query, "tlsAllowInvalidCertificates")
  {
    query.push((
      "tlsAllowInvalidCertificates".to_string(),
      "true".to_string(),
    ));
  }
  let check = js
    .named(client_options, "checkServerIdentity")
    .map_err(internal)?;
  if js.type_of(check).map_err(internal)? == JsType::Function {
    let allowed = query.iter().any(|(key, value)| {
      (key == "tlsAllowInvalidHostnames" || key == "tlsInsecure") && value == "true"
    });
    if !allowed {
      return Err(invalid(
        "the Db's client sets the option checkServerIdentity to a function, which the addon \
         cannot call"
          .to_string(),
      ));
    }
  }
  Ok(())
}

fn compressors(
  js: Js,
  client_options: Value,
  query: &mut Vec<(String, String)>,
) -> StorageResult<()> {
  let list = js.named(client_options, "compressors").map_err(internal)?;
  if !js.is_array(list).map_err(internal)? {
    return Ok(());
  }
  let mut names = Vec::new();
  for index in 0..js.array_length(list).map_err(internal)? {
    let name = js.element(list, index).map_err(internal)?;
    let name = js.get_string(name).map_err(internal)?;
    if name != "none" {
      names.push(name);
    }
  }
  if names.is_empty() {
    return Ok(());
  }
  if names.iter().any(|name| name == "zlib") {
    if let Some(level) = scalar_text(js, client_options, "zlibCompressionLevel")? {
      if level != "0" {
        query.push(("zlibCompressionLevel".to_string(), level));
      }
    }
  }
  query.push(("compressors".to_string(), names.join(",")));
  Ok(())
}

fn read_preference(js: Js, db: Value, query: &mut Vec<(String, String)>) -> StorageResult<()> {
  let preference = js.named(db, "readPreference").map_err(internal)?;
  if js.type_of(preference).map_err(internal)? != JsType::Object {
    return Ok(());
  }
  if let Some(mode) = string_property(js, preference, "mode")? {
    query.push(("readPreference".to_string(), mode));
  }
  if let Some(seconds) = scalar_text(js, preference, "maxStalenessSeconds")? {
    query.push(("maxStalenessSeconds".to_string(), seconds));
  }
  let tags = js.named(preference, "tags").map_err(internal)?;
  if js.is_array(tags).map_err(internal)? {
    for index in 0..js.array_length(tags).map_err(internal)? {
      let set = js.element(tags, index).map_err(internal)?;
      let keys = js.own_keys(set).map_err(internal)?;
      let mut pairs = Vec::new();
      for key_index in 0..js.array_length(keys).map_err(internal)? {
        let key = js.element(keys, key_index).map_err(internal)?;
        let name = js.get_string(key).map_err(internal)?;
        let value = scalar_text(js, set, &name)?.unwrap_or_default();
        pairs.push(list_pair("readPreferenceTags", &name, &value)?);
      }
      query.push(("readPreferenceTags".to_string(), pairs.join(",")));
    }
  }
  Ok(())
}

fn write_concern(js: Js, db: Value, query: &mut Vec<(String, String)>) -> StorageResult<()> {
  let concern = js.named(db, "writeConcern").map_err(internal)?;
  if js.type_of(concern).map_err(internal)? != JsType::Object {
    return Ok(());
  }
  if let Some(w) = scalar_text(js, concern, "w")? {
    query.push(("w".to_string(), w));
  }
  let timeout = match scalar_text(js, concern, "wtimeoutMS")? {
    Some(timeout) => Some(timeout),
    None => scalar_text(js, concern, "wtimeout")?,
  };
  if let Some(timeout) = timeout {
    query.push(("wTimeoutMS".to_string(), timeout));
  }
  let journal = match scalar_text(js, concern, "journal")? {
    Some(journal) => Some(journal),
    None => scalar_text(js, concern, "j")?,
  };
  if let Some(journal) = journal {
    query.push(("journal".to_string(), journal));
  }
  Ok(())
}

/// Joins a key and value of a list option such as `readPreferenceTags`. The connection string
/// separates pairs with `,` and keys from values with `:`, so values with either cannot be
/// carried.
fn list_pair(option: &str, key: &str, value: &str) -> StorageResult<String> {
  if [key, value].iter().any(|part| part.contains([':', ','])) {
    return Err(invalid(format!(
      "the Db's {option} contain ':' or ',' in {key:?}, which a connection string cannot carry"
    )));
  }
  Ok(format!("{key}:{value}"))
}

/// Percent-encodes a query value once, keeping the `:` and `,` separators of list options.
fn encode_list_value(text: &str) -> String {
  text
    .split(',')
    .map(|pair| {
      pair
        .split(':')
        .map(encode_value)
        .collect::<Vec<_>>()
        .join(":")
    })
    .collect::<Vec<_>>()
    .join(",")
}

/// Percent-encodes every byte outside RFC 3986's unreserved characters.
fn encode_value(text: &str) -> String {
  let mut encoded = String::with_capacity(text.len());
  for byte in text.bytes() {
    if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
      encoded.push(byte as char);
    } else {
      encoded.push_str(&format!("%{byte:02X}"));
    }
  }
  encoded
}

#[cfg(test)]
mod tests {
  use super::encode_value;

  #[test]
  fn encodes_reserved_characters() {
    assert_eq!(encode_value("p@ss:w/rd%1"), "p%40ss%3Aw%2Frd%251");
    assert_eq!(encode_value("plain-text_1.~"), "plain-text_1.~");
  }
}
