//! `@qumra/app-session-storage-mongodb`: MongoDB session storage for Qumra apps, as a Node.js
//! addon on the official Rust driver.

#![deny(clippy::all)]

mod connection;
mod error;
mod from_db;
mod from_v8;
mod js;
mod logging;
mod methods;
mod operations;
mod options;
mod pool;
mod session;
mod storage;
mod to_bson;
mod to_js;
mod to_json;
mod validate;

use napi::bindgen_prelude::Object;
use napi::{Env, JsValue};
use napi_derive::napi;

/// Sets up logging and adds the session methods to the class prototype.
#[napi(module_exports)]
pub fn init(exports: Object, env: Env) -> napi::Result<()> {
  logging::init();
  methods::install(env.raw(), exports.raw())
}
