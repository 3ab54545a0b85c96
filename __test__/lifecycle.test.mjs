// Lazy connection, disconnect(), index setup failures and concurrent first writes.
import { spawnSync } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { MongoDBSessionStorage } from '@qumra/app-session-storage-mongodb'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { freePort } from '../scripts/test-server.mjs'
import { baseUri, openRaw, rejection, uniqueDbName, withParams } from './helpers.mjs'

const dbName = uniqueDbName('lifecycle')
let raw

const unhandled = []
const onUnhandled = (reason) => unhandled.push(reason)

beforeAll(async () => {
  process.on('unhandledRejection', onUnhandled)
  raw = await openRaw(dbName)
})

afterAll(async () => {
  process.off('unhandledRejection', onUnhandled)
  await raw.db.dropDatabase()
  await raw.client.close()
})

describe('lazy connection', () => {
  test('constructing against a closed port does nothing', async () => {
    const port = await freePort()
    const storage = new MongoDBSessionStorage({ url: `mongodb://127.0.0.1:${port}/lazy` })
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect(unhandled).toEqual([])
    await storage.disconnect()
  })

  test('first operation on a closed port rejects ERR_CONNECTION within the timeout', async () => {
    const port = await freePort()
    const storage = new MongoDBSessionStorage({
      url: `mongodb://127.0.0.1:${port}/lazy?serverSelectionTimeoutMS=1000`,
    })
    const started = Date.now()
    const error = await rejection(storage.loadSession('shop', 'id'))
    const elapsed = Date.now() - started
    expect(error.code).toBe('ERR_CONNECTION')
    expect(error.message).toContain('serverSelectionTimeoutMS')
    expect(elapsed).toBeGreaterThanOrEqual(900)
    expect(elapsed).toBeLessThan(2500)
    await storage.disconnect()
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect(unhandled).toEqual([])
  })

  test('selection timeout not added to wait', async () => {
    // The first call waits for the first index setup, which waits for the same server. The call
    // must fail once, after one selection timeout, not after the wait and a second one.
    const port = await freePort()
    const storage = new MongoDBSessionStorage({
      url: `mongodb://127.0.0.1:${port}/lazy?serverSelectionTimeoutMS=6000`,
    })
    const started = Date.now()
    const errors = await Promise.all([rejection(storage.storeSession('shop', { id: 'a' })), rejection(storage.loadSession('b'))])
    const elapsed = Date.now() - started
    expect(errors.map((error) => error.code)).toEqual(['ERR_CONNECTION', 'ERR_CONNECTION'])
    expect(elapsed).toBeGreaterThanOrEqual(5900)
    expect(elapsed).toBeLessThan(9000)
    await storage.disconnect()
  }, 20_000)

  test('password never appears in a connection error', async () => {
    const port = await freePort()
    const storage = new MongoDBSessionStorage({
      url: `mongodb://admin:Pa%3Ass%40w0rd@127.0.0.1:${port}/lazy?serverSelectionTimeoutMS=300`,
    })
    const error = await rejection(storage.storeSession('shop', { id: 'x' }))
    expect(error.code).toBe('ERR_CONNECTION')
    expect(error.message).not.toContain('Pa%3Ass%40w0rd')
    expect(error.message).not.toContain('Pa:ss@w0rd')
    await storage.disconnect()
  })
})

