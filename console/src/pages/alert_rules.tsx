// Alert rules and channels (docs/alerts.md "Alert rules", "Channels"), and an alert's delivery log,
// under the Alerts navigation entry: /alerts/rules, /alerts/channels, /alerts/<id>/deliveries.
// Rules: the built-in defaults (shown first, their filter fixed) and the tenant's own; channels:
// webhook, e-mail (SMTP) and syslog, whose secrets are write-only (the API answers `secret_set`).
// Every API validation error is shown at the field it names.
import { useState } from 'preact/hooks';
import { api, canWrite } from '../api';
import { FieldError, errProps } from '../components/field';
import { Editor, LinkButton, ListTable, Notes, ReadOnlyNote, TextField, TitleRow, useEditor, useLoad, usePage } from '../components/scaffold';
import { splitList } from '../fielderror';
import { formatTime } from '../format';
import { lang, t, type Key } from '../i18n';
import { Link, route } from '../router';
import type { Alert } from './alerts';

export interface RuleFilter {
  modules?: string[];
  actions?: string[];
  min_severity?: number;
  rule_ids?: string[];
  agents?: string[];
  hostnames?: string[];
  paths?: string[];
  groups?: string[];
}
export interface AlertRule {
  id: string;
  name: string;
  builtin: boolean;
  enabled: boolean;
  filter: RuleFilter;
  window_s: number;
  throttle: { max_alerts: number; period_s: number };
  channels: string[];
  updated_at: string | null;
}
export interface Channel {
  id: string;
  name: string;
  kind: 'webhook' | 'email' | 'syslog';
  enabled: boolean;
  config: Record<string, unknown>;
  consecutive_failures: number;
  failing_since: string | null;
  created_at: string;
  updated_at: string;
}

// The tabs of the Alerts area: links (each a URL), the current one marked with aria-current. Not a
// second navigation landmark, so that the page keeps one `navigation` (the header's).
export function AlertTabs({ current }: { current: 'alerts' | 'rules' | 'channels' }) {
  const tabs = [
    { id: 'alerts', href: '/alerts', key: 'nav.alerts' },
    { id: 'rules', href: '/alerts/rules', key: 'rules.title' },
    { id: 'channels', href: '/alerts/channels', key: 'channels.title' },
  ] as const;
  return (
    <div class="tabs" data-testid="alert-tabs">
      {tabs.map((x) => (
        <Link href={x.href} class={x.id === current ? 'active' : ''} aria-current={x.id === current ? 'page' : undefined}>
          {t(x.key)}
        </Link>
      ))}
    </div>
  );
}

// /alerts/<something>: which of the pages below.
export function AlertSettings() {
  const rest = route.value.path.slice('/alerts/'.length);
  if (rest === 'rules') return <AlertRules />;
  if (rest === 'channels') return <AlertChannels />;
  const m = /^([^/]+)\/deliveries$/.exec(rest);
  if (m) return <Deliveries alertId={decodeURIComponent(m[1])} />;
  return (
    <section>
      <AlertTabs current="alerts" />
      <p class="muted">{t('common.not_found')}</p>
    </section>
  );
}

function filterText(f: RuleFilter): string {
  const parts: string[] = [];
  const list = (k: keyof RuleFilter, key: Key) => {
    const v = f[k];
    if (Array.isArray(v) && v.length > 0) parts.push(`${t(key)}: ${v.join(', ')}`);
  };
  list('modules', 'rules.modules');
  list('actions', 'rules.actions');
  if (f.min_severity) parts.push(`${t('rules.min_severity')}: ${t(`severity.${f.min_severity}` as Key)}`);
  list('rule_ids', 'rules.rule_ids');
  list('hostnames', 'rules.hostnames');
  list('agents', 'rules.agents');
  list('paths', 'rules.paths');
  list('groups', 'rules.groups');
  return parts.length ? parts.join(' · ') : t('rules.every_event');
}

