// Logging is off by default and QUMRA_SESSION_STORAGE_LOG turns it on, without secrets.
import { spawnSync } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, test } from 'vitest'
import { baseUri, openRaw, uniqueDbName, withParams } from './helpers.mjs'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const dbName = uniqueDbName('logging')

// Stores and loads one session in a child process and returns what it wrote to stderr.
const runChild = (env) => {
  const script = `
    const { MongoDBSessionStorage } = require(${JSON.stringify(root)})
    const storage = new MongoDBSessionStorage({ url: process.env.TEST_URL, dbName: ${JSON.stringify(dbName)} })
    storage.storeSession('log-shop', { id: 'logged' })
      .then(() => storage.loadSession('log-shop', 'logged'))
      .then(() => storage.deleteSession('log-shop', 'logged'))
      .then(() => storage.disconnect())
      .then(() => console.log('ok'), (error) => { console.log('failed', error.code); process.exitCode = 1 })
  `
  const { QUMRA_SESSION_STORAGE_LOG, ...parentEnv } = process.env
  const result = spawnSync(process.execPath, ['-e', script], {
    env: { ...parentEnv, TEST_URL: withParams(baseUri(), { appName: 'logging-test' }), ...env },
    encoding: 'utf8',
    timeout: 30_000,
  })
  return result
}

afterAll(async () => {
  const raw = await openRaw(dbName)
  await raw.db.dropDatabase()
  await raw.client.close()
})

describe('logging', () => {
  test('off by default', () => {
    const result = runChild({})
    expect(result.stdout.trim()).toBe('ok')
    expect(result.stderr).toBe('')
  })

  test('debug level shows package and driver events', () => {
    const result = runChild({ QUMRA_SESSION_STORAGE_LOG: 'debug' })
    expect(result.stdout.trim()).toBe('ok')
    expect(result.stderr).toContain('qumra_session_storage_mongodb')
    expect(result.stderr).toContain('connection pool opened')
    expect(result.stderr).toContain('mongodb::command')
  })

  test('invalid filter is reported and ignored', () => {
    const result = runChild({ QUMRA_SESSION_STORAGE_LOG: 'not a filter ===' })
    expect(result.stdout.trim()).toBe('ok')
    expect(result.stderr).toContain('QUMRA_SESSION_STORAGE_LOG: invalid filter')
  })
})
