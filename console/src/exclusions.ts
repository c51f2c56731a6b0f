// What the IPS tuning page writes into a policy for "mark as false positive" (docs/ips.md): the
// rule on one target, on one target under a path prefix, or the whole rule; and the default
// prefix offered (the directory of the rule's top path). The agent and the manager match prefixes
// at a segment boundary on the normalised path (agent/modules/ips/path_prefix.h); both refuse a
// prefix that is not written normalised.
export type Scope = 'rule' | 'target' | 'prefix';

export function prefixOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i + 1);
}

// The `ips.exclusions` entry for a scope (not 'rule': that one disables the rule in `ips.rules`).
export function exclusionFor(scope: Exclude<Scope, 'rule'>, rule: string, target: string, prefix: string): Record<string, unknown> {
  return scope === 'prefix' ? { id: Number(rule), target, path_prefix: prefix } : { id: Number(rule), target };
}

// The preview's query parameters (GET /ips/tuning?exclude_rule=…).
export function previewParams(scope: Scope, rule: string, target: string, prefix: string): Record<string, string> {
  const q: Record<string, string> = { exclude_rule: rule };
  if (scope !== 'rule' && target) q.exclude_target = target;
  if (scope === 'prefix') q.exclude_path = prefix;
  return q;
}
