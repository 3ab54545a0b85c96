// new MongoDBSessionStorage(db, { collectionName }) with a Db of the mongodb npm package.
import { MongoDBSessionStorage } from '@qumra/app-session-storage-mongodb'
import { MongoClient } from 'mongodb'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { baseUri, uniqueDbName, withParams } from './helpers.mjs'

const dbName = uniqueDbName('db_injection')
let client

const construct = (...args) => {
  try {
    new MongoDBSessionStorage(...args)
  } catch (error) {
    return error
  }
  throw new Error('expected the constructor to throw')
}

beforeAll(async () => {
  client = new MongoClient(withParams(baseUri(), { appName: 'db-injection', w: 'majority', maxPoolSize: '4' }))
  await client.connect()
})

afterAll(async () => {
  await client.db(dbName).dropDatabase()
  await client.close()
})

describe('Db injection', () => {
  test('stores and loads through the Db deployment', async () => {
    const storage = new MongoDBSessionStorage(client.db(dbName), { collectionName: 'injected' })
    expect(await storage.storeSession('shop', { id: 'via-db', data: { a: 1 } })).toBe(true)
    expect((await storage.loadSession('shop', 'via-db')).data).toEqual({ a: 1 })
    const document = await client.db(dbName).collection('injected').findOne({ _id: 'via-db' })
    expect(document.store).toBe('shop')
    await storage.disconnect()
  })

  test('collection defaults to sessions', async () => {
    const storage = new MongoDBSessionStorage(client.db(dbName))
    await storage.storeSession('shop', { id: 'default-collection' })
    expect(await client.db(dbName).collection('sessions').countDocuments({ _id: 'default-collection' })).toBe(1)
    await storage.disconnect()
  })

  test('disconnect leaves the caller client working', async () => {
    const storage = new MongoDBSessionStorage(client.db(dbName), { collectionName: 'injected' })
    await storage.loadSession('shop', 'via-db')
    await storage.disconnect()
    expect((await rejected(storage.loadSession('shop', 'via-db'))).code).toBe('ERR_DISCONNECTED')
    const pong = await client.db('admin').command({ ping: 1 })
    expect(pong.ok).toBe(1)
  })

  test('construction does not connect an unconnected client', async () => {
    const idle = new MongoClient('mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=300')
    const storage = new MongoDBSessionStorage(idle.db('idle'))
    const error = await rejected(storage.loadSession('x'))
    expect(error.code).toBe('ERR_CONNECTION')
    await storage.disconnect()
    await idle.close()
  })

  test('Db read preference and write concern are accepted', async () => {
    const db = client.db(dbName, { readPreference: 'primaryPreferred', writeConcern: { w: 1, journal: false } })
    const storage = new MongoDBSessionStorage(db, { collectionName: 'injected' })
    expect(await storage.storeSession('shop', { id: 'with-concerns' })).toBe(true)
    await storage.disconnect()
  })
})

async function rejected(promise) {
  try {
    await promise
  } catch (error) {
    return error
  }
  throw new Error('expected a rejection')
}

describe('client options that cannot be carried over', () => {
  const cases = [
    ['in-memory CA', { ca: Buffer.from('not a certificate') }, 'sets the option ca'],
    ['in-memory certificate', { cert: 'PEM text' }, 'sets the option cert'],
    ['proxy', { proxyHost: 'localhost' }, 'sets the option proxyHost'],
  ]
  test.each(cases)('%s throws ERR_INVALID_OPTION', (_name, options, message) => {
    const other = new MongoClient(baseUri(), options)
    const error = construct(other.db(dbName))
    expect(error).toBeInstanceOf(TypeError)
    expect(error.code).toBe('ERR_INVALID_OPTION')
    expect(error.message).toContain(message)
  })

  test('OIDC callback throws ERR_INVALID_OPTION', () => {
    const other = new MongoClient('mongodb://user@localhost/?authMechanism=MONGODB-OIDC', {
      authMechanismProperties: { OIDC_CALLBACK: async () => ({ accessToken: 't' }) },
    })
    const error = construct(other.db(dbName))
    expect(error.code).toBe('ERR_INVALID_OPTION')
    expect(error.message).toContain('authMechanismProperties.OIDC_CALLBACK')
  })

  test('read preference tag with a separator throws ERR_INVALID_OPTION', () => {
    const other = new MongoClient(baseUri(), { readPreference: 'nearest', readPreferenceTags: [{ region: 'us:east' }] })
    const error = construct(other.db(dbName))
    expect(error.code).toBe('ERR_INVALID_OPTION')
    expect(error.message).toContain('readPreferenceTags')
  })

  test('CA loaded from tlsCAFile is carried as the file', () => {
    const fake = {
      databaseName: 'fake',
      client: { options: { hosts: [{ toString: () => '127.0.0.1:27017' }], tls: true, tlsCAFile: '/nonexistent/ca.pem', ca: Buffer.from('pem') } },
    }
    expect(() => new MongoDBSessionStorage(fake)).not.toThrow()
  })

  test('sparse hosts array throws instead of crashing', () => {
    const hosts = []
    hosts.length = 2 ** 32 - 1
    const error = construct({ databaseName: 'fake', client: { options: { hosts } } })
    expect(error.code).toBe('ERR_INVALID_OPTION')
    expect(error.message).toContain('hosts[0]')
  })

  test('host text that would inject URL parts throws', () => {
    const hosts = [{ toString: () => '127.0.0.1:1/?authSource=evil&x=' }]
    const error = construct({ databaseName: 'fake', client: { options: { hosts } } })
    expect(error.code).toBe('ERR_INVALID_OPTION')
    expect(error.message).toContain('not a host:port address')
  })

  test('options getter that throws becomes the cause', () => {
    const error = construct({
      databaseName: 'fake',
      client: {
        get options() {
          throw new Error('options exploded')
        },
      },
    })
    expect(error).toBeInstanceOf(TypeError)
    expect(error.code).toBe('ERR_INVALID_OPTION')
    expect(error.cause.message).toBe('options exploded')
  })

  test('second argument with an options object throws', () => {
    const error = construct({ url: baseUri(), dbName }, { collectionName: 'ignored' })
    expect(error.code).toBe('ERR_INVALID_OPTION')
    expect(error.message).toContain('a second argument goes only with a Db')
  })

  test('bad collectionName throws ERR_INVALID_OPTION', () => {
    const error = construct(client.db(dbName), { collectionName: 7 })
    expect(error.code).toBe('ERR_INVALID_OPTION')
    expect(error.message).toContain('options.collectionName')
  })

  test('object that is neither options nor a Db throws a clear TypeError', () => {
    const error = construct({ databaseName: 'x' })
    expect(error).toBeInstanceOf(TypeError)
    expect(error.code).toBe('ERR_INVALID_OPTION')
    expect(error.message).toContain('pass a Db of the mongodb package')
  })
})
