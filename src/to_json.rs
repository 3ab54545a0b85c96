//! Stored sessions as JSON text, written on a worker thread so that the main thread only runs
//! `JSON.parse`, which builds objects much faster than one Node-API call per property.
//!
//! JSON has no dates, binary data, BigInts, `undefined`, `NaN` or infinities. Each such value
//! is written as a string that starts with a NUL character and a letter for its kind. The
//! kinds are `d` (Date, from milliseconds), `x` (Buffer, from hex), `b` (BigInt, from decimal
//! text), `n` (number, from `NaN` or `Infinity` text) and `u` (`undefined`). A stored string that starts
//! with NUL is written with the prefix `s`. When the text contains any such string, the decoder
//! walks the parsed value and replaces them. The result equals what `session::to_js` builds
//! from the same document.

use std::fmt::Write;

use bson::raw::{RawArray, RawBsonRef, RawDocument};
use bson::RawDocumentBuf;

use crate::js::{Js, Value};
use crate::session::legacy_expiry;

/// The largest integer a JS number represents exactly (2^53 - 1).
const MAX_SAFE_INTEGER: i64 = 9_007_199_254_740_991;

/// The decoder: parses the text, then replaces the marked strings when there are any.
const DECODER_SOURCE: &str = r#"(function () {
  'use strict'
  const parse = JSON.parse
  const isArray = Array.isArray
  const revive = (text) => {
    const payload = text.slice(2)
    switch (text.charCodeAt(1)) {
      case 100: return new Date(+payload)
      case 120: {
        // A Buffer of its own memory, as Node-API's buffer copy makes, not a slice of the pool.
        const bytes = Buffer.allocUnsafeSlow(payload.length >>> 1)
        bytes.write(payload, 'hex')
        return bytes
      }
      case 98: return BigInt(payload)
      case 110: return Number(payload)
      case 117: return undefined
      default: return payload
    }
  }
  const walk = (value) => {
    if (isArray(value)) {
      for (let i = 0; i < value.length; i++) {
        const item = value[i]
        if (typeof item === 'string') {
          if (item.charCodeAt(0) === 0) value[i] = revive(item)
        } else if (typeof item === 'object' && item !== null) {
          walk(item)
        }
      }
      return
    }
    for (const key in value) {
      const item = value[key]
      if (typeof item === 'string') {
        if (item.charCodeAt(0) === 0) value[key] = revive(item)
      } else if (typeof item === 'object' && item !== null) {
        walk(item)
      }
    }
  }
  return function decodeSessions(text, marked) {
    const root = parse(text)
    if (marked) walk(root)
    return root
  }
})()"#;

/// One session, or a list of them, as JSON text: one text per session, so that each JS
/// string stays small enough for V8's young generation.
pub struct Encoded {
  texts: Vec<Text>,
  /// Whether the result is an array of sessions, as opposed to one session.
  list: bool,
}

struct Text {
  json: String,
  /// Whether the text contains marked strings.
  marked: bool,
}

impl Encoded {
  /// Builds the JS value on the main thread.
  pub fn decode(self, js: Js) -> napi::Result<Value> {
    let decoder = js.cached_script(DECODER_SOURCE)?;
    let decode_one = |text: Text| {
      // Most texts are ASCII, which V8 takes as Latin-1 without decoding UTF-8.
      let json = if text.json.is_ascii() {
        js.latin1_string(text.json.as_bytes())?
      } else {
        js.string(&text.json)?
      };
      drop(text.json);
      js.call(decoder, &[json, js.boolean(text.marked)?])
    };
    if !self.list {
      return match self.texts.into_iter().next() {
        Some(text) => decode_one(text),
        None => js.undefined(),
      };
    }
    let array = js.array(self.texts.len())?;
    for (index, text) in self.texts.into_iter().enumerate() {
      js.set_element(array, index as u32, decode_one(text)?)?;
    }
    Ok(array)
  }
}

/// Encodes one stored document as a session. Returns `None` for a document that has an `id`
/// field of its own, which the Node-API conversion handles.
pub fn session(document: &RawDocument) -> Result<Option<Encoded>, bson::raw::Error> {
  if document.get("id")?.is_some() {
    return Ok(None);
  }
  Ok(Some(Encoded {
    texts: vec![encode(document)?],
    list: false,
  }))
}

