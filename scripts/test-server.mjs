// Installs and runs SecantusDB, the MongoDB-wire-compatible server the tests, the example and
// the benchmark use when MONGODB_URI is not set. It is a test-time tool (GPL-licensed) and never
// a dependency of the published package.
//
// The server goes into a git-ignored virtual environment, `.venv-secantus/`, and listens on a
// free loopback port.

import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

export const SERVER_PACKAGE = 'secantusdb==0.7.0b3'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const venv = path.join(root, '.venv-secantus')
const serverBinary = path.join(venv, 'bin', 'secantusd-py')
const marker = path.join(venv, 'installed-package')
const logDirectory = path.join(root, '.test-servers')

/** Creates the virtual environment and installs the pinned server, unless already done. */
export function installServer() {
  if (existsSync(serverBinary) && existsSync(marker) && readFileSync(marker, 'utf8') === SERVER_PACKAGE) {
    return serverBinary
  }
  const python = process.env.PYTHON ?? 'python3'
  console.error(`[test-server] installing ${SERVER_PACKAGE} into ${path.relative(root, venv)}/`)
  run(python, ['-m', 'venv', venv])
  run(path.join(venv, 'bin', 'pip'), ['install', '--quiet', '--disable-pip-version-check', SERVER_PACKAGE])
  writeFileSync(marker, SERVER_PACKAGE)
  return serverBinary
}

function run(command, args) {
  const result = spawnSync(command, args, { stdio: 'inherit' })
  if (result.status !== 0) {
    throw new Error(`[test-server] ${command} ${args.join(' ')} failed with exit code ${result.status}`)
  }
}

/** Returns a TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const probe = net.createServer()
    probe.once('error', reject)
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address()
      probe.close(() => resolve(port))
    })
  })
}

/**
 * Starts a server and resolves once it responds to `ping`.
 *
 * Options: `port` (default: a free one), `storagePath` (default `:memory:`; pass a directory
 * for data that survives a restart), `replicaSet` (default false: a standalone server; true
 * starts the single-node replica set `secantus`), `args` (more command-line flags).
 * Resolves `{ uri, port, stop, restart }`.
 */
export async function startServer(options = {}) {
  const binary = installServer()
  const port = options.port ?? (await freePort())
  const storagePath = options.storagePath ?? ':memory:'
  const args = ['--host', '127.0.0.1', '--port', String(port), '--storage-path', storagePath]
  if (!options.replicaSet) args.push('--standalone')
  args.push(...(options.args ?? []))

  mkdirSync(logDirectory, { recursive: true })
  const logFile = path.join(logDirectory, `server-${port}.log`)
  let child = null

  const launch = async () => {
    const log = openSync(logFile, 'a')
    child = spawn(binary, args, { stdio: ['ignore', log, log] })
    // A test process that exits or crashes without stop() must not leave the server running.
    const current = child
    const killOnExit = () => current.kill('SIGKILL')
    process.once('exit', killOnExit)
    current.once('exit', () => process.off('exit', killOnExit))
    const exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)))
    const ready = waitForPing(port, 30_000).then(() => (options.replicaSet ? waitForPrimary(port, 30_000) : undefined))
    const first = await Promise.race([ready.then(() => 'ready'), exited.then((code) => ({ code }))])
    if (first !== 'ready') {
      throw new Error(`[test-server] server exited with code ${first.code} before it responded to ping; see ${logFile}`)
    }
  }

  const stop = async () => {
    if (!child || child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise((resolve) => child.once('exit', resolve))
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
    await exited
    clearTimeout(timer)
  }

  await launch()
  const query = options.replicaSet ? '?replicaSet=secantus' : ''
  return {
    uri: `mongodb://127.0.0.1:${port}/${query}`,
    port,
    logFile,
    stop,
    /** Stops the server and starts it again on the same port and storage. */
    restart: async () => {
      await stop()
      await launch()
    },
    /** Kills the server without letting it shut down cleanly. */
    kill: async () => {
      if (!child || child.exitCode !== null) return
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGKILL')
      await exited
    },
    start: launch,
  }
}

/** Resolves once a MongoDB `ping` on 127.0.0.1:`port` succeeds, or rejects after `timeoutMs`. */
export async function waitForPing(port, timeoutMs) {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await ping(port)) return
    if (Date.now() > deadline) throw new Error(`[test-server] no response to ping on port ${port} within ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

/** Resolves once the server on `port` reports itself writable primary, as a new replica set
 * does only after its election. */
export async function waitForPrimary(port, timeoutMs) {
  // The boolean element `isWritablePrimary: true`: type 0x08, the name, NUL, then 0x01.
  const writable = Buffer.concat([Buffer.from([0x08]), Buffer.from('isWritablePrimary\0'), Buffer.from([0x01])])
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const reply = await command(port, { hello: 1, $db: 'admin' })
    if (reply && reply.includes(writable)) return
    if (Date.now() > deadline) throw new Error(`[test-server] no writable primary on port ${port} within ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

/** Sends one OP_MSG `{ ping: 1, $db: 'admin' }` and returns whether the reply contains `ok: 1`. */
async function ping(port) {
  // A reply with `ok: 1.0` contains the BSON element: type 0x01, "ok\0", then 1.0 as a double.
  const okElement = Buffer.from([0x01, 0x6f, 0x6b, 0x00, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f])
  const reply = await command(port, { ping: 1, $db: 'admin' })
  return reply !== null && reply.includes(okElement)
}

/** Sends one OP_MSG command and resolves the raw reply, or null when the server does not respond. */
function command(port, body) {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port })
    const chunks = []
    const finish = (result) => {
      socket.destroy()
      resolve(result)
    }
    socket.setTimeout(1000, () => finish(null))
    socket.once('error', () => finish(null))
    socket.once('connect', () => socket.write(opMsg(body)))
    socket.on('data', (chunk) => {
      chunks.push(chunk)
      const reply = Buffer.concat(chunks)
      if (reply.length >= 4 && reply.length >= reply.readInt32LE(0)) finish(reply)
    })
  })
}

/** Encodes an OP_MSG with one body section; handles only the number and string values used here. */
function opMsg(command) {
  const elements = []
  for (const [key, value] of Object.entries(command)) {
    const name = Buffer.from(`${key}\0`)
    if (typeof value === 'number') {
      const number = Buffer.alloc(4)
      number.writeInt32LE(value)
      elements.push(Buffer.from([0x10]), name, number)
    } else {
      const text = Buffer.from(`${value}\0`)
      const length = Buffer.alloc(4)
      length.writeInt32LE(text.length)
      elements.push(Buffer.from([0x02]), name, length, text)
    }
  }
  const body = Buffer.concat(elements)
  const document = Buffer.alloc(4 + body.length + 1)
  document.writeInt32LE(document.length)
  body.copy(document, 4)
  const header = Buffer.alloc(16 + 4 + 1)
  header.writeInt32LE(header.length + document.length, 0)
  header.writeInt32LE(1, 4) // requestID
  header.writeInt32LE(0, 8) // responseTo
  header.writeInt32LE(2013, 12) // OP_MSG
  header.writeUInt32LE(0, 16) // flagBits
  header.writeUInt8(0, 20) // section kind 0: body
  return Buffer.concat([header, document])
}

// Command line: `node scripts/test-server.mjs install` installs the server and exits.
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  if (process.argv[2] === 'install') {
    installServer()
  } else {
    console.error('usage: node scripts/test-server.mjs install')
    process.exit(2)
  }
}
