export interface Agent {
  id: string;
  hostname: string;
  machine_id: string;
  version: string;
  policy_id: string | null;
  applied_policy_version: number;
  status: 'online' | 'offline';
  last_seen: string | null;
  report: unknown;
  created_at: string;
}
export interface Policy {
  id: string;
  name: string;
  version: number;
  document: Record<string, unknown>;
  created_at: string;
  updated_at: string;
}

// The agent's last heartbeat status (docs/agent-protocol.md): only what the console shows.
export interface ModuleState {
  name: string;
  state: string;
}
export function moduleStates(report: unknown): ModuleState[] {
  const mods = (report as { modules?: unknown } | null)?.modules;
  if (!Array.isArray(mods)) return [];
  return mods
    .filter((m): m is { name: unknown; state: unknown } => m !== null && typeof m === 'object')
    .map((m) => ({ name: String(m.name ?? ''), state: String(m.state ?? '') }))
    .filter((m) => m.name !== '');
}
export function policyError(report: unknown): string {
  const e = (report as { policy_error?: { message?: unknown } } | null)?.policy_error;
  return e && typeof e.message === 'string' ? e.message : '';
}