/// Encodes stored documents as an array of sessions, or returns `None` when one of them has
/// an `id` field of its own.
pub fn sessions(documents: &[RawDocumentBuf]) -> Result<Option<Encoded>, bson::raw::Error> {
  let mut texts = Vec::with_capacity(documents.len());
  for document in documents {
    if document.get("id")?.is_some() {
      return Ok(None);
    }
    texts.push(encode(document)?);
  }
  Ok(Some(Encoded { texts, list: true }))
}

fn encode(document: &RawDocument) -> Result<Text, bson::raw::Error> {
  let size = document.as_bytes().len();
  let mut writer = Writer {
    text: String::with_capacity(size + size / 8),
    marked: false,
  };
  writer.session(document)?;
  Ok(Text {
    json: writer.text,
    marked: writer.marked,
  })
}

#[derive(Default)]
struct Writer {
  text: String,
  marked: bool,
}

impl Writer {
  /// Writes a session: `_id` as `id`, then every other field, leaving out a null `scope` or
  /// `expires` and reading an expiry stored as text or a number as a date.
  fn session(&mut self, document: &RawDocument) -> Result<(), bson::raw::Error> {
    self.text.push('{');
    let mut first = true;
    if let Some(id) = document.get("_id")? {
      self.field("id", id, &mut first)?;
    }
    for element in document {
      let (key, value) = element?;
      match (key, value) {
        ("_id", _) | ("scope" | "expires", RawBsonRef::Null) => {}
        ("expires" | "expiresAt", value) if legacy_expiry(value).is_some() => {
          self.separator(&mut first);
          self.key(key);
          self.mark_integer('d', legacy_expiry(value).unwrap_or_default());
        }
        _ => self.field(key, value, &mut first)?,
      }
    }
    self.text.push('}');
    Ok(())
  }

  fn separator(&mut self, first: &mut bool) {
    if !*first {
      self.text.push(',');
    }
    *first = false;
  }

  fn key(&mut self, key: &str) {
    write_string(&mut self.text, key);
    self.text.push(':');
  }

  fn field(
    &mut self,
    key: &str,
    value: RawBsonRef<'_>,
    first: &mut bool,
  ) -> Result<(), bson::raw::Error> {
    self.separator(first);
    self.key(key);
    self.value(value)
  }

  fn document(&mut self, document: &RawDocument) -> Result<(), bson::raw::Error> {
    self.text.push('{');
    let mut first = true;
    for element in document {
      let (key, value) = element?;
      self.field(key, value, &mut first)?;
    }
    self.text.push('}');
    Ok(())
  }

  fn array(&mut self, array: &RawArray) -> Result<(), bson::raw::Error> {
    self.text.push('[');
    for (index, value) in array.into_iter().enumerate() {
      if index > 0 {
        self.text.push(',');
      }
      self.value(value?)?;
    }
    self.text.push(']');
    Ok(())
  }

  /// Writes a value as `to_js::value` converts it.
  fn value(&mut self, value: RawBsonRef<'_>) -> Result<(), bson::raw::Error> {
    match value {
      RawBsonRef::Double(number) if number.is_finite() => {
        let _ = write!(self.text, "{number:?}");
      }
      RawBsonRef::Double(number) => {
        let text = if number.is_nan() {
          "NaN"
        } else if number > 0.0 {
          "Infinity"
        } else {
          "-Infinity"
        };
        self.mark('n', text);
      }
      RawBsonRef::String(text) => self.string(text),
      RawBsonRef::Document(document) => self.document(document)?,
      RawBsonRef::Array(array) => self.array(array)?,
      RawBsonRef::Boolean(flag) => self.text.push_str(if flag { "true" } else { "false" }),
      RawBsonRef::Null | RawBsonRef::MaxKey | RawBsonRef::MinKey | RawBsonRef::DbPointer(_) => {
        self.text.push_str("null")
      }
      RawBsonRef::Undefined => self.mark('u', ""),
      RawBsonRef::Int32(number) => {
        let _ = write!(self.text, "{number}");
      }
      RawBsonRef::Int64(number) if (-MAX_SAFE_INTEGER..=MAX_SAFE_INTEGER).contains(&number) => {
        let _ = write!(self.text, "{number}");
      }
      RawBsonRef::Int64(number) => self.mark_integer('b', number),
      RawBsonRef::DateTime(date) => self.mark_integer('d', date.timestamp_millis()),
      RawBsonRef::Binary(binary) => {
        let mut hex = String::with_capacity(binary.bytes.len() * 2);
        for byte in binary.bytes {
          let _ = write!(hex, "{byte:02x}");
        }
        self.mark('x', &hex);
      }
      RawBsonRef::ObjectId(id) => self.string(&id.to_hex()),
      RawBsonRef::Decimal128(decimal) => self.string(&decimal.to_string()),
      RawBsonRef::RegularExpression(regex) => {
        self.string(&format!("/{}/{}", regex.pattern, regex.options))
      }
      RawBsonRef::Timestamp(timestamp) => {
        let combined = ((timestamp.time as i64) << 32) | timestamp.increment as i64;
        self.mark_integer('b', combined);
      }
      RawBsonRef::Symbol(text) | RawBsonRef::JavaScriptCode(text) => self.string(text),
      RawBsonRef::JavaScriptCodeWithScope(code) => self.string(code.code),
    }
    Ok(())
  }

