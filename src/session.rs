//! Sessions as JS objects and as MongoDB documents.
//!
//! A document has `_id` (the session id), `store`, every other field of the session under its
//! own name, `updatedAt` and `createdAt`. This is the layout the JavaScript package 2.0.2 writes.

use bson::raw::{RawBsonRef, RawDocument};
use bson::{Bson, DateTime, Document, RawDocumentBuf};

use crate::error::{Code, StorageError, StorageResult};
use crate::from_v8;
use crate::js::{Js, JsType, Value};
use crate::to_bson::{ConvertError, Converter};
use crate::to_js;
use crate::validate::{self, describe, internal, Identifier};

/// MongoDB's maximum document size in bytes (16 MiB).
pub const MAX_DOCUMENT_BYTES: usize = 16 * 1024 * 1024;

/// Fields that hold expiry or activity times; strings in them are parsed as ISO-8601 dates.
pub const DATE_FIELDS: [&str; 3] = ["expiresAt", "expires", "lastSeenAt"];

/// Fields that hold an expiry time. A session is expired once either is at or before now.
pub const EXPIRY_FIELDS: [&str; 2] = ["expiresAt", "expires"];

/// Session fields that are not copied into the document: the id becomes `_id`, the store is
/// written from the argument, and the two timestamps are set by this package.
const MANAGED_FIELDS: [&str; 4] = ["id", "store", "createdAt", "updatedAt"];

/// A session ready to be written.
#[derive(Debug)]
pub struct SessionWrite {
  pub id: String,
  pub store: String,
  fields: Fields,
  updated_at: DateTime,
}

/// The fields of a session besides `id`, `store` and the timestamps.
#[derive(Debug)]
enum Fields {
  /// Converted property by property.
  Document(Document),
  /// Written as BSON by the V8 fast path; parsed into a `Document` on a worker thread.
  Raw(RawDocumentBuf),
}

impl SessionWrite {
  /// Returns `_id`, `store`, the session's fields and `updatedAt`; `createdAt` is added on
  /// insert.
  pub fn document(&self) -> StorageResult<Document> {
    let mut document = Document::new();
    document.insert("_id", self.id.as_str());
    document.insert("store", self.store.as_str());
    match &self.fields {
      Fields::Document(fields) => document.extend(fields.clone()),
      Fields::Raw(fields) => document.extend(fields.to_document().map_err(|error| {
        StorageError::new(
          Code::Internal,
          format!("storeSession: the converted session is malformed: {error}"),
        )
      })?),
    }
    document.insert("updatedAt", self.updated_at);
    Ok(document)
  }
}

fn invalid_session(method: &str, message: String) -> StorageError {
  StorageError::new(Code::InvalidSession, format!("{method}: {message}"))
}

/// Reads a session for `storeSession`. `store` is the store argument of the store-scoped
/// call, and `None` in the app-SDK call, where the store comes from `session.store`.
pub fn read(
  js: Js,
  session: Value,
  store: Option<String>,
  now: DateTime,
) -> StorageResult<SessionWrite> {
  const METHOD: &str = "storeSession";
  let mut converter = Converter::new(js, MAX_DOCUMENT_BYTES);
  let is_object = js.type_of(session).map_err(internal)? == JsType::Object
    && !js.is_array(session).map_err(internal)?
    && !js.is_date(session).map_err(internal)?
    && converter
      .is_plain(session)
      .map_err(|error| invalid_session(METHOD, error.reason))?;
  if !is_object {
    return Err(invalid_session(
      METHOD,
      format!(
        "\"session\" must be a plain object with a string id, received {}",
        describe(js, session)
      ),
    ));
  }

  let id_value = js.named(session, "id").map_err(internal)?;
  let id = validate::identifier(js, id_value, Identifier::SessionId, METHOD, "session.id")
    .map_err(as_invalid_session)?;
  let store = read_store(js, session, store)?;
  if js.has_own(session, "_id").map_err(internal)? {
    return Err(invalid_session(
      METHOD,
      "session._id is reserved for the session id; put the id in session.id".to_string(),
    ));
  }

  let (fields, fields_size) =
    match from_v8::session_fields(js, session, &MANAGED_FIELDS, MAX_DOCUMENT_BYTES) {
      Some(fields) => {
        let size = fields.as_bytes().len() - 5;
        (Fields::Raw(fields), size)
      }
      None => {
        let fields = converter
          .document(session, 1, &MANAGED_FIELDS)
          .map_err(|error| convert_error(METHOD, error))?;
        let mut size = fields.size - 5;
        let mut fields = fields.value;
        for name in DATE_FIELDS {
          if let Some(value) = fields.get_mut(name) {
            size = size + 8 - bson_scalar_size(value);
            *value = parse_date_field(name, value)?;
          }
        }
        (Fields::Document(fields), size)
      }
    };

  // The document, `_id`, `store`, the fields, and `updatedAt` and `createdAt` of 8 bytes each.
  let size = 5 + (5 + 4 + id.len() + 1) + (7 + 4 + store.len() + 1) + fields_size + 2 * (11 + 8);
  if size > MAX_DOCUMENT_BYTES {
    return Err(StorageError::new(
      Code::SessionTooLarge,
      format!(
        "{METHOD}: the session encodes to {size} bytes of BSON, more than MongoDB's limit of \
         {MAX_DOCUMENT_BYTES}; store large data elsewhere and keep a reference in the session"
      ),
    ));
  }
  Ok(SessionWrite {
    id,
    store,
    fields,
    updated_at: now,
  })
}

