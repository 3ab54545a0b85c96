//! The lazily opened connection pool, the closed state, and index setup.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bson::{doc, Document, RawDocumentBuf};
use mongodb::options::IndexOptions;
use mongodb::{Collection, IndexModel};

use crate::error::{Code, StorageError, StorageResult};
use crate::options::Config;
use crate::pool::{self, SharedClient};

/// How long automatic index setup waits after a failure before it tries again.
pub const INDEX_RETRY_INTERVAL: Duration = Duration::from_secs(30);

/// How long the first calls wait for the first index setup, counted from the server's first
/// reply to it, before they go ahead without it. On a new collection the setup takes one
/// round trip per index. Waiting for it keeps the first write from creating the collection at
/// the same moment as `createIndexes` does. Building an index over a large existing
/// collection takes longer, and the calls do not wait for the end of such a build.
pub const FIRST_INDEX_WAIT: Duration = Duration::from_secs(5);

/// Handles on the session collection, typed for writes and for raw reads.
#[derive(Clone)]
pub struct Handles {
  pub documents: Collection<Document>,
  pub raw: Collection<RawDocumentBuf>,
}

/// The state shared by an instance and its in-flight operations.
pub struct Connection {
  config: Config,
  /// The shared pool and this instance's collection, set by the first call and cleared by
  /// `disconnect()`.
  pool: std::sync::RwLock<Option<(Arc<SharedClient>, Handles)>>,
  /// Serialises opening, so that concurrent first calls open the pool once.
  opening: tokio::sync::Mutex<()>,
  closed: AtomicBool,
  /// Operations started before `disconnect()` and not finished; the pool outlives them.
  in_flight: AtomicUsize,
  idle: tokio::sync::Notify,
  indexes_ready: AtomicBool,
  /// Set once an index setup reached the server, whatever its outcome.
  indexes_attempted: AtomicBool,
  /// The time of the server's first reply to an index setup. First calls wait at most
  /// `FIRST_INDEX_WAIT` after it.
  index_server_answered: Mutex<Option<Instant>>,
  /// The outcome of the last automatic index setup; the lock also serialises attempts.
  index_attempt: Arc<tokio::sync::Mutex<IndexAttempt>>,
  /// Warnings for JS's `process.emitWarning`, raised on worker threads and emitted by the next
  /// operation that completes on the main thread.
  warnings: Mutex<Vec<String>>,
  has_warnings: AtomicBool,
}

impl Connection {
  pub fn new(config: Config) -> Self {
    Connection {
      config,
      pool: std::sync::RwLock::new(None),
      opening: tokio::sync::Mutex::new(()),
      closed: AtomicBool::new(false),
      in_flight: AtomicUsize::new(0),
      idle: tokio::sync::Notify::new(),
      indexes_ready: AtomicBool::new(false),
      indexes_attempted: AtomicBool::new(false),
      index_server_answered: Mutex::new(None),
      index_attempt: Arc::new(tokio::sync::Mutex::new(IndexAttempt::default())),
      warnings: Mutex::new(Vec::new()),
      has_warnings: AtomicBool::new(false),
    }
  }

  pub fn config(&self) -> &Config {
    &self.config
  }

  /// Registers an operation that starts now, on the main thread when the method is called.
  /// It fails once `disconnect()` was called; otherwise `disconnect()` waits for it.
  pub fn begin(self: &Arc<Self>, method: &str) -> StorageResult<OperationGuard> {
    // Counting first and checking second pairs with close(), which sets the flag first and
    // counts second, so that one of the two always observes the other.
    self.in_flight.fetch_add(1, Ordering::SeqCst);
    let guard = OperationGuard {
      connection: self.clone(),
    };
    if self.closed.load(Ordering::SeqCst) {
      return Err(Self::closed_error(method));
    }
    Ok(guard)
  }

  fn closed_error(method: &str) -> StorageError {
    StorageError::new(
      Code::Disconnected,
      format!(
        "{method}: this MongoDBSessionStorage was closed by disconnect(); create a new instance"
      ),
    )
  }

  /// Returns the collection, connecting first. On first use it also starts index setup in a
  /// task of its own, and waits up to `FIRST_INDEX_WAIT` for that first setup to end. Later
  /// attempts, after a refusal, run in the background, and a rejected setup does not fail the
  /// call. When the first setup found the server unreachable, the call fails with that error
  /// at once instead of waiting for the server a second time.
  pub async fn handles(self: &Arc<Self>, method: &str) -> StorageResult<Handles> {
    let handles = self.connect(method).await?;
    if self.indexes_ready.load(Ordering::Acquire) {
      return Ok(handles);
    }
    // An attempt that is already running holds the lock; this call then leaves it alone.
    if let Ok(attempt) = self.index_attempt.clone().try_lock_owned() {
      let connection = self.clone();
      let task_handles = handles.clone();
      tokio::spawn(async move {
        connection
          .ensure_indexes_automatically(&task_handles, attempt)
          .await
      });
    }
    if !self.indexes_attempted.load(Ordering::Acquire) {
      // The running attempt holds the lock until it ends. While it waits for a server, the call
      // waits too, because its own operation would wait for the same server. After the server's
      // first reply, the call waits at most `FIRST_INDEX_WAIT`.
      let attempt = tokio::select! {
        attempt = self.index_attempt.lock() => Some(attempt),
        () = self.first_index_wait_over() => None,
      };
      if let Some(error) = attempt
        .as_ref()
        .and_then(|attempt| attempt.unreachable.as_ref())
      {
        return Err(StorageError::from_driver(method, error).redact(&self.config.secrets));
      }
    }
    Ok(handles)
  }

