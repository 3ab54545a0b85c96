// Credentials in the URL, secrets kept out of messages, and isolation between stores.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { inspect } from 'node:util'
import { MongoDBSessionStorage } from '@qumra/app-session-storage-mongodb'
import { MongoClient } from 'mongodb'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { startServer } from '../scripts/test-server.mjs'
import { baseUri, rejection, uniqueDbName } from './helpers.mjs'

// A password with every character that needs percent-encoding in a URL.
const password = 'p@ss:w/rd%1'
const encoded = encodeURIComponent(password)

// TEST_LOCAL_SERVERS=0 skips the tests that start a server of their own.
describe.runIf(process.env.TEST_LOCAL_SERVERS !== '0')('authentication', () => {
  let server
  let directory

  beforeAll(async () => {
    // The server with --auth is always a local one of this file, since users are created on it.
    directory = mkdtempSync(path.join(tmpdir(), 'session-auth-'))
    const setup = await startServer({ storagePath: directory })
    const client = new MongoClient(setup.uri)
    await client.connect()
    await client.db('admin').command({
      createUser: 'app',
      pwd: password,
      roles: [{ role: 'readWrite', db: 'authdb' }],
    })
    await client.close()
    await setup.stop()
    server = await startServer({ storagePath: directory, port: setup.port, args: ['--auth'] })
  }, 90_000)

  afterAll(async () => {
    await server?.stop()
    rmSync(directory, { recursive: true, force: true })
  })

  const url = (secret) => `mongodb://app:${secret}@127.0.0.1:${server.port}/authdb?authSource=admin`

  test('encoded password authenticates', async () => {
    const storage = new MongoDBSessionStorage({ url: url(encoded) })
    expect(await storage.storeSession('shop', { id: 'authed' })).toBe(true)
    expect((await storage.loadSession('shop', 'authed')).id).toBe('authed')
    await storage.disconnect()
  })

  test('Db of an authenticated client carries the credentials', async () => {
    const client = new MongoClient(url(encoded))
    const storage = new MongoDBSessionStorage(client.db('authdb'), { collectionName: 'from_db' })
    expect(await storage.storeSession('shop', { id: 'authed-db' })).toBe(true)
    expect((await storage.loadSession('shop', 'authed-db')).id).toBe('authed-db')
    await storage.disconnect()
    await client.close()
  })

  test('wrong password rejects ERR_AUTHENTICATION without the secret', async () => {
    const wrong = 'Wr0ng%40Secret%3A'
    const storage = new MongoDBSessionStorage({ url: url(wrong) })
    const error = await rejection(storage.loadSession('shop', 'authed'))
    expect(error.code).toBe('ERR_AUTHENTICATION')
    expect(error.message).toContain('authSource')
    expect(error.message).not.toContain('Wr0ng')
    await storage.disconnect()
  })

  test('repeated calls with a wrong password keep ERR_AUTHENTICATION', async () => {
    const storage = new MongoDBSessionStorage({ url: `${url('Wr0ng')}&serverSelectionTimeoutMS=1500` })
    for (let call = 0; call < 3; call += 1) {
      const error = await rejection(storage.loadSession('shop', 'authed'))
      expect(error.code).toBe('ERR_AUTHENTICATION')
      expect(error.message).not.toContain('Wr0ng')
    }
    await storage.disconnect()
  })

  test('missing credentials reject with the server code', async () => {
    const storage = new MongoDBSessionStorage({ url: `mongodb://127.0.0.1:${server.port}/authdb` })
    const error = await rejection(storage.storeSession('shop', { id: 'anonymous' }))
    expect(error.code).toBe('ERR_SERVER')
    expect(error.serverCode).toBe(13)
    await storage.disconnect()
  })

  test('trace logs show no secret', () => {
    const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
    const script = `
      const { MongoDBSessionStorage } = require(${JSON.stringify(root)})
      const storage = new MongoDBSessionStorage({ url: process.env.TEST_URL })
      storage.storeSession('shop', { id: 'logged' })
        .then(() => storage.loadSession('shop', 'logged'))
        .then(() => storage.disconnect())
        .then(() => console.log('ok'), (error) => console.log('failed', error.code))
    `
    const result = spawnSync(process.execPath, ['-e', script], {
      env: { ...process.env, TEST_URL: url(encoded), QUMRA_SESSION_STORAGE_LOG: 'trace' },
      encoding: 'utf8',
      timeout: 30_000,
    })
    expect(result.stdout.trim()).toBe('ok')
    expect(result.stderr).toContain('mongodb::command')
    expect(result.stderr).not.toContain(encoded)
    expect(result.stderr).not.toContain(password)
  })

  test('inspect of an instance shows no secret', async () => {
    const storage = new MongoDBSessionStorage({ url: url(encoded) })
    const shown = inspect(storage, { showHidden: true, depth: 10 })
    expect(shown).not.toContain(encoded)
    expect(shown).not.toContain(password)
    expect(shown).not.toContain('p@ss')
    await storage.disconnect()
  })
})

describe('isolation between stores', () => {
  const dbName = uniqueDbName('security')
  let storage

  beforeAll(async () => {
    storage = new MongoDBSessionStorage({ url: baseUri(), dbName })
    await storage.storeSession('store-b', { id: 'b-session', data: { owner: 'b' } })
  })

  afterAll(async () => {
    const client = new MongoClient(baseUri())
    await client.connect()
    await client.db(dbName).dropDatabase()
    await client.close()
    await storage.disconnect()
  })

  test('store A cannot read B', async () => {
    expect(await storage.loadSession('store-a', 'b-session')).toBeNull()
  })

  test('store A cannot list B', async () => {
    expect(await storage.findSessionsByStore('store-a')).toEqual([])
  })

  test('store A cannot delete B', async () => {
    expect(await storage.deleteSession('store-a', 'b-session')).toBe(false)
    expect(await storage.deleteSessions('store-a', ['b-session'])).toBe(false)
  })

  test('store A cannot overwrite B', async () => {
    const error = await rejection(storage.storeSession('store-a', { id: 'b-session', data: { owner: 'a' } }))
    expect(error.code).toBe('ERR_STORE_MISMATCH')
  })

  test('B is unchanged afterwards', async () => {
    expect((await storage.loadSession('store-b', 'b-session')).data).toEqual({ owner: 'b' })
  })
})