interface RuleForm {
  name: string;
  enabled: boolean;
  modules: string;
  actions: string;
  min_severity: string;
  rule_ids: string;
  hostnames: string;
  paths: string;
  window_s: string;
  max_alerts: string;
  period_s: string;
  channels: string[];
}
const emptyRule: RuleForm = {
  name: '',
  enabled: true,
  modules: '',
  actions: '',
  min_severity: '0',
  rule_ids: '',
  hostnames: '',
  paths: '',
  window_s: '600',
  max_alerts: '0',
  period_s: '3600',
  channels: [],
};
function ruleToForm(r: AlertRule): RuleForm {
  const j = (v?: string[]) => (v ?? []).join(', ');
  return {
    name: r.name,
    enabled: r.enabled,
    modules: j(r.filter.modules),
    actions: j(r.filter.actions),
    min_severity: String(r.filter.min_severity ?? 0),
    rule_ids: j(r.filter.rule_ids),
    hostnames: j(r.filter.hostnames),
    paths: j(r.filter.paths),
    window_s: String(r.window_s),
    max_alerts: String(r.throttle.max_alerts),
    period_s: String(r.throttle.period_s),
    channels: [...r.channels],
  };
}
// A number as typed: sent as a number when it is one, else as typed so that the API names it.
function num(s: string): number | string {
  return /^-?\d+$/.test(s.trim()) ? Number(s.trim()) : s;
}