  /// Resolves once `FIRST_INDEX_WAIT` has passed since the server's first reply to the index
  /// setup.
  async fn first_index_wait_over(&self) {
    loop {
      let answered = self
        .index_server_answered
        .lock()
        .ok()
        .and_then(|answered| *answered);
      match answered {
        Some(at) if at.elapsed() >= FIRST_INDEX_WAIT => return,
        Some(at) => tokio::time::sleep(FIRST_INDEX_WAIT - at.elapsed()).await,
        None => tokio::time::sleep(Duration::from_millis(50)).await,
      }
    }
  }

  fn current_handles(&self) -> Option<Handles> {
    let pool = self.pool.read().ok()?;
    pool.as_ref().map(|(_, handles)| handles.clone())
  }

  /// Returns the collection, opening the pool first. Callers hold an `OperationGuard`, so
  /// `disconnect()` has not released the pool, or waits until they finish.
  async fn connect(&self, method: &str) -> StorageResult<Handles> {
    if let Some(handles) = self.current_handles() {
      return Ok(handles);
    }
    let _opening = self.opening.lock().await;
    if let Some(handles) = self.current_handles() {
      return Ok(handles);
    }
    let shared = pool::acquire(&self.config, method)
      .await
      .map_err(|error| error.redact(&self.config.secrets))?;
    let documents = shared
      .client()
      .database(&self.config.database)
      .collection::<Document>(&self.config.collection);
    let raw = documents.clone_with_type::<RawDocumentBuf>();
    let handles = Handles { documents, raw };
    if let Ok(mut pool) = self.pool.write() {
      *pool = Some((shared, handles.clone()));
    }
    Ok(handles)
  }

  /// Drops this instance's share of the pool, and shuts the pool down when it was the last.
  async fn release(&self) {
    let released = self.pool.write().ok().and_then(|mut pool| pool.take());
    let Some((shared, handles)) = released else {
      return;
    };
    drop(handles);
    if let Some(client) = pool::release(shared).await {
      // `immediate` closes the connections without waiting for cursors or sessions, which
      // no operation of this instance still uses.
      client.shutdown().immediate(true).await;
      tracing::debug!("connection pool shut down");
    }
  }

  /// Marks the instance closed, synchronously when `disconnect()` is called, so that every
  /// later call rejects. Returns false when it was already closed.
  pub fn mark_closed(&self) -> bool {
    !self.closed.swap(true, Ordering::SeqCst)
  }

  /// Closes an instance that `mark_closed` marked: waits for the operations called before,
  /// then gives up the pool, which closes when no open instance uses it.
  pub async fn close(&self) {
    loop {
      let idle = self.idle.notified();
      tokio::pin!(idle);
      // Registered before the count is read, so a notification in between is not missed.
      idle.as_mut().enable();
      if self.in_flight.load(Ordering::SeqCst) == 0 {
        break;
      }
      idle.await;
    }
    self.release().await;
    tracing::debug!("instance closed");
  }

  async fn ensure_indexes_automatically(
    &self,
    handles: &Handles,
    mut attempt: tokio::sync::OwnedMutexGuard<IndexAttempt>,
  ) {
    if self.indexes_ready.load(Ordering::Acquire) {
      return;
    }
    if attempt
      .rejected_at
      .is_some_and(|at| at.elapsed() < INDEX_RETRY_INTERVAL)
    {
      return;
    }
    attempt.unreachable = None;
    // A ping first, so that waiting calls learn when the server replied.
    let ping = handles
      .documents
      .client()
      .database("admin")
      .run_command(doc! { "ping": 1 })
      .await;
    let result = match ping {
      Ok(_) => {
        if let Ok(mut answered) = self.index_server_answered.lock() {
          answered.get_or_insert_with(Instant::now);
        }
        create_indexes(handles).await
      }
      Err(error) => match classify(error) {
        IndexError::Refused(_) => create_indexes(handles).await,
        unreachable => Err(unreachable),
      },
    };
    match result {
      Ok(()) => {
        self.indexes_ready.store(true, Ordering::Release);
        self.indexes_attempted.store(true, Ordering::Release);
        attempt.rejected_at = None;
      }
      // The server could not be reached or rejected the credentials, which the call itself
      // reports, so the next call tries again.
      Err(IndexError::Unreachable(error)) => {
        tracing::debug!(
          error = %StorageError::from_driver("ensureIndex", &error).redact(&self.config.secrets),
          "index setup postponed"
        );
        attempt.unreachable = Some(error);
      }
      Err(IndexError::Refused(error)) => {
        self.indexes_attempted.store(true, Ordering::Release);
        let error = error.redact(&self.config.secrets);
        tracing::warn!(error = %error, "automatic index setup failed; retrying later");
        attempt.rejected_at = Some(Instant::now());
        self.push_warning(format!(
          "MongoDBSessionStorage could not create its indexes; sessions still load and store, \
           but expired ones are not removed by MongoDB until the indexes exist. It retries \
           in {} seconds. {}",
          INDEX_RETRY_INTERVAL.as_secs(),
          error.message
        ));
      }
    }
  }

