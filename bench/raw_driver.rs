//! The benchmark's floor: the MongoDB commands that `MongoDBSessionStorage` sends for each
//! operation, issued by the `mongodb` crate with no JavaScript in the loop.
//!
//! `bench/run.mjs` starts it once per measurement with the path of a JSON file that describes
//! the case, and reads one line of JSON with the measurements from its standard output. The ids follow
//! the same scheme as `bench/worker.mjs`, so both run against the same seeded documents.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bson::{doc, Bson, DateTime, Document, RawDocumentBuf};
use futures_util::TryStreamExt;
use mongodb::{Client, Collection};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Case {
  uri: String,
  database: String,
  collection: String,
  operation: String,
  concurrency: usize,
  operations: usize,
  warmup: usize,
  prefix: String,
  store: String,
  pool: usize,
  /// The session's fields besides `id` and `store`, as canonical Extended JSON.
  fields: serde_json::Map<String, serde_json::Value>,
}

struct Target {
  case: Case,
  fields: Document,
  documents: Collection<Document>,
  raw: Collection<RawDocumentBuf>,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl Target {
  /// Runs operation number `index` of the case, with the same filter and update as the addon.
  async fn run(&self, index: usize) -> Result<(), BoxError> {
    let case = &self.case;
    let now = DateTime::now();
    let unexpired = doc! { "$not": { "$lte": now } };
    match case.operation.as_str() {
      "store-insert" | "store-update" => {
        let id = if case.operation == "store-insert" {
          format!("{}-new-{index}", case.prefix)
        } else {
          format!("{}-{}", case.prefix, index % case.pool)
        };
        let mut document = doc! { "_id": id.as_str(), "store": case.store.as_str() };
        document.extend(self.fields.clone());
        document.insert("updatedAt", now);
        let update = vec![doc! {
          "$replaceWith": {
            "$mergeObjects": [
              { "$literal": document },
              { "createdAt": { "$ifNull": ["$createdAt", now] } },
            ]
          }
        }];
        self
          .documents
          .update_one(doc! { "_id": id, "store": case.store.as_str() }, update)
          .upsert(true)
          .await?;
      }
      "load-hit" | "load-miss" => {
        let id = if case.operation == "load-hit" {
          format!("{}-{}", case.prefix, index % case.pool)
        } else {
          format!("{}-missing-{index}", case.prefix)
        };
        let filter = doc! { "_id": id, "expiresAt": unexpired.clone(), "expires": unexpired };
        let found = self.raw.find_one(filter).await?;
        if found.is_some() != (case.operation == "load-hit") {
          return Err(
            format!(
              "{} found {:?} for operation {index}",
              case.operation,
              found.is_some()
            )
            .into(),
          );
        }
      }
      "find" => {
        let filter = doc! { "store": case.store.as_str(), "expiresAt": unexpired.clone(), "expires": unexpired };
        let cursor = self.raw.find(filter).sort(doc! { "_id": 1 }).await?;
        let found: Vec<RawDocumentBuf> = cursor.try_collect().await?;
        if found.len() != case.pool {
          return Err(format!("find returned {} sessions, not {}", found.len(), case.pool).into());
        }
      }
      "delete" => {
        let ids: Vec<Bson> = (0..100)
          .map(|k| Bson::String(format!("{}-del-{}", case.prefix, index * 100 + k)))
          .collect();
        let result = self
          .documents
          .delete_many(doc! { "_id": { "$in": ids } })
          .await?;
        if result.deleted_count != 100 {
          return Err(format!("deleted {} sessions, not 100", result.deleted_count).into());
        }
      }
      other => return Err(format!("unknown operation {other}").into()),
    }
    Ok(())
  }
}

/// Runs operations `start..end` with `concurrency` tasks and returns each one's latency.
async fn phase(target: &Arc<Target>, start: usize, end: usize) -> Result<Vec<Duration>, BoxError> {
  let next = Arc::new(AtomicUsize::new(start));
  let mut tasks = Vec::new();
  for _ in 0..target.case.concurrency {
    let target = target.clone();
    let next = next.clone();
    tasks.push(tokio::spawn(async move {
      let mut latencies = Vec::new();
      loop {
        let index = next.fetch_add(1, Ordering::Relaxed);
        if index >= end {
          return Ok::<_, BoxError>(latencies);
        }
        let started = Instant::now();
        target.run(index).await?;
        latencies.push(started.elapsed());
      }
    }));
  }
  let mut latencies = Vec::with_capacity(end - start);
  for task in tasks {
    latencies.extend(task.await??);
  }
  Ok(latencies)
}

/// User and system CPU time of the whole process, and its peak resident set in bytes.
#[cfg(unix)]
fn resource_usage() -> (Duration, u64) {
  // SAFETY: getrusage writes into the zeroed struct it is given and reads nothing else.
  let usage = unsafe {
    let mut usage: libc::rusage = std::mem::zeroed();
    libc::getrusage(libc::RUSAGE_SELF, &mut usage);
    usage
  };
  let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
  // ru_maxrss is in kilobytes on Linux and in bytes on macOS.
  let scale = if cfg!(target_os = "macos") { 1 } else { 1024 };
  (
    time(usage.ru_utime) + time(usage.ru_stime),
    usage.ru_maxrss as u64 * scale,
  )
}

#[cfg(not(unix))]
fn resource_usage() -> (Duration, u64) {
  (Duration::ZERO, 0)
}

fn percentile(sorted: &[Duration], fraction: f64) -> f64 {
  let index = ((sorted.len() as f64 * fraction).ceil() as usize).clamp(1, sorted.len()) - 1;
  sorted[index].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
  let path = std::env::args()
    .nth(1)
    .ok_or("usage: raw-driver <case.json>")?;
  let case: Case = serde_json::from_str(&std::fs::read_to_string(path)?)?;
  let fields = Document::try_from(case.fields.clone())?;
  let client = Client::with_uri_str(&case.uri).await?;
  let documents = client
    .database(&case.database)
    .collection::<Document>(&case.collection);
  let raw = documents.clone_with_type::<RawDocumentBuf>();
  let target = Arc::new(Target {
    case,
    fields,
    documents,
    raw,
  });

  let warmup = target.case.warmup;
  let total = warmup + target.case.operations;
  phase(&target, 0, warmup).await?;
  let (cpu_before, _) = resource_usage();
  let started = Instant::now();
  let mut latencies = phase(&target, warmup, total).await?;
  let seconds = started.elapsed().as_secs_f64();
  let (cpu_after, peak_rss) = resource_usage();
  latencies.sort();

  let operations = target.case.operations as f64;
  let result = serde_json::json!({
    "operations": target.case.operations,
    "seconds": seconds,
    "opsPerSecond": operations / seconds,
    "p50Ms": percentile(&latencies, 0.5),
    "p99Ms": percentile(&latencies, 0.99),
    "processCpuUsPerOp": (cpu_after - cpu_before).as_secs_f64() * 1e6 / operations,
    "peakRssBytes": peak_rss,
  });
  println!("{result}");
  client.shutdown().await;
  Ok(())
}