  /// Writes a stored string, marking one that starts with NUL so that it is not revived.
  fn string(&mut self, text: &str) {
    if text.starts_with('\0') {
      self.mark('s', text);
    } else {
      write_string(&mut self.text, text);
    }
  }

  /// Writes a marked string: NUL, the kind, then the payload.
  fn mark(&mut self, kind: char, payload: &str) {
    self.marked = true;
    if kind == 's' {
      let mut marked = String::with_capacity(2 + payload.len());
      marked.push('\0');
      marked.push(kind);
      marked.push_str(payload);
      write_string(&mut self.text, &marked);
    } else {
      // The other payloads are digits, hex digits or letters, which need no escaping.
      self.text.push_str("\"\\u0000");
      self.text.push(kind);
      self.text.push_str(payload);
      self.text.push('"');
    }
  }

  /// Writes a marked string whose payload is an integer, as for dates.
  fn mark_integer(&mut self, kind: char, payload: i64) {
    self.marked = true;
    self.text.push_str("\"\\u0000");
    self.text.push(kind);
    let _ = write!(self.text, "{payload}");
    self.text.push('"');
  }
}

/// Writes a JSON string literal.
fn write_string(out: &mut String, text: &str) {
  out.push('"');
  let mut start = 0;
  for (index, byte) in text.bytes().enumerate() {
    let escape = match byte {
      b'"' => "\\\"",
      b'\\' => "\\\\",
      b'\n' => "\\n",
      b'\r' => "\\r",
      b'\t' => "\\t",
      0x00..=0x1f => "",
      _ => continue,
    };
    out.push_str(&text[start..index]);
    if escape.is_empty() {
      let _ = write!(out, "\\u{byte:04x}");
    } else {
      out.push_str(escape);
    }
    start = index + 1;
  }
  out.push_str(&text[start..]);
  out.push('"');
}

#[cfg(test)]
mod tests {
  use super::*;
  use bson::{doc, Binary, DateTime};

  fn encode_session(document: bson::Document) -> Text {
    let raw = RawDocumentBuf::from_document(&document).unwrap();
    encode(&raw).unwrap()
  }

  #[test]
  fn plain_values_are_json() {
    let encoded = encode_session(doc! {
      "_id": "s1", "store": "shop", "n": 1.5, "i": 7, "neg": -0.0,
      "nested": { "list": [1, "two", true, null] }, "scope": null,
    });
    assert_eq!(
      encoded.json,
      r#"{"id":"s1","store":"shop","n":1.5,"i":7,"neg":-0.0,"nested":{"list":[1,"two",true,null]}}"#
    );
    assert!(!encoded.marked);
  }

  #[test]
  fn special_values_are_marked_strings() {
    let encoded = encode_session(doc! {
      "_id": "s1",
      "data": { "at": DateTime::from_millis(1_700_000_000_000), "bytes": Binary {
        subtype: bson::spec::BinarySubtype::Generic, bytes: vec![0, 255] } },
      "list": [f64::NAN, i64::MAX, "\0text"],
    });
    assert_eq!(
      encoded.json,
      r#"{"id":"s1","data":{"at":"\u0000d1700000000000","bytes":"\u0000x00ff"},"list":["\u0000nNaN","\u0000b9223372036854775807","\u0000s\u0000text"]}"#
    );
    assert!(encoded.marked);
  }

  #[test]
  fn strings_are_escaped() {
    let mut out = String::new();
    write_string(&mut out, "a\"b\\c\nd\u{1}é\u{2028}");
    assert_eq!(out, "\"a\\\"b\\\\c\\nd\\u0001é\u{2028}\"");
  }

  #[test]
  fn legacy_expiry_text_becomes_a_date() {
    let encoded = encode_session(doc! { "_id": "s1", "expires": "2026-01-31T12:00:00Z" });
    assert_eq!(
      encoded.json,
      r#"{"id":"s1","expires":"\u0000d1769860800000"}"#
    );
  }
}
