// Runs the project's commands on a fresh clone: installs the npm dependencies when they are
// missing, builds the addon, then runs the test suite or the example.
//
//   node scripts/dev.mjs test [vitest arguments]   type tests, Vitest suite, consumer tests
//   node scripts/dev.mjs example
//   node scripts/dev.mjs bench                    benchmark against 2.0.2 and the raw driver
//
// The addon is built in release mode, as it ships; ADDON_PROFILE=debug builds faster for
// local work. The tests and the example use MONGODB_URI when it is set and otherwise start
// the local test server themselves.

import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit', ...options })
  if (result.error) throw result.error
  return result.status ?? 1
}

function runOrExit(command, args) {
  const status = run(command, args)
  if (status !== 0) {
    console.error(`[dev] ${command} ${args.join(' ')} failed with exit code ${status}`)
    process.exit(status)
  }
}

function installDependencies() {
  const installed = ['@napi-rs/cli', 'vitest', 'mongodb', 'typescript'].every((name) =>
    existsSync(path.join(root, 'node_modules', name, 'package.json')),
  )
  if (installed) return
  const lockfile = existsSync(path.join(root, 'package-lock.json'))
  runOrExit('npm', [lockfile ? 'ci' : 'install', '--no-audit', '--no-fund'])
}

function buildAddon({ release = process.env.ADDON_PROFILE !== 'debug' } = {}) {
  const args = ['napi', 'build', '--platform']
  if (release) args.push('--release')
  runOrExit('npx', args)
}

const [command, ...rest] = process.argv.slice(2)
switch (command) {
  case 'test':
    installDependencies()
    buildAddon()
    // The type tests compile only; each wrong call in them is marked @ts-expect-error.
    runOrExit('npx', ['tsc', '-p', '__test__/types'])
    runOrExit('npx', ['vitest', 'run', ...rest])
    // The packed package, installed into a temporary app, under Jest and Vitest.
    process.exit(run('node', ['scripts/consumer-test.mjs']))
    break
  case 'example':
    installDependencies()
    buildAddon()
    process.exit(run('node', ['examples/basic.mjs']))
    break
  case 'bench':
    installDependencies()
    // Measured as it ships: the release addon, and the baseline built with the same profile.
    buildAddon({ release: true })
    runOrExit('cargo', ['build', '--release', '--example', 'raw-driver'])
    process.exit(run('node', ['bench/run.mjs']))
    break
  default:
    console.error('usage: node scripts/dev.mjs test|example|bench')
    process.exit(2)
}
