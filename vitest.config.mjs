import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['__test__/**/*.test.mjs'],
    globalSetup: ['__test__/global-setup.mjs'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
})
