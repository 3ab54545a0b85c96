// Rehearses a release for the host platform. It packs the root package and the host's
// platform package with the release binary, and installs both tarballs into a fresh app with
// npm in offline mode, so nothing else is installed. A smoke test then runs there as CommonJS
// and as an ES module against a real server. Run `npm run build` first.

import { spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { packPackages } from './consumer-test.mjs'
import { startServer } from './test-server.mjs'

function run(command, args, cwd, env = {}) {
  const result = spawnSync(command, args, { cwd, stdio: 'inherit', env: { ...process.env, ...env } })
  if (result.status !== 0) throw new Error(`[rehearsal] ${command} ${args.join(' ')} failed with exit code ${result.status}`)
}

const smoke = (load) => `${load}
const dbName = 'rehearsal_' + process.pid
const storage = new MongoDBSessionStorage({ url: process.env.MONGODB_URI, dbName })
const stored = await storage.storeSession('rehearsal-shop', { id: 'r-1', data: { n: 1 } })
const loaded = await storage.loadSession('rehearsal-shop', 'r-1')
const deleted = await storage.deleteSession('rehearsal-shop', 'r-1')
await storage.disconnect()
if (stored !== true || loaded?.data?.n !== 1 || deleted !== true) {
  console.error('smoke test failed', { stored, loaded, deleted })
  process.exit(1)
}
console.log('smoke test passed')
`

const server = process.env.MONGODB_URI ? null : await startServer()
const env = { MONGODB_URI: process.env.MONGODB_URI ?? server.uri }
const workspace = mkdtempSync(path.join(tmpdir(), 'session-rehearsal-'))
try {
  const { rootTarball, platformTarball, platform } = packPackages(workspace)
  const app = path.join(workspace, 'app')
  mkdirSync(app)
  writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'rehearsal-app', private: true }, null, 2))
  run('npm', ['install', '--offline', '--no-audit', '--no-fund', rootTarball, platformTarball], app)

  // Top-level await is wrapped in an async function for CommonJS.
  writeFileSync(path.join(app, 'smoke.cjs'), `(async () => {\n${smoke("const { MongoDBSessionStorage } = require('@qumra/app-session-storage-mongodb')")}\n})()`)
  writeFileSync(path.join(app, 'smoke.mjs'), smoke("import { MongoDBSessionStorage } from '@qumra/app-session-storage-mongodb'"))
  run('node', ['smoke.cjs'], app, env)
  run('node', ['smoke.mjs'], app, env)

  const kib = (file) => Math.round(statSync(file).size / 1024)
  console.log(`[rehearsal] passed on ${platform}: root package ${kib(rootTarball)} KiB, platform package ${kib(platformTarball)} KiB`)
} finally {
  await server?.stop()
  rmSync(workspace, { recursive: true, force: true })
}
