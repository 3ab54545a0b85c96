//! The fast path of `storeSession`: the session is serialized by V8 (`v8.serialize`, a single
//! call into C++), and its fields are rewritten here from V8's serialization format into BSON
//! bytes, instead of one Node-API call per property. The bytes become a `Document` later, on a
//! worker thread.
//!
//! The fast path takes only sessions that `Converter` stores without an error, and writes the
//! same document. First a script checks that every object in the session is a plain object of
//! the main realm, an array, a Date or a Buffer. Then the reader below gives up on any other
//! tag, key, date field or limit. The caller then runs `Converter`, which either stores the
//! session or reports the exact error.

use std::borrow::Cow;

use bson::{Bson, RawDocumentBuf};

use crate::js::{Js, JsType, Value};
use crate::session::{parse_iso_date, DATE_FIELDS};
use crate::to_bson::{check_key, date, number, MAX_DEPTH};

/// Returns a function that serializes a session, or `undefined` when the session contains
/// anything other than primitives, plain objects, arrays, Dates and Buffers. The script
/// evaluates to `null` where `process.getBuiltinModule` is missing (Node.js before 20.16).
const SERIALIZER_SOURCE: &str = r#"(function () {
  'use strict'
  const v8 = typeof process.getBuiltinModule === 'function' ? process.getBuiltinModule('v8') : null
  const types = v8 ? process.getBuiltinModule('util').types : null
  if (!v8 || !types) return null
  const serialize = v8.serialize
  const isDate = types.isDate
  const isUint8Array = types.isUint8Array
  const getPrototypeOf = Object.getPrototypeOf
  const isArray = Array.isArray
  const objectPrototype = Object.prototype
  const arrayPrototype = Array.prototype
  const datePrototype = Date.prototype
  const bufferPrototype = Buffer.prototype
  const bytesPrototype = Uint8Array.prototype
  // Every value visited counts, holes and repeats included, so that a session that repeats a
  // large array or object gives up quickly. The Node-API conversion, which stops at MongoDB's
  // size limit, then reports it.
  const maxValues = 4194304
  let visited = 0
  // NOTE: getters run here and again in v8.serialize. A getter that returns a class instance
  // only on its second read has that instance stored as a plain object.
  const storable = (value, depth) => {
    if (++visited > maxValues) return false
    if (typeof value !== 'object' || value === null) return true
    if (depth > 101) return false
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
    // The prototype alone does not make a Date or a byte array; the brand checks do.
    if (prototype === datePrototype) return isDate(value)
    return (prototype === bufferPrototype || prototype === bytesPrototype) && isUint8Array(value)
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

/// Converts a session's fields, except the keys in `skip`, through V8's serializer. Returns
/// `None` when the fast path does not apply; the caller then converts the session with
/// `Converter`. Strings in the top-level date fields are already dates.
pub fn session_fields(
  js: Js,
  session: Value,
  skip: &[&str],
  max_bytes: usize,
) -> Option<RawDocumentBuf> {
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
    out: Vec::with_capacity(bytes.len() + bytes.len() / 4),
    max_bytes,
  };
  reader.version_header()?;
  if reader.tag()? != b'o' {
    return None;
  }
  reader.object(1, skip)?;
  if reader.position != reader.bytes.len() {
    return None;
  }
  RawDocumentBuf::from_bytes(reader.out).ok()
}

/// BSON element types.
mod element {
  pub const DOUBLE: u8 = 0x01;
  pub const STRING: u8 = 0x02;
  pub const DOCUMENT: u8 = 0x03;
  pub const ARRAY: u8 = 0x04;
  pub const BINARY: u8 = 0x05;
  pub const BOOLEAN: u8 = 0x08;
  pub const DATE_TIME: u8 = 0x09;
  pub const NULL: u8 = 0x0A;
  pub const INT32: u8 = 0x10;
}

/// A scalar read from V8's format, ready to be written as BSON.
enum Scalar<'a> {
  Undefined,
  Null,
  Boolean(bool),
  Int32(i32),
  Double(f64),
  String(Cow<'a, str>),
  DateTime(i64),
  Binary(std::ops::Range<usize>),
}

/// The next value: a scalar, or the start of a container whose content follows.
enum Next<'a> {
  Scalar(Scalar<'a>),
  Object,
  DenseArray(usize),
  SparseArray(usize),
}

/// Reads V8's serialization format and writes BSON, as `Converter` converts JS values: the
/// same types, key checks and limits.
struct Reader<'a> {
  bytes: &'a [u8],
  position: usize,
  out: Vec<u8>,
  max_bytes: usize,
}

