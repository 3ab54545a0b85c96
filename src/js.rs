//! A thin, checked layer over the raw Node-API calls that the value conversions use.
//!
//! The conversions walk arbitrary JS values, so they call Node-API directly instead of going
//! through napi-rs's typed wrappers: one call per step, no intermediate allocations.

use std::cell::RefCell;
use std::ffi::c_char;
use std::ptr;

use napi::sys;
use napi::{Error, Result, Status};

/// A `napi_value` handle, valid only inside the current handle scope.
pub type Value = sys::napi_value;

/// The JS type of a value, as `typeof` would report it, with `null` split out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JsType {
  Undefined,
  Null,
  Boolean,
  Number,
  String,
  Symbol,
  Object,
  Function,
  External,
  BigInt,
}

/// The environment of the current call. Copy it freely; it is only a pointer.
#[derive(Clone, Copy)]
pub struct Js {
  pub env: sys::napi_env,
}

fn check(status: sys::napi_status, call: &str) -> Result<()> {
  if status == sys::Status::napi_ok {
    Ok(())
  } else {
    Err(Error::new(
      Status::from(status),
      format!("Node-API call {call} failed with status {status}"),
    ))
  }
}

macro_rules! napi_call {
  ($name:ident ( $($arg:expr),* )) => {
    check(unsafe { sys::$name($($arg),*) }, stringify!($name))
  };
}

impl Js {
  pub fn new(env: sys::napi_env) -> Self {
    Js { env }
  }

  pub fn type_of(self, value: Value) -> Result<JsType> {
    let mut kind = 0;
    napi_call!(napi_typeof(self.env, value, &mut kind))?;
    Ok(match kind {
      sys::ValueType::napi_undefined => JsType::Undefined,
      sys::ValueType::napi_null => JsType::Null,
      sys::ValueType::napi_boolean => JsType::Boolean,
      sys::ValueType::napi_number => JsType::Number,
      sys::ValueType::napi_string => JsType::String,
      sys::ValueType::napi_symbol => JsType::Symbol,
      sys::ValueType::napi_object => JsType::Object,
      sys::ValueType::napi_function => JsType::Function,
      sys::ValueType::napi_bigint => JsType::BigInt,
      _ => JsType::External,
    })
  }

  pub fn is_array(self, value: Value) -> Result<bool> {
    let mut result = false;
    napi_call!(napi_is_array(self.env, value, &mut result))?;
    Ok(result)
  }

  pub fn is_date(self, value: Value) -> Result<bool> {
    let mut result = false;
    napi_call!(napi_is_date(self.env, value, &mut result))?;
    Ok(result)
  }

  /// Returns the milliseconds since the Unix epoch of a `Date`, `NaN` for an invalid one.
  pub fn date_value(self, value: Value) -> Result<f64> {
    let mut millis = 0.0;
    napi_call!(napi_get_date_value(self.env, value, &mut millis))?;
    Ok(millis)
  }

  /// Returns the bytes of a `Buffer` or `Uint8Array`, or `None` for any other value.
  pub fn bytes(self, value: Value) -> Result<Option<Vec<u8>>> {
    let mut is_typed_array = false;
    napi_call!(napi_is_typedarray(self.env, value, &mut is_typed_array))?;
    if !is_typed_array {
      return Ok(None);
    }
    let mut kind = 0;
    let mut length = 0usize;
    let mut data: *mut std::ffi::c_void = ptr::null_mut();
    napi_call!(napi_get_typedarray_info(
      self.env,
      value,
      &mut kind,
      &mut length,
      &mut data,
      ptr::null_mut(),
      ptr::null_mut()
    ))?;
    if kind != sys::TypedarrayType::uint8_array {
      return Ok(None);
    }
    if length == 0 || data.is_null() {
      return Ok(Some(Vec::new()));
    }
    // SAFETY: Node-API reports `length` readable bytes at `data` for a Uint8Array, and the
    // array stays alive for the whole call.
    let bytes = unsafe { std::slice::from_raw_parts(data as *const u8, length) };
    Ok(Some(bytes.to_vec()))
  }

