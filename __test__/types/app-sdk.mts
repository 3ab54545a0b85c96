// The instance is assignable to the app SDK's SessionStorage and can be handed to a
// qumraApp-style function. The interface below is the one the 2.0.2 package implements,
// declared here because @qumra/app-sdk is not installable.
import { MongoDBSessionStorage } from '@qumra/app-session-storage-mongodb'

interface Session {
  id: string
  store: string
  accessToken: string
  isOnline: boolean
  scope?: string
  expires?: Date
  lastSeenAt: Date
}

interface SessionStorage {
  storeSession(session: Session): Promise<boolean>
  loadSession(id: string): Promise<Session | undefined>
  deleteSession(id: string): Promise<boolean>
  deleteSessions(ids: string[]): Promise<boolean>
  findSessionsByStore(store: string): Promise<Session[]>
}

declare function qumraApp(config: { sessionStorage: SessionStorage }): void

const sessionStorage = new MongoDBSessionStorage({ url: 'mongodb://localhost:27017', dbName: 'qumra' })
qumraApp({ sessionStorage })

const asInterface: SessionStorage = sessionStorage
void asInterface

export async function appCalls(storage: MongoDBSessionStorage, session: Session): Promise<void> {
  const stored: boolean = await storage.storeSession(session)
  const loaded: Session | undefined = await storage.loadSession(session.id)
  const deleted: boolean = await storage.deleteSession(session.id)
  const many: boolean = await storage.deleteSessions([session.id])
  const listed: Session[] = await storage.findSessionsByStore(session.store)
  void [stored, loaded, deleted, many, listed]

  // @ts-expect-error an app session needs an accessToken
  await storage.storeSession({ id: 'x', store: 's', isOnline: true, lastSeenAt: new Date() })
  // @ts-expect-error ids are strings
  await storage.loadSession(42)
  // @ts-expect-error deleteSessions takes an array of ids
  await storage.deleteSessions('id')
  // @ts-expect-error loadSession resolves undefined, not null, in this shape
  const wrong: Session | null = await storage.loadSession('id')
  void wrong
}
