// Fidelity of stored documents: BSON types, dates anywhere, nested data, extra fields, and
// documents in the layout of the JavaScript package 2.0.2 planted with the official driver.
import vm from 'node:vm'
import { BSONRegExp, Binary, Code, Decimal128, Long, MaxKey, MinKey, ObjectId, Timestamp } from 'mongodb'
import { MongoDBSessionStorage } from '@qumra/app-session-storage-mongodb'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { baseUri, openRaw, uniqueDbName } from './helpers.mjs'

const dbName = uniqueDbName('documents')
let storage
let raw
let collection

beforeAll(async () => {
  storage = new MongoDBSessionStorage({ url: baseUri(), dbName, collectionName: 'docs' })
  raw = await openRaw(dbName)
  collection = raw.db.collection('docs')
})

afterAll(async () => {
  await storage.disconnect()
  await raw.db.dropDatabase()
  await raw.client.close()
})

const bsonTypes = (document) =>
  Object.fromEntries(Object.entries(document).map(([key, value]) => [key, value?._bsontype ?? typeof value]))

describe('BSON types', () => {
  test('numbers, strings, booleans, null and dates', async () => {
    const when = new Date('2026-02-03T04:05:06.789Z')
    await storage.storeSession('shop', {
      id: 'types',
      data: { int: 42, negative: -7, big: 2 ** 40, fraction: 1.5, text: 'héllo ✓', yes: true, nothing: null, when },
    })
    const document = await collection.findOne({ _id: 'types' }, { promoteValues: false })
    expect(bsonTypes(document.data)).toEqual({
      int: 'Int32',
      negative: 'Int32',
      big: 'Double',
      fraction: 'Double',
      text: 'string',
      yes: 'boolean',
      nothing: 'object',
      when: 'object',
    })
    const promoted = await collection.findOne({ _id: 'types' })
    expect(promoted.data).toEqual({
      int: 42,
      negative: -7,
      big: 2 ** 40,
      fraction: 1.5,
      text: 'héllo ✓',
      yes: true,
      nothing: null,
      when,
    })
    expect(promoted.data.when).toBeInstanceOf(Date)
    expect(promoted.createdAt).toBeInstanceOf(Date)
    expect(promoted.updatedAt).toBeInstanceOf(Date)
  })

  test('dates nested in arrays and objects round-trip', async () => {
    const first = new Date('2020-01-01T00:00:00.000Z')
    const second = new Date('2021-06-15T08:30:00.125Z')
    const data = { visits: [{ at: first }, { at: second, pages: ['/a', '/b'] }], deep: { deeper: { at: first } } }
    await storage.storeSession('shop', { id: 'nested-dates', data })
    const loaded = await storage.loadSession('shop', 'nested-dates')
    expect(loaded.data).toEqual(data)
    expect(loaded.data.visits[1].at).toBeInstanceOf(Date)
    expect(loaded.data.deep.deeper.at).toBeInstanceOf(Date)
    const document = await collection.findOne({ _id: 'nested-dates' })
    expect(document.data.visits[0].at).toBeInstanceOf(Date)
  })

  test('undefined properties are left out and array holes become null', async () => {
    await storage.storeSession('shop', { id: 'undef', userId: undefined, data: { a: undefined, list: [1, undefined] } })
    const document = await collection.findOne({ _id: 'undef' })
    expect('userId' in document).toBe(false)
    expect(document.data).toEqual({ list: [1, null] })
  })

  test('Buffers are stored as binary', async () => {
    await storage.storeSession('shop', { id: 'binary', data: { bytes: Buffer.from([0, 1, 254, 255]) } })
    const document = await collection.findOne({ _id: 'binary' })
    expect(document.data.bytes._bsontype).toBe('Binary')
    expect(Buffer.from(document.data.bytes.buffer)).toEqual(Buffer.from([0, 1, 254, 255]))
    const loaded = await storage.loadSession('shop', 'binary')
    expect(loaded.data.bytes).toEqual(Buffer.from([0, 1, 254, 255]))
  })

  test('strings that look like operators are stored as text', async () => {
    await storage.storeSession('shop', { id: 'dollar-text', data: { note: '$where', path: '$data.x' } })
    const document = await collection.findOne({ _id: 'dollar-text' })
    expect(document.data).toEqual({ note: '$where', path: '$data.x' })
  })

  test('objects from another realm are plain', async () => {
    // Jest runs tests in a vm context, whose Object.prototype differs from the main one.
    const session = vm.runInNewContext('({ id: "other-realm", data: { list: [1, { a: 2 }], when: new Date(0) } })')
    expect(await storage.storeSession('shop', session)).toBe(true)
    const loaded = await storage.loadSession('shop', 'other-realm')
    expect(loaded.data).toEqual({ list: [1, { a: 2 }], when: new Date(0) })
    const foreignClass = vm.runInNewContext('class Foreign { constructor() { this.a = 1 } }; new Foreign()')
    const error = await storage.storeSession('shop', { id: 'foreign-class', data: foreignClass }).catch((e) => e)
    expect(error.code).toBe('ERR_INVALID_SESSION')
  })

  test('null-prototype objects are accepted', async () => {
    const data = Object.create(null)
    data.key = 'value'
    await storage.storeSession('shop', { id: 'null-proto', data })
    expect((await storage.loadSession('shop', 'null-proto')).data).toEqual({ key: 'value' })
  })
})