fn as_invalid_session(mut error: StorageError) -> StorageError {
  error.code = Code::InvalidSession;
  error
}

fn convert_error(method: &str, error: ConvertError) -> StorageError {
  if error.too_large {
    return StorageError::new(
      Code::SessionTooLarge,
      format!(
        "{method}: {} {}; store large data elsewhere and keep a reference in the session",
        error.path_string("session"),
        error.reason
      ),
    );
  }
  invalid_session(
    method,
    format!("{} {}", error.path_string("session"), error.reason),
  )
}

/// Checks `session.store` against the store argument, or reads it when there is none.
fn read_store(js: Js, session: Value, store: Option<String>) -> StorageResult<String> {
  const METHOD: &str = "storeSession";
  let value = js.named(session, "store").map_err(internal)?;
  let Some(store) = store else {
    return validate::identifier(js, value, Identifier::Store, METHOD, "session.store")
      .map_err(as_invalid_session);
  };
  match js.type_of(value).map_err(internal)? {
    JsType::Undefined => Ok(store),
    JsType::String if js.get_string(value).map_err(internal)? == store => Ok(store),
    JsType::String => Err(StorageError::new(
      Code::StoreMismatch,
      format!(
        "{METHOD}: session.store differs from the \"store\" argument; pass the same store in \
         both or leave session.store out"
      ),
    )),
    _ => Err(invalid_session(
      METHOD,
      format!(
        "session.store must be a string or absent, received {}",
        describe(js, value)
      ),
    )),
  }
}

fn bson_scalar_size(value: &Bson) -> usize {
  match value {
    Bson::String(text) => 4 + text.len() + 1,
    Bson::DateTime(_) => 8,
    Bson::Null => 0,
    _ => 0,
  }
}

/// Accepts a Date, an ISO-8601 string or null in a date field.
fn parse_date_field(name: &str, value: &Bson) -> StorageResult<Bson> {
  match value {
    Bson::DateTime(_) | Bson::Null => Ok(value.clone()),
    Bson::String(text) => match parse_iso_date(text) {
      Some(date) => Ok(Bson::DateTime(date)),
      None => Err(invalid_session(
        "storeSession",
        format!(
          "session.{name} is not an ISO-8601 date string; pass a Date or a string such as \
           2026-01-31T12:00:00Z"
        ),
      )),
    },
    _ => Err(invalid_session(
      "storeSession",
      format!("session.{name} must be a Date, an ISO-8601 string or null"),
    )),
  }
}

/// Parses an RFC 3339 timestamp, or a plain `YYYY-MM-DD` date as midnight UTC, which is how
/// `new Date()` reads one.
pub fn parse_iso_date(text: &str) -> Option<DateTime> {
  if let Ok(parsed) = chrono::DateTime::parse_from_rfc3339(text) {
    return Some(DateTime::from_millis(parsed.timestamp_millis()));
  }
  let day = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
  let midnight = day.and_hms_opt(0, 0, 0)?.and_utc();
  Some(DateTime::from_millis(midnight.timestamp_millis()))
}

