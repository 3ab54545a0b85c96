// A one-minute soak: many concurrent callers mix every operation; every call must settle and
// the process's resident memory must stay flat.
import { MongoDBSessionStorage } from '@qumra/app-session-storage-mongodb'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { baseUri, openRaw, uniqueDbName } from './helpers.mjs'

const dbName = uniqueDbName('soak')
const DURATION_MS = Number(process.env.SOAK_DURATION_MS ?? 60_000)
const CALLERS = 64
const MiB = 1024 * 1024

let storage
let raw

beforeAll(async () => {
  storage = new MongoDBSessionStorage({ url: baseUri(), dbName })
  raw = await openRaw(dbName)
  await storage.ensureIndex()
})

afterAll(async () => {
  await storage.disconnect()
  await raw.db.dropDatabase()
  await raw.client.close()
})

describe('soak', () => {
  test(
    'mixed load settles every call with flat memory',
    async () => {
      const counts = { started: 0, resolved: 0, rejected: 0 }
      const codes = new Set()
      const samples = []
      const started = Date.now()
      const deadline = started + DURATION_MS

      const track = async (promise) => {
        counts.started += 1
        try {
          await promise
          counts.resolved += 1
        } catch (error) {
          counts.rejected += 1
          codes.add(error.code)
        }
      }

      const caller = async (callerId) => {
        let step = 0
        while (Date.now() < deadline) {
          const store = `soak-store-${callerId % 8}`
          const id = `soak-${callerId}-${step % 50}`
          const data = { step, items: Array.from({ length: 10 }, (_, i) => ({ i, at: new Date() })) }
          await track(storage.storeSession(store, { id, userId: `u-${callerId}`, data }))
          await track(storage.loadSession(store, id))
          await track(storage.loadSession(id))
          if (step % 10 === 0) await track(storage.findSessionsByStore(store, { limit: 20 }))
          if (step % 7 === 0) await track(storage.deleteSession(store, id))
          if (step % 13 === 0) await track(storage.deleteSessions(store, [id, `${id}-gone`]))
          step += 1
        }
      }

      const sampler = setInterval(() => {
        samples.push({ at: Date.now() - started, rss: process.memoryUsage().rss })
      }, 2000)
      await Promise.all(Array.from({ length: CALLERS }, (_, i) => caller(i)))
      clearInterval(sampler)

      expect(counts.resolved + counts.rejected).toBe(counts.started)
      expect(counts.rejected).toBe(0)
      expect([...codes]).toEqual([])
      // At least 100 calls a second; a debug build on 2 cores does about 450.
      expect(counts.started).toBeGreaterThan(DURATION_MS / 10)

      // Memory grows while the pool, caches and JIT warm up; compare after the first third.
      const settled = samples.filter((sample) => sample.at >= DURATION_MS / 3)
      const baseline = Math.min(...settled.slice(0, 3).map((sample) => sample.rss))
      const final = Math.max(...settled.slice(-3).map((sample) => sample.rss))
      expect((final - baseline) / MiB).toBeLessThan(48)
    },
    DURATION_MS + 60_000,
  )
})
