// The app-SDK call shape that qumraApp({ sessionStorage }) uses: storeSession(session),
// loadSession(id), deleteSession(id), deleteSessions(ids), findSessionsByStore(store).
import { MongoDBSessionStorage } from '@qumra/app-session-storage-mongodb'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { baseUri, openRaw, uniqueDbName } from './helpers.mjs'

const dbName = uniqueDbName('app_sdk')
let storage
let raw

const appSession = (id, extra = {}) => ({
  id,
  store: 'shop.qumra.store',
  accessToken: `token-${id}`,
  isOnline: false,
  scope: 'read_products,write_orders',
  expires: new Date(Date.now() + 86_400_000),
  lastSeenAt: new Date('2026-11-30T10:00:00Z'),
  ...extra,
})

beforeAll(async () => {
  storage = new MongoDBSessionStorage({ url: baseUri(), dbName })
  raw = await openRaw(dbName)
})

afterAll(async () => {
  await storage.disconnect()
  await raw.db.dropDatabase()
  await raw.client.close()
})

describe('app-SDK shape', () => {
  test('storeSession resolves true and loadSession returns the session', async () => {
    const session = appSession('app-1')
    expect(await storage.storeSession(session)).toBe(true)
    const loaded = await storage.loadSession('app-1')
    expect(loaded).toEqual({ ...session, createdAt: expect.any(Date), updatedAt: expect.any(Date) })
  })

  test('missing session loads as undefined', async () => {
    expect(await storage.loadSession('app-missing')).toBeUndefined()
  })

  test('document layout matches the JavaScript package', async () => {
    const session = appSession('app-layout')
    await storage.storeSession(session)
    const document = await raw.db.collection('sessions').findOne({ _id: 'app-layout' })
    expect(document).toEqual({
      _id: 'app-layout',
      store: session.store,
      accessToken: session.accessToken,
      isOnline: false,
      scope: session.scope,
      expires: session.expires,
      lastSeenAt: session.lastSeenAt,
      updatedAt: expect.any(Date),
      createdAt: expect.any(Date),
    })
  })

  test('optional scope and expires may be absent', async () => {
    const { scope, expires, ...session } = appSession('app-minimal')
    await storage.storeSession(session)
    const loaded = await storage.loadSession('app-minimal')
    expect('scope' in loaded).toBe(false)
    expect('expires' in loaded).toBe(false)
    expect(loaded.accessToken).toBe('token-app-minimal')
  })

  test('deleteSession resolves whether it deleted', async () => {
    await storage.storeSession(appSession('app-del'))
    expect(await storage.deleteSession('app-del')).toBe(true)
    expect(await storage.deleteSession('app-del')).toBe(false)
    expect(await storage.loadSession('app-del')).toBeUndefined()
  })

  test('deleteSessions resolves whether any was deleted', async () => {
    await storage.storeSession(appSession('app-m1'))
    await storage.storeSession(appSession('app-m2'))
    expect(await storage.deleteSessions(['app-m1', 'app-m2', 'app-nothing'])).toBe(true)
    expect(await storage.deleteSessions(['app-m1'])).toBe(false)
    expect(await storage.deleteSessions([])).toBe(false)
  })

  test('findSessionsByStore returns an array of the store sessions', async () => {
    await storage.storeSession(appSession('app-f1', { store: 'find.qumra.store' }))
    await storage.storeSession(appSession('app-f2', { store: 'find.qumra.store' }))
    await storage.storeSession(appSession('app-f3', { store: 'elsewhere.qumra.store' }))
    const sessions = await storage.findSessionsByStore('find.qumra.store')
    expect(Array.isArray(sessions)).toBe(true)
    expect(sessions.map((session) => session.id)).toEqual(['app-f1', 'app-f2'])
    expect(sessions[0].accessToken).toBe('token-app-f1')
  })

  test('ISO date strings are stored as dates', async () => {
    await storage.storeSession(
      appSession('app-iso', { expires: '2030-05-01T12:30:00.000Z', lastSeenAt: '2026-11-30T10:00:00+02:00' }),
    )
    const document = await raw.db.collection('sessions').findOne({ _id: 'app-iso' })
    expect(document.expires).toEqual(new Date('2030-05-01T12:30:00.000Z'))
    expect(document.lastSeenAt).toEqual(new Date('2026-11-30T08:00:00.000Z'))
    const loaded = await storage.loadSession('app-iso')
    expect(loaded.expires).toEqual(new Date('2030-05-01T12:30:00.000Z'))
  })

  test('session without a store is rejected', async () => {
    const { store, ...session } = appSession('app-nostore')
    const error = await storage.storeSession(session).catch((e) => e)
    expect(error).toBeInstanceOf(TypeError)
    expect(error.code).toBe('ERR_INVALID_SESSION')
    expect(await raw.db.collection('sessions').countDocuments({ _id: 'app-nostore' })).toBe(0)
  })
})

describe('both shapes on one instance', () => {
  test('store-scoped write loads through the app-SDK shape', async () => {
    await storage.storeSession('mixed.qumra.store', { id: 'mixed-1', data: { a: 1 } })
    const loaded = await storage.loadSession('mixed-1')
    expect(loaded.store).toBe('mixed.qumra.store')
    expect(loaded.data).toEqual({ a: 1 })
  })

  test('app-SDK write loads through the store-scoped shape', async () => {
    await storage.storeSession(appSession('mixed-2', { store: 'mixed.qumra.store' }))
    expect((await storage.loadSession('mixed.qumra.store', 'mixed-2')).accessToken).toBe('token-mixed-2')
    expect(await storage.loadSession('other.qumra.store', 'mixed-2')).toBeNull()
  })

  test('app-SDK write cannot take over another store id', async () => {
    await storage.storeSession('owner.qumra.store', { id: 'mixed-3' })
    const error = await storage.storeSession(appSession('mixed-3', { store: 'thief.qumra.store' })).catch((e) => e)
    expect(error.code).toBe('ERR_STORE_MISMATCH')
    expect((await raw.db.collection('sessions').findOne({ _id: 'mixed-3' })).store).toBe('owner.qumra.store')
  })
})
