//! Checks of method arguments that run before anything is sent to MongoDB.

use crate::error::{Code, StorageError, StorageResult};
use crate::js::{Js, JsType, Value};

/// The maximum length of a store name or session id, in UTF-8 bytes.
pub const MAX_IDENTIFIER_BYTES: usize = 1024;

/// Describes a value for an error message without showing its content, because ids and
/// tokens are secrets.
pub fn describe(js: Js, value: Value) -> String {
  let Ok(kind) = js.type_of(value) else {
    return "an unreadable value".to_string();
  };
  match kind {
    JsType::Undefined => "undefined".to_string(),
    JsType::Null => "null".to_string(),
    JsType::Boolean => "a boolean".to_string(),
    JsType::Number => match js.get_f64(value) {
      Ok(number) => format!("the number {number}"),
      Err(_) => "a number".to_string(),
    },
    JsType::String => match js.get_string(value) {
      Ok(text) if text.is_empty() => "an empty string".to_string(),
      Ok(text) => format!("a string of {} bytes", text.len()),
      Err(_) => "a string".to_string(),
    },
    JsType::Symbol => "a symbol".to_string(),
    JsType::Function => "a function".to_string(),
    JsType::BigInt => "a BigInt".to_string(),
    JsType::External => "an external value".to_string(),
    JsType::Object => {
      if js.is_array(value).unwrap_or(false) {
        "an array".to_string()
      } else if js.is_date(value).unwrap_or(false) {
        "a Date".to_string()
      } else {
        "an object".to_string()
      }
    }
  }
}

/// The kind of value an identifier names, used in messages.
#[derive(Clone, Copy)]
pub enum Identifier {
  Store,
  SessionId,
}

impl Identifier {
  fn rule(self) -> String {
    let what = match self {
      Identifier::Store => "a store name",
      Identifier::SessionId => "a session id",
    };
    format!("{what} must be a non-empty string of at most {MAX_IDENTIFIER_BYTES} bytes without NUL")
  }
}

/// Reads a store name or session id. `method` and `name` appear in the message, as in
/// `loadSession: "store" must be a string, received an object`.
pub fn identifier(
  js: Js,
  value: Value,
  kind: Identifier,
  method: &str,
  name: &str,
) -> StorageResult<String> {
  if js.type_of(value).map_err(internal)? != JsType::String {
    return Err(StorageError::new(
      Code::InvalidArgument,
      format!(
        "{method}: \"{name}\" must be a string, received {}; {}",
        describe(js, value),
        kind.rule()
      ),
    ));
  }
  let text = js.get_string(value).map_err(internal)?;
  identifier_text(text, kind, method, name)
}

/// Checks a store name or session id that is already a Rust string.
pub fn identifier_text(
  text: String,
  kind: Identifier,
  method: &str,
  name: &str,
) -> StorageResult<String> {
  let problem = if text.is_empty() {
    "is empty".to_string()
  } else if text.len() > MAX_IDENTIFIER_BYTES {
    format!("is {} bytes long", text.len())
  } else if text.contains('\0') {
    "contains a NUL character".to_string()
  } else {
    return Ok(text);
  };
  Err(StorageError::new(
    Code::InvalidArgument,
    format!("{method}: \"{name}\" {problem}; {}", kind.rule()),
  ))
}

/// Reads an array of session ids.
pub fn identifiers(js: Js, value: Value, method: &str) -> StorageResult<Vec<String>> {
  let is_array = js.type_of(value).map_err(internal)? == JsType::Object
    && js.is_array(value).map_err(internal)?;
  if !is_array {
    return Err(StorageError::new(
      Code::InvalidArgument,
      format!(
        "{method}: \"ids\" must be an array of session ids, received {}",
        describe(js, value)
      ),
    ));
  }
  let length = js.array_length(value).map_err(internal)?;
  // The length comes from the caller, and a sparse array can claim 2^32 - 1 elements.
  let mut ids = Vec::with_capacity((length as usize).min(1024));
  for index in 0..length {
    let element = js.element(value, index).map_err(internal)?;
    let name = format!("ids[{index}]");
    ids.push(identifier(
      js,
      element,
      Identifier::SessionId,
      method,
      &name,
    )?);
  }
  Ok(ids)
}

/// Wraps a failed Node-API call, which means a bug or an exhausted engine, not bad input.
pub fn internal(error: napi::Error) -> StorageError {
  StorageError::new(
    Code::Internal,
    format!("reading a JavaScript value failed: {}", error.reason),
  )
}
