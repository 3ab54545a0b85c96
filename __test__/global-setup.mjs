// Starts the local test server unless MONGODB_URI names one, and hands its URI to the tests.
// TEST_TOPOLOGY=replica-set starts it as the single-node replica set `secantus` and adds the
// production settings to the URI: majority writes, primary reads, retryable writes.
import { startServer } from '../scripts/test-server.mjs'

const REPLICA_SET_QUERY = 'replicaSet=secantus&w=majority&readPreference=primary&retryWrites=true'

let server = null

export async function setup({ provide }) {
  let uri = process.env.MONGODB_URI
  if (!uri) {
    const replicaSet = process.env.TEST_TOPOLOGY === 'replica-set'
    server = await startServer({ replicaSet })
    uri = replicaSet ? `mongodb://127.0.0.1:${server.port}/?${REPLICA_SET_QUERY}` : server.uri
    process.env.MONGODB_URI = uri
  }
  provide('mongodbUri', uri)
}

export async function teardown() {
  await server?.stop()
}
