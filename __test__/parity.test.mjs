// Differential test against the published JavaScript package 2.0.2: the same app-SDK calls
// through both, on one server in separate collections, with results and raw documents
// compared field by field. Where this package differs on purpose, the test asserts the
// difference; the README lists each one under "Migrating from 2.x".
import { MongoDBSessionStorage } from '@qumra/app-session-storage-mongodb'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { importOracle } from '../scripts/oracle.mjs'
import { baseUri, openRaw, uniqueDbName } from './helpers.mjs'

const dbName = uniqueDbName('parity')
let raw
let legacy
let native

const hour = 3_600_000
const lastSeenAt = new Date('2026-11-30T10:00:00.000Z')
const appSession = (id, extra = {}) => ({
  id,
  store: 'parity.qumra.store',
  accessToken: `token-${id}`,
  isOnline: true,
  scope: 'read_products',
  expires: new Date(Date.now() + hour),
  lastSeenAt,
  ...extra,
})

/** Drops the timestamps, after checking that they are Dates. */
const withoutTimestamps = (session) => {
  if (!session) return session
  const { createdAt, updatedAt, ...rest } = session
  expect(createdAt).toBeInstanceOf(Date)
  expect(updatedAt).toBeInstanceOf(Date)
  return rest
}

/** Drops keys whose value is undefined, which 2.0.2 sets for missing fields. */
const defined = (session) =>
  session && Object.fromEntries(Object.entries(session).filter(([, value]) => value !== undefined))

beforeAll(async () => {
  raw = await openRaw(dbName)
  const Legacy = await importOracle()
  legacy = new Legacy(raw.db, { collectionName: 'legacy' })
  native = new MongoDBSessionStorage({ url: baseUri(), dbName, collectionName: 'native' })
}, 60_000)

afterAll(async () => {
  await native?.disconnect()
  await raw.db.dropDatabase()
  await raw.client.close()
})

/** Runs the same call on both and returns `[legacyResult, nativeResult]`. */
const both = async (method, ...args) => [await legacy[method](...args), await native[method](...args)]

describe('same calls, same results', () => {
  test('storeSession resolves true', async () => {
    expect(await both('storeSession', appSession('p-full'))).toEqual([true, true])
    const { scope, expires, ...minimal } = appSession('p-minimal')
    expect(await both('storeSession', minimal)).toEqual([true, true])
  })

  test('loadSession returns the same session', async () => {
    const [old, ours] = await both('loadSession', 'p-full')
    expect(withoutTimestamps(ours)).toEqual(defined(old))
    expect('createdAt' in old).toBe(false)
  })

  test('loadSession leaves out absent scope and expires', async () => {
    const [old, ours] = await both('loadSession', 'p-minimal')
    expect(withoutTimestamps(ours)).toEqual(defined(old))
    expect('scope' in ours).toBe(false)
    expect('expires' in ours).toBe(false)
  })

  test('loadSession of a missing id resolves undefined', async () => {
    expect(await both('loadSession', 'p-missing')).toEqual([undefined, undefined])
  })

  test('updating replaces the session in both', async () => {
    await both('storeSession', appSession('p-full', { isOnline: false, scope: 'write_orders' }))
    const [old, ours] = await both('loadSession', 'p-full')
    expect(withoutTimestamps(ours)).toEqual(defined(old))
    expect(ours.scope).toBe('write_orders')
  })

  test('findSessionsByStore returns the same sessions', async () => {
    const [old, ours] = await both('findSessionsByStore', 'parity.qumra.store')
    const sortById = (list) => [...list].sort((a, b) => a.id.localeCompare(b.id))
    expect(sortById(ours).map(withoutTimestamps)).toEqual(sortById(old).map(defined))
  })

  test('deleteSession and deleteSessions resolve the same', async () => {
    for (const id of ['p-d1', 'p-d2', 'p-d3']) await both('storeSession', appSession(id))
    expect(await both('deleteSession', 'p-d1')).toEqual([true, true])
    expect(await both('deleteSession', 'p-d1')).toEqual([false, false])
    expect(await both('deleteSessions', ['p-d2', 'p-d3', 'p-nope'])).toEqual([true, true])
    expect(await both('deleteSessions', ['p-d2'])).toEqual([false, false])
    expect(await both('deleteSessions', [])).toEqual([false, false])
  })
})

describe('raw documents', () => {
  const documents = async (id) => [
    await raw.db.collection('legacy').findOne({ _id: id }),
    await raw.db.collection('native').findOne({ _id: id }),
  ]

  test('full session documents match field by field', async () => {
    const [old, ours] = await documents('p-full')
    expect(Object.keys(ours).sort()).toEqual(Object.keys(old).sort())
    for (const key of Object.keys(old)) {
      if (key === 'createdAt' || key === 'updatedAt') {
        expect(ours[key]).toBeInstanceOf(Date)
      } else {
        expect(ours[key]).toEqual(old[key])
      }
    }
  })

  test('2.0.2 writes null for absent scope and expires; this package leaves them out', async () => {
    const [old, ours] = await documents('p-minimal')
    expect(old.scope).toBeNull()
    expect(old.expires).toBeNull()
    expect('scope' in ours).toBe(false)
    expect('expires' in ours).toBe(false)
    const { scope, expires, createdAt, updatedAt, ...oldRest } = old
    const { createdAt: ourCreatedAt, updatedAt: ourUpdatedAt, ...ourRest } = ours
    expect(ourRest).toEqual(oldRest)
  })
})

