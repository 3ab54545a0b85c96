// Every rejection carries a stable code, names the bad value, and writes nothing.
import { MongoDBSessionStorage } from '@qumra/app-session-storage-mongodb'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { baseUri, openRaw, rejection, uniqueDbName } from './helpers.mjs'

const dbName = uniqueDbName('errors')
let storage
let raw
let collection

beforeAll(async () => {
  storage = new MongoDBSessionStorage({ url: baseUri(), dbName })
  raw = await openRaw(dbName)
  collection = raw.db.collection('sessions')
  await storage.storeSession('victim-shop', { id: 'victim', data: { secret: 1 } })
})

afterAll(async () => {
  await storage.disconnect()
  await raw.db.dropDatabase()
  await raw.client.close()
})

const construct = (options) => {
  try {
    new MongoDBSessionStorage(options)
  } catch (error) {
    return error
  }
  throw new Error('expected the constructor to throw')
}

describe('constructor options', () => {
  const cases = [
    ['no options', undefined, 'expected an options object'],
    ['null options', null, 'expected an options object'],
    ['array options', [], 'expected an options object'],
    ['missing url', { dbName: 'x' }, 'options.url must be a connection string'],
    ['numeric url', { url: 27017, dbName: 'x' }, 'options.url must be a connection string'],
    ['http url', { url: 'http://localhost:27017', dbName: 'x' }, 'must start with mongodb:// or mongodb+srv://'],
    ['unparsable url', { url: 'mongodb://', dbName: 'x' }, 'not a valid connection string'],
    ['bad url option', { url: 'mongodb://localhost/?maxPoolSize=lots', dbName: 'x' }, 'not a valid connection string'],
    ['no database', { url: 'mongodb://localhost:27017' }, 'no database given'],
    ['empty dbName', { url: 'mongodb://localhost:27017', dbName: '' }, 'options.dbName must not be empty'],
    ['dbName with a dot', { url: 'mongodb://localhost:27017', dbName: 'a.b' }, "options.dbName must not contain '.'"],
    ['numeric dbName', { url: 'mongodb://localhost:27017', dbName: 5 }, 'options.dbName must be a non-empty string'],
    ['empty collectionName', { url: 'mongodb://localhost/db', collectionName: '' }, 'collectionName must not be empty'],
    ['collectionName with $', { url: 'mongodb://localhost/db', collectionName: 'a$b' }, "must not contain '$'"],
    ['system collection', { url: 'mongodb://localhost/db', collectionName: 'system.x' }, "must not start with 'system.'"],
  ]
  test.each(cases)('%s throws ERR_INVALID_OPTION', (_name, options, message) => {
    const error = construct(options)
    expect(error).toBeInstanceOf(TypeError)
    expect(error.code).toBe('ERR_INVALID_OPTION')
    expect(error.message).toContain(message)
  })

  test('database from the URL path is used', async () => {
    const fromPath = new MongoDBSessionStorage({ url: `${baseUri().replace(/\/(\?.*)?$/, '')}/${dbName}` })
    expect((await fromPath.loadSession('victim-shop', 'victim')).id).toBe('victim')
    await fromPath.disconnect()
  })

  test('password never appears in a constructor error', () => {
    const error = construct({ url: 'mongodb://admin:Sup3r%40Secret@localhost:27017/db?maxPoolSize=lots' })
    expect(error.code).toBe('ERR_INVALID_OPTION')
    expect(error.message).not.toContain('Sup3r')
  })
})

describe('call shapes', () => {
  const methods = ['storeSession', 'loadSession', 'deleteSession', 'deleteSessions', 'findSessionsByStore']
  test.each(methods)('%s with no arguments rejects ERR_INVALID_ARGUMENT', async (method) => {
    const error = await rejection(storage[method]())
    expect(error).toBeInstanceOf(TypeError)
    expect(error.code).toBe('ERR_INVALID_ARGUMENT')
    expect(error.message).toContain('received 0 arguments')
  })

  test.each(methods)('%s with three arguments rejects ERR_INVALID_ARGUMENT', async (method) => {
    const error = await rejection(storage[method]('a', 'b', 'c'))
    expect(error.code).toBe('ERR_INVALID_ARGUMENT')
    expect(error.message).toContain('received 3 arguments')
  })

  const allMethods = [...methods, 'ensureIndex', 'disconnect']
  test.each(allMethods)('%s called on another object rejects', async (method) => {
    const error = await rejection(MongoDBSessionStorage.prototype[method].call({}, 'id'))
    expect(error.code).toBe('ERR_INVALID_ARGUMENT')
    expect(error.message).toContain('not a MongoDBSessionStorage')
  })
})