describe('storeSession conversions', () => {
  // A session of main-realm plain objects goes through V8's serializer, and one built in
  // another realm takes the per-property conversion. Both must write the same document.
  const source = `({
    id: ID,
    userId: 'user-1',
    data: {
      int: 7, negativeInt: -2147483648, bigInt32: 2147483648, fraction: 1.5, negativeZero: -0,
      notANumber: NaN, infinity: Infinity, huge: 1e300, tiny: 5e-324,
      latin1: 'café', twoByte: 'emoji 😀 and 中文', loneSurrogate: 'a\\uD800b', empty: '', nul: 'a\\u0000b',
      flags: [true, false, null], holes: [1, , 3], undefinedInArray: [undefined], skipped: undefined,
      nested: { deeper: { list: [{ at: new Date(86400000) }, [[1, 2], []]] } },
      5: 'five', 4294967294: 'max index', '01': 'not an index', 'spaced key': 1, 'ключ': 'значение',
      when: new Date('2026-02-03T04:05:06.789Z'),
    },
    expiresAt: '2099-01-02T03:04:05Z',
  })`
  const build = (id, run) => run(source.replace('ID', JSON.stringify(id)))

  test('both store conversions agree', async () => {
    // Values that a literal in another realm cannot make, added to both sessions.
    const addMainRealmValues = (session) => {
      session.data.bytes = Buffer.from([1, 2, 3])
      session.data.view = new Uint8Array([4, 5])
      session.data.protoKey = JSON.parse('{"__proto__": {"x": 1}}')
      session.data.nullPrototype = Object.assign(Object.create(null), { k: 'v' })
      session.data.sparseWithKey = Object.assign(new Array(3), { 1: 'one', '01': 'not an index' })
      return session
    }
    const fast = addMainRealmValues(build('convert-fast', (code) => vm.runInThisContext(code)))
    const slow = addMainRealmValues(build('convert-slow', (code) => vm.runInNewContext(code)))

    expect(await storage.storeSession('convert', fast)).toBe(true)
    expect(await storage.storeSession('convert', slow)).toBe(true)
    const read = (id) => collection.findOne({ _id: id }, { promoteValues: false, promoteBuffers: false })
    const [fastDocument, slowDocument] = await Promise.all([read('convert-fast'), read('convert-slow')])
    const strip = ({ _id, createdAt, updatedAt, ...rest }) => rest
    expect(strip(fastDocument)).toEqual(strip(slowDocument))
    expect(Object.keys(fastDocument.data)).toEqual(Object.keys(slowDocument.data))
    expect(fastDocument.data.int._bsontype).toBe('Int32')
    expect(fastDocument.data.bigInt32._bsontype).toBe('Double')
    expect(fastDocument.data.negativeZero._bsontype).toBe('Double')
    expect(fastDocument.data.loneSurrogate.toString()).toBe('a\uFFFDb')
    expect(Object.keys(fastDocument.data.protoKey)).toEqual(['__proto__'])
    expect('skipped' in fastDocument.data).toBe(false)
    expect(fastDocument.data.holes).toHaveLength(3)
    expect(fastDocument.data.sparseWithKey.map((item) => item?.toString() ?? null)).toEqual([null, 'one', null])
  })

  test('rejections name the same path', async () => {
    class Cart {
      constructor() {
        this.items = []
      }
    }
    const cases = [
      [{ id: 'bad-class', data: { list: [{ cart: new Cart() }] } }, 'session.data.list[0].cart is a class instance'],
      [{ id: 'bad-key', data: { nested: { $where: 1 } } }, "session.data.nested.$where is a key that starts with '$'"],
      [{ id: 'bad-dot', data: { 'a.b': 1 } }, 'session.data["a.b"] is a key that contains \'.\''],
      [{ id: 'bad-date', data: { when: new Date(NaN) } }, 'session.data.when is an invalid Date'],
      [{ id: 'bad-bigint', data: { count: 1n } }, 'session.data.count is a BigInt'],
      [{ id: 'bad-map', data: { map: new Map() } }, 'session.data.map is a class instance'],
      [{ id: 'bad-typed', data: { floats: new Float32Array(1) } }, 'session.data.floats is a class instance'],
      [{ id: 'fake-date', data: { when: Object.create(Date.prototype) } }, 'session.data.when is a class instance'],
      [{ id: 'fake-bytes', data: { bytes: Object.create(Buffer.prototype) } }, 'session.data.bytes is a class instance'],
      [
        { id: 'disguised-view', data: { bytes: Object.setPrototypeOf(new Uint16Array(2), Buffer.prototype) } },
        'session.data.bytes is a class instance',
      ],
    ]
    for (const [session, message] of cases) {
      const error = await storage.storeSession('convert', session).catch((caught) => caught)
      expect(error.code).toBe('ERR_INVALID_SESSION')
      expect(error.message).toContain(message)
      expect(await collection.countDocuments({ _id: session.id })).toBe(0)
    }
  })

  test('repeated large array is too large', async () => {
    const large = new Array(1_000_000)
    const error = await storage.storeSession('convert', { id: 'repeated-array', data: new Array(10_000).fill(large) }).catch((caught) => caught)
    expect(error.code).toBe('ERR_SESSION_TOO_LARGE')
    expect(await collection.countDocuments({ _id: 'repeated-array' })).toBe(0)
  })

  test('repeated object stored per reference', async () => {
    const shared = { name: 'shared', at: new Date(0) }
    await storage.storeSession('convert', { id: 'repeated', data: { a: shared, b: shared, list: [shared, shared] } })
    const loaded = await storage.loadSession('convert', 'repeated')
    expect(loaded.data).toEqual({ a: shared, b: shared, list: [shared, shared] })
  })
})

