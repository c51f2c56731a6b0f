// Reports (docs/reports.md): run a summary or PCI DSS report now (period, format, language), the
// past reports to download or delete, and the schedules that make them (daily/weekly/monthly,
// e-mailed to recipients). POST /reports makes the report during the request; the download is a
// plain link to /api/v1/reports/{id}/download (same origin, the session cookie).
import { useState } from 'preact/hooks';
import { api, canWrite, me } from '../api';
import { Editor, FormErrors, LinkButton, ListTable, Notes, Pager, ReadOnlyNote, TextField, useEditor, useLoad, usePage } from '../components/scaffold';
import { formError, splitList, type FormError } from '../fielderror';
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

interface ScheduleForm {
  name: string;
  frequency: Schedule['frequency'];
  kind: Report['kind'];
  format: Report['format'];
  language: Report['language'];
  recipients: string;
  enabled: boolean;
}
function scheduleToForm(s: Schedule | 'new'): ScheduleForm {
  if (s === 'new') return { name: '', frequency: 'weekly', kind: 'pci_dss', format: 'pdf', language: lang.value, recipients: '', enabled: true };
  return { name: s.name, frequency: s.frequency, kind: s.kind, format: s.format, language: s.language, recipients: s.recipients.join('\n'), enabled: s.enabled };
}

// A select of a report's kind, format or language (the run-now form and the schedule form).
function Choice({ label, name, value, onChange, options }: { label: string; name: string; value: string; onChange: (e: Event) => void; options: Array<[string, string]> }) {
  return (
    <label>
      {label}
      <select name={name} value={value} onChange={onChange}>
        {options.map(([v, text]) => (
          <option value={v}>{text}</option>
        ))}
      </select>
    </label>
  );
}
const kindOptions = () => KINDS.map((k): [string, string] => [k, t(`reports.kind.${k}` as Key)]);
const formatOptions = FORMATS.map((f): [string, string] => [f, f.toUpperCase()]);
const languageOptions: Array<[string, string]> = [
  ['en', 'English'],
  ['ja', '日本語'],
];

