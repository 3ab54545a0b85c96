// Fetches the published JavaScript package @qumra/app-session-storage-mongodb@2.0.2, the
// reference that the parity tests and the benchmark compare against, into the git-ignored
// `.oracle/` folder. Only its compiled `dist/index.js` is used: it imports nothing, so its
// dependency @qumra/app-sdk, which the npm registry does not serve, is not installed.

import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

export const ORACLE_PACKAGE = '@qumra/app-session-storage-mongodb@2.0.2'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const directory = path.join(root, '.oracle')
const entry = path.join(directory, 'package', 'dist', 'index.js')

function run(command, args) {
  const result = spawnSync(command, args, { cwd: directory, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' })
  if (result.status !== 0) {
    throw new Error(`[oracle] ${command} ${args.join(' ')} failed with exit code ${result.status}`)
  }
  return result.stdout
}

/** Returns the path of 2.0.2's `dist/index.js`, downloading the package on first use. */
export function ensureOracle() {
  if (existsSync(entry)) return entry
  mkdirSync(directory, { recursive: true })
  run('npm', ['pack', ORACLE_PACKAGE, '--silent'])
  const tarball = readdirSync(directory).find((name) => name.endsWith('.tgz'))
  if (!tarball) throw new Error(`[oracle] npm pack ${ORACLE_PACKAGE} produced no tarball`)
  run('tar', ['-xzf', tarball])
  if (!existsSync(entry)) throw new Error(`[oracle] ${entry} is missing from the package`)
  return entry
}

/** Imports 2.0.2's `MongoDBSessionStorage` class. */
export async function importOracle() {
  const module = await import(pathToFileURL(ensureOracle()).href)
  return module.MongoDBSessionStorage
}
