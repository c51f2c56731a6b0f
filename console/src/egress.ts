// The egress module's per-service allow-lists in a policy document (docs/egress.md "Per-service
// allow-lists"): the proposal a service in learn mode sends as an `allowlist_proposed` event, its
// acceptance (the list written into the service's `allow`, and its mode switched to enforce), and
// "add to allow-list" from an egress event. Pure functions over the document; the pages send the
// result with PATCH /policies/{id}, which makes a new policy version.
import { field } from './format';

export interface Service {
  id: string;
  mode: string;
  allow: string[];
}
export interface Proposal {
  service: string;
  allow: string[];
  agent_id: string;
  host: string;
  at: string;
}

type Doc = Record<string, unknown>;

function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}
function egressOf(doc: Doc): Record<string, unknown> | null {
  const e = doc.egress;
  return e !== null && typeof e === 'object' && !Array.isArray(e) ? (e as Record<string, unknown>) : null;
}

export function services(doc: Doc): Service[] {
  const list = egressOf(doc)?.services;
  if (!Array.isArray(list)) return [];
  return list
    .filter((s): s is Record<string, unknown> => s !== null && typeof s === 'object')
    .map((s) => ({ id: String(s.id ?? ''), mode: typeof s.mode === 'string' ? s.mode : 'learn', allow: strings(s.allow) }))
    .filter((s) => s.id !== '');
}

// GET /policies/{id}/egress-proposals: per service of the policy, the newest allow-list learn
// mode proposed on one of the policy's hosts (null: none in the window).
export interface ProposalsAnswer {
  items: Array<{ service: string; mode: string; allow: string[]; proposal: { allow: string[]; agent_id: string; hostname: string; at: string; event_id: string } | null }>;
  truncated: boolean;
}
export function proposalsOf(r: ProposalsAnswer): Proposal[] {
  return r.items
    .filter((i) => i.proposal !== null)
    .map((i) => ({ service: i.service, allow: [...i.proposal!.allow], agent_id: i.proposal!.agent_id, host: i.proposal!.hostname, at: i.proposal!.at }));
}

// A copy of the document with `change` applied to the named service (null: to egress itself).
function withService(doc: Doc, service: string | null, change: (s: Record<string, unknown>) => void): Doc {
  const copy = JSON.parse(JSON.stringify(doc)) as Doc;
  const e = egressOf(copy);
  if (!e) throw new Error('the policy has no egress section');
  if (service === null) {
    change(e);
    return copy;
  }
  const list = Array.isArray(e.services) ? (e.services as Array<Record<string, unknown>>) : [];
  const s = list.find((x) => x !== null && typeof x === 'object' && String(x.id ?? '') === service);
  if (!s) throw new Error(`the policy has no egress service ${service}`);
  change(s);
  return copy;
}

// Accepting a proposal: the service's allow-list becomes what it has plus what was proposed
// (sorted, once each), and its mode `mode` (detect or prevent).
export function acceptProposal(doc: Doc, service: string, proposed: string[], mode: 'detect' | 'prevent'): Doc {
  return withService(doc, service, (s) => {
    s.allow = [...new Set([...strings(s.allow), ...proposed])].sort();
    s.mode = mode;
    delete s.learn_for;
  });
}

// What "add to allow-list" adds for an egress event: the name (the flow's SNI or Host, or the
// DNS question), else the address.
export function destinationOf(ev: unknown): string {
  for (const f of ['destination.domain', 'tls.client.server_name', 'dns.question.name', 'destination.ip']) {
    const v = field(ev, f);
    if (typeof v === 'string' && v !== '') return v.replace(/\.$/, '');
  }
  return '';
}

// The service the event names, when the policy has it; else null (the policy's own `allow`).
export function serviceOf(ev: unknown, doc: Doc): string | null {
  const id = field(ev, 'egress.service.id');
  if (typeof id !== 'string' || id === '') return null;
  return services(doc).some((s) => s.id === id) ? id : null;
}

export function hasEgress(doc: Doc): boolean {
  return egressOf(doc) !== null;
}

// The document with `dest` added to the allow-list of `service` (or the policy's), and whether it
// was not there yet.
export function addToAllowList(doc: Doc, service: string | null, dest: string): { doc: Doc; added: boolean } {
  let added = false;
  const next = withService(doc, service, (s) => {
    const cur = strings(s.allow);
    added = !cur.includes(dest);
    if (added) s.allow = [...cur, dest];
  });
  return { doc: next, added };
}
