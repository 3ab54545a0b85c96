//! The MongoDB commands behind each method. Everything here runs on the tokio runtime and
//! touches no JS value.

use std::sync::Arc;

use bson::{doc, Bson, DateTime, Document, RawDocumentBuf};
use futures_util::TryStreamExt;

use crate::connection::Connection;
use crate::error::{server_code, Code, StorageError, StorageResult, DUPLICATE_KEY};
use crate::session::{has_legacy_expiry_passed, FindOptions, SessionWrite, EXPIRY_FIELDS};

/// The sessions a call may touch: those of one store, or, in the app-SDK call shape, any.
#[derive(Clone, Debug)]
pub enum Scope {
  Store(String),
  Any,
}

impl Scope {
  fn add_to(&self, filter: &mut Document) {
    if let Scope::Store(store) = self {
      filter.insert("store", store.as_str());
    }
  }
}

/// Adds the condition that neither expiry field is at or before `now`. `$not` also matches
/// documents where the field is missing or null.
fn add_unexpired(filter: &mut Document, now: DateTime) {
  for field in EXPIRY_FIELDS {
    filter.insert(field, doc! { "$not": { "$lte": now } });
  }
}

/// Inserts or replaces a session, keeping `createdAt` of an existing document.
///
/// The filter names both `_id` and `store`, so an id that belongs to another store does not
/// match, the upsert's insert hits the unique `_id` index, and nothing is overwritten. A
/// duplicate key can also come from a concurrent first write of the same id to the same store;
/// the second attempt then matches that document and updates it.
pub async fn store(
  connection: &Arc<Connection>,
  session: SessionWrite,
  now: DateTime,
) -> StorageResult<()> {
  const METHOD: &str = "storeSession";
  let handles = connection.handles(METHOD).await?;
  let filter = doc! { "_id": session.id.as_str(), "store": session.store.as_str() };
  let mut attempts = 0;
  loop {
    attempts += 1;
    // Built for each attempt, so that the first one, almost always the only one, moves the
    // document into the command instead of copying it.
    // `$literal` keeps strings that start with '$' in the session from being read as field paths.
    let update = vec![doc! {
      "$replaceWith": {
        "$mergeObjects": [
          { "$literal": session.document()? },
          { "createdAt": { "$ifNull": ["$createdAt", now] } },
        ]
      }
    }];
    let result = handles
      .documents
      .update_one(filter.clone(), update)
      .upsert(true)
      .await;
    match result {
      Ok(_) => return Ok(()),
      Err(error) if server_code(&error) == Some(DUPLICATE_KEY) && attempts < 2 => continue,
      Err(error) if server_code(&error) == Some(DUPLICATE_KEY) => {
        return Err(StorageError::new(
          Code::StoreMismatch,
          format!(
            "{METHOD}: the session id already belongs to another store, so it was not \
             overwritten; session ids must be unique across stores"
          ),
        ))
      }
      Err(error) => return Err(connection_error(connection, METHOD, &error)),
    }
  }
}

/// Loads one unexpired session.
pub async fn load(
  connection: &Arc<Connection>,
  scope: Scope,
  id: String,
  now: DateTime,
) -> StorageResult<Option<RawDocumentBuf>> {
  const METHOD: &str = "loadSession";
  let handles = connection.handles(METHOD).await?;
  let mut filter = doc! { "_id": id };
  scope.add_to(&mut filter);
  add_unexpired(&mut filter, now);
  let document = handles
    .raw
    .find_one(filter)
    .await
    .map_err(|error| connection_error(connection, METHOD, &error))?;
  Ok(document.filter(|document| !has_legacy_expiry_passed(document, now)))
}

/// Deletes one session and returns whether a document was deleted.
pub async fn delete(connection: &Arc<Connection>, scope: Scope, id: String) -> StorageResult<bool> {
  const METHOD: &str = "deleteSession";
  let handles = connection.handles(METHOD).await?;
  let mut filter = doc! { "_id": id };
  scope.add_to(&mut filter);
  let result = handles
    .documents
    .delete_one(filter)
    .await
    .map_err(|error| connection_error(connection, METHOD, &error))?;
  Ok(result.deleted_count > 0)
}

/// Deletes sessions by id with one command and returns whether any was deleted.
pub async fn delete_many(
  connection: &Arc<Connection>,
  scope: Scope,
  ids: Vec<String>,
) -> StorageResult<bool> {
  const METHOD: &str = "deleteSessions";
  if ids.is_empty() {
    return Ok(false);
  }
  let handles = connection.handles(METHOD).await?;
  let ids: Vec<Bson> = ids.into_iter().map(Bson::String).collect();
  let mut filter = doc! { "_id": { "$in": ids } };
  scope.add_to(&mut filter);
  let result = handles
    .documents
    .delete_many(filter)
    .await
    .map_err(|error| connection_error(connection, METHOD, &error))?;
  Ok(result.deleted_count > 0)
}

/// Lists a store's unexpired sessions, ordered by session id so that `offset` and `limit`
/// page through them.
pub async fn find(
  connection: &Arc<Connection>,
  store: String,
  options: FindOptions,
  now: DateTime,
) -> StorageResult<Vec<RawDocumentBuf>> {
  const METHOD: &str = "findSessionsByStore";
  if options.limit == Some(0) {
    return Ok(Vec::new());
  }
  let handles = connection.handles(METHOD).await?;
  let mut filter = doc! { "store": store };
  if let Some(user_id) = options.user_id {
    filter.insert("userId", user_id);
  }
  add_unexpired(&mut filter, now);
  let mut find = handles.raw.find(filter).sort(doc! { "_id": 1 });
  if let Some(offset) = options.offset {
    find = find.skip(offset);
  }
  if let Some(limit) = options.limit {
    find = find.limit(limit);
  }
  let cursor = find
    .await
    .map_err(|error| connection_error(connection, METHOD, &error))?;
  let mut documents: Vec<RawDocumentBuf> = cursor
    .try_collect()
    .await
    .map_err(|error| connection_error(connection, METHOD, &error))?;
  // NOTE: expiries stored as strings or numbers by 2.x are filtered here, after the server
  // applied limit and offset, so a page that contains such expired sessions comes back short.
  documents.retain(|document| !has_legacy_expiry_passed(document, now));
  Ok(documents)
}

/// Converts a driver error, removing the URL's secrets from its message.
fn connection_error(
  connection: &Connection,
  method: &str,
  error: &mongodb::error::Error,
) -> StorageError {
  StorageError::from_driver(method, error).redact(&connection.config().secrets)
}