impl<'a> Reader<'a> {
  fn version_header(&mut self) -> Option<()> {
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

  fn take(&mut self, length: usize) -> Option<std::ops::Range<usize>> {
    let end = self.position.checked_add(length)?;
    if end > self.bytes.len() {
      return None;
    }
    let range = self.position..end;
    self.position = end;
    Some(range)
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

  fn length(&mut self) -> Option<usize> {
    usize::try_from(self.varint()?).ok()
  }

  fn double(&mut self) -> Option<f64> {
    let range = self.take(8)?;
    Some(f64::from_le_bytes(self.bytes[range].try_into().ok()?))
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

  /// Reads a string. ASCII and UTF-8 strings are borrowed from the serialized bytes.
  fn string(&mut self, tag: u8) -> Option<Cow<'a, str>> {
    let length = self.length()?;
    let range = self.take(length)?;
    let bytes: &'a [u8] = &self.bytes[range];
    match tag {
      b'"' if bytes.is_ascii() => std::str::from_utf8(bytes).ok().map(Cow::Borrowed),
      // Latin-1: each byte is the code point.
      b'"' => Some(Cow::Owned(bytes.iter().map(|&byte| byte as char).collect())),
      b'c' if length % 2 == 0 => {
        let units: Vec<u16> = bytes
          .chunks_exact(2)
          .map(|pair| u16::from_le_bytes([pair[0], pair[1]]))
          .collect();
        // Lone surrogates become U+FFFD, as Node-API's UTF-8 conversion makes them.
        Some(Cow::Owned(String::from_utf16_lossy(&units)))
      }
      b'S' => std::str::from_utf8(bytes).ok().map(Cow::Borrowed),
      _ => None,
    }
  }

  /// Reads an object key: a string, or an integer for an array-index key.
  fn key(&mut self, tag: u8) -> Option<Cow<'a, str>> {
    match tag {
      b'"' | b'c' | b'S' => self.string(tag),
      b'I' => Some(Cow::Owned(zigzag(self.varint()?).to_string())),
      b'U' => Some(Cow::Owned(self.varint()?.to_string())),
      b'N' => {
        let number = self.double()?;
        (number.fract() == 0.0 && (0.0..4_294_967_296.0).contains(&number))
          .then(|| Cow::Owned((number as u64).to_string()))
      }
      _ => None,
    }
  }

  /// Reads the next value up to its content. `depth` is the level of the enclosing document.
  fn next(&mut self, depth: usize) -> Option<Next<'a>> {
    let tag = self.tag()?;
    let scalar = match tag {
      b'_' => Scalar::Undefined,
      b'0' => Scalar::Null,
      b'T' => Scalar::Boolean(true),
      b'F' => Scalar::Boolean(false),
      b'I' => number_scalar(zigzag(self.varint()?) as f64),
      b'U' => number_scalar(u32::try_from(self.varint()?).ok()? as f64),
      b'N' => number_scalar(self.double()?),
      b'"' | b'c' | b'S' => Scalar::String(self.string(tag)?),
      b'D' => Scalar::DateTime(date(self.double()?).ok()?.timestamp_millis()),
      b'o' | b'A' | b'a' | b'\\' if depth >= MAX_DEPTH => return None,
      b'o' => return Some(Next::Object),
      b'A' => return Some(Next::DenseArray(self.length()?)),
      b'a' => {
        let length = self.length()?;
        return (length <= 1_000_000).then_some(Next::SparseArray(length));
      }
      b'\\' => {
        let kind = u32::try_from(self.varint()?).ok()?;
        let length = self.length()?;
        let range = self.take(length)?;
        if kind != UINT8_ARRAY && kind != NODE_BUFFER {
          return None;
        }
        Scalar::Binary(range)
      }
      // Object references (a repeated or circular object), BigInts, boxed primitives, maps,
      // sets, regular expressions, errors and array buffers take the Node-API conversion.
      _ => return None,
    };
    Some(Next::Scalar(scalar))
  }

  /// Writes the element of `key` for a value, or nothing for `undefined`.
  fn element(&mut self, key: &[u8], next: Next<'a>, depth: usize) -> Option<()> {
    match next {
      Next::Scalar(Scalar::Undefined) => {}
      Next::Scalar(scalar) => self.scalar(key, scalar),
      Next::Object => {
        self.header(element::DOCUMENT, key);
        self.object(depth + 1, &[])?;
      }
      Next::DenseArray(length) => {
        self.header(element::ARRAY, key);
        self.dense_array(length, depth + 1)?;
      }
      Next::SparseArray(length) => {
        self.header(element::ARRAY, key);
        self.sparse_array(length, depth + 1)?;
      }
    }
    (self.out.len() <= self.max_bytes).then_some(())
  }

  fn header(&mut self, kind: u8, key: &[u8]) {
    self.out.push(kind);
    self.out.extend_from_slice(key);
    self.out.push(0);
  }

