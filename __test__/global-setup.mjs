// Starts the local test server unless MONGODB_URI names one, and hands its URI to the tests.
import { startServer } from '../scripts/test-server.mjs'

let server = null

export async function setup({ provide }) {
  let uri = process.env.MONGODB_URI
  if (!uri) {
    server = await startServer()
    uri = server.uri
    process.env.MONGODB_URI = uri
  }
  provide('mongodbUri', uri)
}

export async function teardown() {
  await server?.stop()
}