function AlertRules() {
  const page = usePage();
  const [rules, setRules] = useState<AlertRule[] | null>(null);
  const [channels, setChannels] = useState<Channel[]>([]);
  const ed = useEditor<AlertRule, RuleForm>(page, (r) => (r === 'new' ? emptyRule : ruleToForm(r)));
  const { editing, form, setForm, err, set } = ed;
  useLoad(
    () => Promise.all([api<{ items: AlertRule[] }>('GET', '/alert-rules'), api<{ items: Channel[] }>('GET', '/alert-channels')]),
    ([r, c]) => {
      setRules(r.items);
      setChannels(c.items);
    },
    page.fail,
    [page.reload],
  );
  const writable = canWrite();
  const channelName = (id: string) => channels.find((c) => c.id === id)?.name ?? id;
  const builtin = editing !== null && editing !== 'new' && editing.builtin;
  const save = () =>
    ed.save(async (editing) => {
      const body: Record<string, unknown> = {
        enabled: form.enabled,
        // A built-in rule's 0 is the manager's alert window: left out, it stays so.
        window_s: builtin && ['', '0'].includes(form.window_s.trim()) ? undefined : num(form.window_s),
        throttle: { max_alerts: num(form.max_alerts), period_s: num(form.period_s) },
        channels: form.channels,
      };
      if (!builtin) {
        body.name = form.name;
        const filter: Record<string, unknown> = {};
        const lists = ['modules', 'actions', 'rule_ids', 'hostnames', 'paths'] as const;
        for (const k of lists) {
          const v = splitList(form[k]);
          if (v.length) filter[k] = v;
        }
        if (form.min_severity !== '0') filter.min_severity = Number(form.min_severity);
        body.filter = filter;
      }
      const saved =
        editing === 'new'
          ? await api<AlertRule>('POST', '/alert-rules', body)
          : await api<AlertRule>('PUT', `/alert-rules/${encodeURIComponent(editing.id)}`, body);
      return t('rules.saved', { name: saved.name });
    });
  const toggle = (r: AlertRule) =>
    page.run(
      () => api('PUT', `/alert-rules/${encodeURIComponent(r.id)}`, { ...(r.builtin ? {} : { name: r.name, filter: r.filter }), enabled: !r.enabled, window_s: r.window_s || undefined, throttle: r.throttle, channels: r.channels }),
      t(r.enabled ? 'rules.disabled_notice' : 'rules.enabled_notice', { name: r.name }),
    );
  const remove = (r: AlertRule, done: Key) => page.run(() => api('DELETE', `/alert-rules/${encodeURIComponent(r.id)}`), t(done, { name: r.name }));
  const text = (k: 'name' | 'modules' | 'actions' | 'rule_ids' | 'hostnames' | 'paths', field: string, label: Key, hint?: Key) => (
    <TextField label={t(label)} name={k} value={form[k]} readOnly={!writable || builtin} onInput={set(k)} err={err} field={field} id={`rule-${k}`} hint={hint && t(hint)} />
  );
  const number = (k: 'window_s' | 'max_alerts' | 'period_s', field: string, label: Key, id: string) => (
    <TextField label={t(label)} name={k} inputMode="numeric" value={form[k]} readOnly={!writable} onInput={set(k)} err={err} field={field} id={id} />
  );
  const title = editing === 'new' ? t('rules.new') : t('rules.edit', { name: form.name });
  return (
    <section>
      <AlertTabs current="rules" />
      <TitleRow title={t('rules.title')} add={t('rules.new')} onAdd={() => ed.open('new')} />
      <ReadOnlyNote />
      <Notes error={page.error} notice={page.notice} id="rules-notice" />
      <ListTable
        items={rules}
        id="alert-rules"
        cols={[t('common.name'), t('rules.filter'), t('rules.window'), t('rules.channels'), t('rules.state'), writable && t('common.actions')]}
        row={(r) => (
          <tr data-rule={r.id}>
            <td>
              <div>{r.name}</div>
              {r.builtin && <span class="badge info">{t('rules.builtin')}</span>}
            </td>
            <td class="subject">{filterText(r.filter)}</td>
            <td>
              {r.window_s > 0 ? t('rules.window_value', { s: r.window_s }) : t('rules.window_default')}
              {r.throttle.max_alerts > 0 && <div class="muted small">{t('rules.throttle_value', { n: r.throttle.max_alerts, s: r.throttle.period_s })}</div>}
            </td>
            <td>{r.channels.length ? r.channels.map(channelName).join(', ') : <span class="muted">{t('rules.no_channels')}</span>}</td>
            <td>{r.enabled ? t('rules.enabled') : t('rules.disabled')}</td>
            {writable && (
              <td>
                <span class="buttons">
                  <LinkButton onClick={() => ed.open(r)}>
                    {t('common.edit')}
                  </LinkButton>
                  <LinkButton onClick={() => void toggle(r)}>
                    {r.enabled ? t('rules.disable') : t('rules.enable')}
                  </LinkButton>
                  {r.builtin ? (
                    r.updated_at && (
                      <LinkButton onClick={() => void remove(r, 'rules.reset_notice')}>
                        {t('rules.reset')}
                      </LinkButton>
                    )
                  ) : (
                    <LinkButton onClick={() => void remove(r, 'rules.deleted')}>
                      {t('common.delete')}
                    </LinkButton>
                  )}
                </span>
              </td>
            )}
          </tr>
        )}
      />
      {editing !== null && (
        <Editor title={title} id="rule-form" onSave={() => void save()} onClose={ed.close} err={err} known={['name', 'filter', 'window_s', 'throttle', 'channels']}>
          {builtin && <p class="muted small">{t('rules.builtin_note')}</p>}
          {text('name', 'name', 'common.name')}
          <div class="grid2">
            {text('modules', 'filter.modules', 'rules.modules', 'rules.list_hint')}
            {text('actions', 'filter.actions', 'rules.actions', 'rules.list_hint')}
            <label>
              {t('rules.min_severity')}
              <select name="min_severity" value={form.min_severity} disabled={builtin} onChange={set('min_severity')} {...errProps(err, 'filter.min_severity', 'rule-sev')}>
                {[0, 1, 2, 3, 4].map((s) => (
                  <option value={String(s)}>{s === 0 ? t('rules.any_severity') : t(`severity.${s}` as Key)}</option>
                ))}
              </select>
              <FieldError err={err} name="filter.min_severity" id="rule-sev" />
            </label>
            {text('rule_ids', 'filter.rule_ids', 'rules.rule_ids', 'rules.list_hint')}
            {text('hostnames', 'filter.hostnames', 'rules.hostnames', 'rules.pattern_hint')}
            {text('paths', 'filter.paths', 'rules.paths', 'rules.pattern_hint')}
          </div>
          <div class="grid3">
            {number('window_s', 'window_s', 'rules.window_s', 'rule-window')}
            {number('max_alerts', 'throttle.max_alerts', 'rules.max_alerts', 'rule-max')}
            {number('period_s', 'throttle.period_s', 'rules.period_s', 'rule-period')}
          </div>
          <fieldset class="checks" {...errProps(err, 'channels', 'rule-channels')}>
            <legend>{t('rules.channels')}</legend>
            {channels.length === 0 && <span class="muted small">{t('rules.no_channels_yet')}</span>}
            {channels.map((c) => (
              <label>
                <input
                  type="checkbox"
                  checked={form.channels.includes(c.id)}
                  onChange={() => setForm({ ...form, channels: form.channels.includes(c.id) ? form.channels.filter((x) => x !== c.id) : [...form.channels, c.id] })}
                />{' '}
                {c.name}
              </label>
            ))}
            <FieldError err={err} name="channels" id="rule-channels" />
          </fieldset>
          <label class="row">
            <input type="checkbox" name="enabled" checked={form.enabled} onChange={() => setForm({ ...form, enabled: !form.enabled })} /> {t('rules.enabled')}
          </label>
        </Editor>
      )}
    </section>
  );
}

