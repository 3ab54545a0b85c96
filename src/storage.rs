//! The `MongoDBSessionStorage` class and its constructor.
//!
//! The methods live in `methods.rs` as raw Node-API callbacks, because the session methods
//! read their argument count to tell the two call shapes apart, which `#[napi]` methods
//! cannot, and every method rejects instead of throwing when called on another object.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures_util::FutureExt;
use napi::bindgen_prelude::ToNapiValue;
use napi::{sys, Env, JsValue, Unknown};
use napi_derive::napi;

use crate::connection::Connection;
use crate::error::{Code, StorageError, StorageResult};
use crate::js::{Js, JsType, Value};
use crate::{from_db, options};

/// MongoDB session storage for Qumra apps.
///
/// No I/O happens in the constructor: the first operation opens the connection pool and
/// creates the indexes.
#[napi(js_name = "MongoDBSessionStorage")]
pub struct MongoDBSessionStorage {
  pub(crate) connection: Arc<Connection>,
}

#[napi]
impl MongoDBSessionStorage {
  /// Creates a storage from `{ url, dbName?, collectionName? }`, or from a `Db` of the
  /// `mongodb` npm package and `{ collectionName? }`. Throws a `TypeError` with code
  /// `ERR_INVALID_OPTION` when an option is missing or invalid.
  #[napi(
    constructor,
    ts_args_type = "optionsOrDb: MongoDBSessionStorageOptions | MongoDbLike, dbOptions?: MongoDBSessionStorageDbOptions"
  )]
  pub fn new(env: Env, first: Unknown, second: Option<Unknown>) -> napi::Result<Self> {
    let js = Js::new(env.raw());
    let second = second.map(|second| second.raw());
    let config = if from_db::is_db(js, first.raw()) {
      from_db::read(js, first.raw(), second)
    } else {
      options::read_options(js, first.raw()).and_then(|config| match second {
        Some(value) if js.type_of(value).ok() != Some(JsType::Undefined) => Err(StorageError::new(
          Code::InvalidOption,
          "MongoDBSessionStorage: a second argument goes only with a Db; put collectionName \
             in the options object",
        )),
        _ => Ok(config),
      })
    };
    // A getter or Proxy trap in the options that threw left a pending exception; it becomes
    // the cause of the TypeError.
    if let Some(thrown) = js.take_exception() {
      let error = StorageError::new(
        Code::InvalidOption,
        format!(
          "MongoDBSessionStorage: reading the options threw: {}",
          js.error_message(thrown)
        ),
      );
      let value = error.to_js(js)?;
      js.set(value, "cause", thrown)?;
      // SAFETY: `value` is a live handle in the current scope of `js.env`.
      let unknown = unsafe { Unknown::from_raw_unchecked(js.env, value) };
      return Err(napi::Error::from(unknown));
    }
    let config = config.map_err(|error| error.into_napi(js))?;
    tracing::debug!(
      database = %config.database,
      collection = %config.collection,
      "MongoDBSessionStorage created"
    );
    Ok(MongoDBSessionStorage {
      connection: Arc::new(Connection::new(config)),
    })
  }
}

/// A `napi_value` handed back to napi-rs unchanged.
pub struct RawValue(pub sys::napi_value);

impl ToNapiValue for RawValue {
  unsafe fn to_napi_value(_env: sys::napi_env, value: Self) -> napi::Result<sys::napi_value> {
    Ok(value.0)
  }
}

/// Runs `future` on the tokio runtime and returns a promise for its result, converted to JS by
/// `convert` on the main thread. A panic on either side rejects with `ERR_INTERNAL`. Warnings
/// that the connection raised meanwhile go to `process.emitWarning`.
pub fn spawn<T, F, C>(
  js: Js,
  connection: Arc<Connection>,
  future: F,
  convert: C,
) -> napi::Result<RawValue>
where
  T: Send + 'static,
  F: Future<Output = StorageResult<T>> + Send + 'static,
  C: FnOnce(Js, T) -> napi::Result<Value> + 'static,
{
  let guarded = async move {
    let result = AssertUnwindSafe(future)
      .catch_unwind()
      .await
      .unwrap_or_else(|panic| Err(panic_error(panic)));
    Ok(result)
  };
  let env = Env::from_raw(js.env);
  let promise = env.spawn_future_with_callback(guarded, move |env, result| {
    let js = Js::new(env.raw());
    for warning in connection.take_warnings() {
      let _ = js.emit_warning(&warning, Code::IndexCreation.as_str());
    }
    let converted = match result {
      Ok(value) => std::panic::catch_unwind(AssertUnwindSafe(|| convert(js, value)))
        .unwrap_or_else(|panic| Err(panic_error(panic).into_napi(js))),
      Err(error) => Err(error.redact(&connection.config().secrets).into_napi(js)),
    };
    converted.map(RawValue)
  })?;
  Ok(RawValue(promise.raw()))
}

/// Turns a caught panic into `ERR_INTERNAL`.
pub fn panic_error(panic: Box<dyn std::any::Any + Send>) -> StorageError {
  let detail = panic
    .downcast_ref::<&str>()
    .map(|text| text.to_string())
    .or_else(|| panic.downcast_ref::<String>().cloned())
    .unwrap_or_else(|| "unknown panic".to_string());
  tracing::error!(%detail, "panic caught");
  StorageError::new(
    Code::Internal,
    format!("internal error in @qumra/app-session-storage-mongodb: {detail}; please report it"),
  )
}
