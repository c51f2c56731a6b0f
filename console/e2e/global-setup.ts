// Starts ward-manager (WARD_MANAGER_BIN) and fills it: users of every role, a policy, agents
// with events (some hostile), and a second tenant with its own user, agent and events.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { activateAgent, must, sendEvents, startManager } from './manager';

export const HOSTILE_FILE = '/var/www/<img src=x onerror=alert(1)>.html';
export const HOSTILE_URL = '/search?q=<script>alert(2)</script>';

export default async function globalSetup() {
  const bin = process.env.WARD_MANAGER_BIN;
  if (!bin) throw new Error('WARD_MANAGER_BIN is not set (run through ctest -R console_e2e)');
  const m = await startManager(bin);
  const key = m.apiKey;
  const users = {
    admin: { username: m.adminUser, password: m.adminPassword },
    operator: { username: 'olivia', password: 'operator password 1' },
    auditor: { username: 'aiko', password: 'auditor password 1' },
    throttled: { username: 'tess', password: 'throttle password 1' },
  };
  await must(m.url, 'POST', '/api/v1/users', { bearer: key, body: { username: 'olivia', role: 'operator', password: users.operator.password } });
  await must(m.url, 'POST', '/api/v1/users', { bearer: key, body: { username: 'aiko', role: 'auditor', password: users.auditor.password, language: 'ja' } });
  await must(m.url, 'POST', '/api/v1/users', { bearer: key, body: { username: 'tess', role: 'auditor', password: users.throttled.password } });
  const policy = await must(m.url, 'POST', '/api/v1/policies', {
    bearer: key,
    body: { name: 'web', document: { integrity: { paths: ['/var/www'], schedule: '1h' } } },
  });
  const web1 = await activateAgent(m.url, key, 'web-01', policy.id, [{ name: 'integrity', state: 'running' }, { name: 'ips', state: 'running' }]);
  const web2 = await activateAgent(m.url, key, 'web-02', undefined, [{ name: 'integrity', state: 'running' }, { name: 'antimalware', state: 'degraded' }]);
  await sendEvents(m.url, web1.credential, 'web-01', [
    { module: 'integrity', action: 'modified', severity: 2, path: '/var/www/index.html', minutesAgo: 50 },
    { module: 'integrity', action: 'created', severity: 2, path: HOSTILE_FILE, minutesAgo: 40 },
    { module: 'integrity', action: 'modified', severity: 2, path: '/var/www/index.html', minutesAgo: 30 },
    { module: 'ips', action: 'detected', severity: 3, url: HOSTILE_URL, rule: { id: '941100', name: 'XSS Attack Detected via libinjection' }, minutesAgo: 20 },
    { module: 'ips', action: 'detected', severity: 3, url: '/?id=1 OR 1=1', rule: { id: '942100', name: 'SQL Injection Attack Detected via libinjection' }, minutesAgo: 15 },
    { module: 'antimalware', action: 'quarantine', severity: 3, path: '/var/www/uploads/shell.php', minutesAgo: 10 },
  ]);
  await sendEvents(m.url, web2.credential, 'web-02', [
    { module: 'integrity', action: 'deleted', severity: 2, path: '/etc/nginx/nginx.conf', minutesAgo: 5 },
    ...Array.from({ length: 60 }, (_, i) => ({ module: 'ips', action: 'detected', severity: 1, url: `/page/${i}`, rule: { id: '920350', name: 'Host header is a numeric IP address' }, minutesAgo: 100 + i })),
  ]);
  // A second tenant that must stay invisible to the first.
  const tenantB = await must(m.url, 'POST', '/api/v1/tenants', { bearer: key, body: { name: 'project-b' } });
  const keyB = tenantB.admin_key.secret;
  const bob = { username: 'bob', password: 'tenant b password' };
  await must(m.url, 'POST', '/api/v1/users', { bearer: keyB, body: { username: 'bob', role: 'admin', password: bob.password } });
  const b1 = await activateAgent(m.url, keyB, 'b-secret-host');
  await sendEvents(m.url, b1.credential, 'b-secret-host', [
    { module: 'integrity', action: 'modified', severity: 3, path: '/srv/b-only-path/secret.txt', minutesAgo: 3 },
  ]);
  const policyB = await must(m.url, 'POST', '/api/v1/policies', { bearer: keyB, body: { name: 'b-policy', document: {} } });

  const state = {
    url: m.url,
    pid: m.process.pid,
    dir: m.dir,
    apiKey: key,
    users: { ...users, bob },
    agents: { web1: web1.agent_id, web2: web2.agent_id, b1: b1.agent_id },
    policy: policy.id,
    policyB: policyB.id,
  };
  const file = join(m.dir, 'state.json');
  writeFileSync(file, JSON.stringify(state));
  process.env.WARD_E2E_STATE = file;
  m.process.unref();
  (m.process.stdout as any)?.unref?.();
  (m.process.stderr as any)?.unref?.();
}
