// The store-scoped call shape: storeSession(store, session), loadSession(store, id), ...
import { MongoDBSessionStorage } from '@qumra/app-session-storage-mongodb'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { baseUri, openRaw, uniqueDbName } from './helpers.mjs'

const dbName = uniqueDbName('store_scoped')
let storage
let raw

beforeAll(async () => {
  storage = new MongoDBSessionStorage({ url: baseUri(), dbName, collectionName: 'sessions' })
  raw = await openRaw(dbName)
})

afterAll(async () => {
  await storage.disconnect()
  await raw.db.dropDatabase()
  await raw.client.close()
})

describe('storeSession and loadSession', () => {
  test('stores and loads a session', async () => {
    const expiresAt = new Date(Date.now() + 3_600_000)
    const before = Date.now()
    const stored = await storage.storeSession('shop-a', {
      id: 'load-1',
      userId: 'user-1',
      data: { theme: 'dark', cart: [1, 2, 3] },
      expiresAt,
    })
    expect(stored).toBe(true)

    const session = await storage.loadSession('shop-a', 'load-1')
    expect(Object.keys(session)).toEqual(['id', 'store', 'userId', 'data', 'expiresAt', 'updatedAt', 'createdAt'])
    expect(session.id).toBe('load-1')
    expect(session.store).toBe('shop-a')
    expect(session.userId).toBe('user-1')
    expect(session.data).toEqual({ theme: 'dark', cart: [1, 2, 3] })
    expect(session.expiresAt).toEqual(expiresAt)
    expect(session.createdAt).toBeInstanceOf(Date)
    expect(session.updatedAt).toBeInstanceOf(Date)
    expect(session.createdAt.getTime()).toBeGreaterThanOrEqual(before)
    expect(session.updatedAt.getTime()).toBe(session.createdAt.getTime())
  })

  test('missing session loads as null', async () => {
    expect(await storage.loadSession('shop-a', 'no-such-id')).toBeNull()
  })

  test('session of another store loads as null', async () => {
    await storage.storeSession('shop-a', { id: 'owned-by-a' })
    expect(await storage.loadSession('shop-b', 'owned-by-a')).toBeNull()
    expect((await storage.loadSession('shop-a', 'owned-by-a')).id).toBe('owned-by-a')
  })

  test('update keeps createdAt and replaces the fields', async () => {
    await storage.storeSession('shop-a', { id: 'update-1', userId: 'u', data: { step: 1 } })
    const first = await storage.loadSession('shop-a', 'update-1')
    await new Promise((resolve) => setTimeout(resolve, 20))
    await storage.storeSession('shop-a', { id: 'update-1', data: { step: 2 } })
    const second = await storage.loadSession('shop-a', 'update-1')

    expect(second.createdAt).toEqual(first.createdAt)
    expect(second.updatedAt.getTime()).toBeGreaterThan(first.updatedAt.getTime())
    expect(second.data).toEqual({ step: 2 })
    expect('userId' in second).toBe(false)
    expect(await raw.db.collection('sessions').countDocuments({ _id: 'update-1' })).toBe(1)
  })

  test('caller timestamps are ignored', async () => {
    const old = new Date('2001-01-01T00:00:00Z')
    await storage.storeSession('shop-a', { id: 'stamps', createdAt: old, updatedAt: old })
    const session = await storage.loadSession('shop-a', 'stamps')
    expect(session.createdAt.getTime()).toBeGreaterThan(old.getTime())
    expect(session.updatedAt.getTime()).toBeGreaterThan(old.getTime())
  })

  test('session.store equal to the argument is accepted', async () => {
    expect(await storage.storeSession('shop-a', { id: 'same-store', store: 'shop-a' })).toBe(true)
  })

  test('id of another store is not overwritten', async () => {
    await storage.storeSession('shop-a', { id: 'taken', data: { owner: 'a' } })
    const error = await storage.storeSession('shop-b', { id: 'taken', data: { owner: 'b' } }).catch((e) => e)
    expect(error.code).toBe('ERR_STORE_MISMATCH')
    const document = await raw.db.collection('sessions').findOne({ _id: 'taken' })
    expect(document.store).toBe('shop-a')
    expect(document.data).toEqual({ owner: 'a' })
  })
})

