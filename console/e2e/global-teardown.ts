import { rmSync, readFileSync } from 'node:fs';

export default async function globalTeardown() {
  const file = process.env.WARD_E2E_STATE;
  if (!file) return;
  const state = JSON.parse(readFileSync(file, 'utf8'));
  try {
    process.kill(state.pid, 'SIGTERM');
  } catch {
    // already gone
  }
  // Wait (bounded) for the manager to exit before removing its directory.
  for (let i = 0; i < 100; i++) {
    try {
      process.kill(state.pid, 0);
    } catch {
      break;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  if (!process.env.WARD_E2E_KEEP) rmSync(state.dir, { recursive: true, force: true });
}