describe('arguments that throw when read', () => {
  const throwing = () => {
    throw new Error('getter exploded')
  }
  const trap = new Proxy({}, { get: throwing, ownKeys: throwing, getOwnPropertyDescriptor: throwing })
  const cases = [
    ['id getter', () => storage.storeSession('shop', { get id() { return throwing() } }), 'ERR_INVALID_SESSION'],
    ['nested getter', () => storage.storeSession('shop', { id: 'g', data: { get x() { return throwing() } } }), 'ERR_INVALID_SESSION'],
    ['Proxy session', () => storage.storeSession('shop', trap), 'ERR_INVALID_SESSION'],
    ['Proxy data', () => storage.storeSession('shop', { id: 'g', data: trap }), 'ERR_INVALID_SESSION'],
    ['app-SDK Proxy session', () => storage.storeSession(trap), 'ERR_INVALID_SESSION'],
    ['ids element getter', () => storage.deleteSessions('shop', Object.defineProperty([], 0, { get: throwing, enumerable: true })), 'ERR_INVALID_ARGUMENT'],
    ['find options getter', () => storage.findSessionsByStore('shop', { get limit() { return throwing() } }), 'ERR_INVALID_ARGUMENT'],
    ['find options Proxy', () => storage.findSessionsByStore('shop', trap), 'ERR_INVALID_ARGUMENT'],
  ]

  test.each(cases)('%s rejects with the thrown error as cause', async (_name, call, code) => {
    let returned
    expect(() => {
      returned = call()
    }).not.toThrow()
    const error = await rejection(returned)
    expect(error.code).toBe(code)
    expect(error.message).toContain('reading an argument threw: getter exploded')
    expect(error.cause.message).toBe('getter exploded')
  })

  test('nothing was written', async () => {
    expect(await collection.countDocuments({ _id: 'g' })).toBe(0)
  })
})

describe('operator injection', () => {
  const hostile = [
    ['$ne object', { $ne: null }],
    ['$gt object', { $gt: '' }],
    ['$regex object', { $regex: '.*' }],
    ['array', ['victim']],
    ['number', 42],
    ['null', null],
    ['empty string', ''],
    ['NUL byte', 'vic\0tim'],
    ['too long', 'x'.repeat(1025)],
  ]

  test.each(hostile)('loadSession id %s rejects', async (_name, value) => {
    const error = await rejection(storage.loadSession('victim-shop', value))
    expect(error.code).toBe('ERR_INVALID_ARGUMENT')
    expect(error.message).toContain('loadSession: "id"')
  })

  test.each(hostile)('loadSession store %s rejects', async (_name, value) => {
    const error = await rejection(storage.loadSession(value, 'victim'))
    expect(error.code).toBe('ERR_INVALID_ARGUMENT')
    expect(error.message).toContain('loadSession: "store"')
  })

  test.each(hostile)('deleteSession id %s rejects and deletes nothing', async (_name, value) => {
    const error = await rejection(storage.deleteSession('victim-shop', value))
    expect(error.code).toBe('ERR_INVALID_ARGUMENT')
    expect(await collection.countDocuments({ _id: 'victim' })).toBe(1)
  })

  test.each(hostile)('deleteSessions ids element %s rejects and deletes nothing', async (_name, value) => {
    const error = await rejection(storage.deleteSessions('victim-shop', ['ok', value]))
    expect(error.code).toBe('ERR_INVALID_ARGUMENT')
    expect(error.message).toContain('"ids[1]"')
    expect(await collection.countDocuments({ _id: 'victim' })).toBe(1)
  })

  test.each(hostile)('findSessionsByStore store %s rejects', async (_name, value) => {
    const error = await rejection(storage.findSessionsByStore(value))
    expect(error.code).toBe('ERR_INVALID_ARGUMENT')
  })

  test('app-SDK loadSession with an operator object rejects', async () => {
    const error = await rejection(storage.loadSession({ $ne: null }))
    expect(error.code).toBe('ERR_INVALID_ARGUMENT')
  })

  test('app-SDK deleteSessions with an operator object rejects', async () => {
    const error = await rejection(storage.deleteSessions({ $in: ['victim'] }))
    expect(error.code).toBe('ERR_INVALID_ARGUMENT')
    expect(await collection.countDocuments({ _id: 'victim' })).toBe(1)
  })

  test('session id as an operator object is rejected', async () => {
    const error = await rejection(storage.storeSession('victim-shop', { id: { $ne: null }, data: {} }))
    expect(error.code).toBe('ERR_INVALID_SESSION')
    expect((await collection.findOne({ _id: 'victim' })).data).toEqual({ secret: 1 })
  })

  test('find userId as an operator object is rejected', async () => {
    const error = await rejection(storage.findSessionsByStore('victim-shop', { userId: { $ne: null } }))
    expect(error.code).toBe('ERR_INVALID_ARGUMENT')
  })
})

