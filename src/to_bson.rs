//! Conversion of JS values into BSON, with the checks MongoDB would otherwise apply after the
//! write was sent: key names, nesting depth, and the encoded size.

use bson::spec::BinarySubtype;
use bson::{Binary, Bson, DateTime, Document};

use crate::js::{Js, JsType, Value};

/// MongoDB's maximum nesting depth of a stored document; the session itself is level 1.
pub const MAX_DEPTH: usize = 100;

/// The reason a value cannot be stored, with the path to it, innermost segment last.
#[derive(Debug)]
pub struct ConvertError {
  pub path: Vec<String>,
  pub reason: String,
  /// Set when the value passed the size limit, as opposed to holding an unstorable value.
  pub too_large: bool,
}

impl ConvertError {
  fn new(reason: impl Into<String>) -> Self {
    ConvertError {
      path: Vec::new(),
      reason: reason.into(),
      too_large: false,
    }
  }

  fn within(mut self, segment: String) -> Self {
    self.path.insert(0, segment);
    self
  }

  /// Renders the path as JS would access it, as in `session.data.items[2]`. A path of more
  /// than eight segments shows its first four and last two.
  pub fn path_string(&self, root: &str) -> String {
    let mut text = root.to_string();
    let count = self.path.len();
    for (index, segment) in self.path.iter().enumerate() {
      if count > 8 && index == 4 {
        text.push_str(&format!("…({} more)…", count - 6));
      }
      if count <= 8 || index < 4 || index >= count - 2 {
        text.push_str(segment);
      }
    }
    text
  }
}

impl From<napi::Error> for ConvertError {
  fn from(error: napi::Error) -> Self {
    ConvertError::new(format!("could not be read ({})", error.reason))
  }
}

pub type ConvertResult<T> = Result<T, ConvertError>;

/// A value converted to BSON with its encoded size in bytes.
pub struct Measured<T> {
  pub value: T,
  pub size: usize,
}

/// Walks JS values, counting the BSON bytes they encode to.
pub struct Converter {
  js: Js,
  /// Bytes of keys and values converted so far. Conversion stops once they pass the limit,
  /// so a sparse array of length 2^32 - 1 or an object graph that repeats a large subtree
  /// fails fast instead of being expanded in memory.
  bytes: usize,
  max_bytes: usize,
}

impl Converter {
  /// Creates a converter that rejects values of more than `max_bytes` of BSON.
  pub fn new(js: Js, max_bytes: usize) -> Self {
    Converter {
      js,
      bytes: 0,
      max_bytes,
    }
  }

  fn count(&mut self, bytes: usize) -> ConvertResult<()> {
    self.bytes += bytes;
    if self.bytes > self.max_bytes {
      let mut error = ConvertError::new(format!(
        "makes the session larger than MongoDB's limit of {} bytes of BSON",
        self.max_bytes
      ));
      error.too_large = true;
      return Err(error);
    }
    Ok(())
  }

  /// Converts any storable value. `depth` is the nesting level of the document holding it.
  pub fn value(&mut self, value: Value, depth: usize) -> ConvertResult<Option<Measured<Bson>>> {
    let js = self.js;
    let converted = match js.type_of(value)? {
      JsType::Undefined => return Ok(None),
      JsType::Null => sized(Bson::Null, 0),
      JsType::Boolean => sized(Bson::Boolean(js.get_bool(value)?), 1),
      JsType::Number => number(js.get_f64(value)?),
      JsType::String => {
        let text = js.get_string(value)?;
        let size = 4 + text.len() + 1;
        sized(Bson::String(text), size)
      }
      JsType::Object => self.object(value, depth)?,
      JsType::BigInt => {
        return Err(ConvertError::new(
          "is a BigInt, which cannot be stored; convert it to a number or a string",
        ))
      }
      JsType::Symbol => return Err(ConvertError::new("is a symbol, which cannot be stored")),
      JsType::Function => return Err(ConvertError::new("is a function, which cannot be stored")),
      JsType::External => return Err(ConvertError::new("is an external value")),
    };
    Ok(Some(converted))
  }

  fn object(&mut self, value: Value, depth: usize) -> ConvertResult<Measured<Bson>> {
    let js = self.js;
    if js.is_date(value)? {
      return date(js.date_value(value)?).map(|date| sized(Bson::DateTime(date), 8));
    }
    if depth >= MAX_DEPTH {
      return Err(ConvertError::new(format!(
        "nests deeper than MongoDB's limit of {MAX_DEPTH} levels (is it circular?)"
      )));
    }
    if js.is_array(value)? {
      let array = self.array(value, depth + 1)?;
      return Ok(sized(Bson::Array(array.value), array.size));
    }
    if let Some(bytes) = js.bytes(value)? {
      let size = 4 + 1 + bytes.len();
      let binary = Binary {
        subtype: BinarySubtype::Generic,
        bytes,
      };
      return Ok(sized(Bson::Binary(binary), size));
    }
    if !self.is_plain(value)? {
      return Err(ConvertError::new(
        "is a class instance; only plain objects, arrays, Dates and Buffers can be stored",
      ));
    }
    let document = self.document(value, depth + 1, &[])?;
    Ok(sized(Bson::Document(document.value), document.size))
  }

