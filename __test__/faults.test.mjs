// Server faults: down when the app starts, and restarted in the middle of a steady load.
// Each test runs its own local server, because it stops and starts it.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { MongoDBSessionStorage } from '@qumra/app-session-storage-mongodb'
import { MongoClient } from 'mongodb'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { freePort, startServer } from '../scripts/test-server.mjs'
import { rejection } from './helpers.mjs'

const KNOWN_CODES = new Set(['ERR_CONNECTION', 'ERR_SERVER', 'ERR_DISCONNECTED'])

const unhandled = []
const onUnhandled = (reason) => unhandled.push(reason)
const directories = []

beforeAll(() => process.on('unhandledRejection', onUnhandled))

afterAll(() => {
  process.off('unhandledRejection', onUnhandled)
  for (const directory of directories) rmSync(directory, { recursive: true, force: true })
})

const dataDirectory = () => {
  const directory = mkdtempSync(path.join(tmpdir(), 'session-faults-'))
  directories.push(directory)
  return directory
}

/** Resolves `promise`, or a marker once `ms` have passed, to detect calls that never settle. */
const settleWithin = (promise, ms) =>
  Promise.race([
    promise.then(
      (value) => ({ status: 'fulfilled', value }),
      (reason) => ({ status: 'rejected', reason }),
    ),
    new Promise((resolve) => setTimeout(() => resolve({ status: 'unsettled' }), ms)),
  ])

// TEST_LOCAL_SERVERS=0 skips the tests that start servers of their own (the CI workflow's
// macOS and Windows runners cannot run the test-server script).
const localServers = process.env.TEST_LOCAL_SERVERS !== '0'

describe.runIf(localServers)('server down at start', () => {
  test('operations reject, then succeed once the server is up', async () => {
    const port = await freePort()
    const storage = new MongoDBSessionStorage({
      url: `mongodb://127.0.0.1:${port}/faults?serverSelectionTimeoutMS=1000`,
    })
    const down = await rejection(storage.storeSession('shop', { id: 'early' }))
    expect(down.code).toBe('ERR_CONNECTION')

    const server = await startServer({ port })
    try {
      expect(await storage.storeSession('shop', { id: 'late' })).toBe(true)
      expect((await storage.loadSession('shop', 'late')).id).toBe('late')
      expect(await storage.loadSession('shop', 'early')).toBeNull()
    } finally {
      await storage.disconnect()
      await server.stop()
    }
    expect(unhandled).toEqual([])
  }, 60_000)
})

describe.runIf(localServers)('server restarted under load', () => {
  test('no acknowledged write is lost and every call settles', async () => {
    const server = await startServer({ storagePath: dataDirectory() })
    const storage = new MongoDBSessionStorage({
      url: `mongodb://127.0.0.1:${server.port}/faults?serverSelectionTimeoutMS=15000`,
    })
    await storage.ensureIndex()

    const acknowledged = new Map()
    const outcomes = { fulfilled: 0, rejected: 0, unsettled: 0 }
    const codes = new Set()
    const workers = 300
    const deadline = Date.now() + 6000
    let sequence = 0
    let restarted = false
    let storedAfterRestart = 0

    const worker = async (workerId) => {
      while (Date.now() < deadline) {
        const id = `w${workerId}-${sequence++}`
        const data = { workerId, id, padding: 'x'.repeat(64) }
        const stored = await settleWithin(storage.storeSession('load-shop', { id, data }), 30_000)
        outcomes[stored.status] += 1
        if (stored.status === 'fulfilled' && stored.value === true) {
          acknowledged.set(id, data)
          if (restarted) storedAfterRestart += 1
        }
        if (stored.status === 'rejected') codes.add(stored.reason.code)

        const loaded = await settleWithin(storage.loadSession('load-shop', id), 30_000)
        outcomes[loaded.status] += 1
        if (loaded.status === 'rejected') codes.add(loaded.reason.code)
      }
    }

    const restart = (async () => {
      await new Promise((resolve) => setTimeout(resolve, 2000))
      await server.restart()
      restarted = true
    })()
    await Promise.all([...Array.from({ length: workers }, (_, i) => worker(i)), restart])

    expect(outcomes.unsettled).toBe(0)
    for (const code of codes) expect(KNOWN_CODES.has(code)).toBe(true)
    expect(acknowledged.size).toBeGreaterThan(workers)
    expect(storedAfterRestart).toBeGreaterThan(0)

    const client = new MongoClient(`mongodb://127.0.0.1:${server.port}/`)
    await client.connect()
    const stored = await client.db('faults').collection('sessions').find({ store: 'load-shop' }).toArray()
    await client.close()
    const byId = new Map(stored.map((document) => [document._id, document.data]))
    let lost = 0
    for (const [id, data] of acknowledged) {
      if (JSON.stringify(byId.get(id)) !== JSON.stringify(data)) lost += 1
    }
    expect(lost).toBe(0)

    await storage.disconnect()
    await server.stop()
    expect(unhandled).toEqual([])
  }, 120_000)
})