  /// Creates the indexes now, reporting a failure to the caller. The caller keeps an
  /// `OperationGuard` for the duration.
  pub async fn ensure_indexes(&self) -> StorageResult<()> {
    const METHOD: &str = "ensureIndex";
    let handles = self.connect(METHOD).await?;
    let mut attempt = self.index_attempt.lock().await;
    let result = create_indexes(&handles).await;
    if !matches!(result, Err(IndexError::Unreachable(_))) {
      self.indexes_attempted.store(true, Ordering::Release);
    }
    match result {
      Ok(()) => {
        self.indexes_ready.store(true, Ordering::Release);
        attempt.rejected_at = None;
        Ok(())
      }
      Err(IndexError::Unreachable(error)) => {
        Err(StorageError::from_driver(METHOD, &error).redact(&self.config.secrets))
      }
      Err(IndexError::Refused(error)) => Err(error.redact(&self.config.secrets)),
    }
  }

  fn push_warning(&self, message: String) {
    if let Ok(mut warnings) = self.warnings.lock() {
      warnings.push(message);
      self.has_warnings.store(true, Ordering::Release);
    }
  }

  /// Takes the warnings raised since the last call.
  pub fn take_warnings(&self) -> Vec<String> {
    if !self.has_warnings.swap(false, Ordering::AcqRel) {
      return Vec::new();
    }
    self
      .warnings
      .lock()
      .map(|mut warnings| std::mem::take(&mut *warnings))
      .unwrap_or_default()
  }
}

/// Marks an operation as running until it drops.
pub struct OperationGuard {
  connection: Arc<Connection>,
}

impl Drop for OperationGuard {
  fn drop(&mut self) {
    if self.connection.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
      self.connection.idle.notify_waiters();
    }
  }
}

/// Lists the indexes: `store_1` serves the queries by store, and TTL indexes on `expiresAt` (the
/// store-scoped field) and `expires` (the app-SDK field) let MongoDB remove expired sessions.
/// The names and options match those of the JavaScript package 2.0.2, so an existing
/// collection is used as it is.
fn index_models() -> Vec<IndexModel> {
  let ttl = || {
    IndexOptions::builder()
      .expire_after(Duration::from_secs(0))
      .build()
  };
  vec![
    IndexModel::builder().keys(doc! { "store": 1 }).build(),
    IndexModel::builder()
      .keys(doc! { "expiresAt": 1 })
      .options(ttl())
      .build(),
    IndexModel::builder()
      .keys(doc! { "expires": 1 })
      .options(ttl())
      .build(),
  ]
}

/// The outcome of the last automatic index setup.
#[derive(Default)]
pub struct IndexAttempt {
  /// When the server last refused an index; the next attempt waits `INDEX_RETRY_INTERVAL`.
  rejected_at: Option<Instant>,
  /// The error of the last attempt, when it could not reach the server or authenticate.
  unreachable: Option<mongodb::error::Error>,
}

enum IndexError {
  /// No server was reachable, or authentication failed.
  Unreachable(mongodb::error::Error),
  /// The server refused an index.
  Refused(StorageError),
}

/// Sorts a driver error: the server could not be reached, or it rejected the command.
fn classify(error: mongodb::error::Error) -> IndexError {
  let converted = StorageError::from_driver("ensureIndex", &error);
  if matches!(
    converted.code,
    Code::Connection | Code::Authentication | Code::Disconnected
  ) {
    IndexError::Unreachable(error)
  } else {
    IndexError::Refused(converted)
  }
}

/// Creates each index with its own command, so that one conflicting index does not keep the
/// others from being created, and returns the first failure.
async fn create_indexes(handles: &Handles) -> Result<(), IndexError> {
  let mut first_rejection = None;
  for model in index_models() {
    let keys = model.keys.clone();
    if let Err(error) = handles.documents.create_index(model).await {
      let mut converted = match classify(error) {
        IndexError::Refused(converted) => converted,
        unreachable => return Err(unreachable),
      };
      if converted.code == Code::Server {
        converted.code = Code::IndexCreation;
      }
      converted.message = format!("creating the index {keys} failed: {}", converted.message);
      first_rejection.get_or_insert(converted);
    }
  }
  match first_rejection {
    Some(error) => Err(IndexError::Refused(error)),
    None => Ok(()),
  }
}