  /// Returns the bytes of a `Buffer`, or `None` for any other value. The slice is valid while
  /// the handle is, that is, until the current call returns.
  pub fn buffer_bytes<'a>(self, value: Value) -> Result<Option<&'a [u8]>> {
    let mut is_buffer = false;
    napi_call!(napi_is_buffer(self.env, value, &mut is_buffer))?;
    if !is_buffer {
      return Ok(None);
    }
    let mut data: *mut std::ffi::c_void = ptr::null_mut();
    let mut length = 0usize;
    napi_call!(napi_get_buffer_info(
      self.env,
      value,
      &mut data,
      &mut length
    ))?;
    if length == 0 || data.is_null() {
      return Ok(Some(&[]));
    }
    // SAFETY: Node-API reports `length` readable bytes at `data`, and the Buffer stays alive
    // while its handle does.
    Ok(Some(unsafe {
      std::slice::from_raw_parts(data as *const u8, length)
    }))
  }

  pub fn get_bool(self, value: Value) -> Result<bool> {
    let mut result = false;
    napi_call!(napi_get_value_bool(self.env, value, &mut result))?;
    Ok(result)
  }

  pub fn get_f64(self, value: Value) -> Result<f64> {
    let mut result = 0.0;
    napi_call!(napi_get_value_double(self.env, value, &mut result))?;
    Ok(result)
  }

  pub fn get_string(self, value: Value) -> Result<String> {
    let mut length = 0usize;
    napi_call!(napi_get_value_string_utf8(
      self.env,
      value,
      ptr::null_mut(),
      0,
      &mut length
    ))?;
    let mut buffer: Vec<u8> = Vec::with_capacity(length + 1);
    let mut written = 0usize;
    napi_call!(napi_get_value_string_utf8(
      self.env,
      value,
      buffer.as_mut_ptr() as *mut c_char,
      length + 1,
      &mut written
    ))?;
    // SAFETY: Node-API wrote `written` bytes of UTF-8 (lone surrogates become U+FFFD).
    unsafe { buffer.set_len(written) };
    String::from_utf8(buffer).map_err(|_| Error::new(Status::InvalidArg, "invalid UTF-8"))
  }

  /// Returns `String(value)`, which runs the value's `toString()`.
  pub fn coerce_to_string(self, value: Value) -> Result<String> {
    let mut text = ptr::null_mut();
    napi_call!(napi_coerce_to_string(self.env, value, &mut text))?;
    self.get_string(text)
  }

  /// Returns the own enumerable string keys of an object, in property order.
  pub fn own_keys(self, object: Value) -> Result<Value> {
    let mut keys = ptr::null_mut();
    napi_call!(napi_get_all_property_names(
      self.env,
      object,
      sys::KeyCollectionMode::own_only,
      sys::KeyFilter::enumerable | sys::KeyFilter::skip_symbols,
      sys::KeyConversion::numbers_to_strings,
      &mut keys
    ))?;
    Ok(keys)
  }

  pub fn array_length(self, array: Value) -> Result<u32> {
    let mut length = 0;
    napi_call!(napi_get_array_length(self.env, array, &mut length))?;
    Ok(length)
  }

  pub fn element(self, array: Value, index: u32) -> Result<Value> {
    let mut value = ptr::null_mut();
    napi_call!(napi_get_element(self.env, array, index, &mut value))?;
    Ok(value)
  }

  pub fn property(self, object: Value, key: Value) -> Result<Value> {
    let mut value = ptr::null_mut();
    napi_call!(napi_get_property(self.env, object, key, &mut value))?;
    Ok(value)
  }

  pub fn named(self, object: Value, name: &str) -> Result<Value> {
    let key = self.string(name)?;
    self.property(object, key)
  }

  pub fn has_own(self, object: Value, name: &str) -> Result<bool> {
    let key = self.string(name)?;
    let mut result = false;
    napi_call!(napi_has_own_property(self.env, object, key, &mut result))?;
    Ok(result)
  }

  pub fn prototype(self, object: Value) -> Result<Value> {
    let mut value = ptr::null_mut();
    napi_call!(napi_get_prototype(self.env, object, &mut value))?;
    Ok(value)
  }

  pub fn global(self) -> Result<Value> {
    let mut value = ptr::null_mut();
    napi_call!(napi_get_global(self.env, &mut value))?;
    Ok(value)
  }

  pub fn undefined(self) -> Result<Value> {
    let mut value = ptr::null_mut();
    napi_call!(napi_get_undefined(self.env, &mut value))?;
    Ok(value)
  }