describe('invalid sessions', () => {
  class Custom {
    constructor() {
      this.a = 1
    }
  }
  const circular = { id: 'bad' }
  circular.self = circular
  let deep = {}
  const root = deep
  for (let i = 0; i < 120; i += 1) {
    deep.next = {}
    deep = deep.next
  }

  const cases = [
    ['null', null, '"session" must be a plain object'],
    ['array', [], '"session" must be a plain object'],
    ['string', 'session', '"session" must be a plain object'],
    ['class instance', new Custom(), '"session" must be a plain object'],
    ['missing id', { data: {} }, '"session.id" must be a string'],
    ['numeric id', { id: 7 }, '"session.id" must be a string'],
    ['empty id', { id: '' }, '"session.id" is empty'],
    ['_id field', { id: 'bad', _id: 'x' }, 'session._id is reserved'],
    ['BigInt value', { id: 'bad', data: { n: 1n } }, 'session.data.n is a BigInt'],
    ['Symbol value', { id: 'bad', data: { s: Symbol('s') } }, 'session.data.s is a symbol'],
    ['function value', { id: 'bad', data: { f() {} } }, 'session.data.f is a function'],
    ['Map value', { id: 'bad', data: new Map() }, 'session.data is a class instance'],
    ['$ key', { id: 'bad', data: { $set: { a: 1 } } }, "session.data.$set is a key that starts with '$'"],
    ['dotted key', { id: 'bad', data: { 'a.b': 1 } }, 'is a key that contains \'.\''],
    ['top-level $ key', { id: 'bad', $where: 'sleep(1)' }, "starts with '$'"],
    ['invalid Date', { id: 'bad', data: { when: new Date(Number.NaN) } }, 'session.data.when is an invalid Date'],
    ['unparsable expiresAt', { id: 'bad', expiresAt: 'next tuesday' }, 'session.expiresAt is not an ISO-8601 date'],
    ['numeric expiresAt', { id: 'bad', expiresAt: 1234 }, 'session.expiresAt must be a Date'],
    ['object expires', { id: 'bad', expires: {} }, 'session.expires must be a Date'],
    ['circular', circular, 'nests deeper than'],
    ['too deep', { id: 'bad', data: root }, 'nests deeper than'],
    ['non-string store', { id: 'bad', store: 5 }, 'session.store must be a string or absent'],
  ]

  test.each(cases)('%s rejects ERR_INVALID_SESSION and writes nothing', async (_name, session, message) => {
    const before = await collection.countDocuments()
    const error = await rejection(storage.storeSession('shop', session))
    expect(error).toBeInstanceOf(TypeError)
    expect(error.code).toBe('ERR_INVALID_SESSION')
    expect(error.message).toContain(message)
    expect(await collection.countDocuments()).toBe(before)
  })

  test('session over 16 MiB rejects ERR_SESSION_TOO_LARGE', async () => {
    const error = await rejection(storage.storeSession('shop', { id: 'huge', data: 'x'.repeat(16 * 1024 * 1024) }))
    expect(error).toBeInstanceOf(RangeError)
    expect(error.code).toBe('ERR_SESSION_TOO_LARGE')
    expect(error.message).toContain('16777216')
    expect(await collection.countDocuments({ _id: 'huge' })).toBe(0)
  })

  test('sparse array of length 2^32-1 rejects ERR_SESSION_TOO_LARGE', async () => {
    const sparse = []
    sparse.length = 2 ** 32 - 1
    const error = await rejection(storage.storeSession('shop', { id: 'sparse', data: sparse }))
    expect(error.code).toBe('ERR_SESSION_TOO_LARGE')
    expect(await collection.countDocuments({ _id: 'sparse' })).toBe(0)
  })

  test('repeated subtree over 16 MiB rejects ERR_SESSION_TOO_LARGE', async () => {
    let node = { leaf: 'y'.repeat(16) }
    for (let level = 0; level < 40; level += 1) node = { left: node, right: node }
    const error = await rejection(storage.storeSession('shop', { id: 'dag', data: node }))
    expect(error.code).toBe('ERR_SESSION_TOO_LARGE')
    expect(await collection.countDocuments({ _id: 'dag' })).toBe(0)
  })

  test('sparse ids array rejects ERR_INVALID_ARGUMENT', async () => {
    const sparse = []
    sparse.length = 2 ** 32 - 1
    const error = await rejection(storage.deleteSessions('victim-shop', sparse))
    expect(error.code).toBe('ERR_INVALID_ARGUMENT')
    expect(error.message).toContain('"ids[0]"')
  })

  test('session just under 16 MiB is stored', async () => {
    const data = 'x'.repeat(16 * 1024 * 1024 - 200)
    expect(await storage.storeSession('shop', { id: 'nearly-huge', data })).toBe(true)
    expect((await storage.loadSession('shop', 'nearly-huge')).data.length).toBe(data.length)
  })

  test('session.store differing from the argument rejects ERR_STORE_MISMATCH', async () => {
    const error = await rejection(storage.storeSession('shop', { id: 'mismatch', store: 'other' }))
    expect(error.code).toBe('ERR_STORE_MISMATCH')
    expect(await collection.countDocuments({ _id: 'mismatch' })).toBe(0)
  })
})

