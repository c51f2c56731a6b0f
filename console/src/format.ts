// Formatting of values for display: times in the user's time zone and language, event fields.
// Everything returns plain strings (rendered as text).
import { signal } from '@preact/signals';
import type { Lang } from './i18n';

// The signed-in user's time zone (IANA name from GET /session; '' = the browser's own). Every
// formatTime() without an explicit zone uses it.
export const userTimeZone = signal('');

// The IANA names the browser knows, for the selector ('' first = the browser's own).
export function timeZones(): string[] {
  const supported = (Intl as unknown as { supportedValuesOf?: (k: string) => string[] }).supportedValuesOf;
  const names = supported ? supported('timeZone') : [];
  return names.includes('UTC') ? names : ['UTC', ...names];
}

export function formatTime(iso: string | null | undefined, lang: Lang, timeZone: string | undefined = userTimeZone.value || undefined): string {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return timeFormat(lang, timeZone).format(d);
}

// One Intl.DateTimeFormat per language and zone: constructing one costs far more than formatting
// with it (the dashboard formats a time per agent needing attention, the events table one per row).
const formats = new Map<string, Intl.DateTimeFormat>();
function timeFormat(lang: Lang, timeZone: string | undefined): Intl.DateTimeFormat {
  const key = `${lang}|${timeZone ?? ''}`;
  let f = formats.get(key);
  if (!f) {
    f = new Intl.DateTimeFormat(lang === 'ja' ? 'ja-JP' : 'en-GB', {
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
      hour12: false,
      timeZone,
    });
    formats.set(key, f);
  }
  return f;
}

// Reads a dotted field of an event ("file.path"), tolerating both nested and flat keys.
export function field(ev: unknown, path: string): unknown {
  if (ev === null || typeof ev !== 'object') return undefined;
  const obj = ev as Record<string, unknown>;
  if (path in obj) return obj[path];
  let cur: unknown = obj;
  for (const part of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

export function fieldText(ev: unknown, path: string): string {
  const v = field(ev, path);
  if (v === undefined || v === null) return '';
  return typeof v === 'string' ? v : JSON.stringify(v);
}

// The one line that says what an event is about: a path, a URL or a rule.
export function eventSubject(ev: unknown): string {
  for (const p of ['file.path', 'url.original', 'rule.name', 'rule.id', 'message']) {
    const s = fieldText(ev, p);
    if (s) return s;
  }
  return '';
}

export function severityOf(ev: unknown): number | undefined {
  const v = field(ev, 'event.severity');
  return typeof v === 'number' && v >= 0 && v <= 4 ? v : undefined;
}

// Counts values of one field over a list of events, most frequent first.
export function topValues(events: unknown[], path: string, n: number): Array<[string, number]> {
  const counts = new Map<string, number>();
  for (const ev of events) {
    const v = fieldText(ev, path);
    if (v) counts.set(v, (counts.get(v) ?? 0) + 1);
  }
  return [...counts.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).slice(0, n);
}
