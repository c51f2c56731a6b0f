// IPS tuning (detect → tune → prevent), per policy over a period, across the fleet: the rules that
// fired on the policy's hosts (GET /ips/tuning), what prevent mode would have blocked, and per
// rule "mark as false positive": a preview of the past events the exclusion would have
// suppressed (GET /ips/tuning?exclude_rule=…), then the exclusion written into the policy (PATCH
// /policies/{id}: a new version, in the audit log). Switching a rule or the policy to prevent is
// a policy edit too.
import { useState } from 'preact/hooks';
import { api, canWrite } from '../api';
import { exclusionFor, prefixOf, previewParams, type Scope } from '../exclusions';
import { formatTime } from '../format';
import { lang, t } from '../i18n';
import { navigate, route } from '../router';
import type { Policy } from './types';
import { Head, LinkButton, Notes, useLoad, usePage } from '../components/scaffold';

interface Top {
  value: string;
  count: number;
}
interface Sample {
  event_id: string;
  at: string;
  host: string;
  client: string;
  action: string;
  method: string;
  url: string;
  variable: string;
  data: string;
}
interface RuleRow {
  rule_id: string;
  message: string;
  events: number;
  detected: number;
  blocked: number;
  would_block: number;
  hosts: string[];
  clients: number;
  targets: Top[];
  paths: Top[];
  samples: Sample[];
}
interface Report {
  agents: number;
  events: number;
  would_block: number;
  truncated: boolean;
  rules: RuleRow[];
  preview?: { matched: number; suppressed: number };
}

const RANGES = { '24h': 24, '7d': 24 * 7, '30d': 24 * 30 } as const;
type Range = keyof typeof RANGES;

type Ips = { mode?: string; rules?: Array<Record<string, unknown>>; exclusions?: Array<Record<string, unknown>> } & Record<string, unknown>;

