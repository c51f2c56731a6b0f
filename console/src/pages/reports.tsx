// Reports (docs/reports.md): run a summary or PCI DSS report now (period, format, language), the
// past reports to download or delete, and the schedules that make them (daily/weekly/monthly,
// e-mailed to recipients). POST /reports makes the report during the request; the download is a
// plain link to /api/v1/reports/{id}/download (same origin, the session cookie).
import { useEffect, useState } from 'preact/hooks';
import { api, canWrite, me } from '../api';
import { FieldError, errProps } from '../components/field';
import { formError, otherError, splitList, type FormError } from '../fielderror';
import { formatTime } from '../format';
import { lang, t, type Key } from '../i18n';

interface Report {
  id: string;
  kind: 'summary' | 'pci_dss';
  format: 'pdf' | 'html' | 'csv';
  language: 'en' | 'ja';
  from: string;
  to: string;
  schedule_id: string | null;
  created_by: string;
  created_at: string;
  size: number;
  download: string;
}
interface Schedule {
  id: string;
  name: string;
  frequency: 'daily' | 'weekly' | 'monthly';
  kind: Report['kind'];
  format: Report['format'];
  language: Report['language'];
  recipients: string[];
  enabled: boolean;
  next_run_at: string | null;
  last_run_at: string | null;
  last_report_id: string | null;
  last_error: string | null;
  created_at: string;
}

const KINDS = ['summary', 'pci_dss'] as const;
const FORMATS = ['pdf', 'html', 'csv'] as const;
const FREQS = ['daily', 'weekly', 'monthly'] as const;

