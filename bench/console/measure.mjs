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
// The IPS tuning view's one aggregate call (every agent; 24 hours and 7 days; with a preview).
const week = `from=${encodeURIComponent(new Date(Date.now() - 7 * 86400_000).toISOString())}`;
results.tuning_server_ms = await serverTime([`/ips/tuning?${f}`, `/ips/tuning?${week}`, `/ips/tuning?${week}&exclude_rule=942100`]);

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
  const timeline = [];
  await page.addInitScript(() => {
    // Main-thread tasks over 50 ms (the browser's own long-task timeline), from navigation.
    window.__long = [];
    new PerformanceObserver((l) => window.__long.push(...l.getEntries().map((e) => [e.startTime, e.duration]))).observe({ type: 'longtask', buffered: true });
  });
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    await page.goto(`${url}/?range=24h`);
    // Fully rendered: the charts, totals, top lists and the attention list (which needs /agents).
    await page.getByTestId('dash-total').waitFor();
    await page.getByTestId('dash-summary').waitFor();
    await page.locator('ol.toplist, .card p.muted').first().waitFor();
    await page.getByRole('img').first().waitFor();
    await page.locator('[data-testid="attention"], .card p.muted').first().waitFor();
    await page.waitForFunction(() => document.querySelector('[data-testid="attention"]') || /online/.test(document.body.textContent ?? ''));
    const rendered = await page.evaluate(() => performance.now());
    dash.push(performance.now() - t0);
    // Where the time went, in the page's own clock (0 = navigation start).
    timeline.push(
      await page.evaluate((rendered) => {
        const nav = performance.getEntriesByType('navigation')[0];
        const api = performance.getEntriesByType('resource').filter((r) => r.name.includes('/api/v1/'));
        const scripts = performance.getEntriesByType('resource').filter((r) => r.name.endsWith('.js'));
        const long = window.__long ?? [];
        return {
          response_end: Math.round(nav.responseEnd),
          dom_content_loaded: Math.round(nav.domContentLoadedEventEnd),
          script_loaded: Math.round(Math.max(0, ...scripts.map((r) => r.responseEnd))),
          first_api_start: Math.round(Math.min(...api.map((r) => r.startTime))),
          last_api_end: Math.round(Math.max(...api.map((r) => r.responseEnd))),
          api: Object.fromEntries(api.map((r) => [new URL(r.name).pathname + (new URL(r.name).searchParams.get('field') ?? ''), [Math.round(r.startTime), Math.round(r.responseEnd)]])),
          long_tasks_ms: Math.round(long.reduce((s, [, d]) => s + d, 0)),
          long_tasks: long.length,
          rendered: Math.round(rendered),
        };
      }, rendered),
    );
  }
  results.dashboard_rendered_ms = { p50: ms(pct(dash, 0.5)), max: ms(Math.max(...dash)), n: dash.length };
  results.dashboard_timeline = timeline;
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
