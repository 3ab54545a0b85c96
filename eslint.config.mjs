// Lint for the JavaScript in this repository: the test suite, scripts and examples.
import js from '@eslint/js'
import globals from 'globals'

export default [
  { ignores: ['index.js', 'node_modules/', 'target/', '.oracle/', '.venv-secantus/', '.scratch/', 'npm/'] },
  js.configs.recommended,
  {
    files: ['**/*.{js,mjs,cjs}'],
    languageOptions: {
      ecmaVersion: 2024,
      globals: globals.node,
    },
    rules: {
      'no-unused-vars': ['error', { argsIgnorePattern: '^_', ignoreRestSiblings: true }],
    },
  },
]
