// Expiry: expired sessions are never returned, and the TTL indexes let MongoDB remove them.
import { MongoDBSessionStorage } from '@qumra/app-session-storage-mongodb'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { baseUri, eventually, openRaw, uniqueDbName } from './helpers.mjs'

const dbName = uniqueDbName('expiry')
let storage
let raw
let collection

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

beforeAll(async () => {
  storage = new MongoDBSessionStorage({ url: baseUri(), dbName })
  raw = await openRaw(dbName)
  collection = raw.db.collection('sessions')
})

afterAll(async () => {
  await storage.disconnect()
  await raw.db.dropDatabase()
  await raw.client.close()
})

describe('expired sessions', () => {
  test('expiresAt one second ahead is gone from load and find after 1.5 s', async () => {
    await storage.storeSession('exp-shop', { id: 'short-lived', expiresAt: new Date(Date.now() + 1000) })
    await storage.storeSession('exp-shop', { id: 'long-lived', expiresAt: new Date(Date.now() + 3_600_000) })
    expect((await storage.loadSession('exp-shop', 'short-lived')).id).toBe('short-lived')

    await sleep(1500)
    expect(await storage.loadSession('exp-shop', 'short-lived')).toBeNull()
    expect(await storage.loadSession('short-lived')).toBeUndefined()
    const listed = await storage.findSessionsByStore('exp-shop')
    expect(listed.map((session) => session.id)).toEqual(['long-lived'])
    // Still in the collection until the TTL monitor runs: only the read hides it.
    expect(await collection.countDocuments({ _id: 'short-lived' })).toBe(1)
  })

  test('app-SDK expires in the past is not returned', async () => {
    await storage.storeSession({
      id: 'app-expired',
      store: 'exp.qumra.store',
      accessToken: 't',
      isOnline: false,
      expires: new Date(Date.now() - 1000),
      lastSeenAt: new Date(),
    })
    expect(await storage.loadSession('app-expired')).toBeUndefined()
    expect(await storage.findSessionsByStore('exp.qumra.store')).toEqual([])
  })

  test('expiry exactly now counts as expired', async () => {
    const now = new Date()
    await collection.insertOne({ _id: 'edge', store: 'exp-shop', expiresAt: now })
    expect(await storage.loadSession('exp-shop', 'edge')).toBeNull()
  })

  test('null expiry never expires', async () => {
    await storage.storeSession('exp-shop', { id: 'forever', expiresAt: null })
    expect((await storage.loadSession('exp-shop', 'forever')).expiresAt).toBeNull()
  })

  test('pagination skips expired sessions', async () => {
    const past = new Date(Date.now() - 60_000)
    const future = new Date(Date.now() + 60_000)
    await collection.insertMany([
      { _id: 'p-1', store: 'page-shop', expiresAt: future },
      { _id: 'p-2', store: 'page-shop', expiresAt: past },
      { _id: 'p-3', store: 'page-shop', expires: past },
      { _id: 'p-4', store: 'page-shop' },
    ])
    const page = await storage.findSessionsByStore('page-shop', { limit: 2 })
    expect(page.map((session) => session.id)).toEqual(['p-1', 'p-4'])
  })
})

describe('indexes', () => {
  test('first use creates the store and TTL indexes', async () => {
    const indexes = await eventually(
      async () => {
        const list = await collection.listIndexes().toArray()
        return list.length >= 4 ? list : null
      },
      { timeoutMs: 10_000 },
    )
    const byName = Object.fromEntries(indexes.map((index) => [index.name, index]))
    expect(Object.keys(byName).sort()).toEqual(['_id_', 'expiresAt_1', 'expires_1', 'store_1'])
    expect(byName.store_1.key).toEqual({ store: 1 })
    expect(byName.expiresAt_1.key).toEqual({ expiresAt: 1 })
    expect(byName.expiresAt_1.expireAfterSeconds).toBe(0)
    expect(byName.expires_1.key).toEqual({ expires: 1 })
    expect(byName.expires_1.expireAfterSeconds).toBe(0)
  })

  test('ensureIndex resolves when the indexes exist', async () => {
    await expect(storage.ensureIndex()).resolves.toBeUndefined()
    expect((await collection.listIndexes().toArray()).length).toBe(4)
  })

  test(
    'TTL monitor removes an expired session',
    async () => {
      await storage.ensureIndex()
      await storage.storeSession('ttl-shop', { id: 'swept', expiresAt: new Date(Date.now() + 500) })
      await storage.storeSession({
        id: 'swept-app',
        store: 'ttl.qumra.store',
        accessToken: 't',
        isOnline: false,
        expires: new Date(Date.now() + 500),
        lastSeenAt: new Date(),
      })
      const remaining = await eventually(
        async () => (await collection.countDocuments({ _id: { $in: ['swept', 'swept-app'] } })) === 0,
        { timeoutMs: 150_000, intervalMs: 2000 },
      )
      expect(remaining).toBe(true)
    },
    180_000,
  )
})
