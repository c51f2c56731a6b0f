// A real ward-manager for the end-to-end tests: init (with an admin password file), serve on a
// free loopback port, and small clients for the REST API (API key) and the agent API.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'node:https';
import { randomUUID } from 'node:crypto';

export interface Manager {
  url: string;
  dir: string;
  apiKey: string;
  adminUser: string;
  adminPassword: string;
  process: ChildProcess;
}

const insecure = new Agent({ rejectUnauthorized: false });

export async function call(
  url: string,
  method: string,
  path: string,
  opts: { bearer?: string; body?: unknown; raw?: string; contentType?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; body: any }> {
  const data = opts.raw ?? (opts.body === undefined ? undefined : JSON.stringify(opts.body));
  return new Promise((resolve, reject) => {
    const req = request(
      `${url}${path}`,
      {
        method,
        agent: insecure,
        headers: {
          ...(opts.bearer ? { Authorization: `Bearer ${opts.bearer}` } : {}),
          ...(data !== undefined ? { 'Content-Type': opts.contentType ?? 'application/json' } : {}),
          ...(opts.headers ?? {}),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (text += c));
        res.on('end', () => {
          let body: any = null;
          try {
            body = text ? JSON.parse(text) : null;
          } catch {
            body = text;
          }
          resolve({ status: res.statusCode ?? 0, body });
        });
      },
    );
    req.on('error', reject);
    if (data !== undefined) req.write(data);
    req.end();
  });
}

export async function must(url: string, method: string, path: string, opts: Parameters<typeof call>[3] = {}) {
  const r = await call(url, method, path, opts);
  if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

export async function startManager(bin: string): Promise<Manager> {
  const dir = mkdtempSync(join(tmpdir(), 'ward-console-e2e-'));
  const adminPassword = 'correct horse battery staple';
  writeFileSync(join(dir, 'admin-password'), `${adminPassword}\n`, { mode: 0o600 });
  const db = `sqlite:${join(dir, 'ward.db')}`;
  const init = JSON.parse(
    execFileSync(bin, ['init', '--db', db, '--json', '--state-dir', dir, '--admin-password-file', join(dir, 'admin-password')], {
      encoding: 'utf8',
    }),
  );
  // Sign-in is throttled per user name at the default 10/min (the throttling test runs into it);
  // all browsers come from 127.0.0.1, so the per-address limits (tested in gtest: sign-in, and
  // failed authentications, which the specs' deliberate 401s and signed-out pages add up to more
  // than 30 a minute once every spec runs) are lifted.
  const proc = spawn(
    bin,
    [
      'serve', '--db', db, '--listen', '127.0.0.1:0', '--state-dir', dir, '--threads', '8',
      '--signin-rate-address', '1000', '--auth-failures-per-minute', '0',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let log = '';
  proc.stderr!.on('data', (c) => (log += c));
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    proc.stdout!.on('data', (c) => {
      out += c;
      const m = /^listening: (https:\/\/\S+)$/m.exec(out);
      if (m) resolve(m[1]);
    });
    proc.on('exit', (code) => reject(new Error(`ward-manager exited ${code}: ${log}`)));
  });
  writeFileSync(join(dir, 'serve.pid'), String(proc.pid));
  return { url, dir, apiKey: init.api_key, adminUser: init.admin_user, adminPassword, process: proc };
}

function uuid7(ms: number): string {
  const hex = ms.toString(16).padStart(12, '0');
  const r = randomUUID().replace(/-/g, '');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-7${r.slice(13, 16)}-8${r.slice(17, 20)}-${r.slice(20, 32)}`;
}

// Activates an agent with a new activation token of the key's tenant and sends a heartbeat.
export async function activateAgent(url: string, key: string, hostname: string, policyId?: string, modules: Array<{ name: string; state: string }> = []) {
  const token = await must(url, 'POST', '/api/v1/activation-tokens', {
    bearer: key,
    body: { name: `e2e ${hostname}`, ...(policyId ? { policy_id: policyId } : {}) },
  });
  const a = await must(url, 'POST', '/agent/v1/activate', {
    body: { token: token.token, hostname, machine_id: `m-${hostname}`, agent_version: '0.1.0', os: 'Debian GNU/Linux 12' },
  });
  await must(url, 'POST', '/agent/v1/heartbeat', {
    bearer: a.credential,
    body: { machine_id: `m-${hostname}`, status: { version: '0.1.0', hostname, policy_version: 0, modules } },
  });
  return a as { agent_id: string; credential: string };
}

export interface EventSpec {
  module: string;
  action: string;
  severity: number;
  path?: string;
  url?: string;
  rule?: { id: string; name: string };
  minutesAgo?: number;
}

export async function sendEvents(url: string, credential: string, hostname: string, events: EventSpec[]) {
  const now = Date.now();
  const lines = events.map((e, i) => {
    const t = now - (e.minutesAgo ?? 1) * 60_000 - i;
    const ev: any = {
      '@timestamp': new Date(t).toISOString(),
      event: { id: uuid7(t), kind: 'event', module: e.module, action: e.action, severity: e.severity },
      host: { name: hostname },
    };
    if (e.path) ev.file = { path: e.path };
    if (e.url) ev.url = { original: e.url };
    if (e.rule) ev.rule = e.rule;
    return JSON.stringify(ev);
  });
  const r = await must(url, 'POST', '/agent/v1/events', {
    bearer: credential,
    raw: lines.join('\n') + '\n',
    contentType: 'application/x-ndjson',
  });
  if (r.accepted !== events.length) throw new Error(`events: ${JSON.stringify(r)}`);
}

export function readState(): any {
  return JSON.parse(readFileSync(process.env.WARD_E2E_STATE as string, 'utf8'));
}