export function Reports() {
  const writable = canWrite();
  const page = usePage();
  const [reports, setReports] = useState<Report[] | null>(null);
  const [next, setNext] = useState<string | null>(null);
  const [cursor, setCursor] = useState<string | null>(null);
  const [schedules, setSchedules] = useState<Schedule[]>([]);
  const [users, setUsers] = useState<Map<string, string>>(new Map());
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
  const ed = useEditor<Schedule, ScheduleForm>(page, scheduleToForm);
  const { editing, form, setForm, err: sErr, set } = ed;

  const q = new URLSearchParams({ limit: '50' });
  if (cursor) q.set('cursor', cursor);
  useLoad(
    () => Promise.all([api<{ items: Report[]; next_cursor: string | null }>('GET', `/reports?${q.toString()}`), api<{ items: Schedule[] }>('GET', '/report-schedules')]),
    ([r, s]) => {
      setReports(r.items);
      setNext(r.next_cursor);
      setSchedules(s.items);
    },
    page.fail,
    [page.reload, cursor],
  );
  // Who made a report: `user:<id>` shown by name (the list of users is for admins and auditors; the
  // signed-in user is always known), anything else as it is.
  useLoad(
    () => api<{ items: Array<{ id: string; username: string }> }>('GET', '/users'),
    (u) => setUsers(new Map(u.items.map((x) => [x.id, x.username]))),
    () => undefined,
    [],
  );
  const actorName = (actor: string) => {
    const id = actor.startsWith('user:') ? actor.slice(5) : '';
    if (id && me.value?.user.id === id) return me.value.user.username;
    return (id && users.get(id)) || actor;
  };
  const scheduleName = (id: string | null) => (id ? schedules.find((s) => s.id === id)?.name ?? id : '');

  const runNow = async () => {
    setRunErr(null);
    page.setNotice('');
    setMade(null);
    setRunning(true);
    try {
      const r = await api<Report>('POST', '/reports', { kind, format, language, from: dayStartUtc(from), to: dayStartUtc(to) });
      setMade(r);
      setCursor(null);
      page.refresh();
    } catch (e) {
      setRunErr(formError(e));
    } finally {
      setRunning(false);
    }
  };
  const saveSchedule = () =>
    ed.save(async (editing) => {
      const body = { ...form, recipients: splitList(form.recipients) };
      const saved =
        editing === 'new'
          ? await api<Schedule>('POST', '/report-schedules', body)
          : await api<Schedule>('PATCH', `/report-schedules/${encodeURIComponent(editing.id)}`, body);
      return t('schedules.saved', { name: saved.name, t: formatTime(saved.next_run_at, lang.value) });
    });
  const value = <T,>(f: (v: T) => void) => (e: Event) => f((e.target as HTMLInputElement).value as T);
  const title = editing === 'new' ? t('schedules.new') : t('schedules.edit', { name: form.name });
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
          <Choice label={t('reports.kind')} name="kind" value={kind} onChange={value(setKind)} options={kindOptions()} />
          <TextField label={t('reports.from')} type="date" name="from" value={from} onInput={value(setFrom)} err={runErr} field="from" id="run-from" />
          <TextField label={t('reports.to')} type="date" name="to" value={to} onInput={value(setTo)} err={runErr} field="to" id="run-to" />
          <Choice label={t('reports.format')} name="format" value={format} onChange={value(setFormat)} options={formatOptions} />
          <Choice label={t('reports.language')} name="language" value={language} onChange={value(setLanguage)} options={languageOptions} />
          <button type="submit" disabled={running}>
            {running ? t('reports.running') : t('reports.run')}
          </button>
        </div>
        <p class="muted small">{t('reports.period_hint')}</p>
        <FormErrors err={runErr} known={['kind', 'format', 'language', 'from', 'to']} />
        {made && (
          <p role="status" class="ok" data-testid="report-made">
            {t('reports.made', { kind: t(`reports.kind.${made.kind}` as Key), size: formatSize(made.size) })}{' '}
            <a href={made.download} download>
              {t('reports.download')}
            </a>
          </p>
        )}
      </form>

      <Notes error={page.error} notice={page.notice} id="reports-notice" />

      <h2>{t('reports.past')}</h2>
      <ListTable
        items={reports}
        id="reports"
        empty={t('reports.none')}
        emptyId="reports-empty"
        cols={[t('reports.created'), t('reports.kind'), t('reports.period'), t('reports.format'), t('reports.by'), t('reports.size'), t('common.actions')]}
        row={(r) => (
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
                  <LinkButton onClick={() => void page.run(() => api('DELETE', `/reports/${encodeURIComponent(r.id)}`), t('reports.deleted'))}>
                    {t('common.delete')}
                  </LinkButton>
                )}
              </span>
            </td>
          </tr>
        )}
      />
      <Pager cursor={cursor} next={next} go={setCursor} />

      <div class="title-row">
        <h2>{t('schedules.title')}</h2>
        {writable && (
          <button type="button" onClick={() => ed.open('new')}>
            {t('schedules.new')}
          </button>
        )}
      </div>
      <ReadOnlyNote />
      <ListTable
        items={schedules}
        id="schedules"
        empty={t('schedules.none')}
        emptyId="schedules-empty"
        cols={[t('common.name'), t('schedules.frequency'), t('reports.kind'), t('schedules.recipients'), t('schedules.next_run'), t('schedules.last_run'), writable && t('common.actions')]}
        row={(s) => (
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
                  <LinkButton onClick={() => ed.open(s)}>
                    {t('common.edit')}
                  </LinkButton>
                  <LinkButton onClick={() => void page.run(() => api('DELETE', `/report-schedules/${encodeURIComponent(s.id)}`), t('schedules.deleted', { name: s.name }))}>
                    {t('common.delete')}
                  </LinkButton>
                </span>
              </td>
            )}
          </tr>
        )}
      />
      {editing !== null && (
        <Editor title={title} id="schedule-form" onSave={() => void saveSchedule()} onClose={ed.close} err={sErr} known={['name', 'frequency', 'kind', 'format', 'language', 'recipients']}>
          <TextField label={t('common.name')} name="name" value={form.name} onInput={set('name')} err={sErr} field="name" id="sch-name" />
          <div class="grid3">
            <Choice
              label={t('schedules.frequency')}
              name="frequency"
              value={form.frequency}
              onChange={set('frequency')}
              options={FREQS.map((f): [string, string] => [f, t(`schedules.freq.${f}` as Key)])}
            />
            <Choice label={t('reports.kind')} name="kind" value={form.kind} onChange={set('kind')} options={kindOptions()} />
            <Choice label={t('reports.format')} name="format" value={form.format} onChange={set('format')} options={formatOptions} />
            <Choice label={t('reports.language')} name="language" value={form.language} onChange={set('language')} options={languageOptions} />
          </div>
          <TextField label={t('schedules.recipients')} name="recipients" rows={3} value={form.recipients} onInput={set('recipients')} err={sErr} field="recipients" id="sch-recipients" hint={t('schedules.recipients_hint')} />
          <label class="row">
            <input type="checkbox" name="enabled" checked={form.enabled} onChange={() => setForm({ ...form, enabled: !form.enabled })} /> {t('rules.enabled')}
          </label>
        </Editor>
      )}
    </section>
  );
}