describe('deliberate differences', () => {
  test('an expired session is returned by 2.0.2 but not by this package', async () => {
    const expired = appSession('p-expired', { expires: new Date(Date.now() - 1000) })
    await both('storeSession', expired)
    const [old, ours] = await both('loadSession', 'p-expired')
    expect(old.id).toBe('p-expired')
    expect(ours).toBeUndefined()
    const [oldList, ourList] = await both('findSessionsByStore', 'parity.qumra.store')
    expect(oldList.some((session) => session.id === 'p-expired')).toBe(true)
    expect(ourList.some((session) => session.id === 'p-expired')).toBe(false)
  })

  test('fields beyond the known ones are dropped by 2.0.2 and kept here', async () => {
    await both('storeSession', appSession('p-extra', { plan: 'pro' }))
    const [old, ours] = await both('loadSession', 'p-extra')
    expect('plan' in old).toBe(false)
    expect(ours.plan).toBe('pro')
  })

  test('date strings are stored as strings by 2.0.2 and as dates here', async () => {
    await both('storeSession', appSession('p-string', { expires: '2031-01-01T00:00:00.000Z', lastSeenAt: '2026-01-01T00:00:00.000Z' }))
    const old = await raw.db.collection('legacy').findOne({ _id: 'p-string' })
    const ours = await raw.db.collection('native').findOne({ _id: 'p-string' })
    expect(old.expires).toBe('2031-01-01T00:00:00.000Z')
    expect(old.lastSeenAt).toBe('2026-01-01T00:00:00.000Z')
    expect(ours.expires).toEqual(new Date('2031-01-01T00:00:00.000Z'))
    expect(ours.lastSeenAt).toEqual(new Date('2026-01-01T00:00:00.000Z'))
  })

  test('loaded sessions carry createdAt and updatedAt here', async () => {
    const [old, ours] = await both('loadSession', 'p-minimal')
    expect('createdAt' in old).toBe(false)
    expect(ours.createdAt).toBeInstanceOf(Date)
    expect(ours.updatedAt).toBeInstanceOf(Date)
  })

  test('2.0.2 lets an id move to another store; this package rejects it', async () => {
    await both('storeSession', appSession('p-move', { store: 'first.qumra.store' }))
    expect(await legacy.storeSession(appSession('p-move', { store: 'second.qumra.store' }))).toBe(true)
    const error = await native.storeSession(appSession('p-move', { store: 'second.qumra.store' })).catch((e) => e)
    expect(error.code).toBe('ERR_STORE_MISMATCH')
  })
})

describe('one collection, both packages', () => {
  const shared = 'shared'
  let oldOnShared
  let ourOnShared

  beforeAll(async () => {
    const Legacy = await importOracle()
    oldOnShared = new Legacy(raw.db, { collectionName: shared })
    ourOnShared = new MongoDBSessionStorage({ url: baseUri(), dbName, collectionName: shared })
  })

  afterAll(async () => {
    await ourOnShared.disconnect()
  })

  test('sessions written by 2.0.2 load through this package', async () => {
    const session = appSession('s-from-old')
    await oldOnShared.storeSession(session)
    const ours = await ourOnShared.loadSession('s-from-old')
    expect(withoutTimestamps(ours)).toEqual(session)
    const { scope, expires, ...minimal } = appSession('s-old-minimal')
    await oldOnShared.storeSession(minimal)
    expect(withoutTimestamps(await ourOnShared.loadSession('s-old-minimal'))).toEqual(minimal)
  })

  test('sessions written by this package load through 2.0.2', async () => {
    const session = appSession('s-from-new')
    await ourOnShared.storeSession(session)
    expect(defined(await oldOnShared.loadSession('s-from-new'))).toEqual(session)
    const { scope, expires, ...minimal } = appSession('s-new-minimal')
    await ourOnShared.storeSession(minimal)
    expect(defined(await oldOnShared.loadSession('s-new-minimal'))).toEqual(minimal)
  })

  test('the 2.0.2 indexes are used as they are', async () => {
    await expect(ourOnShared.ensureIndex()).resolves.toBeUndefined()
    const indexes = await raw.db.collection(shared).listIndexes().toArray()
    expect(indexes.map((index) => index.name).sort()).toEqual(['_id_', 'expiresAt_1', 'expires_1', 'store_1'])
    const keys = indexes.map((index) => JSON.stringify(index.key))
    expect(new Set(keys).size).toBe(keys.length)
  })
})