  pub fn null(self) -> Result<Value> {
    let mut value = ptr::null_mut();
    napi_call!(napi_get_null(self.env, &mut value))?;
    Ok(value)
  }

  pub fn boolean(self, flag: bool) -> Result<Value> {
    let mut value = ptr::null_mut();
    napi_call!(napi_get_boolean(self.env, flag, &mut value))?;
    Ok(value)
  }

  pub fn double(self, number: f64) -> Result<Value> {
    let mut value = ptr::null_mut();
    napi_call!(napi_create_double(self.env, number, &mut value))?;
    Ok(value)
  }

  pub fn int32(self, number: i32) -> Result<Value> {
    let mut value = ptr::null_mut();
    napi_call!(napi_create_int32(self.env, number, &mut value))?;
    Ok(value)
  }

  pub fn bigint(self, number: i64) -> Result<Value> {
    let mut value = ptr::null_mut();
    napi_call!(napi_create_bigint_int64(self.env, number, &mut value))?;
    Ok(value)
  }

  pub fn string(self, text: &str) -> Result<Value> {
    let mut value = ptr::null_mut();
    napi_call!(napi_create_string_utf8(
      self.env,
      text.as_ptr() as *const c_char,
      text.len() as isize,
      &mut value
    ))?;
    Ok(value)
  }

  /// Creates a string from Latin-1 bytes. ASCII text is valid Latin-1.
  pub fn latin1_string(self, bytes: &[u8]) -> Result<Value> {
    let mut value = ptr::null_mut();
    napi_call!(napi_create_string_latin1(
      self.env,
      bytes.as_ptr() as *const c_char,
      bytes.len() as isize,
      &mut value
    ))?;
    Ok(value)
  }

  pub fn date(self, millis: f64) -> Result<Value> {
    let mut value = ptr::null_mut();
    napi_call!(napi_create_date(self.env, millis, &mut value))?;
    Ok(value)
  }

  pub fn buffer(self, bytes: &[u8]) -> Result<Value> {
    let mut value = ptr::null_mut();
    let mut data = ptr::null_mut();
    napi_call!(napi_create_buffer_copy(
      self.env,
      bytes.len(),
      bytes.as_ptr() as *const std::ffi::c_void,
      &mut data,
      &mut value
    ))?;
    Ok(value)
  }

  pub fn object(self) -> Result<Value> {
    let mut value = ptr::null_mut();
    napi_call!(napi_create_object(self.env, &mut value))?;
    Ok(value)
  }

  pub fn array(self, length: usize) -> Result<Value> {
    let mut value = ptr::null_mut();
    napi_call!(napi_create_array_with_length(self.env, length, &mut value))?;
    Ok(value)
  }

  pub fn set_element(self, array: Value, index: u32, value: Value) -> Result<()> {
    napi_call!(napi_set_element(self.env, array, index, value))
  }

  pub fn set(self, object: Value, key: &str, value: Value) -> Result<()> {
    let key = self.string(key)?;
    napi_call!(napi_set_property(self.env, object, key, value))
  }

  /// Sets an own enumerable data property, as a JS object literal or `JSON.parse` does. A plain
  /// assignment would call a setter or meet a read-only property on the prototype instead:
  /// the `__proto__` setter, or any property of a frozen `Object.prototype`.
  pub fn set_own(self, object: Value, key: &str, value: Value) -> Result<()> {
    let descriptor = sys::napi_property_descriptor {
      utf8name: ptr::null(),
      name: self.string(key)?,
      method: None,
      getter: None,
      setter: None,
      value,
      attributes: sys::PropertyAttributes::writable
        | sys::PropertyAttributes::enumerable
        | sys::PropertyAttributes::configurable,
      data: ptr::null_mut(),
    };
    napi_call!(napi_define_properties(self.env, object, 1, &descriptor))
  }

  /// Creates an `Error`, `TypeError` or `RangeError` with a string `code` property.
  pub fn error(self, class: ErrorClass, code: &str, message: &str) -> Result<Value> {
    let code = self.string(code)?;
    let message = self.string(message)?;
    let mut value = ptr::null_mut();
    match class {
      ErrorClass::Error => napi_call!(napi_create_error(self.env, code, message, &mut value))?,
      ErrorClass::TypeError => {
        napi_call!(napi_create_type_error(self.env, code, message, &mut value))?
      }
      ErrorClass::RangeError => {
        napi_call!(napi_create_range_error(self.env, code, message, &mut value))?
      }
    }
    Ok(value)
  }

