//! The methods of `MongoDBSessionStorage`: the session methods in both call shapes,
//! `ensureIndex()` and `disconnect()`.
//!
//! The store-scoped shape passes the store first: `storeSession(store, session)`,
//! `loadSession(store, id)`. The app-SDK shape, which `qumraApp({ sessionStorage })` calls,
//! leaves it out: `storeSession(session)`, `loadSession(id)`. The methods are installed on the
//! class prototype as raw Node-API callbacks, because the shapes differ by argument count and
//! a `#[napi]` method cannot see how many arguments it got.

use std::ffi::c_char;
use std::panic::AssertUnwindSafe;
use std::ptr;
use std::sync::Arc;

use bson::{DateTime, RawDocumentBuf};
use napi::bindgen_prelude::{ClassInstance, FromNapiValue};
use napi::sys;

use crate::connection::Connection;
use crate::error::{Code, StorageError, StorageResult};
use crate::js::{Js, Value};
use crate::operations::{self, Scope};
use crate::session::{self, FindOptions};
use crate::storage::{panic_error, spawn, MongoDBSessionStorage};
use crate::to_json;
use crate::validate::{identifier, identifiers, Identifier};

/// The arguments of one call: the values given, up to the most any shape takes.
struct Call<'a> {
  js: Js,
  connection: Arc<Connection>,
  args: &'a [Value],
  /// The number of arguments given, which may exceed `args.len()`.
  count: usize,
  /// The method's JS name, for messages.
  method: &'static str,
}

