//! Stored sessions as JSON text, written on a worker thread so that the main thread only runs
//! `JSON.parse`, which builds objects much faster than one Node-API call per property.
//!
//! JSON has no dates, binary data, BigInts, `undefined`, `NaN` or infinities. Each such value
//! is written as `null` and listed in the fixups: a JSON array of
//! `[kind, payload, ...path]` entries that the decoder applies after parsing, where `kind` is
//! `d` (Date from milliseconds), `x` (Buffer from hex), `b` (BigInt from decimal text), `n`
//! (number from `NaN` or `Infinity` text) or `u` (`undefined`). The result equals what
//! `session::to_js` builds from the same document.

use std::fmt::Write;

use bson::raw::{RawArray, RawBsonRef, RawDocument};
use bson::RawDocumentBuf;

use crate::js::{Js, Value};
use crate::session::legacy_expiry;

/// The largest integer a JS number represents exactly (2^53 - 1).
const MAX_SAFE_INTEGER: i64 = 9_007_199_254_740_991;

/// The decoder: parses the text, then applies the fixups.
const DECODER_SOURCE: &str = r#"(function () {
  'use strict'
  const parse = JSON.parse
  const make = (kind, payload) => {
    switch (kind) {
      case 'd': return new Date(payload)
      case 'x': return Buffer.from(payload, 'hex')
      case 'b': return BigInt(payload)
      case 'n': return Number(payload)
      default: return undefined
    }
  }
  return function decodeSessions(text, fixups) {
    const root = parse(text)
    if (fixups === undefined) return root
    const list = parse(fixups)
    for (let i = 0; i < list.length; i++) {
      const fixup = list[i]
      const last = fixup.length - 1
      let target = root
      for (let j = 2; j < last; j++) target = target[fixup[j]]
      target[fixup[last]] = make(fixup[0], fixup[1])
    }
    return root
  }
})()"#;

/// One session, or a list of them, as JSON text with its fixups.
pub struct Encoded {
  text: String,
  fixups: Option<String>,
}

impl Encoded {
  /// Builds the JS value on the main thread.
  pub fn decode(self, js: Js) -> napi::Result<Value> {
    let decoder = js.cached_script(DECODER_SOURCE)?;
    let text = js.string(&self.text)?;
    let fixups = match &self.fixups {
      Some(fixups) => js.string(fixups)?,
      None => js.undefined()?,
    };
    js.call(decoder, &[text, fixups])
  }
}

/// Encodes one stored document as a session. Returns `None` for a document that has an `id`
/// field of its own, which the Node-API conversion handles.
pub fn session(document: &RawDocument) -> Result<Option<Encoded>, bson::raw::Error> {
  if document.get("id")?.is_some() {
    return Ok(None);
  }
  let mut writer = Writer::default();
  writer.session(document)?;
  Ok(Some(writer.finish()))
}

/// Encodes stored documents as an array of sessions, or returns `None` when one of them has
/// an `id` field of its own.
pub fn sessions(documents: &[RawDocumentBuf]) -> Result<Option<Encoded>, bson::raw::Error> {
  let mut writer = Writer::default();
  writer.text.push('[');
  for (index, document) in documents.iter().enumerate() {
    if document.get("id")?.is_some() {
      return Ok(None);
    }
    if index > 0 {
      writer.text.push(',');
    }
    writer.path.push(Segment::Index(index));
    writer.session(document)?;
    writer.path.pop();
  }
  writer.text.push(']');
  Ok(Some(writer.finish()))
}

#[derive(Clone, Copy)]
enum Segment<'a> {
  Key(&'a str),
  Index(usize),
}

#[derive(Default)]
struct Writer<'a> {
  text: String,
  fixups: String,
  path: Vec<Segment<'a>>,
}

impl<'a> Writer<'a> {
  fn finish(self) -> Encoded {
    let fixups = (!self.fixups.is_empty()).then(|| format!("[{}]", self.fixups));
    Encoded {
      text: self.text,
      fixups,
    }
  }

  /// Writes a session: `_id` as `id`, then every other field, leaving out a null `scope` or
  /// `expires` and reading an expiry stored as text or a number as a date.
  fn session(&mut self, document: &'a RawDocument) -> Result<(), bson::raw::Error> {
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
          self.path.push(Segment::Key(key));
          let millis = legacy_expiry(value).unwrap_or_default();
          self.fixup('d', &millis.to_string());
          self.path.pop();
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
    key: &'a str,
    value: RawBsonRef<'a>,
    first: &mut bool,
  ) -> Result<(), bson::raw::Error> {
    self.separator(first);
    self.key(key);
    self.path.push(Segment::Key(key));
    self.value(value)?;
    self.path.pop();
    Ok(())
  }

  fn document(&mut self, document: &'a RawDocument) -> Result<(), bson::raw::Error> {
    self.text.push('{');
    let mut first = true;
    for element in document {
      let (key, value) = element?;
      self.field(key, value, &mut first)?;
    }
    self.text.push('}');
    Ok(())
  }

  fn array(&mut self, array: &'a RawArray) -> Result<(), bson::raw::Error> {
    self.text.push('[');
    for (index, value) in array.into_iter().enumerate() {
      if index > 0 {
        self.text.push(',');
      }
      self.path.push(Segment::Index(index));
      self.value(value?)?;
      self.path.pop();
    }
    self.text.push(']');
    Ok(())
  }

