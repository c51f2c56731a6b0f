// Measures the console against a running ward-manager (bench/console/run.sh starts one): the
// dashboard rendered in Debian's chromium, the Events filter p95, the export's first 200 rows and
// rows/s, the initial JavaScript gzipped, and the same REST calls' server time alone.
//
//   node bench/console/measure.mjs URL API_KEY USER PASSWORD DIST_DIR [EXPORT_ROWS]
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'node:https';
import { gzipSync } from 'node:zlib';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(here, '../../console/package.json'));
const { chromium } = require('@playwright/test');

const [url, key, user, password, dist, exportRowsArg] = process.argv.slice(2);
const exportRows = Number(exportRowsArg ?? '1000000');
const insecure = new Agent({ rejectUnauthorized: false, keepAlive: true });
const RUNS = 5;

function pct(v, p) {
  const s = [...v].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.round(p * (s.length - 1)))];
}
const ms = (x) => Math.round(x * 10) / 10;

// One API call; resolves with the milliseconds until the whole body arrived.
function timed(path) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = request(`${url}/api/v1${path}`, { agent: insecure, headers: { Authorization: `Bearer ${key}`, 'Accept-Encoding': 'gzip' } }, (res) => {
      res.on('data', () => {});
      res.on('end', () => (res.statusCode === 200 ? resolve(performance.now() - t0) : reject(new Error(`${path}: ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end();
  });
}

async function serverTime(paths) {
  const out = {};
  for (const p of paths) {
    const v = [];
    for (let i = 0; i < RUNS; i++) v.push(await timed(p));
    out[p] = ms(pct(v, 0.5));
  }
  return out;
}

// The export: time to the first 200 data rows, and rows/s up to `limit` rows.
function exportRun(limit) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    let rows = -1; // the header
    let first200 = null;
    const req = request(`${url}/api/v1/events/export?format=csv&order=desc`, { agent: insecure, headers: { Authorization: `Bearer ${key}` } }, (res) => {
      res.on('data', (chunk) => {
        for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) rows++;
        if (first200 === null && rows >= 200) first200 = performance.now() - t0;
        if (rows >= limit) {
          const secs = (performance.now() - t0) / 1000;
          req.destroy();
          resolve({ rows, first200_ms: ms(first200), seconds: ms(secs), rows_per_s: Math.round(rows / secs) });
        }
      });
      res.on('end', () => {
        const secs = (performance.now() - t0) / 1000;
        resolve({ rows, first200_ms: first200 === null ? null : ms(first200), seconds: ms(secs), rows_per_s: Math.round(rows / secs) });
      });
    });
    req.on('error', (e) => (e.code === 'ECONNRESET' ? undefined : reject(e)));
    req.end();
  });
}

function initialJs() {
  const html = readFileSync(join(dist, 'index.html'), 'utf8');
  const files = [...html.matchAll(/(?:src|href)="\/?(assets\/[^"]+\.js)"/g)].map((m) => m[1]);
  let raw = 0;
  let gz = 0;
  for (const f of files) {
    const b = readFileSync(join(dist, f));
    raw += b.length;
    gz += gzipSync(b, { level: 9 }).length;
  }
  return { files: files.length, bytes: raw, gzip_bytes: gz };
}

const results = { initial_js: initialJs() };
const from = new Date(Date.now() - 86400_000).toISOString();
const f = `from=${encodeURIComponent(from)}`;
const dashboardCalls = [
  `/events/counts?${f}&bucket=1h`,
  `/events/top?field=rule&limit=5&${f}`,
  `/events/top?field=agent&limit=5&${f}`,
  `/events/top?field=path&limit=5&module=integrity&${f}`,
  `/events/summary?${f}`,
  '/agents',
  '/policies',
];
results.dashboard_server_ms = await serverTime(dashboardCalls);

const filters = [
  '', 'module=ips', 'module=integrity', 'module=autoheal&action=restored', 'min_severity=3',
  'module=ips&min_severity=3', 'q=942100', 'q=wp-login.php', 'q=%2Fetc%2Fpasswd', 'action=blocked',
  'module=antimalware', 'q=nothing-matches-this', `${f}`, `${f}&module=ips`, 'module=ips&action=detected',
  'q=authorized_keys&module=integrity', 'min_severity=2&module=integrity', 'q=920350', 'q=style.css', 'action=created',
];
const apiFilter = [];
for (const q of filters) {
  for (let i = 0; i < 2; i++) apiFilter.push(await timed(`/events?${q}${q ? '&' : ''}order=desc&limit=50`));
}
results.events_filter_server_ms = { p50: ms(pct(apiFilter, 0.5)), p95: ms(pct(apiFilter, 0.95)), n: apiFilter.length };

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
});
try {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1366, height: 768 } });
  const page = await context.newPage();
  await page.goto(`${url}/`);
  await page.getByLabel('User name').fill(user);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByTestId('who').waitFor();
  const dash = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    await page.goto(`${url}/?range=24h`);
    await page.getByTestId('dash-total').waitFor();
    await page.getByTestId('dash-summary').waitFor();
    await page.locator('ol.toplist, .card p.muted').first().waitFor();
    await page.getByRole('img').first().waitFor();
    dash.push(performance.now() - t0);
  }
  results.dashboard_rendered_ms = { p50: ms(pct(dash, 0.5)), max: ms(Math.max(...dash)), n: dash.length };
  const ev = [];
  await page.goto(`${url}/events`);
  await page.getByTestId('events').waitFor();
  await page.getByRole('button', { name: 'Pause live tail' }).click();
  for (const q of filters) {
    const t0 = performance.now();
    await page.evaluate((s) => {
      history.pushState(null, '', s);
      dispatchEvent(new PopStateEvent('popstate'));
    }, `/events?${q}`);
    await page.waitForFunction(() => !document.querySelector('main p')?.textContent?.startsWith('Loading'));
    await page.locator('[data-testid="events"], main p.muted').first().waitFor();
    ev.push(performance.now() - t0);
  }
  results.events_filter_rendered_ms = { p50: ms(pct(ev, 0.5)), p95: ms(pct(ev, 0.95)), n: ev.length };
} finally {
  await browser.close();
}
results.export_csv = await exportRun(exportRows);
console.log(JSON.stringify(results, null, 2));
insecure.destroy();
process.exit(0);
