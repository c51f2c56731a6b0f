// Policies: list (GET /policies), edit as YAML or JSON text (PATCH /policies/{id} with
// document_text) or create (POST); the manager validates with the agent's own parser and the
// error names the key and the line, shown beside the editor. History: every saved version
// (GET /policies/{id}/versions) and a line diff between two of them.
import { useState } from 'preact/hooks';
import { api, ApiError, canWrite } from '../api';
import { Editor, LinkButton, ListTable, ReadOnlyNote, TitleRow, useLoad, usePage } from '../components/scaffold';
import { formatTime } from '../format';
import { lang, t } from '../i18n';
import { lineDiff, toYaml } from '../textdiff';
import type { Policy } from './types';
import { PolicyTokens } from './policy_tokens';
import { EgressProposals } from '../components/egress';

type Format = 'yaml' | 'json';
interface VersionInfo {
  version: number;
  name: string;
  saved_at: string;
}

function docText(doc: Record<string, unknown>, format: Format): string {
  return format === 'yaml' ? toYaml(doc) : JSON.stringify(doc, null, 2);
}

// Every saved version of one policy; two chosen ones compared line by line (as YAML).
function History({ policy, onClose }: { policy: Policy; onClose: () => void }) {
  const [versions, setVersions] = useState<VersionInfo[] | null>(null);
  const [from, setFrom] = useState(Math.max(1, policy.version - 1));
  const [to, setTo] = useState(policy.version);
  const [texts, setTexts] = useState<[string, string] | null>(null);
  const [error, setError] = useState('');
  const base = `/policies/${encodeURIComponent(policy.id)}/versions`;
  const fail = (e: { message: string }) => setError(String(e.message));
  useLoad(() => api<{ items: VersionInfo[] }>('GET', base), (r) => setVersions(r.items), fail, [policy.id, policy.version]);
  useLoad(
    () => {
      setTexts(null);
      return Promise.all([api<{ document: Record<string, unknown> }>('GET', `${base}/${from}`), api<{ document: Record<string, unknown> }>('GET', `${base}/${to}`)]);
    },
    ([a, b]) => setTexts([toYaml(a.document), toYaml(b.document)]),
    fail,
    [policy.id, from, to],
  );
  const diff = texts ? lineDiff(texts[0], texts[1]) : [];
  const changed = diff.filter((l) => l.kind !== 'same').length;
  return (
    <div class="card history" data-testid="policy-history">
      <div class="title-row">
        <h2>{t('policies.history_of', { name: policy.name })}</h2>
        <button type="button" onClick={onClose}>
          {t('common.close')}
        </button>
      </div>
      {error && <p role="alert" class="error">{error}</p>}
      <ListTable
        items={versions}
        loading={false}
        id="policy-versions"
        cols={[t('policies.version'), t('common.name'), t('policies.saved_at')]}
        row={(v) => (
          <tr>
            <td>v{v.version}</td>
            <td>{v.name}</td>
            <td>{formatTime(v.saved_at, lang.value)}</td>
          </tr>
        )}
      />
      {versions && versions.length > 0 && (
        <div class="toolbar">
          <label>
            {t('policies.diff_from')}{' '}
            <select data-testid="diff-from" value={String(from)} onChange={(e) => setFrom(Number((e.target as HTMLSelectElement).value))}>
              {versions.map((v) => (
                <option value={String(v.version)}>v{v.version}</option>
              ))}
            </select>
          </label>
          <label>
            {t('policies.diff_to')}{' '}
            <select data-testid="diff-to" value={String(to)} onChange={(e) => setTo(Number((e.target as HTMLSelectElement).value))}>
              {versions.map((v) => (
                <option value={String(v.version)}>v{v.version}</option>
              ))}
            </select>
          </label>
          <span class="muted" data-testid="diff-count">
            {t('policies.diff_changed', { n: changed })}
          </span>
        </div>
      )}
      {texts && (
        <pre class="diff" data-testid="policy-diff" aria-label={t('policies.diff_label', { a: from, b: to })}>
          {diff.map((l) => (
            <span class={`dl ${l.kind}`}>
              {l.kind === 'add' ? '+ ' : l.kind === 'del' ? '- ' : '  '}
              {l.text}
            </span>
          ))}
        </pre>
      )}
    </div>
  );
}

