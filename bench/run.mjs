// Compares this package with the JavaScript package 2.0.2 and with the raw Rust driver, on one
// server in one run, and prints tables of ratios. Run it with `npm run bench`, which builds the
// release addon and the raw-driver baseline first. BENCHMARKS.md describes the method.
//
// Uses MONGODB_URI when it is set, and otherwise starts the local test server (standalone) for
// the run. Settings, from the environment:
//   BENCH_ROUNDS  rounds over all cases, each running the three implementations (default 3).
//   BENCH_SCALE   multiplies the number of operations per measurement (default 1).
//   BENCH_FILTER  a regular expression. Only cases whose name matches run, for example
//                 'load-hit small' or 'c64'.
// Every measurement runs in a new process, and the order of the implementations rotates from
// one case and round to the next. Raw results go to .bench/results.json and the tables to
// .bench/results.md as well as standard output.

import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { BSON, MongoClient } from 'mongodb'
import { ensureOracle } from '../scripts/oracle.mjs'
import { startServer } from '../scripts/test-server.mjs'
import { sessionFields } from './sessions.mjs'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const outputDirectory = path.join(root, '.bench')
const rawDriver = path.join(root, 'target', 'release', 'examples', process.platform === 'win32' ? 'raw-driver.exe' : 'raw-driver')
const IMPLEMENTATIONS = ['ours', 'js', 'raw']

const rounds = Number(process.env.BENCH_ROUNDS ?? 3)
const scale = Number(process.env.BENCH_SCALE ?? 1)
const filter = process.env.BENCH_FILTER ? new RegExp(process.env.BENCH_FILTER) : null
if (!Number.isInteger(rounds) || rounds < 1) throw new Error('BENCH_ROUNDS must be a positive integer')
if (!(scale > 0)) throw new Error('BENCH_SCALE must be a positive number')
if (!existsSync(rawDriver)) {
  throw new Error(`${path.relative(root, rawDriver)} is missing: run \`npm run bench\`, which builds it`)
}

const OPERATIONS = [
  { name: 'store-insert', label: 'storeSession, insert', sizes: ['small', 'large'] },
  { name: 'store-update', label: 'storeSession, update', sizes: ['small', 'large'] },
  { name: 'load-hit', label: 'loadSession, hit', sizes: ['small', 'large'] },
  // A miss and a deletion send only ids, so the size of the stored sessions changes only the
  // server's work. They run with small sessions.
  { name: 'load-miss', label: 'loadSession, miss', sizes: ['small'] },
  { name: 'find', label: 'findSessionsByStore, 100 sessions', sizes: ['small', 'large'] },
  { name: 'delete', label: 'deleteSessions, 100 ids', sizes: ['small'] },
]
const CONCURRENCY = [1, 64]

/** Returns the operations measured per run, before BENCH_SCALE. A warmup runs before them. */
function operationCount(operation, size) {
  if (operation === 'find') return size === 'small' ? 150 : 32
  if (operation === 'delete') return 100
  return size === 'small' ? 1000 : 150
}

const cases = []
for (const operation of OPERATIONS) {
  for (const size of operation.sizes) {
    for (const concurrency of CONCURRENCY) {
      const name = `${operation.name} ${size} c${concurrency}`
      if (filter && !filter.test(name)) continue
      const operations = Math.max(concurrency, Math.round(operationCount(operation.name, size) * scale))
      const warmup = Math.max(concurrency, Math.round(operations / 10))
      // Updates and hits cycle through `pool` seeded sessions, and a find lists all of them.
      let pool = size === 'small' ? 1000 : 100
      if (operation.name === 'find') pool = 100
      cases.push({ name, operation: operation.name, label: operation.label, size, concurrency, operations, warmup, pool })
    }
  }
}
if (cases.length === 0) throw new Error(`BENCH_FILTER ${filter} matches no case`)

const server = process.env.MONGODB_URI ? null : await startServer()
const uri = process.env.MONGODB_URI ?? server.uri
const database = `bench_${process.pid}`
ensureOracle()
mkdirSync(outputDirectory, { recursive: true })
const client = new MongoClient(uri)