  /// Converts a plain object's own enumerable properties, skipping `undefined` values and the
  /// keys in `skip`. `depth` is the nesting level of the document being built.
  pub fn document(
    &mut self,
    object: Value,
    depth: usize,
    skip: &[&str],
  ) -> ConvertResult<Measured<Document>> {
    let js = self.js;
    let keys = js.own_keys(object)?;
    let count = js.array_length(keys)?;
    let mut document = Document::new();
    let mut size = 4 + 1;
    for index in 0..count {
      let key_value = js.element(keys, index)?;
      let key = js.get_string(key_value)?;
      if skip.contains(&key.as_str()) {
        continue;
      }
      check_key(&key).map_err(|error| error.within(property_segment(&key)))?;
      let value = js.property(object, key_value)?;
      let converted = self
        .value(value, depth)
        .map_err(|error| error.within(property_segment(&key)))?;
      if let Some(converted) = converted {
        self
          .count(2 + key.len() + scalar_size(&converted))
          .map_err(|error| error.within(property_segment(&key)))?;
        size += 1 + key.len() + 1 + converted.size;
        document.insert(key, converted.value);
      }
    }
    Ok(Measured {
      value: document,
      size,
    })
  }

  fn array(&mut self, array: Value, depth: usize) -> ConvertResult<Measured<Vec<Bson>>> {
    let js = self.js;
    let length = js.array_length(array)?;
    // The length comes from the caller, and a sparse array can claim 2^32 - 1 elements.
    let mut items = Vec::with_capacity((length as usize).min(1024));
    let mut size = 4 + 1;
    for index in 0..length {
      let element = js.element(array, index)?;
      let converted = self
        .value(element, depth)
        .map_err(|error| error.within(format!("[{index}]")))?;
      // `undefined` inside an array is stored as null, as JSON.stringify and the Node.js driver do.
      let converted = converted.unwrap_or_else(|| sized(Bson::Null, 0));
      self
        .count(2 + decimal_length(index) + scalar_size(&converted))
        .map_err(|error| error.within(format!("[{index}]")))?;
      size += 1 + decimal_length(index) + 1 + converted.size;
      items.push(converted.value);
    }
    Ok(Measured { value: items, size })
  }

  /// Tells whether an object is plain: its prototype is `null` or a root prototype such as
  /// `Object.prototype`, whose own prototype is `null`. The test works across realms, so
  /// objects created in a `vm` context, as Jest runs tests, count as plain.
  pub fn is_plain(&mut self, object: Value) -> ConvertResult<bool> {
    let js = self.js;
    let prototype = js.prototype(object)?;
    if js.type_of(prototype)? == JsType::Null {
      return Ok(true);
    }
    let grandparent = js.prototype(prototype)?;
    Ok(js.type_of(grandparent)? == JsType::Null)
  }
}

/// Returns the size of a value that is not a container; containers were counted element by
/// element as they were converted.
fn scalar_size(value: &Measured<Bson>) -> usize {
  match value.value {
    Bson::Document(_) | Bson::Array(_) => 5,
    _ => value.size,
  }
}

fn sized<T>(value: T, size: usize) -> Measured<T> {
  Measured { value, size }
}

/// Stores integers that fit in 32 bits as Int32 and every other number as a double, the
/// choice the Node.js driver makes, so documents match those that the JavaScript package writes.
pub fn number(value: f64) -> Measured<Bson> {
  let integral = value.fract() == 0.0 && !(value == 0.0 && value.is_sign_negative());
  if integral && value >= i32::MIN as f64 && value <= i32::MAX as f64 {
    sized(Bson::Int32(value as i32), 4)
  } else {
    sized(Bson::Double(value), 8)
  }
}

/// Converts a JS timestamp in milliseconds; JS Dates hold whole milliseconds.
pub fn date(millis: f64) -> ConvertResult<DateTime> {
  if !millis.is_finite() {
    return Err(ConvertError::new("is an invalid Date"));
  }
  Ok(DateTime::from_millis(millis as i64))
}

pub fn check_key(key: &str) -> ConvertResult<()> {
  if key.starts_with('$') {
    return Err(ConvertError::new(
      "is a key that starts with '$', which MongoDB reserves for operators",
    ));
  }
  if key.contains('.') {
    return Err(ConvertError::new(
      "is a key that contains '.', which MongoDB reads as a path",
    ));
  }
  if key.contains('\0') {
    return Err(ConvertError::new("is a key that contains a NUL character"));
  }
  Ok(())
}

fn property_segment(key: &str) -> String {
  let simple = !key.is_empty()
    && !key.starts_with(|c: char| c.is_ascii_digit())
    && key
      .chars()
      .all(|c| c.is_alphanumeric() || c == '_' || c == '$');
  if simple {
    format!(".{key}")
  } else {
    format!("[{key:?}]")
  }
}

pub fn decimal_length(mut index: u32) -> usize {
  let mut digits = 1;
  while index >= 10 {
    index /= 10;
    digits += 1;
  }
  digits
}