export function Policies() {
  const [list, setList] = useState<Policy[] | null>(null);
  const [editing, setEditing] = useState<Policy | 'new' | null>(null);
  const [history, setHistory] = useState<Policy | null>(null);
  const [format, setFormat] = useState<Format>('yaml');
  const [name, setName] = useState('');
  const [text, setText] = useState('');
  const page = usePage();
  const { error, setError, notice, setNotice } = page;
  useLoad(() => api<{ items: Policy[] }>('GET', '/policies'), (r) => setList(r.items), (e) => setError(String(e.message)), [page.reload]);
  const open = (p: Policy | 'new') => {
    setEditing(p);
    setError('');
    setNotice('');
    setName(p === 'new' ? '' : p.name);
    setText(docText(p === 'new' ? { integrity: { paths: ['/var/www'], schedule: '1h' } } : p.document, format));
  };
  // Switching the format rewrites the text from the saved document when the text parses as the
  // current format's JSON, else keeps what was typed (the manager checks either).
  const switchFormat = (f: Format) => {
    if (f === format) return;
    let doc: Record<string, unknown> | null = null;
    if (format === 'json') {
      try {
        doc = JSON.parse(text) as Record<string, unknown>;
      } catch {
        doc = null;
      }
    } else if (editing && editing !== 'new') {
      doc = editing.document;
    }
    if (doc) setText(docText(doc, f));
    setFormat(f);
  };
  const save = async () => {
    setError('');
    setNotice('');
    const body = { name, document_text: text, document_format: format };
    try {
      const saved =
        editing === 'new'
          ? await api<Policy>('POST', '/policies', body)
          : await api<Policy>('PATCH', `/policies/${encodeURIComponent((editing as Policy).id)}`, body);
      setNotice(t('policies.saved', { v: saved.version }));
      setEditing(saved);
      if (history && history.id === saved.id) setHistory(saved);
      page.refresh();
    } catch (e) {
      if (e instanceof ApiError && e.line) setError(t('policies.field_line', { field: e.field, line: e.line, message: e.message }));
      else if (e instanceof ApiError && e.field) setError(t('policies.field', { field: e.field, message: e.message }));
      else setError(t('common.error', { message: String((e as Error).message) }));
    }
  };
  const writable = canWrite();
  return (
    <section>
      <TitleRow title={t('policies.title')} add={t('policies.new')} onAdd={() => open('new')} />
      <ReadOnlyNote />
      <ListTable
        items={list}
        id="policies"
        empty={t('common.none')}
        cols={[t('common.name'), t('policies.version'), t('policies.updated'), t('common.actions')]}
        row={(p) => (
          <tr>
            <td>{p.name}</td>
            <td>{p.version}</td>
            <td>{formatTime(p.updated_at, lang.value)}</td>
            <td>
              <span class="buttons">
                <LinkButton onClick={() => open(p)}>
                  {t('policies.edit')}
                </LinkButton>
                <LinkButton onClick={() => setHistory(p)}>
                  {t('policies.history')}
                </LinkButton>
              </span>
            </td>
          </tr>
        )}
      />
      {editing !== null && (
        <Editor onSave={() => void save()} onClose={() => setEditing(null)} close={t('common.close')}>
          <label>
            {t('common.name')}
            <input name="name" value={name} readOnly={!writable} onInput={(e) => setName((e.target as HTMLInputElement).value)} />
          </label>
          <fieldset class="format">
            <legend>{t('policies.format')}</legend>
            <label>
              <input type="radio" name="format" value="yaml" checked={format === 'yaml'} onChange={() => switchFormat('yaml')} /> YAML
            </label>
            <label>
              <input type="radio" name="format" value="json" checked={format === 'json'} onChange={() => switchFormat('json')} /> JSON
            </label>
          </fieldset>
          <label>
            {t('policies.document')}
            <textarea name="document" rows={16} spellcheck={false} readOnly={!writable} value={text} onInput={(e) => setText((e.target as HTMLTextAreaElement).value)} />
          </label>
          {error && <p role="alert" class="error" data-testid="policy-error">{error}</p>}
          {notice && <p role="status" class="ok">{notice}</p>}
        </Editor>
      )}
      {editing !== null && editing !== 'new' && <PolicyTokens policy={editing} />}
      {editing !== null && editing !== 'new' && (
        <EgressProposals
          policy={editing}
          onSaved={(p) => {
            setEditing(p);
            setText(docText(p.document, format));
            page.refresh();
          }}
        />
      )}
      {history !== null && <History policy={history} onClose={() => setHistory(null)} />}
    </section>
  );
}