interface ChannelForm {
  name: string;
  kind: Channel['kind'];
  enabled: boolean;
  url: string;
  format: string;
  secret: string;
  starttls: boolean;
  username: string;
  password: string;
  from: string;
  recipients: string; // "address language" a line
  transport: string;
  host: string;
  port: string;
  ca_pem: string;
}
const emptyChannel: ChannelForm = {
  name: '',
  kind: 'webhook',
  enabled: true,
  url: '',
  format: 'json',
  secret: '',
  starttls: true,
  username: '',
  password: '',
  from: '',
  recipients: '',
  transport: 'tcp',
  host: '',
  port: '514',
  ca_pem: '',
};
function str(v: unknown): string {
  return typeof v === 'string' ? v : v === undefined || v === null ? '' : String(v);
}
function channelToForm(c: Channel): ChannelForm {
  const k = c.config;
  const recips = Array.isArray(k.recipients) ? (k.recipients as Array<{ address?: unknown; language?: unknown }>) : [];
  return {
    ...emptyChannel,
    name: c.name,
    kind: c.kind,
    enabled: c.enabled,
    url: str(k.url),
    format: str(k.format) || 'json',
    starttls: k.starttls !== false,
    username: str(k.username),
    from: str(k.from),
    recipients: recips.map((r) => `${str(r.address)} ${str(r.language) || 'en'}`).join('\n'),
    transport: str(k.transport) || 'tcp',
    host: str(k.host),
    port: str(k.port) || '514',
    ca_pem: str(k.ca_pem),
  };
}
function formToConfig(f: ChannelForm): Record<string, unknown> {
  const c: Record<string, unknown> = {};
  if (f.kind === 'webhook') {
    c.url = f.url;
    c.format = f.format;
    if (f.secret) c.secret = f.secret;
  } else if (f.kind === 'email') {
    c.url = f.url;
    c.starttls = f.starttls;
    if (f.username) c.username = f.username;
    if (f.password) c.password = f.password;
    c.from = f.from;
    c.recipients = f.recipients
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '')
      .map((l) => {
        const [address, language] = l.split(/\s+/);
        return language ? { address, language } : { address };
      });
  } else {
    c.transport = f.transport;
    c.host = f.host;
    c.port = num(f.port);
  }
  if (f.ca_pem.trim()) c.ca_pem = f.ca_pem;
  return c;
}
function target(c: Channel): string {
  const k = c.config;
  if (c.kind === 'syslog') return `${str(k.transport)}://${str(k.host)}:${str(k.port)}`;
  if (c.kind === 'email') {
    const r = Array.isArray(k.recipients) ? (k.recipients as Array<{ address?: unknown }>).map((x) => str(x.address)) : [];
    return `${str(k.url)} → ${r.join(', ')}`;
  }
  return str(k.url);
}