describe('find options', () => {
  const bad = [
    ['negative limit', { limit: -1 }, 'options.limit must be a non-negative integer'],
    ['fractional limit', { limit: 1.5 }, 'options.limit must be a non-negative integer'],
    ['NaN offset', { offset: Number.NaN }, 'options.offset must be a non-negative integer'],
    ['huge offset', { offset: 2 ** 60 }, 'options.offset must be a non-negative integer'],
    ['string limit', { limit: '10' }, 'options.limit must be a non-negative integer'],
    ['Infinity limit', { limit: Number.POSITIVE_INFINITY }, 'options.limit must be a non-negative integer'],
    ['non-object options', 'all', '"options" must be an object'],
  ]
  test.each(bad)('%s rejects ERR_INVALID_ARGUMENT', async (_name, options, message) => {
    const error = await rejection(storage.findSessionsByStore('victim-shop', options))
    expect(error).toBeInstanceOf(TypeError)
    expect(error.code).toBe('ERR_INVALID_ARGUMENT')
    expect(error.message).toContain(message)
  })
})

describe('server-side failures', () => {
  test('a rejected write carries ERR_SERVER and the server code', async () => {
    const validated = 'validated'
    await raw.db.createCollection(validated, {
      validator: { $jsonSchema: { bsonType: 'object', required: ['mustHave'] } },
    })
    const strict = new MongoDBSessionStorage({ url: baseUri(), dbName, collectionName: validated })
    const error = await rejection(strict.storeSession('shop', { id: 'no-must-have' }))
    await strict.disconnect()
    expect(error.code).toBe('ERR_SERVER')
    expect(error.serverCode).toBe(121)
  })
})
