// One measurement of the benchmark, in a process of its own so that its peak RSS is its own.
// `bench/run.mjs` starts it with the case as JSON in the first argument, and it prints one
// line of JSON with the measurements.
//
// `ours` is this package, and `js` is the JavaScript package 2.0.2 on the official `mongodb`
// driver. Both are called in the app-SDK shape, the one 2.0.2 implements.

import { readFileSync } from 'node:fs'
import { performance } from 'node:perf_hooks'
import { MongoClient } from 'mongodb'
import { MongoDBSessionStorage } from '@qumra/app-session-storage-mongodb'
import { importOracle } from '../scripts/oracle.mjs'
import { sessionFields } from './sessions.mjs'

const benchCase = JSON.parse(process.argv[2])
const { implementation, uri, database, collection, operation, concurrency, operations, warmup, prefix, store, pool, size } =
  benchCase

async function open() {
  if (implementation === 'ours') {
    const storage = new MongoDBSessionStorage({ url: uri, dbName: database, collectionName: collection })
    return { storage, close: () => storage.disconnect() }
  }
  const Oracle = await importOracle()
  const client = new MongoClient(uri)
  const storage = new Oracle(client.db(database), { collectionName: collection })
  return { storage, close: () => client.close() }
}

const { storage, close } = await open()
const fields = sessionFields(size)
// 2.0.2 writes only its six known fields and would drop `data`. It carries the same nested
// payload in `scope`, which it writes as given, so that both write documents of equal size.
if (implementation === 'js' && fields.data) {
  fields.scope = fields.data
  delete fields.data
}

const operationsByName = {
  'store-insert': (index) => storage.storeSession({ id: `${prefix}-new-${index}`, store, ...fields }),
  'store-update': (index) => storage.storeSession({ id: `${prefix}-${index % pool}`, store, ...fields }),
  'load-hit': async (index) => {
    const session = await storage.loadSession(`${prefix}-${index % pool}`)
    if (session === undefined) throw new Error(`load-hit found nothing for operation ${index}`)
  },
  'load-miss': async (index) => {
    const session = await storage.loadSession(`${prefix}-missing-${index}`)
    if (session !== undefined) throw new Error(`load-miss found a session for operation ${index}`)
  },
  find: async () => {
    const sessions = await storage.findSessionsByStore(store)
    if (sessions.length !== pool) throw new Error(`find returned ${sessions.length} sessions, not ${pool}`)
  },
  delete: async (index) => {
    const ids = Array.from({ length: 100 }, (_, k) => `${prefix}-del-${index * 100 + k}`)
    if ((await storage.deleteSessions(ids)) !== true) throw new Error(`delete of batch ${index} deleted nothing`)
  },
}
const run = operationsByName[operation]
if (!run) throw new Error(`unknown operation ${operation}`)

/** Runs operations `start..end` with `concurrency` callers; returns their latencies in ms. */
async function phase(start, end) {
  let next = start
  const latencies = []
  const caller = async () => {
    for (let index = next++; index < end; index = next++) {
      const started = performance.now()
      await run(index)
      latencies.push(performance.now() - started)
    }
  }
  await Promise.all(Array.from({ length: concurrency }, caller))
  return latencies
}

/** CPU time of the main thread in ns, where Linux reports it; null elsewhere. */
function mainThreadCpuNs() {
  try {
    return Number(readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ')[0])
  } catch {
    return null
  }
}

const percentile = (sorted, fraction) => sorted[Math.min(sorted.length, Math.max(1, Math.ceil(sorted.length * fraction))) - 1]

await phase(0, warmup)
globalThis.gc?.()

const elu = performance.eventLoopUtilization()
const cpu = process.cpuUsage()
const mainCpu = mainThreadCpuNs()
const started = performance.now()
const latencies = await phase(warmup, warmup + operations)
const elapsedMs = performance.now() - started
const eluDelta = performance.eventLoopUtilization(elu)
const cpuDelta = process.cpuUsage(cpu)
const mainCpuDelta = mainCpu === null ? null : mainThreadCpuNs() - mainCpu
await close()

latencies.sort((a, b) => a - b)
const result = {
  operations,
  seconds: elapsedMs / 1000,
  opsPerSecond: operations / (elapsedMs / 1000),
  p50Ms: percentile(latencies, 0.5),
  p99Ms: percentile(latencies, 0.99),
  eventLoopUsPerOp: (eluDelta.active * 1000) / operations,
  mainThreadCpuUsPerOp: mainCpuDelta === null ? null : mainCpuDelta / 1000 / operations,
  processCpuUsPerOp: (cpuDelta.user + cpuDelta.system) / operations,
  peakRssBytes: process.resourceUsage().maxRSS * 1024,
}
process.stdout.write(`${JSON.stringify(result)}\n`)