describe('every BSON type on load', () => {
  // A document with an `id` field of its own is converted property by property, and any other
  // is encoded as JSON off the main thread. Both conversions must build the same session.
  const everyType = () => ({
    store: 'types',
    data: {
      double: 1.5,
      negativeZero: -0,
      notANumber: NaN,
      infinity: Infinity,
      negativeInfinity: -Infinity,
      int32: 7,
      safeLong: Long.fromNumber(2 ** 40),
      bigLong: Long.fromString('9007199254740993'),
      date: new Date('2026-02-03T04:05:06.789Z'),
      datesInArrays: [{ at: new Date(0) }, [new Date(1)]],
      bytes: new Binary(Buffer.from([0, 1, 254, 255])),
      objectId: new ObjectId('64b7f0c2a1b2c3d4e5f60718'),
      decimal: Decimal128.fromString('1.10'),
      regex: new BSONRegExp('a+', 'i'),
      timestamp: new Timestamp({ t: 1, i: 2 }),
      code: new Code('x = 1'),
      min: new MinKey(),
      max: new MaxKey(),
      text: 'quote " backslash \\ newline \n tab \t control \u0001 é 😀 \u2028',
      'we"ird\\key\n': 1,
      nested: { empty: {}, list: [], nulls: [null, { deep: null }] },
      looksMarked: ['\u0000d123', '\u0000', '\u0000s'],
    },
    expires: '2099-01-02T03:04:05Z',
    lastSeenAt: new Date(5),
  })

  test('both load conversions agree', async () => {
    await collection.insertMany([
      { _id: 'types-json', ...everyType() },
      { _id: 'types-napi', id: 'types-napi', ...everyType(), store: 'types-other' },
    ])
    const viaJson = await storage.loadSession('types-json')
    const viaProperties = await storage.loadSession('types-napi')
    expect(viaJson.id).toBe('types-json')
    expect(viaProperties.id).toBe('types-napi')
    expect({ ...viaJson, id: 'x', store: 'y' }).toEqual({ ...viaProperties, id: 'x', store: 'y' })
    expect(Object.keys(viaJson)).toEqual(Object.keys(viaProperties))
    expect(Object.keys(viaJson.data)).toEqual(Object.keys(viaProperties.data))

    const data = viaJson.data
    expect(Object.is(data.negativeZero, -0)).toBe(true)
    expect(Number.isNaN(data.notANumber)).toBe(true)
    expect(data.infinity).toBe(Infinity)
    expect(data.negativeInfinity).toBe(-Infinity)
    expect(data.safeLong).toBe(2 ** 40)
    expect(data.bigLong).toBe(9007199254740993n)
    expect(data.date).toEqual(new Date('2026-02-03T04:05:06.789Z'))
    expect(data.datesInArrays).toEqual([{ at: new Date(0) }, [new Date(1)]])
    expect(data.bytes).toEqual(Buffer.from([0, 1, 254, 255]))
    // Each loaded Buffer owns its memory, as one made by Node-API's buffer copy does.
    for (const bytes of [data.bytes, viaProperties.data.bytes]) {
      expect(bytes.byteOffset).toBe(0)
      expect(bytes.buffer.byteLength).toBe(4)
    }
    expect(data.objectId).toBe('64b7f0c2a1b2c3d4e5f60718')
    expect(data.decimal).toBe('1.10')
    expect(data.regex).toBe('/a+/i')
    expect(data.timestamp).toBe((1n << 32n) | 2n)
    expect(data.code).toBe('x = 1')
    expect(data.min).toBeNull()
    expect(data.max).toBeNull()
    expect(data.text).toBe('quote " backslash \\ newline \n tab \t control \u0001 é 😀 \u2028')
    expect(data['we"ird\\key\n']).toBe(1)
    expect(data.nested).toEqual({ empty: {}, list: [], nulls: [null, { deep: null }] })
    expect(data.looksMarked).toEqual(['\u0000d123', '\u0000', '\u0000s'])
    expect(viaJson.expires).toEqual(new Date('2099-01-02T03:04:05Z'))
    expect(viaJson.lastSeenAt).toEqual(new Date(5))

    expect(await storage.findSessionsByStore('types')).toEqual([viaJson])
    expect(await storage.findSessionsByStore('types-other')).toEqual([viaProperties])
  })
})

