//! One connection pool per connection string in the process, shared by every instance that
//! connects with that string. Apps that create an instance per request or per serverless
//! handler then open one pool, not one each.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Weak};

use mongodb::options::{ClientOptions, DriverInfo};
use mongodb::Client;

use crate::error::{StorageError, StorageResult};
use crate::options::Config;

/// A driver client and the registry key it was opened for.
pub struct SharedClient {
  client: Option<Client>,
  key: String,
}

impl SharedClient {
  pub fn client(&self) -> &Client {
    self
      .client
      .as_ref()
      .expect("the client is present until the SharedClient drops")
  }
}

impl Drop for SharedClient {
  fn drop(&mut self) {
    if let Ok(mut pools) = POOLS.try_lock() {
      if pools
        .get(&self.key)
        .is_some_and(|weak| weak.strong_count() == 0)
      {
        pools.remove(&self.key);
      }
    }
    // The driver's client drops without a runtime: it hands its cleanup to tasks through
    // channels. The last instance may be garbage-collected while Node exits, after the runtime
    // has shut down, where entering the runtime would panic and abort the process.
    drop(self.client.take());
    tracing::debug!("connection pool released by its last instance");
  }
}

/// Open pools by connection string. The lock is held while a pool opens, so that instances
/// that connect at the same moment share one.
static POOLS: LazyLock<tokio::sync::Mutex<HashMap<String, Weak<SharedClient>>>> =
  LazyLock::new(|| tokio::sync::Mutex::new(HashMap::new()));

/// Gives up a share of a pool. When it was the last share, the pool leaves the registry and
/// its client is returned, so that the caller can shut it down at once instead of letting the
/// driver close idle connections over the next heartbeat interval.
pub async fn release(shared: Arc<SharedClient>) -> Option<Client> {
  let mut pools = POOLS.lock().await;
  // acquire() upgrades shares only while holding the registry lock, so the count is stable.
  if Arc::strong_count(&shared) != 1 {
    return None;
  }
  pools.remove(&shared.key);
  shared.client.clone()
}

/// Returns the pool for the configuration's connection string, opening it when no live
/// instance uses one. `method` names the call in error messages.
pub async fn acquire(config: &Config, method: &str) -> StorageResult<Arc<SharedClient>> {
  let mut pools = POOLS.lock().await;
  if let Some(shared) = pools.get(&config.url).and_then(Weak::upgrade) {
    return Ok(shared);
  }
  let mut options = ClientOptions::parse(config.connection_string.clone())
    .await
    .map_err(|error| StorageError::from_driver(method, &error))?;
  options.driver_info = Some(
    DriverInfo::builder()
      .name("qumra-session-storage-mongodb")
      .version(env!("CARGO_PKG_VERSION").to_string())
      .build(),
  );
  let client =
    Client::with_options(options).map_err(|error| StorageError::from_driver(method, &error))?;
  let shared = Arc::new(SharedClient {
    client: Some(client),
    key: config.url.clone(),
  });
  pools.retain(|_, weak| weak.strong_count() > 0);
  pools.insert(config.url.clone(), Arc::downgrade(&shared));
  tracing::debug!("connection pool opened");
  Ok(shared)
}
