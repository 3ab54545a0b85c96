//! The fast path of `storeSession`: the session is serialized by V8 (`v8.serialize`, a single
//! call into C++), and its fields are read here from V8's serialization format, instead of one
//! Node-API call per property.
//!
//! The fast path takes only sessions that `Converter` stores without an error, and builds the
//! same document: a script first checks that every object in the session is a plain object of
//! the main realm, an array, a Date or a Buffer, and the reader below gives up on any other
//! tag, key or limit. The caller then runs `Converter`, which either stores the session or
//! reports the exact error.

use bson::spec::BinarySubtype;
use bson::{Binary, Bson, Document};

use crate::js::{Js, JsType, Value};
use crate::to_bson::{check_key, date, decimal_length, number, Measured, MAX_DEPTH};

/// Returns a function that serializes a session, or `undefined` when the session holds
/// anything other than primitives, plain objects, arrays, Dates and Buffers. The script
/// evaluates to `null` where `process.getBuiltinModule` is missing (Node.js before 20.16).
const SERIALIZER_SOURCE: &str = r#"(function () {
  'use strict'
  const v8 = typeof process.getBuiltinModule === 'function' ? process.getBuiltinModule('v8') : null
  if (!v8) return null
  const serialize = v8.serialize
  const getPrototypeOf = Object.getPrototypeOf
  const isArray = Array.isArray
  const objectPrototype = Object.prototype
  const arrayPrototype = Array.prototype
  const datePrototype = Date.prototype
  const bufferPrototype = Buffer.prototype
  const bytesPrototype = Uint8Array.prototype
  // A session that repeats an object many times can have more paths than any storable one.
  // Past this many values the script gives up, and the Node-API conversion, which stops at
  // MongoDB's size limit, reports it.
  const maxValues = 4194304
  let visited = 0
  const storable = (value, depth) => {
    if (typeof value !== 'object' || value === null) return true
    if (depth > 101 || ++visited > maxValues) return false
    const prototype = getPrototypeOf(value)
    if (isArray(value)) {
      if (prototype !== arrayPrototype || value.length > 1000000) return false
      for (let i = 0; i < value.length; i++) {
        if (!storable(value[i], depth + 1)) return false
      }
      return true
    }
    if (prototype === objectPrototype || prototype === null) {
      for (const key in value) {
        if (!storable(value[key], depth + 1)) return false
      }
      return true
    }
    return prototype === datePrototype || prototype === bufferPrototype || prototype === bytesPrototype
  }
  return function serializeSession(session) {
    visited = 0
    if (!storable(session, 0)) return undefined
    try {
      return serialize(session)
    } catch {
      return undefined
    }
  }
})()"#;

/// Node.js's type indexes for the views it serializes as host objects.
const UINT8_ARRAY: u32 = 1;
const NODE_BUFFER: u32 = 10;

/// Converts a session's fields through V8's serializer. Returns `None` when the fast path does
/// not apply; the caller then converts the session with `Converter`.
pub fn session_fields(
  js: Js,
  session: Value,
  skip: &[&str],
  max_bytes: usize,
) -> Option<Measured<Document>> {
  let serializer = js.cached_script(SERIALIZER_SOURCE).ok()?;
  if js.type_of(serializer).ok()? != JsType::Function {
    return None;
  }
  let serialized = js.call(serializer, &[session]);
  // A getter that threw is reported again by the Node-API conversion.
  if js.take_exception().is_some() {
    return None;
  }
  let bytes = js.buffer_bytes(serialized.ok()?).ok()??;
  let mut reader = Reader {
    bytes,
    position: 0,
    counted: 0,
    max_bytes,
  };
  reader.header()?;
  if reader.tag()? != b'o' {
    return None;
  }
  let fields = reader.object(1, skip)?;
  (reader.position == reader.bytes.len()).then_some(fields)
}

/// Reads V8's serialization format, as `Converter` reads JS values: the same types, sizes,
/// key checks and limits.
struct Reader<'a> {
  bytes: &'a [u8],
  position: usize,
  /// Bytes of keys and values read so far, counted as `Converter` counts them.
  counted: usize,
  max_bytes: usize,
}

