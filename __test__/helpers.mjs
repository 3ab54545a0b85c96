// Shared test helpers: the server URI, one database per test file, and raw access to the
// stored documents through the official Node.js driver.
import { randomBytes } from 'node:crypto'
import { MongoClient } from 'mongodb'
import { inject } from 'vitest'

/** Returns the base URI of the server under test, from MONGODB_URI or the local test server. */
export function baseUri() {
  return process.env.MONGODB_URI ?? inject('mongodbUri')
}

/** Sets query parameters on a connection string, replacing any of the same name. */
export function withParams(uri, params) {
  const [base, query = ''] = uri.split('?')
  const merged = new URLSearchParams(query)
  for (const [name, value] of Object.entries(params)) merged.set(name, value)
  const text = merged.toString()
  const withPath = /^mongodb(\+srv)?:\/\/[^/]+\//.test(base) ? base : `${base}/`
  return text ? `${withPath}?${text}` : withPath
}

/** Returns a database name unique to this run, so test files never share data. */
export function uniqueDbName(label) {
  return `test_${label}_${randomBytes(4).toString('hex')}`
}

/** Opens a raw client on the database, for reading and planting documents directly. */
export async function openRaw(dbName) {
  const client = new MongoClient(baseUri(), { serverSelectionTimeoutMS: 10_000 })
  await client.connect()
  return { client, db: client.db(dbName) }
}

/** Waits until `check()` returns a truthy value, polling every `intervalMs`. */
export async function eventually(check, { timeoutMs, intervalMs = 500 }) {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value) return value
    if (Date.now() > deadline) return value
    await new Promise((resolve) => setTimeout(resolve, intervalMs))
  }
}

/** Resolves the rejection of `promise`, or fails if it resolves. */
export async function rejection(promise) {
  let value
  try {
    value = await promise
  } catch (error) {
    return error
  }
  throw new Error(`expected a rejection, got ${JSON.stringify(value)}`)
}