export function Tuning() {
  const params = new URLSearchParams(route.value.search);
  const policyId = params.get('policy') ?? '';
  const range = (Object.keys(RANGES).includes(params.get('range') ?? '') ? params.get('range') : '7d') as Range;
  const [policies, setPolicies] = useState<Policy[]>([]);
  const [report, setReport] = useState<Report | null>(null);
  const [open, setOpen] = useState<string | null>(null);
  const [scope, setScope] = useState<Scope>('target');
  const [target, setTarget] = useState('');
  const [prefix, setPrefix] = useState('');
  const [preview, setPreview] = useState<{ matched: number; suppressed: number } | null>(null);
  const page = usePage();
  const { setError, setNotice } = page;
  const policy = policies.find((p) => p.id === policyId);
  const ips = (policy?.document as { ips?: Ips } | undefined)?.ips;
  const from = new Date(Date.now() - RANGES[range] * 3600_000).toISOString();
  const fail = (e: { message: string }) => setError(String(e.message));
  useLoad(
    () => api<{ items: Policy[] }>('GET', '/policies'),
    (r) => {
      setPolicies(r.items);
      if (!policyId && r.items.length > 0) set('policy', r.items[0].id);
    },
    fail,
    [page.reload],
  );
  useLoad(
    () => {
      if (!policyId) return null;
      setReport(null);
      return api<Report>('GET', `/ips/tuning?policy=${encodeURIComponent(policyId)}&from=${encodeURIComponent(from)}`);
    },
    setReport,
    fail,
    [policyId, range, page.reload],
  );
  function set(k: string, v: string) {
    const p = new URLSearchParams(route.value.search);
    p.set(k, v);
    navigate(`/tuning?${p.toString()}`, true);
  }
  const select = (r: RuleRow) => {
    setOpen(open === r.rule_id ? null : r.rule_id);
    setTarget(r.targets[0]?.value ?? '');
    setPrefix(prefixOf(r.paths[0]?.value ?? '/'));
    setScope(r.targets.length > 0 ? 'target' : 'rule');
    setPreview(null);
    setNotice('');
  };
  const runPreview = async (rule: string) => {
    setError('');
    const q = new URLSearchParams({ policy: policyId, from, ...previewParams(scope, rule, target, prefix) });
    try {
      const r = await api<Report>('GET', `/ips/tuning?${q.toString()}`);
      setPreview(r.preview ?? null);
    } catch (e) {
      setError(String((e as Error).message));
    }
  };
  // Saves a changed ips section as the policy's next version.
  const saveIps = async (change: (ips: Ips) => Ips, done: string) => {
    if (!policy || !ips) return;
    const document = { ...policy.document, ips: change(structuredClone(ips)) };
    await page.attempt(async () => {
      const saved = await api<Policy>('PATCH', `/policies/${encodeURIComponent(policy.id)}`, { document });
      setNotice(t('tuning.saved', { what: done, v: saved.version }));
      setOpen(null);
      page.refresh();
    });
  };
  const exclude = (rule: string) =>
    saveIps(
      (s) =>
        scope === 'rule'
          ? { ...s, rules: [...(s.rules ?? []).filter((r) => String(r.id) !== rule), { id: Number(rule), enabled: false }] }
          : { ...s, exclusions: [...(s.exclusions ?? []), exclusionFor(scope, rule, target, prefix)] },
      scope === 'rule'
        ? t('tuning.done_disabled', { rule })
        : scope === 'prefix'
          ? t('tuning.done_excluded_prefix', { rule, target, prefix })
          : t('tuning.done_excluded', { rule, target }),
    );
  const preventRule = (rule: string) =>
    saveIps((s) => ({ ...s, rules: [...(s.rules ?? []).filter((r) => String(r.id) !== rule), { id: Number(rule), mode: 'prevent' }] }), t('tuning.done_rule_prevent', { rule }));
  const writable = canWrite();
  const fmt = new Intl.NumberFormat(lang.value);
  return (
    <section>
      <h1>{t('tuning.title')}</h1>
      <p class="muted">{t('tuning.intro')}</p>
      <div class="toolbar">
        <label>
          {t('tuning.policy')}{' '}
          <select data-testid="tuning-policy" value={policyId} onChange={(e) => set('policy', (e.target as HTMLSelectElement).value)}>
            {policies.map((p) => (
              <option value={p.id}>{`${p.name} (v${p.version})`}</option>
            ))}
          </select>
        </label>
        <label>
          {t('tuning.period')}{' '}
          <select value={range} onChange={(e) => set('range', (e.target as HTMLSelectElement).value)}>
            {(Object.keys(RANGES) as Range[]).map((r) => (
              <option value={r}>{t(`tuning.range.${r}`)}</option>
            ))}
          </select>
        </label>
        {policy && (
          <span data-testid="tuning-mode">
            {t('tuning.mode')}: <strong>{ips ? String(ips.mode ?? 'detect') : t('tuning.no_ips')}</strong>
          </span>
        )}
        {writable && ips && ips.mode !== 'prevent' && (
          <button type="button" onClick={() => void saveIps((s) => ({ ...s, mode: 'prevent' }), t('tuning.done_prevent'))}>
            {t('tuning.switch_prevent')}
          </button>
        )}
      </div>
      <Notes error={page.error} notice={page.notice} id="tuning-notice" />
      {report === null ? (
        policyId ? <p>{t('common.loading')}</p> : <p class="muted">{t('common.none')}</p>
      ) : (
        <>
          <p data-testid="tuning-summary">
            {t('tuning.summary', { events: fmt.format(report.events), agents: report.agents, block: fmt.format(report.would_block) })}
            {report.truncated && ` ${t('tuning.truncated')}`}
          </p>
          {report.rules.length === 0 ? (
            <p class="muted">{t('tuning.no_rules')}</p>
          ) : (
            <table data-testid="tuning-rules">
              <Head cols={[t('tuning.rule'), t('tuning.events'), t('tuning.would_block'), t('tuning.hosts'), t('tuning.clients'), t('tuning.targets'), t('tuning.paths'), t('common.actions')]} />
              <tbody>
                {report.rules.map((r) => (
                  <>
                    <tr data-rule={r.rule_id}>
                      <td class="subject">
                        <div>{r.rule_id}</div>
                        <div class="muted small">{r.message}</div>
                      </td>
                      <td>{fmt.format(r.events)}</td>
                      <td>{fmt.format(r.would_block)}</td>
                      <td>{r.hosts.join(', ')}</td>
                      <td>{fmt.format(r.clients)}</td>
                      <td class="subject">{r.targets.map((x) => `${x.value} (${x.count})`).join(', ')}</td>
                      <td class="subject">{r.paths.map((x) => `${x.value} (${x.count})`).join(', ')}</td>
                      <td>
                        <LinkButton aria-expanded={open === r.rule_id} onClick={() => select(r)}>
                          {t('tuning.details')}
                        </LinkButton>
                      </td>
                    </tr>
                    {open === r.rule_id && (
                      <tr>
                        <td colSpan={8}>
                          <div class="card" data-testid="tuning-detail">
                            <h2>{t('tuning.samples')}</h2>
                            <ul class="plain">
                              {r.samples.map((s) => (
                                <li class="subject">
                                  <code>{`${formatTime(s.at, lang.value)} ${s.host} ${s.client} ${s.action} ${s.method} ${s.url}`}</code>
                                  {s.variable && <span class="muted small">{` ${s.variable}: ${s.data}`}</span>}
                                </li>
                              ))}
                            </ul>
                            {writable && ips && (
                              <form
                                class="inline"
                                onSubmit={(e) => {
                                  e.preventDefault();
                                  void exclude(r.rule_id);
                                }}
                              >
                                <fieldset class="format">
                                  <legend>{t('tuning.fp_scope')}</legend>
                                  <label>
                                    <input type="radio" name="scope" checked={scope === 'target'} onChange={() => (setScope('target'), setPreview(null))} /> {t('tuning.scope_target')}
                                  </label>
                                  <label>
                                    <input type="radio" name="scope" value="prefix" checked={scope === 'prefix'} onChange={() => (setScope('prefix'), setPreview(null))} /> {t('tuning.scope_prefix')}
                                  </label>
                                  <label>
                                    <input type="radio" name="scope" checked={scope === 'rule'} onChange={() => (setScope('rule'), setPreview(null))} /> {t('tuning.scope_rule')}
                                  </label>
                                </fieldset>
                                {scope !== 'rule' && (
                                  <label>
                                    {t('tuning.target')} <input name="target" value={target} onInput={(e) => (setTarget((e.target as HTMLInputElement).value), setPreview(null))} />
                                  </label>
                                )}
                                {scope === 'prefix' && (
                                  <label>
                                    {t('tuning.path_prefix')} <input name="path_prefix" value={prefix} onInput={(e) => (setPrefix((e.target as HTMLInputElement).value), setPreview(null))} />
                                  </label>
                                )}
                                <button type="button" onClick={() => void runPreview(r.rule_id)}>
                                  {t('tuning.preview')}
                                </button>
                                {preview && (
                                  <span data-testid="tuning-preview">{t('tuning.preview_result', { matched: fmt.format(preview.matched), suppressed: fmt.format(preview.suppressed) })}</span>
                                )}
                                <button type="submit" disabled={preview === null || (scope !== 'rule' && !target) || (scope === 'prefix' && !prefix)}>
                                  {t('tuning.mark_fp')}
                                </button>
                                <button type="button" onClick={() => void preventRule(r.rule_id)}>
                                  {t('tuning.rule_prevent')}
                                </button>
                              </form>
                            )}
                          </div>
                        </td>
                      </tr>
                    )}
                  </>
                ))}
              </tbody>
            </table>
          )}
        </>
      )}
    </section>
  );
}