describe('disconnect', () => {
  test('is idempotent and later calls reject ERR_DISCONNECTED', async () => {
    const storage = new MongoDBSessionStorage({ url: baseUri(), dbName })
    await storage.storeSession('shop', { id: 'before-close' })
    await expect(storage.disconnect()).resolves.toBeUndefined()
    await expect(storage.disconnect()).resolves.toBeUndefined()

    const calls = [
      () => storage.storeSession('shop', { id: 'after-close' }),
      () => storage.storeSession({ id: 'after-close', store: 'shop' }),
      () => storage.loadSession('shop', 'before-close'),
      () => storage.loadSession('before-close'),
      () => storage.deleteSession('shop', 'before-close'),
      () => storage.deleteSession('before-close'),
      () => storage.deleteSessions('shop', ['before-close']),
      () => storage.deleteSessions(['before-close']),
      () => storage.findSessionsByStore('shop'),
      () => storage.findSessionsByStore('shop', { limit: 1 }),
      () => storage.ensureIndex(),
    ]
    for (const call of calls) {
      const error = await rejection(call())
      expect(error.code).toBe('ERR_DISCONNECTED')
      expect(error.message).toContain('closed by disconnect()')
    }
    expect(await raw.db.collection('sessions').countDocuments({ _id: 'after-close' })).toBe(0)
    expect(await raw.db.collection('sessions').countDocuments({ _id: 'before-close' })).toBe(1)
  })

  test('disconnect before any operation resolves', async () => {
    const storage = new MongoDBSessionStorage({ url: baseUri(), dbName })
    await expect(storage.disconnect()).resolves.toBeUndefined()
    expect((await rejection(storage.loadSession('x'))).code).toBe('ERR_DISCONNECTED')
  })

  test('calls made before disconnect() finish', async () => {
    const storage = new MongoDBSessionStorage({ url: baseUri(), dbName })
    await storage.loadSession('warm-up')
    const ids = Array.from({ length: 50 }, (_, i) => `flight-${i}`)
    const inFlight = ids.map((id) => storage.storeSession('shop', { id }))
    const closing = storage.disconnect()
    const results = await Promise.all(inFlight)
    await closing
    expect(results).toEqual(Array(50).fill(true))
    expect(await raw.db.collection('sessions').countDocuments({ _id: { $in: ids } })).toBe(50)
    expect(unhandled).toEqual([])
  })

  test('calls made before the pool opened finish', async () => {
    const storage = new MongoDBSessionStorage({ url: baseUri(), dbName })
    const ids = Array.from({ length: 50 }, (_, i) => `early-${i}`)
    const inFlight = ids.map((id) => storage.storeSession('shop', { id }))
    await storage.disconnect()
    expect(await Promise.all(inFlight)).toEqual(Array(50).fill(true))
    expect(await raw.db.collection('sessions').countDocuments({ _id: { $in: ids } })).toBe(50)
  })

  test('calls in the same tick as disconnect() reject', async () => {
    const storage = new MongoDBSessionStorage({ url: baseUri(), dbName })
    const closing = storage.disconnect()
    const error = await rejection(storage.storeSession('shop', { id: 'same-tick' }))
    await closing
    expect(error.code).toBe('ERR_DISCONNECTED')
    expect(await raw.db.collection('sessions').countDocuments({ _id: 'same-tick' })).toBe(0)
  })

  test('the last disconnect() closes the pool connections', async () => {
    const status = async () => (await raw.client.db('admin').command({ serverStatus: 1 })).connections.current
    const before = await status()
    const url = withParams(baseUri(), { appName: 'closing-pool' })
    const storage = new MongoDBSessionStorage({ url, dbName })
    await Promise.all(Array.from({ length: 8 }, (_, i) => storage.storeSession('shop', { id: `close-${i}` })))
    expect(await status()).toBeGreaterThan(before)
    await storage.disconnect()
    await new Promise((resolve) => setTimeout(resolve, 500))
    expect(await status()).toBeLessThanOrEqual(before)
  })

  test('a process that never calls disconnect() exits cleanly', () => {
    const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
    const script = `
      const { MongoDBSessionStorage } = require(${JSON.stringify(root)})
      const storage = new MongoDBSessionStorage({ url: process.env.TEST_URL, dbName: 'exit_test' })
      storage.loadSession('x').then((value) => console.log('loaded', value))
    `
    const result = spawnSync(process.execPath, ['-e', script], {
      env: { ...process.env, TEST_URL: baseUri() },
      encoding: 'utf8',
      timeout: 30_000,
    })
    expect(result.stdout.trim()).toBe('loaded undefined')
    expect(result.stderr).toBe('')
    expect(result.signal).toBeNull()
    expect(result.status).toBe(0)
  })

  test('calls without a round trip also reject after disconnect()', async () => {
    const storage = new MongoDBSessionStorage({ url: baseUri(), dbName })
    await storage.disconnect()
    expect((await rejection(storage.deleteSessions('shop', []))).code).toBe('ERR_DISCONNECTED')
    expect((await rejection(storage.deleteSessions([]))).code).toBe('ERR_DISCONNECTED')
    expect((await rejection(storage.findSessionsByStore('shop', { limit: 0 }))).code).toBe('ERR_DISCONNECTED')
  })
})

