// Installs the package as an app would and runs a small suite there under Jest (CommonJS and
// ESM) and Vitest (threads and forks pools), several test files in parallel workers, each
// loading the addon.
//
// It packs the root package and the host's platform package (npm/<platform>/ with the built
// binary) with `npm pack`, installs both tarballs into a temporary app, and installs Jest and
// Vitest there from the npm registry. Run `npm run build` first. Uses MONGODB_URI when it is
// set, and otherwise starts the local test server.

import { spawnSync } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { startServer } from './test-server.mjs'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

function run(command, args, cwd, env = {}) {
  console.error(`[consumer] ${path.relative(root, cwd) || '.'}$ ${command} ${args.join(' ')}`)
  const result = spawnSync(command, args, { cwd, stdio: 'inherit', env: { ...process.env, ...env } })
  if (result.status !== 0) {
    throw new Error(`[consumer] ${command} ${args.join(' ')} failed with exit code ${result.status}`)
  }
}

function pack(directory, destination) {
  const result = spawnSync('npm', ['pack', '--silent', '--pack-destination', destination], {
    cwd: directory,
    encoding: 'utf8',
  })
  if (result.status !== 0) throw new Error(`[consumer] npm pack in ${directory} failed: ${result.stderr}`)
  return path.join(destination, result.stdout.trim().split('\n').pop())
}

/** Packs the root package and the platform package holding the binary built for this host. */
export function packPackages(destination) {
  const binary = readdirSync(root).find((name) => /^session-storage-mongodb\..+\.node$/.test(name))
  if (!binary) throw new Error('[consumer] no built addon in the repository root; run npm run build first')
  const platform = binary.split('.').slice(1, -1).join('.')
  const platformSource = path.join(root, 'npm', platform)
  if (!existsSync(path.join(platformSource, 'package.json'))) {
    throw new Error(`[consumer] npm/${platform}/package.json is missing; run npx napi create-npm-dirs`)
  }
  const platformDirectory = path.join(destination, `platform-${platform}`)
  mkdirSync(platformDirectory, { recursive: true })
  for (const name of readdirSync(platformSource)) copyFileSync(path.join(platformSource, name), path.join(platformDirectory, name))
  copyFileSync(path.join(root, binary), path.join(platformDirectory, binary))
  return { rootTarball: pack(root, destination), platformTarball: pack(platformDirectory, destination), platform }
}

const suite = (importLine) => `${importLine}

const url = process.env.MONGODB_URI
const dbName = 'consumer_' + process.pid + '_' + Math.random().toString(16).slice(2, 8)

describe('installed package', () => {
  let storage
  beforeAll(() => {
    storage = new MongoDBSessionStorage({ url, dbName })
  })
  afterAll(async () => {
    await storage.deleteSessions('consumer-shop', ['c-1', 'c-2'])
    await storage.disconnect()
  })

  test('stores and loads in both shapes', async () => {
    expect(await storage.storeSession('consumer-shop', { id: 'c-1', data: { at: new Date(0) } })).toBe(true)
    const loaded = await storage.loadSession('consumer-shop', 'c-1')
    // Jest runs each file in its own realm, so a Date made by the addon is not instanceof
    // that realm's Date; the tag and the time are checked instead.
    expect(Object.prototype.toString.call(loaded.data.at)).toBe('[object Date]')
    expect(loaded.data.at.getTime()).toBe(0)
    expect(await storage.storeSession({ id: 'c-2', store: 'consumer-shop', accessToken: 't', isOnline: false, lastSeenAt: new Date() })).toBe(true)
    expect((await storage.loadSession('c-2')).accessToken).toBe('t')
    expect(await storage.loadSession('missing')).toBeUndefined()
  })

  test('rejects bad input with a code', async () => {
    await expect(storage.loadSession('consumer-shop', { $ne: null })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' })
  })
})
`

function writeApp(app, { rootTarball, platformTarball }) {
  writeFileSync(
    path.join(app, 'package.json'),
    JSON.stringify({ name: 'consumer-app', private: true, version: '1.0.0' }, null, 2),
  )
  run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', rootTarball, platformTarball, 'jest@29', 'vitest@3'], app)

  const files = {
    'jest-cjs/first.test.cjs': suite(`const { MongoDBSessionStorage } = require('@qumra/app-session-storage-mongodb')`),
    'jest-cjs/second.test.cjs': suite(`const { MongoDBSessionStorage } = require('@qumra/app-session-storage-mongodb')`),
    'jest-cjs/third.test.cjs': suite(`const { MongoDBSessionStorage } = require('@qumra/app-session-storage-mongodb')`),
    'jest-esm/first.test.mjs': suite(`import { MongoDBSessionStorage } from '@qumra/app-session-storage-mongodb'\nimport { describe, test, expect, beforeAll, afterAll } from '@jest/globals'`),
    'jest-esm/second.test.mjs': suite(`import { MongoDBSessionStorage } from '@qumra/app-session-storage-mongodb'\nimport { describe, test, expect, beforeAll, afterAll } from '@jest/globals'`),
    'vitest/first.test.mjs': suite(`import { MongoDBSessionStorage } from '@qumra/app-session-storage-mongodb'\nimport { describe, test, expect, beforeAll, afterAll } from 'vitest'`),
    'vitest/second.test.mjs': suite(`import { MongoDBSessionStorage } from '@qumra/app-session-storage-mongodb'\nimport { describe, test, expect, beforeAll, afterAll } from 'vitest'`),
    'vitest/third.test.mjs': suite(`import { MongoDBSessionStorage } from '@qumra/app-session-storage-mongodb'\nimport { describe, test, expect, beforeAll, afterAll } from 'vitest'`),
  }
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(app, name)), { recursive: true })
    writeFileSync(path.join(app, name), text)
  }
}

async function main() {
  const server = process.env.MONGODB_URI ? null : await startServer()
  const env = { MONGODB_URI: process.env.MONGODB_URI ?? server.uri }
  const workspace = mkdtempSync(path.join(tmpdir(), 'session-consumer-'))
  try {
    const tarballs = packPackages(workspace)
    const app = path.join(workspace, 'app')
    mkdirSync(app)
    writeApp(app, tarballs)
    const jest = path.join('node_modules', '.bin', 'jest')
    const vitest = path.join('node_modules', '.bin', 'vitest')
    run(jest, ['--ci', '--maxWorkers=2', '--testMatch', '**/jest-cjs/*.test.cjs'], app, env)
    run(jest, ['--ci', '--maxWorkers=2', '--testMatch', '**/jest-esm/*.test.mjs'], app, {
      ...env,
      NODE_OPTIONS: '--experimental-vm-modules --no-warnings',
    })
    for (const pool of ['threads', 'forks']) {
      run(vitest, ['run', '--pool', pool, '--dir', 'vitest', '--globals=false'], app, env)
    }
    console.error(`[consumer] passed on ${tarballs.platform}: Jest (CommonJS, ESM) and Vitest (threads, forks)`)
  } finally {
    await server?.stop()
    rmSync(workspace, { recursive: true, force: true })
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((error) => {
    console.error(error.message)
    process.exit(1)
  })
}
