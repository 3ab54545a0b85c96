//! Conversion of stored BSON into JS values, read straight from the raw bytes the server sent.

use bson::raw::{RawArray, RawBsonRef, RawDocument};

use crate::js::{Js, Value};

/// The largest integer a JS number represents exactly (2^53 - 1).
const MAX_SAFE_INTEGER: i64 = 9_007_199_254_740_991;

type Result<T> = napi::Result<T>;

fn malformed(error: bson::raw::Error) -> napi::Error {
  napi::Error::new(
    napi::Status::GenericFailure,
    format!("the server returned a malformed document: {error}"),
  )
}

/// Converts one BSON value.
///
/// Dates become `Date`s, binary data a `Buffer`, 64-bit integers a number when exact and a
/// `BigInt` otherwise. Types that have no JS counterpart become strings: ObjectId as its hex
/// form, Decimal128 as its decimal form, regular expressions as `/pattern/flags`.
pub fn value(js: Js, bson: RawBsonRef<'_>) -> Result<Value> {
  match bson {
    RawBsonRef::Double(number) => js.double(number),
    RawBsonRef::String(text) => js.string(text),
    RawBsonRef::Document(document) => object(js, document),
    RawBsonRef::Array(array) => self::array(js, array),
    RawBsonRef::Boolean(flag) => js.boolean(flag),
    RawBsonRef::Null => js.null(),
    RawBsonRef::Undefined => js.undefined(),
    RawBsonRef::Int32(number) => js.int32(number),
    RawBsonRef::Int64(number) if (-MAX_SAFE_INTEGER..=MAX_SAFE_INTEGER).contains(&number) => {
      js.double(number as f64)
    }
    RawBsonRef::Int64(number) => js.bigint(number),
    RawBsonRef::DateTime(date) => js.date(date.timestamp_millis() as f64),
    RawBsonRef::Binary(binary) => js.buffer(binary.bytes),
    RawBsonRef::ObjectId(id) => js.string(&id.to_hex()),
    RawBsonRef::Decimal128(decimal) => js.string(&decimal.to_string()),
    RawBsonRef::RegularExpression(regex) => {
      js.string(&format!("/{}/{}", regex.pattern, regex.options))
    }
    RawBsonRef::Timestamp(timestamp) => {
      let combined = ((timestamp.time as i64) << 32) | timestamp.increment as i64;
      js.bigint(combined)
    }
    RawBsonRef::Symbol(text) | RawBsonRef::JavaScriptCode(text) => js.string(text),
    RawBsonRef::JavaScriptCodeWithScope(code) => js.string(code.code),
    RawBsonRef::MaxKey | RawBsonRef::MinKey | RawBsonRef::DbPointer(_) => js.null(),
  }
}

pub fn object(js: Js, document: &RawDocument) -> Result<Value> {
  let target = js.object()?;
  for element in document {
    let (key, bson) = element.map_err(malformed)?;
    js.set_own(target, key, value(js, bson)?)?;
  }
  Ok(target)
}

fn array(js: Js, array: &RawArray) -> Result<Value> {
  let items: Vec<RawBsonRef<'_>> = array
    .into_iter()
    .collect::<std::result::Result<_, _>>()
    .map_err(malformed)?;
  let target = js.array(items.len())?;
  for (index, bson) in items.into_iter().enumerate() {
    js.set_element(target, index as u32, value(js, bson)?)?;
  }
  Ok(target)
}
