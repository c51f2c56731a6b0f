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
