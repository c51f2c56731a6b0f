// The audit log on the Administration page, filtered on the server (GET /audit with actor, method,
// path, status, from, to; newest first) and paged with the API's next_cursor.
import { useEffect, useState } from 'preact/hooks';
import { api } from '../api';
import { formatTime } from '../format';
import { lang, t } from '../i18n';
import { Head } from '../components/scaffold';

interface Audit {
  id: string;
  actor: string;
  method: string;
  path: string;
  status: number;
  at: string;
  detail?: Record<string, unknown>;
}

interface Filters {
  actor: string;
  method: string;
  path: string;
  status: string;
  from: string; // datetime-local value, in the browser's zone
  to: string;
}

const EMPTY: Filters = { actor: '', method: '', path: '', status: '', from: '', to: '' };
const PAGE = 50;

// The query string of GET /audit for the filters (empty ones left out).
export function auditQuery(f: Filters, cursor?: string): string {
  const q = new URLSearchParams({ order: 'desc', limit: String(PAGE) });
  if (f.actor.trim()) q.set('actor', f.actor.trim());
  if (f.method) q.set('method', f.method);
  if (f.path.trim()) q.set('path', f.path.trim());
  if (f.status) q.set('status', f.status);
  if (f.from) q.set('from', new Date(f.from).toISOString());
  if (f.to) q.set('to', new Date(f.to).toISOString());
  if (cursor) q.set('cursor', cursor);
  return q.toString();
}

export function AuditLog() {
  const [draft, setDraft] = useState<Filters>(EMPTY);
  const [applied, setApplied] = useState<Filters>(EMPTY);
  const [cursors, setCursors] = useState<string[]>([]); // cursors of the pages before this one
  const [cursor, setCursor] = useState<string | undefined>(undefined);
  const [rows, setRows] = useState<Audit[]>([]);
  const [next, setNext] = useState<string | null>(null);
  const [error, setError] = useState('');
  useEffect(() => {
    setError('');
    api<{ items: Audit[]; next_cursor: string | null }>('GET', `/audit?${auditQuery(applied, cursor)}`)
      .then((r) => {
        setRows(r.items);
        setNext(r.next_cursor);
      })
      .catch((e) => setError(String(e.message)));
  }, [applied, cursor]);
  const set = (k: keyof Filters) => (e: Event) => setDraft({ ...draft, [k]: (e.target as HTMLInputElement).value });
  return (
    <>
      <h2 id="audit-title">{t('admin.audit')}</h2>
      <form
        class="inline filters"
        aria-label={t('audit.filters')}
        onSubmit={(e) => {
          e.preventDefault();
          setCursors([]);
          setCursor(undefined);
          setApplied({ ...draft });
        }}
      >
        <label>
          {t('admin.actor')} <input name="actor" placeholder="user:… / apikey:…" value={draft.actor} onInput={set('actor')} />
        </label>
        <label>
          {t('audit.method')}{' '}
          <select name="method" value={draft.method} onChange={set('method')}>
            <option value="">{t('audit.any')}</option>
            {['POST', 'PATCH', 'PUT', 'DELETE', 'AUTH'].map((m) => (
              <option value={m}>{m}</option>
            ))}
          </select>
        </label>
        <label>
          {t('audit.path')} <input name="path" value={draft.path} onInput={set('path')} />
        </label>
        <label>
          {t('admin.status')}{' '}
          <select name="status" value={draft.status} onChange={set('status')}>
            <option value="">{t('audit.any')}</option>
            <option value="2xx">{t('audit.success')}</option>
            <option value="failed">{t('audit.failed')}</option>
            <option value="401">401</option>
            <option value="403">403</option>
            <option value="429">429</option>
          </select>
        </label>
        <label>
          {t('audit.from')} <input name="from" type="datetime-local" value={draft.from} onInput={set('from')} />
        </label>
        <label>
          {t('audit.to')} <input name="to" type="datetime-local" value={draft.to} onInput={set('to')} />
        </label>
        <button type="submit">{t('audit.apply')}</button>
        <button
          type="button"
          onClick={() => {
            setDraft(EMPTY);
            setCursors([]);
            setCursor(undefined);
            setApplied(EMPTY);
          }}
        >
          {t('audit.clear')}
        </button>
      </form>
      {error && (
        <p role="alert" class="error">
          {t('common.error', { message: error })}
        </p>
      )}
      <table data-testid="audit" aria-labelledby="audit-title">
        <Head cols={[t('admin.when'), t('admin.actor'), t('admin.request'), t('admin.status'), t('audit.detail')]} />
        <tbody>
          {rows.map((a) => (
            <tr>
              <td>{formatTime(a.at, lang.value)}</td>
              <td>{a.actor}</td>
              <td>
                {a.method} {a.path}
              </td>
              <td>{a.status}</td>
              <td class="muted">{typeof a.detail?.event === 'string' ? a.detail.event : typeof a.detail?.username === 'string' ? a.detail.username : ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {rows.length === 0 && <p class="muted">{t('audit.none')}</p>}
      <p class="inline">
        <button
          type="button"
          disabled={cursors.length === 0}
          onClick={() => {
            const prev = cursors.slice(0, -1);
            setCursor(cursors[cursors.length - 1] || undefined);
            setCursors(prev);
          }}
        >
          {t('audit.newer')}
        </button>{' '}
        <button
          type="button"
          disabled={!next}
          onClick={() => {
            setCursors([...cursors, cursor ?? '']);
            setCursor(next ?? undefined);
          }}
        >
          {t('audit.older')}
        </button>
      </p>
    </>
  );
}
