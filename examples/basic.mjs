// Stores, loads, lists, expires and deletes sessions in both call shapes.
//
// Uses MONGODB_URI when it is set; otherwise starts the local test server for the run.
//   npm run example

import { MongoDBSessionStorage } from '@qumra/app-session-storage-mongodb'
import { startServer } from '../scripts/test-server.mjs'

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

const server = process.env.MONGODB_URI ? null : await startServer()
const url = process.env.MONGODB_URI ?? server.uri
const dbName = `example_${process.pid}`
console.log(`server: ${server ? `local test server on port ${server.port}` : 'MONGODB_URI'}`)

const storage = new MongoDBSessionStorage({ url, dbName })

try {
  console.log('\nstore-scoped shape')
  await storage.storeSession('my-store', {
    id: 'session-123',
    userId: 'user-456',
    data: { preferences: { theme: 'dark' }, lastCart: new Date() },
    expiresAt: new Date(Date.now() + 24 * 60 * 60 * 1000),
  })
  await storage.storeSession('my-store', { id: 'session-short', userId: 'user-456', expiresAt: new Date(Date.now() + 1000) })
  const loaded = await storage.loadSession('my-store', 'session-123')
  console.log('loadSession(store, id) ->', loaded)
  console.log('loadSession(other store, id) ->', await storage.loadSession('another-store', 'session-123'))
  const listed = await storage.findSessionsByStore('my-store', { userId: 'user-456', limit: 10, offset: 0 })
  console.log('findSessionsByStore ->', listed.map((session) => session.id))

  await sleep(1500)
  console.log('after 1.5 s, the one-second session ->', await storage.loadSession('my-store', 'session-short'))
  console.log(
    'findSessionsByStore ->',
    (await storage.findSessionsByStore('my-store')).map((session) => session.id),
  )

  console.log('\napp-SDK shape, as qumraApp({ sessionStorage }) calls it')
  await storage.storeSession({
    id: 'offline_shop.qumra.store',
    store: 'shop.qumra.store',
    accessToken: 'example-token',
    isOnline: false,
    scope: 'read_products',
    expires: new Date(Date.now() + 60 * 60 * 1000),
    lastSeenAt: new Date(),
  })
  console.log('loadSession(id) ->', await storage.loadSession('offline_shop.qumra.store'))
  console.log('loadSession(missing id) ->', await storage.loadSession('no-such-session'))
  console.log(
    'findSessionsByStore(store) ->',
    (await storage.findSessionsByStore('shop.qumra.store')).map((session) => session.id),
  )

  console.log('\nerrors carry a stable code')
  try {
    await storage.loadSession('my-store', { $ne: null })
  } catch (error) {
    console.log(`${error.code}: ${error.message}`)
  }

  console.log('\ndeleting')
  console.log('deleteSession(store, id) ->', await storage.deleteSession('my-store', 'session-123'))
  console.log('deleteSessions(ids) ->', await storage.deleteSessions(['offline_shop.qumra.store', 'session-short']))
  console.log('deleteSessions(store, []) ->', await storage.deleteSessions('my-store', []))
} finally {
  await storage.disconnect()
  await server?.stop()
}
console.log('\ndone')
