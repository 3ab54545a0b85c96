// Write concern and read preference from the URL are honoured, in either topology.
import { MongoDBSessionStorage } from '@qumra/app-session-storage-mongodb'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { baseUri, openRaw, rejection, uniqueDbName, withParams } from './helpers.mjs'

const dbName = uniqueDbName('topology')
let raw
let replicaSetName

// Set by the replica-set run of .ci/run, or by a MONGODB_URI that names a replica set.
const onReplicaSet =
  process.env.TEST_TOPOLOGY === 'replica-set' || /[?&]replicaSet=/.test(process.env.MONGODB_URI ?? '')

beforeAll(async () => {
  raw = await openRaw(dbName)
  const hello = await raw.client.db('admin').command({ hello: 1 })
  replicaSetName = hello.setName
})

afterAll(async () => {
  await raw.db.dropDatabase()
  await raw.client.close()
})

describe('topology', () => {
  test('operations work with the URL settings', async () => {
    const storage = new MongoDBSessionStorage({ url: baseUri(), dbName })
    expect(await storage.storeSession('topo-shop', { id: 'topo-1', data: { n: 1 } })).toBe(true)
    expect((await storage.loadSession('topo-shop', 'topo-1')).data).toEqual({ n: 1 })
    expect((await storage.findSessionsByStore('topo-shop')).map((session) => session.id)).toEqual(['topo-1'])
    expect(await storage.deleteSession('topo-shop', 'topo-1')).toBe(true)
    await storage.disconnect()
  })

  test.runIf(onReplicaSet)('majority writes are acknowledged', async () => {
    expect(replicaSetName).toBeTruthy()
    const storage = new MongoDBSessionStorage({ url: withParams(baseUri(), { w: 'majority', journal: 'true' }), dbName })
    expect(await storage.storeSession('topo-shop', { id: 'majority' })).toBe(true)
    const document = await raw.db.collection('sessions').findOne({ _id: 'majority' }, { readConcern: { level: 'majority' } })
    expect(document.store).toBe('topo-shop')
    await storage.disconnect()
  })

  test.runIf(onReplicaSet)('unsatisfiable write concern rejects', async () => {
    expect(replicaSetName).toBeTruthy()
    const url = withParams(baseUri(), { w: '3', wTimeoutMS: '500' })
    const storage = new MongoDBSessionStorage({ url, dbName })
    const error = await rejection(storage.storeSession('topo-shop', { id: 'three-nodes' }))
    expect(error.code).toBe('ERR_SERVER')
    expect([64, 100]).toContain(error.serverCode)
    await storage.disconnect()
  })
})
