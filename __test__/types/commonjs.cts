// The CommonJS entry has the same types.
import storage = require('@qumra/app-session-storage-mongodb')

const instance = new storage.MongoDBSessionStorage({ url: 'mongodb://localhost:27017/qumra' })
export const loaded: Promise<storage.StoredSession | null> = instance.loadSession('store', 'id')
