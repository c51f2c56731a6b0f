// Dashboard: events over time by module and by severity (GET /events/counts), agents needing
// attention (GET /agents, /policies), top rules, hosts and changed paths (GET /events/top) and
// heal/quarantine totals (GET /events/summary), all counted by the manager over every event of
// the range. Every item links to the Events page filtered on it.
import { useEffect, useState } from 'preact/hooks';
import { api } from '../api';
import { StackedBars, type Series } from '../components/chart';
import { filterToSearch } from '../filters';
import { formatTime } from '../format';
import { lang, t, type Key } from '../i18n';
import { Link, navigate, route } from '../router';
import { moduleStates, policyError, type Agent, type Policy } from './types';

const RANGES = { '1h': [3600, '5m'], '24h': [86400, '1h'], '7d': [7 * 86400, '6h'] } as const;
type Range = keyof typeof RANGES;
// The first agents needing attention are listed; the rest are counted and linked to Computers
// (a fleet with 2,000 agents offline would otherwise draw 2,000 rows before the page is usable).
const ATTENTION_SHOWN = 20;
const SEVERITY_COLORS = ['#6b7280', '#2563eb', '#ca8a04', '#ea580c', '#b91c1c'];

interface Top {
  items: Array<{ value: string; count: number }>;
}
interface Summary {
  total: number;
  heals: number;
  quarantines: number;
}

interface Counts {
  from: string;
  to: string;
  bucket_s: number;
  items: Array<{ bucket: string; module: string; severity: number; count: number }>;
}