  /// Writes a value as `to_js::value` converts it.
  fn value(&mut self, value: RawBsonRef<'a>) -> Result<(), bson::raw::Error> {
    match value {
      RawBsonRef::Double(number) if number.is_finite() => {
        let _ = write!(self.text, "{number:?}");
      }
      RawBsonRef::Double(number) => {
        let text = if number.is_nan() {
          "\"NaN\""
        } else if number > 0.0 {
          "\"Infinity\""
        } else {
          "\"-Infinity\""
        };
        self.fixup('n', text);
      }
      RawBsonRef::String(text) => write_string(&mut self.text, text),
      RawBsonRef::Document(document) => self.document(document)?,
      RawBsonRef::Array(array) => self.array(array)?,
      RawBsonRef::Boolean(flag) => self.text.push_str(if flag { "true" } else { "false" }),
      RawBsonRef::Null | RawBsonRef::MaxKey | RawBsonRef::MinKey | RawBsonRef::DbPointer(_) => {
        self.text.push_str("null")
      }
      RawBsonRef::Undefined => self.fixup('u', "0"),
      RawBsonRef::Int32(number) => {
        let _ = write!(self.text, "{number}");
      }
      RawBsonRef::Int64(number) if (-MAX_SAFE_INTEGER..=MAX_SAFE_INTEGER).contains(&number) => {
        let _ = write!(self.text, "{number}");
      }
      RawBsonRef::Int64(number) => self.fixup('b', &format!("\"{number}\"")),
      RawBsonRef::DateTime(date) => self.fixup('d', &date.timestamp_millis().to_string()),
      RawBsonRef::Binary(binary) => {
        let mut hex = String::with_capacity(2 + binary.bytes.len() * 2);
        hex.push('"');
        for byte in binary.bytes {
          let _ = write!(hex, "{byte:02x}");
        }
        hex.push('"');
        self.fixup('x', &hex);
      }
      RawBsonRef::ObjectId(id) => write_string(&mut self.text, &id.to_hex()),
      RawBsonRef::Decimal128(decimal) => write_string(&mut self.text, &decimal.to_string()),
      RawBsonRef::RegularExpression(regex) => write_string(
        &mut self.text,
        &format!("/{}/{}", regex.pattern, regex.options),
      ),
      RawBsonRef::Timestamp(timestamp) => {
        let combined = ((timestamp.time as i64) << 32) | timestamp.increment as i64;
        self.fixup('b', &format!("\"{combined}\""));
      }
      RawBsonRef::Symbol(text) | RawBsonRef::JavaScriptCode(text) => {
        write_string(&mut self.text, text)
      }
      RawBsonRef::JavaScriptCodeWithScope(code) => write_string(&mut self.text, code.code),
    }
    Ok(())
  }

  /// Writes `null` in the text and lists the value at the current path. `payload` is JSON.
  fn fixup(&mut self, kind: char, payload: &str) {
    self.text.push_str("null");
    if !self.fixups.is_empty() {
      self.fixups.push(',');
    }
    let _ = write!(self.fixups, "[\"{kind}\",{payload}");
    for segment in &self.path {
      self.fixups.push(',');
      match segment {
        Segment::Key(key) => write_string(&mut self.fixups, key),
        Segment::Index(index) => {
          let _ = write!(self.fixups, "{index}");
        }
      }
    }
    self.fixups.push(']');
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

  fn encode(document: bson::Document) -> Encoded {
    let raw = RawDocumentBuf::from_document(&document).unwrap();
    let mut writer = Writer::default();
    writer.session(&raw).unwrap();
    writer.finish()
  }

  #[test]
  fn plain_values_are_json() {
    let encoded = encode(doc! {
      "_id": "s1", "store": "shop", "n": 1.5, "i": 7, "neg": -0.0,
      "nested": { "list": [1, "two", true, null] }, "scope": null,
    });
    assert_eq!(
      encoded.text,
      r#"{"id":"s1","store":"shop","n":1.5,"i":7,"neg":-0.0,"nested":{"list":[1,"two",true,null]}}"#
    );
    assert!(encoded.fixups.is_none());
  }

  #[test]
  fn special_values_become_fixups_with_paths() {
    let encoded = encode(doc! {
      "_id": "s1",
      "data": { "at": DateTime::from_millis(1_700_000_000_000), "bytes": Binary {
        subtype: bson::spec::BinarySubtype::Generic, bytes: vec![0, 255] } },
      "list": [f64::NAN, i64::MAX],
    });
    assert_eq!(
      encoded.text,
      r#"{"id":"s1","data":{"at":null,"bytes":null},"list":[null,null]}"#
    );
    assert_eq!(
      encoded.fixups.as_deref(),
      Some(
        r#"[["d",1700000000000,"data","at"],["x","00ff","data","bytes"],["n","NaN","list",0],["b","9223372036854775807","list",1]]"#
      )
    );
  }

  #[test]
  fn strings_are_escaped() {
    let mut out = String::new();
    write_string(&mut out, "a\"b\\c\nd\u{1}é\u{2028}");
    assert_eq!(out, "\"a\\\"b\\\\c\\nd\\u0001é\u{2028}\"");
  }

  #[test]
  fn legacy_expiry_text_becomes_a_date() {
    let encoded = encode(doc! { "_id": "s1", "expires": "2026-01-31T12:00:00Z" });
    assert_eq!(encoded.text, r#"{"id":"s1","expires":null}"#);
    assert_eq!(
      encoded.fixups.as_deref(),
      Some(r#"[["d",1769860800000,"expires"]]"#)
    );
  }
}
