// Four app processes, as a clustered app runs, on one collection at the same time.
import { spawn } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { baseUri, openRaw, uniqueDbName } from './helpers.mjs'

const dbName = uniqueDbName('processes')
const worker = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'process-worker.cjs')
const WORKERS = 4
const ID_COUNT = 40
let raw

beforeAll(async () => {
  raw = await openRaw(dbName)
  // The collection exists before the processes start, as it does for an app that is already
  // deployed. Otherwise one process's index setup creates it while another's first write
  // creates it too, and the test server (SecantusDB 0.7.0b3) can stall on that race.
  await raw.db.createCollection('sessions')
})

afterAll(async () => {
  await raw.db.dropDatabase()
  await raw.client.close()
})

const runWorker = (index, deadline) =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [worker], {
      env: {
        ...process.env,
        MONGODB_URI: baseUri(),
        DB_NAME: dbName,
        WORKER_INDEX: String(index),
        WORKER_COUNT: String(WORKERS),
        DEADLINE: String(deadline),
        FINAL_AT: String(deadline + 3000),
        ID_COUNT: String(ID_COUNT),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk) => (stdout += chunk))
    child.stderr.on('data', (chunk) => (stderr += chunk))
    child.once('error', reject)
    child.once('exit', (code) => resolve({ code, stdout, stderr }))
  })

describe('many processes', () => {
  test(
    'four processes leave one document per id, equal to its last write',
    async () => {
      const deadline = Date.now() + 6000
      const results = await Promise.all(Array.from({ length: WORKERS }, (_, i) => runWorker(i, deadline)))
      const summaries = results.map((result) => {
        expect(result.stderr).toBe('')
        expect(result.code).toBe(0)
        return JSON.parse(result.stdout.trim())
      })
      for (const summary of summaries) {
        expect(summary.uncoded).toBe(0)
        expect(summary.calls).toBeGreaterThan(100)
      }

      const finals = Object.assign({}, ...summaries.map((summary) => summary.finals))
      expect(Object.keys(finals).length).toBe(ID_COUNT)
      const documents = await raw.db.collection('sessions').find({ store: 'cluster-shop' }).toArray()
      expect(documents.length).toBe(ID_COUNT)
      for (const document of documents) {
        expect(document.data).toEqual({ final: finals[document._id] })
      }
    },
    60_000,
  )
})