export function Dashboard() {
  const params = new URLSearchParams(route.value.search);
  const range: Range = (params.get('range') as Range) in RANGES ? (params.get('range') as Range) : '24h';
  const [counts, setCounts] = useState<Counts | null>(null);
  const [tops, setTops] = useState<{ rules: Top; hosts: Top; paths: Top } | null>(null);
  const [summary, setSummary] = useState<Summary | null>(null);
  const [agents, setAgents] = useState<Agent[]>([]);
  const [policies, setPolicies] = useState<Policy[]>([]);
  const [error, setError] = useState('');
  const [now] = useState(() => Date.now());
  const from = new Date(now - RANGES[range][0] * 1000).toISOString();
  useEffect(() => {
    setError('');
    const f = `from=${encodeURIComponent(from)}`;
    // All seven calls at once; each part of the page is drawn as soon as its own answers are in
    // (the charts need not wait for the list of every agent).
    const fail = (e: Error) => setError(String(e.message));
    api<Counts>('GET', `/events/counts?${f}&bucket=${RANGES[range][1]}`).then(setCounts, fail);
    Promise.all([
      api<Top>('GET', `/events/top?field=rule&limit=5&${f}`),
      api<Top>('GET', `/events/top?field=agent&limit=5&${f}`),
      api<Top>('GET', `/events/top?field=path&limit=5&module=integrity&${f}`),
    ]).then(([rules, hosts, paths]) => setTops({ rules, hosts, paths }), fail);
    api<Summary>('GET', `/events/summary?${f}`).then(setSummary, fail);
    Promise.all([api<{ items: Agent[] }>('GET', '/agents'), api<{ items: Policy[] }>('GET', '/policies')]).then(([a, p]) => {
      setAgents(a.items);
      setPolicies(p.items);
    }, fail);
  }, [range]);

  const policyVersion = new Map(policies.map((p) => [p.id, p.version]));
  const attention = agents.flatMap((a) => {
    const reasons: Key[] = [];
    if (a.status !== 'online') reasons.push('dash.reason.offline');
    if (a.policy_id && policyVersion.get(a.policy_id) !== undefined && a.applied_policy_version !== policyVersion.get(a.policy_id)) {
      reasons.push('dash.reason.policy');
    }
    if (policyError(a.report)) reasons.push('dash.reason.policy_error');
    if (moduleStates(a.report).some((m) => m.state !== 'running')) reasons.push('dash.reason.degraded');
    return reasons.length ? [{ agent: a, reasons }] : [];
  });

  let chartModule: Series[] = [];
  let chartSeverity: Series[] = [];
  let buckets: string[] = [];
  let total = 0;
  if (counts) {
    const start = Date.parse(counts.from);
    const step = counts.bucket_s * 1000;
    const n = Math.max(1, Math.ceil((Date.parse(counts.to) - start) / step));
    buckets = Array.from({ length: n }, (_, i) => formatTime(new Date(start + i * step).toISOString(), lang.value));
    const modules = new Map<string, number[]>();
    const sev = new Map<number, number[]>();
    for (const it of counts.items) {
      const i = Math.min(n - 1, Math.max(0, Math.floor((Date.parse(it.bucket) - start) / step)));
      if (!modules.has(it.module)) modules.set(it.module, new Array(n).fill(0));
      modules.get(it.module)![i] += it.count;
      if (!sev.has(it.severity)) sev.set(it.severity, new Array(n).fill(0));
      sev.get(it.severity)![i] += it.count;
      total += it.count;
    }
    chartModule = [...modules.entries()].sort().map(([m, v]) => ({ name: m, label: m, values: v }));
    chartSeverity = [...sev.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([s, v]) => ({
        name: String(s),
        label: s >= 0 && s <= 4 ? t(`severity.${s}` as Key) : String(s),
        values: v,
        color: SEVERITY_COLORS[s],
      }));
  }
  const names = new Map(agents.map((a) => [a.id, a.hostname]));
  const eventsLink = (extra: Record<string, string>) => `/events${filterToSearch({ from, ...extra })}`;

  return (
    <section>
      <div class="title-row">
        <h1>{t('dash.title')}</h1>
        <label>
          {t('dash.range')}{' '}
          <select value={range} onChange={(e) => navigate(`/?range=${(e.target as HTMLSelectElement).value}`, true)}>
            {(Object.keys(RANGES) as Range[]).map((r) => (
              <option value={r}>{t(`dash.range.${r}` as Key)}</option>
            ))}
          </select>
        </label>
      </div>
      {error && <p role="alert" class="error">{t('common.error', { message: error })}</p>}
      {!counts && !error && <p>{t('common.loading')}</p>}
      {counts && (
        <div class="grid2">
          <div class="card">
            <h2>
              {t('dash.events_over_time')} · {t('dash.by_module')}
            </h2>
            <p class="muted" data-testid="dash-total">{t('dash.total', { n: total })}</p>
            <StackedBars buckets={buckets} series={chartModule} title={t('dash.by_module')} />
          </div>
          <div class="card">
            <h2>
              {t('dash.events_over_time')} · {t('dash.by_severity')}
            </h2>
            <p class="muted">{t('dash.total', { n: total })}</p>
            <StackedBars buckets={buckets} series={chartSeverity} title={t('dash.by_severity')} />
          </div>
        </div>
      )}
      <div class="grid2">
        <div class="card">
          <h2>{t('dash.attention')}</h2>
          {attention.length === 0 ? (
            <p class="muted">{t('dash.attention.none')}</p>
          ) : (
            <ul class="plain" data-testid="attention">
              {attention.slice(0, ATTENTION_SHOWN).map(({ agent, reasons }) => (
                <li>
                  <Link href={eventsLink({ agent: agent.id })}>{agent.hostname}</Link>{' '}
                  <span class="badge warn">{reasons.map((r) => t(r)).join(', ')}</span>{' '}
                  <span class="muted">{formatTime(agent.last_seen, lang.value)}</span>
                </li>
              ))}
              {attention.length > ATTENTION_SHOWN && (
                <li>
                  <Link href="/computers?sort=status">{t('dash.attention.more', { n: attention.length - ATTENTION_SHOWN })}</Link>
                </li>
              )}
            </ul>
          )}
        </div>
        <div class="card">
          {summary && (
            <div class="totals" data-testid="dash-summary">
              <Link href={eventsLink({ module: 'autoheal', action: 'restored' })}>
                <span class="n" data-testid="dash-heals">{summary.heals}</span>
                {t('dash.heals')}
              </Link>
              <Link href={eventsLink({ module: 'antimalware', action: 'quarantine' })}>
                <span class="n" data-testid="dash-quarantines">{summary.quarantines}</span>
                {t('dash.quarantines')}
              </Link>
            </div>
          )}
          <h2>{t('dash.top_rules')}</h2>
          <TopList items={tops?.rules.items ?? []} link={(v) => eventsLink({ q: v })} testid="top-rules" />
          <h2>{t('dash.top_hosts')}</h2>
          <TopList items={tops?.hosts.items ?? []} label={(v) => names.get(v) ?? v} link={(v) => eventsLink({ agent: v })} testid="top-hosts" />
          <h2>{t('dash.top_paths')}</h2>
          <TopList items={tops?.paths.items ?? []} link={(v) => eventsLink({ module: 'integrity', q: v })} testid="top-paths" />
          <p class="muted small">{t('dash.all_counted')}</p>
        </div>
      </div>
    </section>
  );
}

function TopList(props: { items: Array<{ value: string; count: number }>; link: (v: string) => string; label?: (v: string) => string; testid?: string }) {
  if (props.items.length === 0) return <p class="muted">{t('common.none')}</p>;
  return (
    <ol class="toplist" data-testid={props.testid}>
      {props.items.map(({ value: v, count: n }) => (
        <li>
          <Link href={props.link(v)}>{props.label ? props.label(v) : v}</Link> <span class="count">{n}</span>
        </li>
      ))}
    </ol>
  );
}