const stopServer = async () => {
  await client.close().catch(() => {})
  await server?.stop()
}
process.once('SIGINT', () => stopServer().finally(() => process.exit(130)))

/** Creates the addon's indexes and the documents the case reads, updates or deletes. */
async function seed(collectionName, benchCase, prefix, store) {
  const collection = client.db(database).collection(collectionName)
  await collection.createIndex({ store: 1 })
  await collection.createIndex({ expiresAt: 1 }, { expireAfterSeconds: 0 })
  await collection.createIndex({ expires: 1 }, { expireAfterSeconds: 0 })
  const now = new Date()
  const fields = sessionFields(benchCase.size, now.getTime())
  const document = (id) => ({ _id: id, store, ...fields, updatedAt: now, createdAt: now })
  let ids = []
  if (benchCase.operation === 'delete') {
    const count = (benchCase.warmup + benchCase.operations) * 100
    ids = Array.from({ length: count }, (_, index) => `${prefix}-del-${index}`)
  } else if (benchCase.operation !== 'store-insert') {
    ids = Array.from({ length: benchCase.pool }, (_, index) => `${prefix}-${index}`)
  }
  const batch = benchCase.size === 'large' ? 50 : 2000
  for (let start = 0; start < ids.length; start += batch) {
    await collection.insertMany(ids.slice(start, start + batch).map(document), { ordered: false })
  }
}

function runProcess(command, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk) => (stdout += chunk))
    child.stderr.on('data', (chunk) => (stderr += chunk))
    child.once('error', reject)
    child.once('exit', (code) => {
      if (code !== 0) reject(new Error(`${path.basename(command)} ${args[0]} exited with ${code}:\n${stderr}`))
      else resolve(JSON.parse(stdout.trim().split('\n').pop()))
    })
  })
}

async function measure(implementation, benchCase, round) {
  const collection = `${implementation}_${benchCase.name.replaceAll(' ', '_')}_r${round}`
  const prefix = `${implementation}${round}`
  const store = `${prefix}-store.myqumra.com`
  await seed(collection, benchCase, prefix, store)
  const description = {
    uri,
    database,
    collection,
    operation: benchCase.operation,
    concurrency: benchCase.concurrency,
    operations: benchCase.operations,
    warmup: benchCase.warmup,
    prefix,
    store,
    pool: benchCase.pool,
  }
  let result
  if (implementation === 'raw') {
    const file = path.join(outputDirectory, 'raw-case.json')
    const fields = BSON.EJSON.serialize(sessionFields(benchCase.size), { relaxed: false })
    writeFileSync(file, JSON.stringify({ ...description, fields }))
    result = await runProcess(rawDriver, [file])
  } else {
    const worker = path.join(root, 'bench', 'worker.mjs')
    result = await runProcess(process.execPath, ['--expose-gc', worker, JSON.stringify({ ...description, implementation, size: benchCase.size })])
  }
  await client.db(database).collection(collection).drop()
  return result
}

const results = []
const started = Date.now()
try {
  for (let round = 0; round < rounds; round++) {
    for (const [caseIndex, benchCase] of cases.entries()) {
      const shift = (round + caseIndex) % IMPLEMENTATIONS.length
      const order = [...IMPLEMENTATIONS.slice(shift), ...IMPLEMENTATIONS.slice(0, shift)]
      for (const implementation of order) {
        const result = await measure(implementation, benchCase, round)
        results.push({ case: benchCase.name, implementation, round, ...result })
        console.error(
          `[bench] round ${round + 1}/${rounds} ${benchCase.name.padEnd(22)} ${implementation.padEnd(4)} ` +
            `${result.opsPerSecond.toFixed(0).padStart(7)} ops/s  p50 ${result.p50Ms.toFixed(2)} ms`,
        )
      }
    }
  }
} finally {
  await client.db(database).dropDatabase().catch(() => {})
  await stopServer()
}

const median = (values) => {
  const sorted = values.filter((value) => value !== null && Number.isFinite(value)).sort((a, b) => a - b)
  if (sorted.length === 0) return null
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}