function AlertChannels() {
  const page = usePage();
  const [channels, setChannels] = useState<Channel[] | null>(null);
  const [latest, setLatest] = useState<Alert | null>(null);
  const [sent, setSent] = useState<string | null>(null);
  const ed = useEditor<Channel, ChannelForm>(page, (c) => (c === 'new' ? emptyChannel : channelToForm(c)));
  const { editing, form, setForm, err, set } = ed;
  useLoad(
    () => Promise.all([api<{ items: Channel[] }>('GET', '/alert-channels'), api<{ items: Alert[] }>('GET', '/alerts?limit=1')]),
    ([c, a]) => {
      setChannels(c.items);
      setLatest(a.items[0] ?? null);
    },
    page.fail,
    [page.reload],
  );
  const writable = canWrite();
  const open = (c: Channel | 'new') => {
    setSent(null);
    ed.open(c);
  };
  const save = () =>
    ed.save(async (editing) => {
      const body: Record<string, unknown> = { name: form.name, enabled: form.enabled, config: formToConfig(form) };
      const saved =
        editing === 'new'
          ? await api<Channel>('POST', '/alert-channels', { ...body, kind: form.kind })
          : await api<Channel>('PUT', `/alert-channels/${encodeURIComponent(editing.id)}`, body);
      return t('channels.saved', { name: saved.name });
    });
  const sendTest = (c: Channel) => {
    setSent(null);
    return page.attempt(async () => {
      if (!latest) return;
      await api('POST', `/alert-channels/${encodeURIComponent(c.id)}/notify`, { alert_id: latest.id });
      page.setNotice(t('channels.test_queued', { name: c.name, alert: latest.title }));
      setSent(latest.id);
    });
  };
  const remove = (c: Channel) => {
    setSent(null);
    return page.run(() => api('DELETE', `/alert-channels/${encodeURIComponent(c.id)}`), t('channels.deleted', { name: c.name }));
  };
  const input = (k: 'name' | 'url' | 'username' | 'from' | 'host' | 'port', field: string, label: Key, hint?: Key) => (
    <TextField label={t(label)} name={k} value={form[k]} readOnly={!writable} onInput={set(k)} err={err} field={field} id={`ch-${k}`} hint={hint && t(hint)} />
  );
  const secretSet = editing !== null && editing !== 'new' && (editing.config.secret_set === true || editing.config.password_set === true);
  const secret = (k: 'secret' | 'password', label: Key) => (
    <label>
      {t(label)}
      <input
        type="password"
        name={k}
        autoComplete="new-password"
        value={form[k]}
        readOnly={!writable}
        placeholder={secretSet ? t('channels.secret_keep') : ''}
        onInput={set(k)}
        {...errProps(err, `config.${k}`, `ch-${k}`)}
      />
      <span class="muted small" data-testid={`${k}-state`}>
        {secretSet ? t('channels.secret_is_set') : t('channels.secret_not_set')}
      </span>
      <FieldError err={err} name={`config.${k}`} id={`ch-${k}`} />
    </label>
  );
  const title = editing === 'new' ? t('channels.new') : t('channels.edit', { name: form.name });
  return (
    <section>
      <AlertTabs current="channels" />
      <TitleRow title={t('channels.title')} add={t('channels.new')} onAdd={() => open('new')} />
      <ReadOnlyNote />
      <Notes error={page.error} notice={page.notice} id="channels-notice">
        {' '}
        {sent && <Link href={`/alerts/${encodeURIComponent(sent)}/deliveries`}>{t('deliveries.open')}</Link>}
      </Notes>
      <ListTable
        items={channels}
        id="alert-channels"
        empty={t('channels.none')}
        emptyId="channels-empty"
        cols={[t('common.name'), t('channels.kind'), t('channels.target'), t('channels.health'), t('rules.state'), writable && t('common.actions')]}
        row={(c) => (
          <tr data-channel={c.id}>
            <td>{c.name}</td>
            <td>{t(`channels.kind.${c.kind}` as Key)}</td>
            <td class="subject">{target(c)}</td>
            <td>
              {c.consecutive_failures > 0 ? (
                <span class="badge warn">{t('channels.failing', { n: c.consecutive_failures, t: formatTime(c.failing_since, lang.value) })}</span>
              ) : (
                <span class="badge ok">{t('channels.ok')}</span>
              )}
            </td>
            <td>{c.enabled ? t('rules.enabled') : t('rules.disabled')}</td>
            {writable && (
              <td>
                <span class="buttons">
                  <LinkButton onClick={() => open(c)}>
                    {t('common.edit')}
                  </LinkButton>
                  <LinkButton disabled={!latest} title={latest ? undefined : t('channels.test_no_alert')} onClick={() => void sendTest(c)}>
                    {t('channels.test')}
                  </LinkButton>
                  <LinkButton onClick={() => void remove(c)}>
                    {t('common.delete')}
                  </LinkButton>
                </span>
              </td>
            )}
          </tr>
        )}
      />
      {writable && !latest && channels !== null && channels.length > 0 && <p class="muted small">{t('channels.test_no_alert')}</p>}
      {editing !== null && (
        <Editor
          title={title}
          id="channel-form"
          onSave={() => void save()}
          onClose={ed.close}
          err={err}
          known={['name', 'config.url', 'config.secret', 'config.password', 'config.username', 'config.from', 'config.recipients', 'config.host', 'config.port', 'config.ca_pem']}
        >
          {input('name', 'name', 'common.name')}
          <label>
            {t('channels.kind')}
            <select name="kind" value={form.kind} disabled={editing !== 'new'} onChange={(e) => setForm({ ...form, kind: (e.target as HTMLSelectElement).value as Channel['kind'] })}>
              {(['webhook', 'email', 'syslog'] as const).map((k) => (
                <option value={k}>{t(`channels.kind.${k}` as Key)}</option>
              ))}
            </select>
          </label>
          {form.kind === 'webhook' && (
            <div class="grid2">
              {input('url', 'config.url', 'channels.url', 'channels.url_hint_webhook')}
              <label>
                {t('channels.format')}
                <select name="format" value={form.format} onChange={set('format')}>
                  <option value="json">JSON</option>
                  <option value="slack">Slack</option>
                  <option value="teams">Teams</option>
                </select>
              </label>
              {secret('secret', 'channels.secret')}
            </div>
          )}
          {form.kind === 'email' && (
            <div class="grid2">
              {input('url', 'config.url', 'channels.smtp_url', 'channels.url_hint_smtp')}
              <label class="row">
            <input type="checkbox" name="starttls" checked={form.starttls} onChange={() => setForm({ ...form, starttls: !form.starttls })} /> {t('channels.starttls')}
          </label>
              {input('username', 'config.username', 'channels.username')}
              {secret('password', 'channels.password')}
              {input('from', 'config.from', 'channels.from')}
              <TextField label={t('channels.recipients')} name="recipients" rows={3} value={form.recipients} readOnly={!writable} onInput={set('recipients')} err={err} field="config.recipients" id="ch-recipients" hint={t('channels.recipients_hint')} />
            </div>
          )}
          {form.kind === 'syslog' && (
            <div class="grid3">
              <label>
                {t('channels.transport')}
                <select name="transport" value={form.transport} onChange={set('transport')}>
                  <option value="udp">UDP</option>
                  <option value="tcp">TCP</option>
                  <option value="tls">TLS</option>
                </select>
              </label>
              {input('host', 'config.host', 'channels.host')}
              {input('port', 'config.port', 'channels.port')}
            </div>
          )}
          {form.kind !== 'syslog' || form.transport === 'tls' ? <TextField label={t('channels.ca_pem')} name="ca_pem" rows={2} value={form.ca_pem} readOnly={!writable} onInput={set('ca_pem')} err={err} field="config.ca_pem" id="ch-ca" /> : null}
          <label class="row">
            <input type="checkbox" name="enabled" checked={form.enabled} onChange={() => setForm({ ...form, enabled: !form.enabled })} /> {t('rules.enabled')}
          </label>
        </Editor>
      )}
    </section>
  );
}