describe('deleteSession and deleteSessions', () => {
  test('deleteSession resolves whether it deleted', async () => {
    await storage.storeSession('shop-d', { id: 'del-1' })
    expect(await storage.deleteSession('shop-d', 'del-1')).toBe(true)
    expect(await storage.deleteSession('shop-d', 'del-1')).toBe(false)
    expect(await storage.loadSession('shop-d', 'del-1')).toBeNull()
  })

  test('deleteSession leaves other stores alone', async () => {
    await storage.storeSession('shop-d', { id: 'del-2' })
    expect(await storage.deleteSession('shop-e', 'del-2')).toBe(false)
    expect((await storage.loadSession('shop-d', 'del-2')).id).toBe('del-2')
  })

  test('deleteSessions deletes the listed ids', async () => {
    for (const id of ['m-1', 'm-2', 'm-3']) await storage.storeSession('shop-d', { id })
    expect(await storage.deleteSessions('shop-d', ['m-1', 'm-3', 'm-missing'])).toBe(true)
    expect(await storage.loadSession('shop-d', 'm-1')).toBeNull()
    expect((await storage.loadSession('shop-d', 'm-2')).id).toBe('m-2')
    expect(await storage.loadSession('shop-d', 'm-3')).toBeNull()
  })

  test('deleteSessions resolves false when nothing matched', async () => {
    expect(await storage.deleteSessions('shop-d', ['none-1', 'none-2'])).toBe(false)
  })

  test('deleteSessions with no ids resolves false', async () => {
    expect(await storage.deleteSessions('shop-d', [])).toBe(false)
  })

  test('deleteSessions leaves other stores alone', async () => {
    await storage.storeSession('shop-d', { id: 'cross-1' })
    expect(await storage.deleteSessions('shop-e', ['cross-1'])).toBe(false)
    expect((await storage.loadSession('shop-d', 'cross-1')).id).toBe('cross-1')
  })
})

describe('findSessionsByStore', () => {
  const store = 'shop-find'
  const ids = ['f-05', 'f-01', 'f-04', 'f-02', 'f-03']

  beforeAll(async () => {
    for (const [index, id] of ids.entries()) {
      await storage.storeSession(store, { id, userId: index % 2 === 0 ? 'even' : 'odd' })
    }
    await storage.storeSession('shop-other', { id: 'f-other', userId: 'even' })
  })

  test('lists the store sessions ordered by id', async () => {
    const sessions = await storage.findSessionsByStore(store)
    expect(sessions.map((session) => session.id)).toEqual(['f-01', 'f-02', 'f-03', 'f-04', 'f-05'])
    expect(sessions.every((session) => session.store === store)).toBe(true)
  })

  test('limit and offset paginate', async () => {
    const pages = []
    for (let offset = 0; offset < 6; offset += 2) {
      const page = await storage.findSessionsByStore(store, { limit: 2, offset })
      pages.push(page.map((session) => session.id))
    }
    expect(pages).toEqual([['f-01', 'f-02'], ['f-03', 'f-04'], ['f-05']])
  })

  test('limit 0 resolves an empty array', async () => {
    expect(await storage.findSessionsByStore(store, { limit: 0 })).toEqual([])
  })

  test('offset past the end resolves an empty array', async () => {
    expect(await storage.findSessionsByStore(store, { offset: 10 })).toEqual([])
  })

  test('userId filters', async () => {
    const sessions = await storage.findSessionsByStore(store, { userId: 'odd' })
    expect(sessions.map((session) => session.id)).toEqual(['f-01', 'f-02'])
  })

  test('userId with pagination', async () => {
    const sessions = await storage.findSessionsByStore(store, { userId: 'even', offset: 1, limit: 1 })
    expect(sessions.map((session) => session.id)).toEqual(['f-04'])
  })

  test('unknown store resolves an empty array', async () => {
    expect(await storage.findSessionsByStore('shop-nobody')).toEqual([])
  })
})