  fn scalar(&mut self, key: &[u8], scalar: Scalar<'a>) {
    match scalar {
      Scalar::Undefined | Scalar::Null => self.header(element::NULL, key),
      Scalar::Boolean(flag) => {
        self.header(element::BOOLEAN, key);
        self.out.push(u8::from(flag));
      }
      Scalar::Int32(number) => {
        self.header(element::INT32, key);
        self.out.extend_from_slice(&number.to_le_bytes());
      }
      Scalar::Double(number) => {
        self.header(element::DOUBLE, key);
        self.out.extend_from_slice(&number.to_le_bytes());
      }
      Scalar::String(text) => {
        self.header(element::STRING, key);
        self
          .out
          .extend_from_slice(&(text.len() as i32 + 1).to_le_bytes());
        self.out.extend_from_slice(text.as_bytes());
        self.out.push(0);
      }
      Scalar::DateTime(millis) => {
        self.header(element::DATE_TIME, key);
        self.out.extend_from_slice(&millis.to_le_bytes());
      }
      Scalar::Binary(range) => {
        self.header(element::BINARY, key);
        self
          .out
          .extend_from_slice(&(range.len() as i32).to_le_bytes());
        // Subtype 0, generic binary data.
        self.out.push(0);
        self.out.extend_from_slice(&self.bytes[range]);
      }
    }
  }

  /// Writes a document from an object's properties up to its end tag, leaving out `undefined`
  /// values and the keys in `skip`. `depth` is the level of the document being written; at
  /// level 1, strings in the date fields are written as dates.
  fn object(&mut self, depth: usize, skip: &[&str]) -> Option<()> {
    let start = self.begin();
    loop {
      let tag = self.tag()?;
      if tag == b'{' {
        self.varint()?;
        self.end(start);
        return Some(());
      }
      let key = self.key(tag)?;
      let next = self.next(depth)?;
      if skip.contains(&key.as_ref()) {
        // The value is written, to step over it, and then removed.
        let mark = self.out.len();
        self.element(key.as_bytes(), next, depth)?;
        self.out.truncate(mark);
        continue;
      }
      check_key(&key).ok()?;
      let next = if depth == 1 && DATE_FIELDS.contains(&key.as_ref()) {
        date_field(next)?
      } else {
        next
      };
      self.element(key.as_bytes(), next, depth)?;
    }
  }

  fn dense_array(&mut self, length: usize, depth: usize) -> Option<()> {
    let start = self.begin();
    for index in 0..length {
      let next = if self.peek_tag()? == b'-' {
        self.tag()?;
        Next::Scalar(Scalar::Null)
      } else {
        self.next(depth)?
      };
      self.element(Index::new(index).as_bytes(), array_item(next), depth)?;
    }
    // Properties other than indexes are not stored; an array that has any takes the slow path.
    if self.tag()? != b'$' {
      return None;
    }
    self.varint()?;
    self.varint()?;
    self.end(start);
    Some(())
  }

  fn sparse_array(&mut self, length: usize, depth: usize) -> Option<()> {
    let start = self.begin();
    let mut next_index = 0;
    loop {
      let tag = self.tag()?;
      if tag == b'@' {
        self.varint()?;
        self.varint()?;
        break;
      }
      // V8 writes the indexes of a sparse array as numbers. A string key is a property that
      // is not an index, and `Converter` does not store it.
      if !matches!(tag, b'I' | b'U' | b'N') {
        return None;
      }
      let index: usize = self.key(tag)?.parse().ok()?;
      if index < next_index || index >= length {
        return None;
      }
      // Holes are stored as null.
      for hole in next_index..index {
        self.scalar(Index::new(hole).as_bytes(), Scalar::Null);
      }
      let next = self.next(depth)?;
      self.element(Index::new(index).as_bytes(), array_item(next), depth)?;
      next_index = index + 1;
    }
    for hole in next_index..length {
      self.scalar(Index::new(hole).as_bytes(), Scalar::Null);
    }
    self.end(start);
    (self.out.len() <= self.max_bytes).then_some(())
  }

  fn begin(&mut self) -> usize {
    let start = self.out.len();
    self.out.extend_from_slice(&[0; 4]);
    start
  }

  fn end(&mut self, start: usize) {
    self.out.push(0);
    let length = (self.out.len() - start) as i32;
    self.out[start..start + 4].copy_from_slice(&length.to_le_bytes());
  }

  fn peek_tag(&mut self) -> Option<u8> {
    while *self.bytes.get(self.position)? == 0 {
      self.position += 1;
    }
    self.bytes.get(self.position).copied()
  }
}

/// An array index as decimal text, the key of an array element in BSON.
struct Index {
  digits: [u8; 20],
  start: usize,
}