interface Delivery {
  id: string;
  channel_id: string;
  rule_id: string;
  state: string;
  attempts: number;
  created_at: string;
  next_attempt_at: string | null;
  sent_at: string | null;
  last_error: string;
  log: Array<{ attempt: number; at: string; ok: boolean; duration_ms: number; detail: string }>;
}

function Deliveries({ alertId }: { alertId: string }) {
  const page = usePage();
  const [alert, setAlert] = useState<Alert | null>(null);
  const [items, setItems] = useState<Delivery[] | null>(null);
  const [channels, setChannels] = useState<Channel[]>([]);
  const [resendTo, setResendTo] = useState('');
  const writable = canWrite();
  // Sends this alert to a channel again (or for the first time): POST /alert-channels/{id}/notify.
  const resend = () =>
    page.attempt(async () => {
      const c = channels.find((x) => x.id === resendTo);
      if (!c) return;
      await api('POST', `/alert-channels/${encodeURIComponent(c.id)}/notify`, { alert_id: alertId });
      page.setNotice(t('deliveries.resent', { name: c.name }));
      page.refresh();
    });
  const id = encodeURIComponent(alertId);
  useLoad(
    () => Promise.all([api<Alert>('GET', `/alerts/${id}`), api<{ items: Delivery[] }>('GET', `/alerts/${id}/deliveries`), api<{ items: Channel[] }>('GET', '/alert-channels')]),
    ([a, d, c]) => {
      setAlert(a);
      setItems(d.items);
      setChannels(c.items);
    },
    (e) => (e.status === 404 ? page.setError(t('deliveries.not_found')) : page.fail(e)),
    [alertId, page.reload],
  );
  const channelName = (id: string) => channels.find((c) => c.id === id)?.name ?? id;
  return (
    <section>
      <AlertTabs current="alerts" />
      <h1>{t('deliveries.title')}</h1>
      {page.error && <p role="alert" class="error">{page.error}</p>}
      {alert && (
        <p data-testid="delivery-alert">
          <strong>{alert.title}</strong> <span class="muted small">{alert.rule_key}</span> · {t('alerts.count')}: {alert.count} · {formatTime(alert.last_seen, lang.value)}
        </p>
      )}
      <div class="toolbar">
        <button type="button" onClick={page.refresh}>
          {t('deliveries.refresh')}
        </button>
        {writable && alert && channels.length > 0 && (
          <form
            class="inline"
            onSubmit={(e) => {
              e.preventDefault();
              void resend();
            }}
          >
            <label>
              {t('deliveries.resend_to')}
              <select name="channel" value={resendTo} onChange={(e) => setResendTo((e.target as HTMLSelectElement).value)}>
                <option value="">—</option>
                {channels.map((c) => (
                  <option value={c.id}>{c.name}</option>
                ))}
              </select>
            </label>
            <button type="submit" disabled={!resendTo}>
              {t('deliveries.resend')}
            </button>
          </form>
        )}
      </div>
      <Notes error="" notice={page.notice} id="deliveries-notice" />
      <ListTable
        items={items}
        loading={!page.error}
        id="deliveries"
        empty={t('deliveries.none')}
        emptyId="deliveries-empty"
        cols={[t('deliveries.channel'), t('deliveries.rule'), t('rules.state'), t('deliveries.attempts'), t('deliveries.log')]}
        row={(d) => (
          <tr data-delivery={d.id}>
            <td>{channelName(d.channel_id)}</td>
            <td>{d.rule_id === 'manual' ? t('deliveries.manual') : d.rule_id}</td>
            <td>
              <div data-testid="delivery-state">{t(`deliveries.state.${d.state}` as Key) || d.state}</div>
              <div class="muted small">{t('deliveries.queued_at', { t: formatTime(d.created_at, lang.value) })}</div>
              {d.sent_at && <div class="muted small">{t('deliveries.sent_at', { t: formatTime(d.sent_at, lang.value) })}</div>}
              {d.next_attempt_at && <div class="muted small">{t('deliveries.next_at', { t: formatTime(d.next_attempt_at, lang.value) })}</div>}
              {d.last_error && <div class="error small">{d.last_error}</div>}
            </td>
            <td>{d.attempts}</td>
            <td>
              {d.log.length === 0 ? (
                <span class="muted">{t('deliveries.no_attempts')}</span>
              ) : (
                <ol class="attempts">
                  {d.log.map((a) => (
                    <li>
                      {formatTime(a.at, lang.value)} · {a.ok ? t('deliveries.ok') : t('deliveries.failed')} · {a.duration_ms} ms · <span class="subject">{a.detail}</span>
                    </li>
                  ))}
                </ol>
              )}
            </td>
          </tr>
        )}
      />
    </section>
  );
}