describe('shared pool', () => {
  const currentConnections = async () => {
    const status = await raw.client.db('admin').command({ serverStatus: 1 })
    return status.connections.current
  }

  test('50 instances on one URL share one pool', async () => {
    const before = await currentConnections()
    const instances = Array.from({ length: 50 }, () => new MongoDBSessionStorage({ url: baseUri(), dbName }))
    await Promise.all(instances.map((storage, i) => storage.storeSession('pool-shop', { id: `pool-${i}` })))
    const during = await currentConnections()
    // One pool opens a monitoring connection, a round-trip-time connection and at most one
    // connection per concurrent operation; 50 separate pools would open 150 or more.
    expect(during - before).toBeLessThanOrEqual(60)
    expect(await raw.db.collection('sessions').countDocuments({ store: 'pool-shop' })).toBe(50)

    await Promise.all(instances.slice(1).map((storage) => storage.disconnect()))
    expect((await instances[0].loadSession('pool-shop', 'pool-7')).id).toBe('pool-7')
    await instances[0].disconnect()
  })

  test('a new instance after all closed opens a new pool', async () => {
    const first = new MongoDBSessionStorage({ url: baseUri(), dbName })
    await first.storeSession('pool-shop', { id: 'reopen' })
    await first.disconnect()
    const second = new MongoDBSessionStorage({ url: baseUri(), dbName })
    expect((await second.loadSession('pool-shop', 'reopen')).id).toBe('reopen')
    await second.disconnect()
  })
})

describe('concurrent writes', () => {
  test('concurrent first stores of one id leave one document', async () => {
    const storage = new MongoDBSessionStorage({ url: baseUri(), dbName, collectionName: 'race' })
    const writes = Array.from({ length: 32 }, (_, i) =>
      storage.storeSession('race-shop', { id: 'contended', data: { writer: i } }),
    )
    const results = await Promise.all(writes)
    expect(results).toEqual(Array(32).fill(true))
    const documents = await raw.db.collection('race').find({ _id: 'contended' }).toArray()
    expect(documents.length).toBe(1)
    expect(documents[0].store).toBe('race-shop')
    expect(documents[0].data.writer).toBeGreaterThanOrEqual(0)
    expect(documents[0].data.writer).toBeLessThan(32)
    await storage.disconnect()
  })
})

describe('index setup', () => {
  test('first call waits for new indexes', async () => {
    const collectionName = 'first_call_indexes'
    const storage = new MongoDBSessionStorage({ url: baseUri(), dbName, collectionName })
    await storage.storeSession('shop', { id: 'first' })
    const names = (await raw.db.collection(collectionName).listIndexes().toArray()).map((index) => index.name).sort()
    expect(names).toEqual(['_id_', 'expiresAt_1', 'expires_1', 'store_1'])
    await storage.disconnect()
  })

  test('concurrent first calls wait for indexes', async () => {
    const collectionName = 'first_calls_indexes'
    const storage = new MongoDBSessionStorage({ url: baseUri(), dbName, collectionName })
    const ids = Array.from({ length: 8 }, (_, index) => `first-${index}`)
    const counts = await Promise.all(
      ids.map(async (id) => {
        await storage.storeSession('shop', { id })
        return (await raw.db.collection(collectionName).listIndexes().toArray()).length
      }),
    )
    expect(counts).toEqual(ids.map(() => 4))
    await storage.disconnect()
  })
})

describe('index setup refused', () => {
  test('conflicting TTL index: reads and writes work, ensureIndex rejects, then recovers', async () => {
    const name = 'conflict'
    await raw.db.collection(name).createIndex({ expires: 1 }, { expireAfterSeconds: 3600 })
    const storage = new MongoDBSessionStorage({ url: baseUri(), dbName, collectionName: name })

    expect(await storage.storeSession('shop', { id: 'still-works' })).toBe(true)
    expect((await storage.loadSession('shop', 'still-works')).id).toBe('still-works')

    const error = await rejection(storage.ensureIndex())
    expect(error.code).toBe('ERR_INDEX_CREATION')
    expect(error.serverCode).toBe(86)
    expect(error.message).toContain('expires')

    await raw.db.collection(name).dropIndex('expires_1')
    await expect(storage.ensureIndex()).resolves.toBeUndefined()
    const ttl = (await raw.db.collection(name).listIndexes().toArray()).find((index) => index.name === 'expires_1')
    expect(ttl.expireAfterSeconds).toBe(0)
    await storage.disconnect()
  })
})

describe('connection string options', () => {
  test('URL options such as w, readPreference and appName are accepted', async () => {
    const url = withParams(baseUri(), {
      w: '1',
      readPreference: 'primary',
      appName: 'lifecycle-test',
      serverSelectionTimeoutMS: '5000',
      connectTimeoutMS: '5000',
      socketTimeoutMS: '30000',
      maxPoolSize: '5',
    })
    const storage = new MongoDBSessionStorage({ url, dbName })
    expect(await storage.storeSession('shop', { id: 'with-options' })).toBe(true)
    expect((await storage.loadSession('shop', 'with-options')).id).toBe('with-options')
    await storage.disconnect()
  })
})