  /// Returns a promise that is already rejected with `reason`.
  pub fn rejected_promise(self, reason: Value) -> Result<Value> {
    let mut deferred = ptr::null_mut();
    let mut promise = ptr::null_mut();
    napi_call!(napi_create_promise(self.env, &mut deferred, &mut promise))?;
    napi_call!(napi_reject_deferred(self.env, deferred, reason))?;
    Ok(promise)
  }

  /// Takes and clears the pending JS exception, if any.
  pub fn take_exception(self) -> Option<Value> {
    let mut pending = false;
    let status = unsafe { sys::napi_is_exception_pending(self.env, &mut pending) };
    if status != sys::Status::napi_ok || !pending {
      return None;
    }
    let mut exception = ptr::null_mut();
    let status = unsafe { sys::napi_get_and_clear_last_exception(self.env, &mut exception) };
    (status == sys::Status::napi_ok).then_some(exception)
  }

  /// Returns the `message` of an `Error`, or a description of any other thrown value. It
  /// clears any exception that reading the message throws.
  pub fn error_message(self, thrown: Value) -> String {
    let mut is_error = false;
    let status = unsafe { sys::napi_is_error(self.env, thrown, &mut is_error) };
    if status != sys::Status::napi_ok || !is_error {
      return "a value that is not an Error".to_string();
    }
    let message =
      self
        .named(thrown, "message")
        .and_then(|message| match self.type_of(message)? {
          JsType::String => self.get_string(message),
          _ => Ok(String::new()),
        });
    if self.take_exception().is_some() {
      return "an Error whose message could not be read".to_string();
    }
    message.unwrap_or_default()
  }

  /// Calls `process.emitWarning(message, { type, code })`.
  pub fn emit_warning(self, message: &str, code: &str) -> Result<()> {
    let process = self.named(self.global()?, "process")?;
    let emit = self.named(process, "emitWarning")?;
    if self.type_of(emit)? != JsType::Function {
      return Ok(());
    }
    let options = self.object()?;
    self.set(options, "code", self.string(code)?)?;
    let args = [self.string(message)?, options];
    let mut result = ptr::null_mut();
    napi_call!(napi_call_function(
      self.env,
      process,
      emit,
      args.len(),
      args.as_ptr(),
      &mut result
    ))
  }
}

thread_local! {
  /// Values of `cached_script`, by environment and source text. Each environment runs on one
  /// thread; references are never deleted, because a worker's environment can be gone by the
  /// time its thread ends.
  static SCRIPTS: RefCell<Vec<(usize, usize, sys::napi_ref)>> = const { RefCell::new(Vec::new()) };
}

impl Js {
  /// Returns the value of a script, run once per environment and kept for later calls.
  pub fn cached_script(self, source: &'static str) -> Result<Value> {
    let key = (self.env as usize, source.as_ptr() as usize);
    let cached = SCRIPTS.with(|scripts| {
      scripts
        .borrow()
        .iter()
        .find(|(env, script, _)| (*env, *script) == key)
        .map(|(_, _, reference)| *reference)
    });
    if let Some(reference) = cached {
      let mut value = ptr::null_mut();
      napi_call!(napi_get_reference_value(self.env, reference, &mut value))?;
      return Ok(value);
    }
    let mut value = ptr::null_mut();
    napi_call!(napi_run_script(self.env, self.string(source)?, &mut value))?;
    let mut reference = ptr::null_mut();
    napi_call!(napi_create_reference(self.env, value, 1, &mut reference))?;
    SCRIPTS.with(|scripts| scripts.borrow_mut().push((key.0, key.1, reference)));
    Ok(value)
  }

  /// Calls `function` with `undefined` as `this`.
  pub fn call(self, function: Value, args: &[Value]) -> Result<Value> {
    let mut result = ptr::null_mut();
    napi_call!(napi_call_function(
      self.env,
      self.undefined()?,
      function,
      args.len(),
      args.as_ptr(),
      &mut result
    ))?;
    Ok(result)
  }
}

/// The JS constructor of an error value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorClass {
  Error,
  TypeError,
  RangeError,
}