const resultOf = (name, implementation, round) =>
  results.find((result) => result.case === name && result.implementation === implementation && result.round === round)

/** Returns the median over rounds of ours/other for one metric, with the lowest and highest. */
function ratio(name, other, metric) {
  const ratios = []
  for (let round = 0; round < rounds; round++) {
    const a = resultOf(name, 'ours', round)?.[metric]
    const b = resultOf(name, other, round)?.[metric]
    if (a != null && b) ratios.push(a / b)
  }
  if (ratios.length === 0) return '–'
  const text = median(ratios).toFixed(2)
  return rounds > 1 ? `${text} (${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)})` : text
}

const medianOf = (name, implementation, metric) =>
  median(results.filter((result) => result.case === name && result.implementation === implementation).map((result) => result[metric]))

const format = (value, digits = 0) => (value == null ? '–' : value.toFixed(digits))

function table(header, rows) {
  return [`| ${header.join(' | ')} |`, `| ${header.map(() => '---').join(' | ')} |`, ...rows.map((row) => `| ${row.join(' | ')} |`)].join('\n')
}

const caseColumns = (benchCase) => [benchCase.label, benchCase.size, String(benchCase.concurrency)]
const versusJs = table(
  ['operation', 'size', 'callers', 'throughput', 'event-loop time/op', 'main-thread CPU/op', 'p50', 'p99', 'peak RSS'],
  cases.map((benchCase) => [
    ...caseColumns(benchCase),
    ...['opsPerSecond', 'eventLoopUsPerOp', 'mainThreadCpuUsPerOp', 'p50Ms', 'p99Ms', 'peakRssBytes'].map((metric) =>
      ratio(benchCase.name, 'js', metric),
    ),
  ]),
)
const versusRaw = table(
  ['operation', 'size', 'callers', 'throughput', 'p50', 'p99', 'process CPU/op', 'peak RSS'],
  cases.map((benchCase) => [
    ...caseColumns(benchCase),
    ...['opsPerSecond', 'p50Ms', 'p99Ms', 'processCpuUsPerOp', 'peakRssBytes'].map((metric) => ratio(benchCase.name, 'raw', metric)),
  ]),
)
const absolute = table(
  ['operation', 'size', 'callers', 'implementation', 'ops/s', 'p50 ms', 'p99 ms', 'event loop µs/op', 'main-thread CPU µs/op', 'process CPU µs/op', 'peak RSS MB'],
  cases.flatMap((benchCase) =>
    IMPLEMENTATIONS.map((implementation) => {
      const value = (metric) => medianOf(benchCase.name, implementation, metric)
      return [
        ...caseColumns(benchCase),
        implementation,
        format(value('opsPerSecond')),
        format(value('p50Ms'), 2),
        format(value('p99Ms'), 2),
        format(value('eventLoopUsPerOp'), 1),
        format(value('mainThreadCpuUsPerOp'), 1),
        format(value('processCpuUsPerOp'), 1),
        format(value('peakRssBytes') && value('peakRssBytes') / 2 ** 20, 0),
      ]
    }),
  ),
)

const cpus = os.cpus()
const report = `Run of ${new Date(started).toISOString()}: ${rounds} round(s), scale ${scale}, ${Math.round((Date.now() - started) / 1000)} s.
Machine: ${cpus.length} × ${cpus[0]?.model ?? 'unknown CPU'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.type()} ${os.release()}, Node.js ${process.version}.
Server: ${server ? 'the local test server (SecantusDB, standalone)' : 'MONGODB_URI'}.

Ours / JavaScript package 2.0.2 (median of the rounds, lowest–highest in brackets; below 1 means ours is lower):

${versusJs}

Ours / raw Rust driver:

${versusRaw}

Medians per implementation:

${absolute}
`
writeFileSync(path.join(outputDirectory, 'results.json'), `${JSON.stringify({ started: new Date(started).toISOString(), rounds, scale, cases, results }, null, 2)}\n`)
writeFileSync(path.join(outputDirectory, 'results.md'), report)
console.log(report)
