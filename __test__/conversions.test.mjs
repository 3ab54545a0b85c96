// Differential test of the two conversions in each direction, on generated sessions.
//
// storeSession converts a session of main-realm objects through V8's serializer, and one built
// in another realm property by property. Loading encodes a document as JSON, except one with
// an `id` field of its own, which is converted property by property. Each pair must give the
// same result.
import vm from 'node:vm'
import { BSON } from 'mongodb'
import { MongoDBSessionStorage } from '@qumra/app-session-storage-mongodb'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { baseUri, openRaw, uniqueDbName } from './helpers.mjs'

const dbName = uniqueDbName('conversions')
const SESSIONS = 150
let storage
let raw
let collection

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

/** A deterministic generator of pseudo-random numbers in [0, 1) (mulberry32). */
function random(seed) {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const STRINGS = ['', 'plain', 'café', 'naïve ünïcödé', '😀 emoji', '中文', 'a\uD800b', 'tab\there', 'quote"back\\', '\u0000lead', '$dollar', '2026-01-31T12:00:00Z']
const KEYS = ['a', 'b', 'name', 'café', '😀', '0', '7', '42', '4294967294', '01', 'spaced key', 'under_score', '__proto__']
const NUMBERS = [0, -0, 1, -1, 2147483647, -2147483648, 2147483648, 1.5, -2.25, 1e300, 5e-324, NaN, Infinity, -Infinity, 2 ** 53]

/** Returns the source text of a random value, so that each realm can build its own copy. */
function valueSource(next, depth) {
  const pick = (list) => list[Math.floor(next() * list.length)]
  const kind = depth > 4 ? Math.floor(next() * 6) : Math.floor(next() * 9)
  switch (kind) {
    case 0:
      return 'null'
    case 1:
      return next() < 0.5 ? 'true' : 'false'
    case 2:
      return Object.is(pick(NUMBERS), -0) ? '-0' : String(pick(NUMBERS))
    case 3:
      return JSON.stringify(pick(STRINGS))
    case 4:
      return `new Date(${Math.floor(next() * 4e12)})`
    case 5:
      return next() < 0.2 ? 'undefined' : JSON.stringify(pick(STRINGS))
    case 6: {
      const items = Array.from({ length: Math.floor(next() * 4) }, () => (next() < 0.15 ? '' : valueSource(next, depth + 1)))
      return `[${items.join(', ')}]`
    }
    default: {
      const keys = [...new Set(Array.from({ length: Math.floor(next() * 4) }, () => pick(KEYS)))]
      // `__proto__` in a literal sets the prototype, so it is left out of generated literals.
      const entries = keys.filter((key) => key !== '__proto__').map((key) => `${JSON.stringify(key)}: ${valueSource(next, depth + 1)}`)
      return `({${entries.join(', ')}})`
    }
  }
}

function sessionSource(index) {
  const next = random(index + 1)
  return `({ id: 'generated-${index}', userId: 'user-${index % 7}', data: ${valueSource(next, 1)}, extra: ${valueSource(next, 2)} })`
}

describe('generated sessions', () => {
  test('both store conversions agree', async () => {
    for (let index = 0; index < SESSIONS; index++) {
      const source = sessionSource(index)
      const fast = vm.runInThisContext(source)
      const slow = vm.runInNewContext(source)
      slow.id = `${fast.id}-slow`
      expect(await storage.storeSession('generated', fast)).toBe(true)
      expect(await storage.storeSession('generated', slow)).toBe(true)
      const read = (id) => collection.findOne({ _id: id }, { promoteValues: false, promoteBuffers: false })
      const strip = ({ _id, createdAt, updatedAt, ...rest }) => rest
      const [fastDocument, slowDocument] = await Promise.all([read(fast.id), read(slow.id)])
      expect({ source, document: strip(fastDocument) }).toEqual({ source, document: strip(slowDocument) })
      // The encoded bytes also compare key order and BSON types.
      expect(BSON.serialize(strip(fastDocument)).equals(BSON.serialize(strip(slowDocument)))).toBe(true)
    }
  })

  test('both load conversions agree', async () => {
    const stored = await collection.find({ store: 'generated' }).toArray()
    expect(stored.length).toBe(SESSIONS * 2)
    await collection.insertMany(stored.map(({ _id, ...rest }) => ({ _id: `${_id}-own-id`, id: `${_id}-own-id`, ...rest, store: 'own-id' })))
    for (const { _id } of stored) {
      const viaJson = await storage.loadSession('generated', _id)
      const viaProperties = await storage.loadSession('own-id', `${_id}-own-id`)
      expect(viaJson.id).toBe(_id)
      expect({ ...viaJson, id: '', store: '' }).toEqual({ ...viaProperties, id: '', store: '' })
    }
  })
})