impl Index {
  fn new(mut index: usize) -> Self {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
      start -= 1;
      digits[start] = b'0' + (index % 10) as u8;
      index /= 10;
      if index == 0 {
        return Index { digits, start };
      }
    }
  }

  fn as_bytes(&self) -> &[u8] {
    &self.digits[self.start..]
  }
}

/// `undefined` inside an array is stored as null.
fn array_item(next: Next<'_>) -> Next<'_> {
  match next {
    Next::Scalar(Scalar::Undefined) => Next::Scalar(Scalar::Null),
    other => other,
  }
}

/// Reads a top-level date field as `session::read` does: a Date, an ISO-8601 string, null or
/// `undefined`. Anything else, and a string that is not a date, takes the slow path, which
/// reports it.
fn date_field(next: Next<'_>) -> Option<Next<'_>> {
  match next {
    Next::Scalar(Scalar::String(text)) => {
      let date = parse_iso_date(&text)?;
      Some(Next::Scalar(Scalar::DateTime(date.timestamp_millis())))
    }
    Next::Scalar(Scalar::DateTime(_) | Scalar::Null | Scalar::Undefined) => Some(next),
    _ => None,
  }
}

fn number_scalar(value: f64) -> Scalar<'static> {
  match number(value).value {
    Bson::Int32(number) => Scalar::Int32(number),
    _ => Scalar::Double(value),
  }
}

fn zigzag(value: u64) -> i64 {
  ((value >> 1) as i64) ^ -((value & 1) as i64)
}

#[cfg(test)]
mod tests {
  use super::*;
  use bson::{doc, Binary, DateTime};

  /// Reads the fields of a serialized session as `session_fields` does.
  fn read(hex: &str, skip: &[&str]) -> Option<bson::Document> {
    let bytes: Vec<u8> = hex
      .split_whitespace()
      .map(|pair| u8::from_str_radix(pair, 16).unwrap())
      .collect();
    let mut reader = Reader {
      bytes: &bytes,
      position: 0,
      out: Vec::new(),
      max_bytes: 1 << 24,
    };
    reader.version_header()?;
    assert_eq!(reader.tag()?, b'o');
    reader.object(1, skip)?;
    assert_eq!(reader.position, bytes.len());
    Some(
      RawDocumentBuf::from_bytes(reader.out)
        .unwrap()
        .to_document()
        .unwrap(),
    )
  }

  #[test]
  fn index_keys_are_decimal() {
    assert_eq!(Index::new(0).as_bytes(), b"0");
    assert_eq!(Index::new(10).as_bytes(), b"10");
    assert_eq!(Index::new(4_294_967_294).as_bytes(), b"4294967294");
  }

  #[test]
  fn numbers_strings_and_skipped_keys() {
    // { id: 'x', a: 1, 'é': 'é', b: 2.5, u: undefined }, as Node.js 20 serializes it.
    let fields = read(
      "ff 0f 6f 22 02 69 64 22 01 78 22 01 61 49 02 22 01 e9 22 01 e9 \
       22 01 62 4e 00 00 00 00 00 00 04 40 22 01 75 5f 7b 05",
      &["id"],
    );
    assert_eq!(fields, Some(doc! { "a": 1, "é": "é", "b": 2.5 }));
  }

  #[test]
  fn holes_become_null_and_buffers_binary() {
    // { c: [1, , 3], d: Buffer.from([1, 2]) }
    let fields = read(
      "ff 0f 6f 22 01 63 61 03 49 00 49 02 49 04 49 06 40 02 03 \
       22 01 64 5c 0a 02 01 02 7b 02",
      &[],
    );
    let bytes = Binary {
      subtype: bson::spec::BinarySubtype::Generic,
      bytes: vec![1, 2],
    };
    assert_eq!(fields, Some(doc! { "c": [1, null, 3], "d": bytes }));
  }

  #[test]
  fn date_field_strings_become_dates() {
    // { expiresAt: '2026-01-31T12:00:00Z' }
    let text: String = "2026-01-31T12:00:00Z"
      .bytes()
      .map(|byte| format!("{byte:02x} "))
      .collect();
    let hex = format!("ff 0f 6f 22 09 65 78 70 69 72 65 73 41 74 22 14 {text}7b 01");
    assert_eq!(
      read(&hex, &[]),
      Some(doc! { "expiresAt": DateTime::from_millis(1_769_860_800_000) })
    );
  }

  #[test]
  fn unsupported_input_returns_none() {
    // { x: {}, y: <reference to x> }
    assert_eq!(
      read("ff 0f 6f 22 01 78 6f 7b 00 22 01 79 5e 01 7b 02", &[]),
      None
    );
    // { $a: 1 }
    assert_eq!(read("ff 0f 6f 22 02 24 61 49 02 7b 01", &[]), None);
  }
}