describe('prototype accessors on load', () => {
  test('accessor-shadowed keys stay own', async () => {
    await collection.insertMany([
      { _id: 'accessor-json', store: 'accessors', data: { shadowed: 1 } },
      { _id: 'accessor-napi', id: 'accessor-napi', store: 'accessors', data: { shadowed: 1 } },
    ])
    const received = []
    Object.defineProperty(Object.prototype, 'shadowed', {
      configurable: true,
      get: () => 'inherited',
      set(value) {
        received.push(value)
      },
    })
    try {
      for (const id of ['accessor-json', 'accessor-napi']) {
        const loaded = await storage.loadSession(id)
        expect(Object.getOwnPropertyDescriptor(loaded.data, 'shadowed')?.value).toBe(1)
      }
      expect(received).toEqual([])
    } finally {
      delete Object.prototype.shadowed
    }
  })
})

describe('own __proto__ keys', () => {
  test('a __proto__ key stays an own property', async () => {
    const data = JSON.parse('{"__proto__": {"isAdmin": true}, "plain": 1}')
    await storage.storeSession('shop', { id: 'proto', data })
    const loaded = await storage.loadSession('shop', 'proto')
    expect(Object.keys(loaded.data)).toEqual(['__proto__', 'plain'])
    expect(Object.getPrototypeOf(loaded.data)).toBe(Object.prototype)
    expect(loaded.data.isAdmin).toBeUndefined()
    expect(Object.getOwnPropertyDescriptor(loaded.data, '__proto__').value).toEqual({ isAdmin: true })
  })
})

describe('extra fields', () => {
  test('fields beyond the known ones are kept', async () => {
    await storage.storeSession('shop', { id: 'extra', plan: 'pro', flags: { beta: true }, count: 3 })
    const document = await collection.findOne({ _id: 'extra' })
    expect(document.plan).toBe('pro')
    expect(document.flags).toEqual({ beta: true })
    const loaded = await storage.loadSession('shop', 'extra')
    expect(loaded.plan).toBe('pro')
    expect(loaded.flags).toEqual({ beta: true })
    expect(loaded.count).toBe(3)
  })
})