// A date input's value (YYYY-MM-DD) as the start of that day in UTC; '' stays unset.
export function dayStartUtc(day: string): string | undefined {
  return /^\d{4}-\d{2}-\d{2}$/.test(day) ? `${day}T00:00:00Z` : undefined;
}
function isoDay(d: Date): string {
  return d.toISOString().slice(0, 10);
}
export function formatSize(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

export function Reports() {
  const writable = canWrite();
  const [reports, setReports] = useState<Report[] | null>(null);
  const [next, setNext] = useState<string | null>(null);
  const [cursor, setCursor] = useState<string | null>(null);
  const [schedules, setSchedules] = useState<Schedule[]>([]);
  const [users, setUsers] = useState<Map<string, string>>(new Map());
  const [error, setError] = useState('');
  const [notice, setNotice] = useState('');
  const [reload, setReload] = useState(0);
  // Run now.
  const today = new Date();
  const [kind, setKind] = useState<Report['kind']>('summary');
  const [format, setFormat] = useState<Report['format']>('pdf');
  const [language, setLanguage] = useState<Report['language']>(lang.value);
  const [from, setFrom] = useState(isoDay(new Date(today.getTime() - 7 * 86400_000)));
  const [to, setTo] = useState(isoDay(new Date(today.getTime() + 86400_000)));
  const [runErr, setRunErr] = useState<FormError | null>(null);
  const [running, setRunning] = useState(false);
  const [made, setMade] = useState<Report | null>(null);
  // Schedules.
  const [editing, setEditing] = useState<Schedule | 'new' | null>(null);
  const [sName, setSName] = useState('');
  const [sFreq, setSFreq] = useState<Schedule['frequency']>('weekly');
  const [sKind, setSKind] = useState<Report['kind']>('pci_dss');
  const [sFormat, setSFormat] = useState<Report['format']>('pdf');
  const [sLang, setSLang] = useState<Report['language']>('en');
  const [sRecipients, setSRecipients] = useState('');
  const [sEnabled, setSEnabled] = useState(true);
  const [sErr, setSErr] = useState<FormError | null>(null);

  useEffect(() => {
    const q = new URLSearchParams({ limit: '50' });
    if (cursor) q.set('cursor', cursor);
    Promise.all([api<{ items: Report[]; next_cursor: string | null }>('GET', `/reports?${q.toString()}`), api<{ items: Schedule[] }>('GET', '/report-schedules')])
      .then(([r, s]) => {
        setReports(r.items);
        setNext(r.next_cursor);
        setSchedules(s.items);
      })
      .catch((e) => setError(t('common.error', { message: String(e.message) })));
  }, [reload, cursor]);
  // Who made a report: `user:<id>` shown by name (the list of users is for admins and auditors; the
  // signed-in user is always known), anything else as it is.
  useEffect(() => {
    api<{ items: Array<{ id: string; username: string }> }>('GET', '/users')
      .then((u) => setUsers(new Map(u.items.map((x) => [x.id, x.username]))))
      .catch(() => undefined);
  }, []);
  const actorName = (actor: string) => {
    const id = actor.startsWith('user:') ? actor.slice(5) : '';
    if (id && me.value?.user.id === id) return me.value.user.username;
    return (id && users.get(id)) || actor;
  };
  const scheduleName = (id: string | null) => (id ? schedules.find((s) => s.id === id)?.name ?? id : '');

  const runNow = async () => {
    setRunErr(null);
    setNotice('');
    setMade(null);
    setRunning(true);
    try {
      const r = await api<Report>('POST', '/reports', { kind, format, language, from: dayStartUtc(from), to: dayStartUtc(to) });
      setMade(r);
      setCursor(null);
      setReload(reload + 1);
    } catch (e) {
      setRunErr(formError(e));
    } finally {
      setRunning(false);
    }
  };
  const openSchedule = (s: Schedule | 'new') => {
    setEditing(s);
    setSErr(null);
    setNotice('');
    const n = s === 'new';
    setSName(n ? '' : s.name);
    setSFreq(n ? 'weekly' : s.frequency);
    setSKind(n ? 'pci_dss' : s.kind);
    setSFormat(n ? 'pdf' : s.format);
    setSLang(n ? lang.value : s.language);
    setSRecipients(n ? '' : s.recipients.join('\n'));
    setSEnabled(n ? true : s.enabled);
  };
  const saveSchedule = async () => {
    setSErr(null);
    setNotice('');
    const body = { name: sName, frequency: sFreq, kind: sKind, format: sFormat, language: sLang, recipients: splitList(sRecipients), enabled: sEnabled };
    try {
      const saved =
        editing === 'new'
          ? await api<Schedule>('POST', '/report-schedules', body)
          : await api<Schedule>('PATCH', `/report-schedules/${encodeURIComponent((editing as Schedule).id)}`, body);
      setNotice(t('schedules.saved', { name: saved.name, t: formatTime(saved.next_run_at, lang.value) }));
      setEditing(null);
      setReload(reload + 1);
    } catch (e) {
      setSErr(formError(e));
    }
  };
  const run = async (f: () => Promise<void>, done: string) => {
    setError('');
    setNotice('');
    try {
      await f();
      setNotice(done);
      setReload(reload + 1);
    } catch (e) {
      setError(t('common.error', { message: String((e as Error).message) }));
    }
  };
  const runOther = otherError(runErr, ['kind', 'format', 'language', 'from', 'to']);
  const sOther = otherError(sErr, ['name', 'frequency', 'kind', 'format', 'language', 'recipients']);
  return (
    <section>
      <h1>{t('reports.title')}</h1>
      <form
        class="card run-report"
        aria-labelledby="run-title"
        onSubmit={(e) => {
          e.preventDefault();
          void runNow();
        }}
      >
        <h2 id="run-title">{t('reports.run_now')}</h2>
        <div class="filters">
          <label>
            {t('reports.kind')}
            <select name="kind" value={kind} onChange={(e) => setKind((e.target as HTMLSelectElement).value as Report['kind'])}>
              {KINDS.map((k) => (
                <option value={k}>{t(`reports.kind.${k}` as Key)}</option>
              ))}
            </select>
          </label>
          <label>
            {t('reports.from')}
            <input type="date" name="from" value={from} onInput={(e) => setFrom((e.target as HTMLInputElement).value)} {...errProps(runErr, 'from', 'run-from')} />
            <FieldError err={runErr} name="from" id="run-from" />
          </label>
          <label>
            {t('reports.to')}
            <input type="date" name="to" value={to} onInput={(e) => setTo((e.target as HTMLInputElement).value)} {...errProps(runErr, 'to', 'run-to')} />
            <FieldError err={runErr} name="to" id="run-to" />
          </label>
          <label>
            {t('reports.format')}
            <select name="format" value={format} onChange={(e) => setFormat((e.target as HTMLSelectElement).value as Report['format'])}>
              {FORMATS.map((f) => (
                <option value={f}>{f.toUpperCase()}</option>
              ))}
            </select>
          </label>
          <label>
            {t('reports.language')}
            <select name="language" value={language} onChange={(e) => setLanguage((e.target as HTMLSelectElement).value as Report['language'])}>
              <option value="en">English</option>
              <option value="ja">日本語</option>
            </select>
          </label>
          <button type="submit" disabled={running}>
            {running ? t('reports.running') : t('reports.run')}
          </button>
        </div>
        <p class="muted small">{t('reports.period_hint')}</p>
        {runOther && <p role="alert" class="error">{runOther}</p>}
        {runErr && !runOther && <p role="alert" class="sr-only">{runErr.message}</p>}
        {made && (
          <p role="status" class="ok" data-testid="report-made">
            {t('reports.made', { kind: t(`reports.kind.${made.kind}` as Key), size: formatSize(made.size) })}{' '}
            <a href={made.download} download>
              {t('reports.download')}
            </a>
          </p>
        )}
      </form>

      {error && <p role="alert" class="error">{error}</p>}
      {notice && <p role="status" class="ok" data-testid="reports-notice">{notice}</p>}

      <h2>{t('reports.past')}</h2>
      {reports === null ? (
        <p>{t('common.loading')}</p>
      ) : reports.length === 0 ? (
        <p class="muted" data-testid="reports-empty">{t('reports.none')}</p>
      ) : (
        <table data-testid="reports">
          <thead>
            <tr>
              <th scope="col">{t('reports.created')}</th>
              <th scope="col">{t('reports.kind')}</th>
              <th scope="col">{t('reports.period')}</th>
              <th scope="col">{t('reports.format')}</th>
              <th scope="col">{t('reports.by')}</th>
              <th scope="col">{t('reports.size')}</th>
              <th scope="col">{t('common.actions')}</th>
            </tr>
          </thead>
          <tbody>
            {reports.map((r) => (
              <tr data-report={r.id}>
                <td>{formatTime(r.created_at, lang.value)}</td>
                <td>{t(`reports.kind.${r.kind}` as Key)}</td>
                <td>
                  {formatTime(r.from, lang.value, 'UTC')} – {formatTime(r.to, lang.value, 'UTC')} UTC
                </td>
                <td>
                  {r.format.toUpperCase()} · {r.language === 'ja' ? '日本語' : 'English'}
                </td>
                <td>{r.schedule_id ? t('reports.by_schedule', { name: scheduleName(r.schedule_id) }) : actorName(r.created_by)}</td>
                <td>{formatSize(r.size)}</td>
                <td>
                  <span class="buttons">
                    <a href={r.download} download aria-label={t('reports.download_one', { kind: t(`reports.kind.${r.kind}` as Key), t: formatTime(r.created_at, lang.value) })}>
                      {t('reports.download')}
                    </a>
                    {writable && (
                      <button type="button" class="link" onClick={() => void run(() => api('DELETE', `/reports/${encodeURIComponent(r.id)}`), t('reports.deleted'))}>
                        {t('common.delete')}
                      </button>
                    )}
                  </span>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <div class="pager">
        {cursor && (
          <button type="button" onClick={() => setCursor(null)}>
            {t('alerts.first_page')}
          </button>
        )}
        {next && (
          <button type="button" onClick={() => setCursor(next)}>
            {t('alerts.next_page')}
          </button>
        )}
      </div>

      <div class="title-row">
        <h2>{t('schedules.title')}</h2>
        {writable && (
          <button type="button" onClick={() => openSchedule('new')}>
            {t('schedules.new')}
          </button>
        )}
      </div>
      {!writable && <p class="muted">{t('common.readonly', { role: me.value?.user.role ?? '' })}</p>}
      {schedules.length === 0 ? (
        <p class="muted" data-testid="schedules-empty">{t('schedules.none')}</p>
      ) : (
        <table data-testid="schedules">
          <thead>
            <tr>
              <th scope="col">{t('common.name')}</th>
              <th scope="col">{t('schedules.frequency')}</th>
              <th scope="col">{t('reports.kind')}</th>
              <th scope="col">{t('schedules.recipients')}</th>
              <th scope="col">{t('schedules.next_run')}</th>
              <th scope="col">{t('schedules.last_run')}</th>
              {writable && <th scope="col">{t('common.actions')}</th>}
            </tr>
          </thead>
          <tbody>
            {schedules.map((s) => (
              <tr data-schedule={s.id}>
                <td>
                  {s.name}
                  {!s.enabled && <div class="muted small">{t('rules.disabled')}</div>}
                </td>
                <td>{t(`schedules.freq.${s.frequency}` as Key)}</td>
                <td>
                  {t(`reports.kind.${s.kind}` as Key)}
                  <div class="muted small">
                    {s.format.toUpperCase()} · {s.language === 'ja' ? '日本語' : 'English'}
                  </div>
                </td>
                <td class="subject">{s.recipients.length ? s.recipients.join(', ') : <span class="muted">{t('schedules.kept_only')}</span>}</td>
                <td>{s.enabled ? formatTime(s.next_run_at, lang.value) : '—'}</td>
                <td>
                  {formatTime(s.last_run_at, lang.value)}
                  {s.last_error && <div class="error small">{s.last_error}</div>}
                </td>
                {writable && (
                  <td>
                    <span class="buttons">
                      <button type="button" class="link" onClick={() => openSchedule(s)}>
                        {t('common.edit')}
                      </button>
                      <button type="button" class="link" onClick={() => void run(() => api('DELETE', `/report-schedules/${encodeURIComponent(s.id)}`), t('schedules.deleted', { name: s.name }))}>
                        {t('common.delete')}
                      </button>
                    </span>
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {editing !== null && (
        <form
          class="editor card"
          data-testid="schedule-form"
          aria-label={editing === 'new' ? t('schedules.new') : t('schedules.edit', { name: sName })}
          onSubmit={(e) => {
            e.preventDefault();
            void saveSchedule();
          }}
        >
          <h2>{editing === 'new' ? t('schedules.new') : t('schedules.edit', { name: sName })}</h2>
          <label>
            {t('common.name')}
            <input name="name" value={sName} onInput={(e) => setSName((e.target as HTMLInputElement).value)} {...errProps(sErr, 'name', 'sch-name')} />
            <FieldError err={sErr} name="name" id="sch-name" />
          </label>
          <div class="grid3">
            <label>
              {t('schedules.frequency')}
              <select name="frequency" value={sFreq} onChange={(e) => setSFreq((e.target as HTMLSelectElement).value as Schedule['frequency'])}>
                {FREQS.map((f) => (
                  <option value={f}>{t(`schedules.freq.${f}` as Key)}</option>
                ))}
              </select>
            </label>
            <label>
              {t('reports.kind')}
              <select name="kind" value={sKind} onChange={(e) => setSKind((e.target as HTMLSelectElement).value as Report['kind'])}>
                {KINDS.map((k) => (
                  <option value={k}>{t(`reports.kind.${k}` as Key)}</option>
                ))}
              </select>
            </label>
            <label>
              {t('reports.format')}
              <select name="format" value={sFormat} onChange={(e) => setSFormat((e.target as HTMLSelectElement).value as Report['format'])}>
                {FORMATS.map((f) => (
                  <option value={f}>{f.toUpperCase()}</option>
                ))}
              </select>
            </label>
            <label>
              {t('reports.language')}
              <select name="language" value={sLang} onChange={(e) => setSLang((e.target as HTMLSelectElement).value as Report['language'])}>
                <option value="en">English</option>
                <option value="ja">日本語</option>
              </select>
            </label>
          </div>
          <label>
            {t('schedules.recipients')}
            <textarea name="recipients" rows={3} value={sRecipients} onInput={(e) => setSRecipients((e.target as HTMLTextAreaElement).value)} {...errProps(sErr, 'recipients', 'sch-recipients')} />
            <span class="muted small">{t('schedules.recipients_hint')}</span>
            <FieldError err={sErr} name="recipients" id="sch-recipients" />
          </label>
          <label class="row">
            <input type="checkbox" name="enabled" checked={sEnabled} onChange={() => setSEnabled(!sEnabled)} /> {t('rules.enabled')}
          </label>
          {sOther && <p role="alert" class="error">{sOther}</p>}
          {sErr && !sOther && <p role="alert" class="sr-only">{sErr.message}</p>}
          <div class="buttons">
            <button type="submit">{t('common.save')}</button>
            <button type="button" onClick={() => setEditing(null)}>
              {t('common.cancel')}
            </button>
          </div>
        </form>
      )}
    </section>
  );
}
