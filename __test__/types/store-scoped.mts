// The store-scoped shape, the constructor forms and the error type.
import {
  MongoDBSessionStorage,
  type MongoDBSessionStorageError,
  type StoredSession,
} from '@qumra/app-session-storage-mongodb'

export async function storeScopedCalls(storage: MongoDBSessionStorage): Promise<void> {
  const stored: true = await storage.storeSession('my-store', {
    id: 'session-123',
    userId: 'user-456',
    data: { theme: 'dark' },
    expiresAt: new Date(),
  })
  const loaded: StoredSession | null = await storage.loadSession('my-store', 'session-123')
  if (loaded) {
    const created: Date = loaded.createdAt
    void created
  }
  const deleted: boolean = await storage.deleteSession('my-store', 'session-123')
  const many: boolean = await storage.deleteSessions('my-store', ['a', 'b'])
  const page: StoredSession[] = await storage.findSessionsByStore('my-store', { userId: 'u', limit: 10, offset: 0 })
  await storage.ensureIndex()
  await storage.disconnect()
  void [stored, loaded, deleted, many, page]

  // @ts-expect-error a session needs an id
  await storage.storeSession('my-store', { userId: 'u' })
  // @ts-expect-error limit is a number
  await storage.findSessionsByStore('my-store', { limit: '10' })
  // @ts-expect-error the store comes first
  await storage.loadSession('my-store', 7)
}

export function construct(db: { databaseName: string; client: { options: object } }): MongoDBSessionStorage[] {
  const fromUrl = new MongoDBSessionStorage({ url: 'mongodb://localhost:27017', dbName: 'qumra', collectionName: 'sessions' })
  const fromDb = new MongoDBSessionStorage(db, { collectionName: 'sessions' })
  // @ts-expect-error url is required
  const missingUrl = new MongoDBSessionStorage({ dbName: 'qumra' })
  return [fromUrl, fromDb, missingUrl]
}

export function codeOf(error: unknown): string | undefined {
  const typed = error as MongoDBSessionStorageError
  const code: 'ERR_INVALID_OPTION' | 'ERR_CONNECTION' | string = typed.code
  return code
}
