// End-to-end tests: Debian's chromium (never a downloaded browser) against a real ward-manager on
// SQLite that e2e/global-setup.ts starts and fills through the REST and agent APIs.
// Run by CTest (console_e2e) with WARD_MANAGER_BIN set; CHROMIUM overrides /usr/bin/chromium.
import { defineConfig } from '@playwright/test';

export default defineConfig({
  testDir: './e2e',
  globalSetup: './e2e/global-setup.ts',
  globalTeardown: './e2e/global-teardown.ts',
  fullyParallel: false,
  workers: 1,
  retries: 0,
  timeout: 180_000,
  expect: { timeout: 30_000 },
  reporter: [['list']],
  outputDir: process.env.WARD_E2E_OUTPUT ?? 'test-results',
  use: {
    ignoreHTTPSErrors: true, // the manager's self-signed certificate
    viewport: { width: 1366, height: 768 },
    timezoneId: 'Asia/Tokyo',
    launchOptions: {
      executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    },
  },
});
