// The Events page's filter state and its two encodings: the page URL (shareable, what the
// browser's address bar shows) and the REST query (/api/v1/events). Pure functions, unit-tested
// in tests/filters.test.ts. Unknown URL parameters are dropped; invalid values are dropped
// rather than sent (the API would answer 400).
export interface EventFilter {
  from?: string; // RFC 3339
  to?: string;
  module?: string;
  min_severity?: number; // 0..4
  action?: string;
  agent?: string;
  q?: string;
  cursor?: string;
}

const TEXT_KEYS = ['from', 'to', 'module', 'action', 'agent', 'q', 'cursor'] as const;

function clean(v: string | null): string | undefined {
  if (v === null) return undefined;
  const s = v.trim();
  return s.length > 0 && s.length <= 256 ? s : undefined;
}

export function filterFromSearch(search: string): EventFilter {
  const p = new URLSearchParams(search);
  const f: EventFilter = {};
  for (const k of TEXT_KEYS) {
    const v = clean(p.get(k));
    if (v !== undefined) f[k] = v;
  }
  const sev = p.get('min_severity');
  if (sev !== null && /^[0-4]$/.test(sev)) f.min_severity = Number(sev);
  for (const k of ['from', 'to'] as const) {
    if (f[k] !== undefined && Number.isNaN(Date.parse(f[k] as string))) delete f[k];
  }
  return f;
}

// Stable order, so the same filter always makes the same URL.
export function filterToSearch(f: EventFilter): string {
  const p = new URLSearchParams();
  for (const k of ['from', 'to', 'module', 'min_severity', 'action', 'agent', 'q', 'cursor'] as const) {
    const v = f[k];
    if (v !== undefined && v !== '') p.set(k, String(v));
  }
  const s = p.toString();
  return s ? `?${s}` : '';
}

export function filterToApiQuery(f: EventFilter, limit: number): string {
  const p = new URLSearchParams();
  for (const k of ['from', 'to', 'module', 'min_severity', 'action', 'agent', 'q', 'cursor'] as const) {
    const v = f[k];
    if (v !== undefined && v !== '') p.set(k, String(v));
  }
  p.set('order', 'desc');
  p.set('limit', String(limit));
  return p.toString();
}

export function withoutCursor(f: EventFilter): EventFilter {
  const { cursor: _unused, ...rest } = f;
  return rest;
}

// <input type="datetime-local"> speaks local time without a zone; the API speaks UTC.
export function localInputToIso(v: string): string | undefined {
  if (!v) return undefined;
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

export function isoToLocalInput(iso: string | undefined): string {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}