describe('documents of the JavaScript package', () => {
  test('a 2.0.2 app-SDK document loads unchanged', async () => {
    const createdAt = new Date('2026-01-01T00:00:00Z')
    const updatedAt = new Date('2026-01-02T00:00:00Z')
    const lastSeenAt = new Date('2026-01-02T00:00:00Z')
    await collection.insertOne({
      _id: 'legacy-app',
      store: 'legacy.qumra.store',
      accessToken: 'tok',
      isOnline: true,
      scope: null,
      expires: null,
      lastSeenAt,
      updatedAt,
      createdAt,
    })
    const loaded = await storage.loadSession('legacy-app')
    expect(loaded).toEqual({
      id: 'legacy-app',
      store: 'legacy.qumra.store',
      accessToken: 'tok',
      isOnline: true,
      lastSeenAt,
      updatedAt,
      createdAt,
    })
  })

  test('a 2.0.2 document with a string expiry loads it as a Date', async () => {
    await collection.insertOne({
      _id: 'legacy-string-expiry',
      store: 'legacy.qumra.store',
      accessToken: 'tok',
      isOnline: false,
      expires: '2031-01-01T00:00:00.000Z',
      lastSeenAt: new Date(),
    })
    const loaded = await storage.loadSession('legacy-string-expiry')
    expect(loaded.expires).toEqual(new Date('2031-01-01T00:00:00.000Z'))
  })

  test('expiries stored as past strings or numbers are not returned', async () => {
    const past = Date.now() - 60_000
    await collection.insertMany([
      { _id: 'legacy-past-string', store: 'legacy-expiry', expires: new Date(past).toISOString() },
      { _id: 'legacy-past-number', store: 'legacy-expiry', expires: past },
      { _id: 'legacy-past-at', store: 'legacy-expiry', expiresAt: new Date(past).toISOString() },
      { _id: 'legacy-future-number', store: 'legacy-expiry', expires: past + 3_600_000 },
    ])
    expect(await storage.loadSession('legacy-past-string')).toBeUndefined()
    expect(await storage.loadSession('legacy-past-number')).toBeUndefined()
    expect(await storage.loadSession('legacy-expiry', 'legacy-past-at')).toBeNull()
    const future = await storage.loadSession('legacy-future-number')
    expect(future.expires).toEqual(new Date(past + 3_600_000))
    const listed = await storage.findSessionsByStore('legacy-expiry')
    expect(listed.map((session) => session.id)).toEqual(['legacy-future-number'])
  })

  test('a store-scoped document loads through both shapes', async () => {
    const expiresAt = new Date(Date.now() + 60_000)
    await collection.insertOne({
      _id: 'legacy-scoped',
      store: 'legacy-shop',
      userId: 'u-1',
      data: { a: [1, 2] },
      expiresAt,
      createdAt: new Date('2026-01-01T00:00:00Z'),
      updatedAt: new Date('2026-01-01T00:00:00Z'),
    })
    const scoped = await storage.loadSession('legacy-shop', 'legacy-scoped')
    expect(scoped).toEqual({
      id: 'legacy-scoped',
      store: 'legacy-shop',
      userId: 'u-1',
      data: { a: [1, 2] },
      expiresAt,
      createdAt: new Date('2026-01-01T00:00:00Z'),
      updatedAt: new Date('2026-01-01T00:00:00Z'),
    })
    expect(await storage.loadSession('legacy-scoped')).toEqual(scoped)
  })

  test('updating a planted document keeps its createdAt', async () => {
    const createdAt = new Date('2025-05-05T05:05:05Z')
    await collection.insertOne({ _id: 'legacy-update', store: 'legacy-shop', createdAt, updatedAt: createdAt })
    await storage.storeSession('legacy-shop', { id: 'legacy-update', userId: 'u-2' })
    const document = await collection.findOne({ _id: 'legacy-update' })
    expect(document.createdAt).toEqual(createdAt)
    expect(document.updatedAt.getTime()).toBeGreaterThan(createdAt.getTime())
    expect(document.userId).toBe('u-2')
  })
})