/// Reads an expiry field that is not a BSON date, as the JavaScript package 2.x may have
/// stored it: an ISO-8601 string or milliseconds since the Unix epoch.
pub fn legacy_expiry(value: RawBsonRef<'_>) -> Option<i64> {
  match value {
    RawBsonRef::String(text) => parse_iso_date(text).map(|date| date.timestamp_millis()),
    RawBsonRef::Int32(millis) => Some(millis as i64),
    RawBsonRef::Int64(millis) => Some(millis),
    RawBsonRef::Double(millis) if millis.is_finite() => Some(millis as i64),
    _ => None,
  }
}

/// Tells whether a document's expiry, stored as a string or a number, is at or before `now`.
/// The query filters compare dates only, so these documents reach the client.
pub fn has_legacy_expiry_passed(document: &RawDocument, now: DateTime) -> bool {
  EXPIRY_FIELDS.iter().any(|field| {
    matches!(
      document.get(field).ok().flatten().and_then(legacy_expiry),
      Some(millis) if millis <= now.timestamp_millis()
    )
  })
}

/// Converts a stored document into a session: `_id` becomes `id`, every other field keeps its
/// name. A null `scope` or `expires`, which the JavaScript package writes for absent values, is
/// left out, and an `expires` or `expiresAt` stored as a date string or as epoch milliseconds
/// comes back as a `Date`, as 2.x returns it.
pub fn to_js(js: Js, document: &RawDocument) -> napi::Result<Value> {
  let session = js.object()?;
  if let Some(id) = document.get("_id").map_err(malformed)? {
    js.set_own(session, "id", to_js::value(js, id)?)?;
  }
  for element in document {
    let (key, value) = element.map_err(malformed)?;
    let converted = match (key, value) {
      ("_id", _) => continue,
      ("scope" | "expires", RawBsonRef::Null) => continue,
      ("expires" | "expiresAt", value) if legacy_expiry(value).is_some() => {
        js.date(legacy_expiry(value).unwrap_or_default() as f64)?
      }
      _ => to_js::value(js, value)?,
    };
    js.set_own(session, key, converted)?;
  }
  Ok(session)
}

fn malformed(error: bson::raw::Error) -> napi::Error {
  napi::Error::new(
    napi::Status::GenericFailure,
    format!("the server returned a malformed document: {error}"),
  )
}

/// Options of the store-scoped `findSessionsByStore`.
#[derive(Debug, Default, Clone)]
pub struct FindOptions {
  pub user_id: Option<String>,
  pub limit: Option<i64>,
  pub offset: Option<u64>,
}

/// Reads `{ userId?, limit?, offset? }`; `undefined` means no options.
pub fn read_find_options(js: Js, options: Value) -> StorageResult<FindOptions> {
  const METHOD: &str = "findSessionsByStore";
  let kind = js.type_of(options).map_err(internal)?;
  if kind == JsType::Undefined {
    return Ok(FindOptions::default());
  }
  if kind != JsType::Object || js.is_array(options).map_err(internal)? {
    return Err(StorageError::new(
      Code::InvalidArgument,
      format!(
        "{METHOD}: \"options\" must be an object {{ userId?, limit?, offset? }}, received {}",
        describe(js, options)
      ),
    ));
  }
  let user_id = js.named(options, "userId").map_err(internal)?;
  let user_id = match js.type_of(user_id).map_err(internal)? {
    JsType::Undefined => None,
    JsType::String => Some(js.get_string(user_id).map_err(internal)?),
    _ => {
      return Err(StorageError::new(
        Code::InvalidArgument,
        format!(
          "{METHOD}: options.userId must be a string, received {}",
          describe(js, user_id)
        ),
      ))
    }
  };
  let limit = read_count(js, options, "limit")?.map(|limit| limit as i64);
  let offset = read_count(js, options, "offset")?;
  Ok(FindOptions {
    user_id,
    limit,
    offset,
  })
}

/// Reads a non-negative integer of at most 2^53 - 1.
fn read_count(js: Js, options: Value, name: &str) -> StorageResult<Option<u64>> {
  const MAX: f64 = 9_007_199_254_740_991.0;
  let value = js.named(options, name).map_err(internal)?;
  let number = match js.type_of(value).map_err(internal)? {
    JsType::Undefined => return Ok(None),
    JsType::Number => js.get_f64(value).map_err(internal)?,
    _ => f64::NAN,
  };
  if number.is_finite() && number >= 0.0 && number.fract() == 0.0 && number <= MAX {
    return Ok(Some(number as u64));
  }
  Err(StorageError::new(
    Code::InvalidArgument,
    format!(
      "findSessionsByStore: options.{name} must be a non-negative integer, received {}",
      describe(js, value)
    ),
  ))
}