type Body = fn(Call<'_>) -> StorageResult<Value>;

fn wrong_arity(method: &str, shapes: &str, count: usize) -> StorageError {
  StorageError::new(
    Code::InvalidArgument,
    format!("{method}: expected {shapes}, received {count} arguments"),
  )
}

fn store_session(call: Call<'_>) -> StorageResult<Value> {
  const METHOD: &str = "storeSession";
  let js = call.js;
  let now = DateTime::now();
  let write = match call.args {
    [session] => session::read(js, *session, None, now)?,
    [store, session] => {
      let store = identifier(js, *store, Identifier::Store, METHOD, "store")?;
      session::read(js, *session, Some(store), now)?
    }
    _ => {
      return Err(wrong_arity(
        METHOD,
        "(session) or (store, session)",
        call.count,
      ))
    }
  };
  let connection = call.connection.clone();
  let future = async move { operations::store(&connection, write, now).await };
  spawn_value(call, future, |js, ()| js.boolean(true))
}

fn load_session(call: Call<'_>) -> StorageResult<Value> {
  const METHOD: &str = "loadSession";
  let js = call.js;
  let (scope, id) = scope_and_id(js, &call, METHOD)?;
  let store_scoped = matches!(scope, Scope::Store(_));
  let connection = call.connection.clone();
  let now = DateTime::now();
  let future = async move {
    let document = operations::load(&connection, scope, id, now).await?;
    Ok(document.map(Loaded::session))
  };
  spawn_value(call, future, move |js, loaded| match loaded {
    Some(loaded) => loaded.into_js(js),
    // The store-scoped shape documents null for a missing session; the app SDK expects undefined.
    None if store_scoped => js.null(),
    None => js.undefined(),
  })
}

fn delete_session(call: Call<'_>) -> StorageResult<Value> {
  const METHOD: &str = "deleteSession";
  let (scope, id) = scope_and_id(call.js, &call, METHOD)?;
  let connection = call.connection.clone();
  let future = async move { operations::delete(&connection, scope, id).await };
  spawn_value(call, future, |js, deleted| js.boolean(deleted))
}

fn delete_sessions(call: Call<'_>) -> StorageResult<Value> {
  const METHOD: &str = "deleteSessions";
  let js = call.js;
  let (scope, ids) = match call.args {
    [ids] => (Scope::Any, identifiers(js, *ids, METHOD)?),
    [store, ids] => {
      let store = identifier(js, *store, Identifier::Store, METHOD, "store")?;
      (Scope::Store(store), identifiers(js, *ids, METHOD)?)
    }
    _ => return Err(wrong_arity(METHOD, "(ids) or (store, ids)", call.count)),
  };
  let connection = call.connection.clone();
  let future = async move { operations::delete_many(&connection, scope, ids).await };
  spawn_value(call, future, |js, deleted| js.boolean(deleted))
}

fn find_sessions_by_store(call: Call<'_>) -> StorageResult<Value> {
  const METHOD: &str = "findSessionsByStore";
  let js = call.js;
  let (store, options) = match call.args {
    [store] => (*store, FindOptions::default()),
    [store, options] => (*store, session::read_find_options(js, *options)?),
    _ => {
      return Err(wrong_arity(
        METHOD,
        "(store) or (store, options)",
        call.count,
      ))
    }
  };
  let store = identifier(js, store, Identifier::Store, METHOD, "store")?;
  let connection = call.connection.clone();
  let now = DateTime::now();
  let future = async move {
    let documents = operations::find(&connection, store, options, now).await?;
    Ok(Loaded::sessions(documents))
  };
  spawn_value(call, future, |js, loaded| loaded.into_js(js))
}

/// Sessions read from the server, encoded as JSON on the worker thread where possible.
enum Loaded {
  Encoded(to_json::Encoded),
  Session(RawDocumentBuf),
  Sessions(Vec<RawDocumentBuf>),
}

impl Loaded {
  fn session(document: RawDocumentBuf) -> Self {
    match to_json::session(&document) {
      Ok(Some(encoded)) => Loaded::Encoded(encoded),
      // A malformed document is reported by the Node-API conversion.
      Ok(None) | Err(_) => Loaded::Session(document),
    }
  }

  fn sessions(documents: Vec<RawDocumentBuf>) -> Self {
    match to_json::sessions(&documents) {
      Ok(Some(encoded)) => Loaded::Encoded(encoded),
      Ok(None) | Err(_) => Loaded::Sessions(documents),
    }
  }

  /// Builds the JS value on the main thread.
  fn into_js(self, js: Js) -> napi::Result<Value> {
    match self {
      Loaded::Encoded(encoded) => encoded.decode(js),
      Loaded::Session(document) => session::to_js(js, &document),
      Loaded::Sessions(documents) => {
        let array = js.array(documents.len())?;
        for (index, document) in documents.iter().enumerate() {
          js.set_element(array, index as u32, session::to_js(js, document)?)?;
        }
        Ok(array)
      }
    }
  }
}

/// Creates the indexes now. Arguments are ignored.
fn ensure_index(call: Call<'_>) -> StorageResult<Value> {
  let connection = call.connection.clone();
  let future = async move { connection.ensure_indexes().await };
  spawn_value(call, future, |js, ()| js.undefined())
}

/// Closes the instance. It is marked closed now, on the main thread, so that calls made after
/// `disconnect()` reject even before its promise settles. Arguments are ignored.
fn disconnect(call: Call<'_>) -> StorageResult<Value> {
  let connection = call.connection.clone();
  let first = connection.mark_closed();
  let future = async move {
    if first {
      connection.close().await;
    }
    Ok(())
  };
  spawn(call.js, call.connection, future, |js, ()| js.undefined())
    .map(|promise| promise.0)
    .map_err(|error| {
      StorageError::new(
        Code::Internal,
        format!("starting disconnect failed: {}", error.reason),
      )
    })
}

/// Reads `(id)` or `(store, id)`.
fn scope_and_id(js: Js, call: &Call<'_>, method: &str) -> StorageResult<(Scope, String)> {
  match call.args {
    [id] => Ok((
      Scope::Any,
      identifier(js, *id, Identifier::SessionId, method, "id")?,
    )),
    [store, id] => {
      let store = identifier(js, *store, Identifier::Store, method, "store")?;
      let id = identifier(js, *id, Identifier::SessionId, method, "id")?;
      Ok((Scope::Store(store), id))
    }
    _ => Err(wrong_arity(method, "(id) or (store, id)", call.count)),
  }
}

/// Starts the operation unless the instance was closed; `disconnect()` waits for it.
fn spawn_value<T, F, C>(call: Call<'_>, future: F, convert: C) -> StorageResult<Value>
where
  T: Send + 'static,
  F: std::future::Future<Output = StorageResult<T>> + Send + 'static,
  C: FnOnce(Js, T) -> napi::Result<Value> + 'static,
{
  let guard = call.connection.begin(call.method)?;
  let future = async move {
    let result = future.await;
    drop(guard);
    result
  };
  spawn(call.js, call.connection, future, convert)
    .map(|promise| promise.0)
    .map_err(|error| {
      StorageError::new(
        Code::Internal,
        format!("starting the operation failed: {}", error.reason),
      )
    })
}

/// The maximum number of arguments of any call shape.
const MAX_ARGS: usize = 2;

/// Runs a method body and always returns a promise: a validation error, an exception thrown
/// by a getter or Proxy trap while the arguments were read, or a panic becomes a rejection,
/// never a synchronous throw. `method` names the method in messages, and `input_code` is the
/// code for arguments whose reading threw.
unsafe fn invoke(
  env: sys::napi_env,
  info: sys::napi_callback_info,
  method: &'static str,
  input_code: Code,
  body: Body,
) -> sys::napi_value {
  let js = Js::new(env);
  let mut argc = MAX_ARGS;
  let mut argv = [ptr::null_mut(); MAX_ARGS];
  let mut this = ptr::null_mut();
  let status = unsafe {
    sys::napi_get_cb_info(
      env,
      info,
      &mut argc,
      argv.as_mut_ptr(),
      &mut this,
      ptr::null_mut(),
    )
  };
  let result = if status != sys::Status::napi_ok {
    Err(StorageError::new(
      Code::Internal,
      "reading the call's arguments failed",
    ))
  } else {
    std::panic::catch_unwind(AssertUnwindSafe(|| {
      // SAFETY: `this` is the receiver of this call; the conversion checks its type tag.
      let instance = unsafe { ClassInstance::<MongoDBSessionStorage>::from_napi_value(env, this) };
      let connection = match instance {
        Ok(instance) => instance.connection.clone(),
        Err(_) => {
          return Err(StorageError::new(
            Code::InvalidArgument,
            format!("{method}: called on an object that is not a MongoDBSessionStorage"),
          ))
        }
      };
      body(Call {
        js,
        connection,
        // More arguments than any shape takes match no shape and reject with the count.
        args: if argc > MAX_ARGS { &[] } else { &argv[..argc] },
        count: argc,
        method,
      })
    }))
    .unwrap_or_else(|panic| Err(panic_error(panic)))
  };

  // A getter or Proxy trap that threw left a pending exception, which makes later Node-API
  // calls fail and would surface as a synchronous throw. It becomes the rejection's cause.
  if let Some(thrown) = js.take_exception() {
    if let Ok(promise) = result {
      return promise;
    }
    let error = StorageError::new(
      input_code,
      format!(
        "{method}: reading an argument threw: {}",
        js.error_message(thrown)
      ),
    );
    return reject(js, &error, Some(thrown));
  }
  match result {
    Ok(promise) => promise,
    Err(error) => reject(js, &error, None),
  }
}

/// Returns a promise rejected with `error`, with `cause` attached when given.
fn reject(js: Js, error: &StorageError, cause: Option<Value>) -> sys::napi_value {
  let rejected = error.to_js(js).and_then(|value| {
    if let Some(cause) = cause {
      js.set(value, "cause", cause)?;
    }
    js.rejected_promise(value)
  });
  rejected.unwrap_or(ptr::null_mut())
}

macro_rules! callback {
  ($name:ident, $js_name:literal, $input_code:expr, $body:path) => {
    unsafe extern "C" fn $name(
      env: sys::napi_env,
      info: sys::napi_callback_info,
    ) -> sys::napi_value {
      unsafe { invoke(env, info, $js_name, $input_code, $body) }
    }
  };
}

callback!(
  store_session_callback,
  "storeSession",
  Code::InvalidSession,
  store_session
);
callback!(
  load_session_callback,
  "loadSession",
  Code::InvalidArgument,
  load_session
);
callback!(
  delete_session_callback,
  "deleteSession",
  Code::InvalidArgument,
  delete_session
);
callback!(
  delete_sessions_callback,
  "deleteSessions",
  Code::InvalidArgument,
  delete_sessions
);
callback!(
  find_sessions_by_store_callback,
  "findSessionsByStore",
  Code::InvalidArgument,
  find_sessions_by_store
);
callback!(
  ensure_index_callback,
  "ensureIndex",
  Code::InvalidArgument,
  ensure_index
);
callback!(
  disconnect_callback,
  "disconnect",
  Code::InvalidArgument,
  disconnect
);

/// Defines the methods on `MongoDBSessionStorage.prototype`, as writable,
/// configurable and non-enumerable properties, like the methods of a JS class.
pub fn install(env: sys::napi_env, exports: sys::napi_value) -> napi::Result<()> {
  let js = Js::new(env);
  let class = js.named(exports, "MongoDBSessionStorage")?;
  let prototype = js.named(class, "prototype")?;
  let methods: [(&'static [u8], sys::napi_callback); 7] = [
    (b"storeSession\0", Some(store_session_callback)),
    (b"loadSession\0", Some(load_session_callback)),
    (b"deleteSession\0", Some(delete_session_callback)),
    (b"deleteSessions\0", Some(delete_sessions_callback)),
    (
      b"findSessionsByStore\0",
      Some(find_sessions_by_store_callback),
    ),
    (b"ensureIndex\0", Some(ensure_index_callback)),
    (b"disconnect\0", Some(disconnect_callback)),
  ];
  let descriptors: Vec<sys::napi_property_descriptor> = methods
    .iter()
    .map(|(name, method)| sys::napi_property_descriptor {
      utf8name: name.as_ptr() as *const c_char,
      name: ptr::null_mut(),
      method: *method,
      getter: None,
      setter: None,
      value: ptr::null_mut(),
      attributes: sys::PropertyAttributes::writable | sys::PropertyAttributes::configurable,
      data: ptr::null_mut(),
    })
    .collect();
  let status =
    unsafe { sys::napi_define_properties(env, prototype, descriptors.len(), descriptors.as_ptr()) };
  if status != sys::Status::napi_ok {
    return Err(napi::Error::new(
      napi::Status::GenericFailure,
      format!("defining the session methods failed with status {status}"),
    ));
  }
  Ok(())
}