impl<'a> Reader<'a> {
  fn header(&mut self) -> Option<()> {
    if self.byte()? != 0xFF {
      return None;
    }
    // Versions 13 to 15 cover the V8 releases of Node.js 18 to 24.
    matches!(self.varint()?, 13..=15).then_some(())
  }

  fn byte(&mut self) -> Option<u8> {
    let byte = *self.bytes.get(self.position)?;
    self.position += 1;
    Some(byte)
  }

  fn take(&mut self, length: usize) -> Option<&'a [u8]> {
    let end = self.position.checked_add(length)?;
    let slice = self.bytes.get(self.position..end)?;
    self.position = end;
    Some(slice)
  }

  fn varint(&mut self) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
      let byte = self.byte()?;
      value |= u64::from(byte & 0x7F) << shift;
      if byte & 0x80 == 0 {
        return Some(value);
      }
    }
    None
  }

  fn double(&mut self) -> Option<f64> {
    let bytes = self.take(8)?;
    Some(f64::from_le_bytes(bytes.try_into().ok()?))
  }

  /// Returns the next tag, skipping padding.
  fn tag(&mut self) -> Option<u8> {
    loop {
      match self.byte()? {
        0 => continue,
        tag => return Some(tag),
      }
    }
  }

  fn count(&mut self, bytes: usize) -> Option<()> {
    self.counted += bytes;
    (self.counted <= self.max_bytes).then_some(())
  }

  fn string(&mut self, tag: u8) -> Option<String> {
    let length = usize::try_from(self.varint()?).ok()?;
    let bytes = self.take(length)?;
    match tag {
      // Latin-1: each byte is the code point.
      b'"' => Some(bytes.iter().map(|&byte| byte as char).collect()),
      b'c' if length % 2 == 0 => {
        let units: Vec<u16> = bytes
          .chunks_exact(2)
          .map(|pair| u16::from_le_bytes([pair[0], pair[1]]))
          .collect();
        // Lone surrogates become U+FFFD, as Node-API's UTF-8 conversion makes them.
        Some(String::from_utf16_lossy(&units))
      }
      b'S' => String::from_utf8(bytes.to_vec()).ok(),
      _ => None,
    }
  }

  /// Reads an object key: a string, or an integer for an array-index key.
  fn key(&mut self, tag: u8) -> Option<String> {
    match tag {
      b'"' | b'c' | b'S' => self.string(tag),
      b'I' => Some(zigzag(self.varint()?).to_string()),
      b'U' => Some(self.varint()?.to_string()),
      b'N' => {
        let number = self.double()?;
        (number.fract() == 0.0 && (0.0..4_294_967_296.0).contains(&number))
          .then(|| (number as u64).to_string())
      }
      _ => None,
    }
  }

  /// Reads a value; `Some(None)` is `undefined`. `depth` is the level of the enclosing document.
  fn value(&mut self, depth: usize) -> Option<Option<Measured<Bson>>> {
    let tag = self.tag()?;
    let value = match tag {
      b'_' => return Some(None),
      b'0' => sized(Bson::Null, 0),
      b'T' => sized(Bson::Boolean(true), 1),
      b'F' => sized(Bson::Boolean(false), 1),
      b'I' => number(zigzag(self.varint()?) as f64),
      b'U' => number(u32::try_from(self.varint()?).ok()? as f64),
      b'N' => number(self.double()?),
      b'"' | b'c' | b'S' => {
        let text = self.string(tag)?;
        let size = 4 + text.len() + 1;
        sized(Bson::String(text), size)
      }
      b'D' => sized(Bson::DateTime(date(self.double()?).ok()?), 8),
      b'o' | b'A' | b'a' | b'\\' if depth >= MAX_DEPTH => return None,
      b'o' => {
        let document = self.object(depth + 1, &[])?;
        sized(Bson::Document(document.value), document.size)
      }
      b'A' => self.dense_array(depth + 1)?,
      b'a' => self.sparse_array(depth + 1)?,
      b'\\' => {
        let kind = u32::try_from(self.varint()?).ok()?;
        let length = usize::try_from(self.varint()?).ok()?;
        let bytes = self.take(length)?.to_vec();
        if kind != UINT8_ARRAY && kind != NODE_BUFFER {
          return None;
        }
        let binary = Binary {
          subtype: BinarySubtype::Generic,
          bytes,
        };
        sized(Bson::Binary(binary), 4 + 1 + length)
      }
      // Object references (a repeated or circular object), BigInts, boxed primitives, maps,
      // sets, regular expressions, errors and array buffers take the Node-API conversion.
      _ => return None,
    };
    Some(Some(value))
  }

  /// Reads the properties of an object up to its end tag, skipping `undefined` values and the
  /// keys in `skip`. `depth` is the level of the document being built.
  fn object(&mut self, depth: usize, skip: &[&str]) -> Option<Measured<Document>> {
    let mut document = Document::new();
    let mut size = 4 + 1;
    loop {
      let tag = self.tag()?;
      if tag == b'{' {
        self.varint()?;
        return Some(Measured {
          value: document,
          size,
        });
      }
      let key = self.key(tag)?;
      let value = self.value(depth)?;
      if skip.contains(&key.as_str()) {
        continue;
      }
      check_key(&key).ok()?;
      if let Some(value) = value {
        self.count(2 + key.len() + scalar_size(&value))?;
        size += 1 + key.len() + 1 + value.size;
        document.insert(key, value.value);
      }
    }
  }

  fn element(&mut self, index: usize, value: Option<Measured<Bson>>) -> Option<Measured<Bson>> {
    // `undefined` and holes inside an array are stored as null.
    let value = value.unwrap_or_else(|| sized(Bson::Null, 0));
    self.count(2 + decimal_length(index as u32) + scalar_size(&value))?;
    Some(value)
  }

  fn dense_array(&mut self, depth: usize) -> Option<Measured<Bson>> {
    let length = usize::try_from(self.varint()?).ok()?;
    let mut items = Vec::with_capacity(length.min(1024));
    let mut size = 4 + 1;
    for index in 0..length {
      let value = if self.peek_tag()? == b'-' {
        self.tag()?;
        None
      } else {
        self.value(depth)?
      };
      let value = self.element(index, value)?;
      size += 1 + decimal_length(index as u32) + 1 + value.size;
      items.push(value.value);
    }
    // Properties other than indexes are not stored; an array that has any takes the slow path.
    if self.tag()? != b'$' {
      return None;
    }
    self.varint()?;
    self.varint()?;
    Some(sized(Bson::Array(items), size))
  }

  fn sparse_array(&mut self, depth: usize) -> Option<Measured<Bson>> {
    let length = usize::try_from(self.varint()?).ok()?;
    if length > 1_000_000 {
      return None;
    }
    let mut slots: Vec<Option<Measured<Bson>>> = (0..length).map(|_| None).collect();
    loop {
      let tag = self.tag()?;
      if tag == b'@' {
        self.varint()?;
        self.varint()?;
        break;
      }
      let index: usize = self.key(tag)?.parse().ok()?;
      let value = self.value(depth)?;
      *slots.get_mut(index)? = value;
    }
    let mut items = Vec::with_capacity(length);
    let mut size = 4 + 1;
    for (index, slot) in slots.into_iter().enumerate() {
      let value = self.element(index, slot)?;
      size += 1 + decimal_length(index as u32) + 1 + value.size;
      items.push(value.value);
    }
    Some(sized(Bson::Array(items), size))
  }

  fn peek_tag(&mut self) -> Option<u8> {
    while *self.bytes.get(self.position)? == 0 {
      self.position += 1;
    }
    self.bytes.get(self.position).copied()
  }
}

fn zigzag(value: u64) -> i64 {
  ((value >> 1) as i64) ^ -((value & 1) as i64)
}

fn sized(value: Bson, size: usize) -> Measured<Bson> {
  Measured { value, size }
}

/// The size counted for a value as it is added; containers were counted element by element.
fn scalar_size(value: &Measured<Bson>) -> usize {
  match value.value {
    Bson::Document(_) | Bson::Array(_) => 5,
    _ => value.size,
  }
}
