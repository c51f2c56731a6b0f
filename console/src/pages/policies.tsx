// Policies: list (GET /policies), edit as JSON (PATCH /policies/{id}) or create (POST); the
// manager validates with the agent's own parser and the error names the key, shown beside the
// editor.
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, canWrite, me } from '../api';
import { formatTime } from '../format';
import { lang, t } from '../i18n';
import type { Policy } from './types';

export function Policies() {
  const [list, setList] = useState<Policy[] | null>(null);
  const [editing, setEditing] = useState<Policy | 'new' | null>(null);
  const [name, setName] = useState('');
  const [text, setText] = useState('');
  const [error, setError] = useState('');
  const [notice, setNotice] = useState('');
  const [reload, setReload] = useState(0);
  useEffect(() => {
    api<{ items: Policy[] }>('GET', '/policies')
      .then((r) => setList(r.items))
      .catch((e) => setError(String(e.message)));
  }, [reload]);
  const open = (p: Policy | 'new') => {
    setEditing(p);
    setError('');
    setNotice('');
    setName(p === 'new' ? '' : p.name);
    setText(JSON.stringify(p === 'new' ? { integrity: { paths: ['/var/www'], schedule: '1h' } } : p.document, null, 2));
  };
  const save = async () => {
    setError('');
    setNotice('');
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (e) {
      setError(t('policies.invalid_json', { message: String((e as Error).message) }));
      return;
    }
    try {
      const saved =
        editing === 'new'
          ? await api<Policy>('POST', '/policies', { name, document: doc })
          : await api<Policy>('PATCH', `/policies/${encodeURIComponent((editing as Policy).id)}`, { name, document: doc });
      setNotice(t('policies.saved', { v: saved.version }));
      setEditing(saved);
      setReload(reload + 1);
    } catch (e) {
      if (e instanceof ApiError && e.field) setError(t('policies.field', { field: e.field, message: e.message }));
      else setError(t('common.error', { message: String((e as Error).message) }));
    }
  };
  const writable = canWrite();
  return (
    <section>
      <div class="title-row">
        <h1>{t('policies.title')}</h1>
        {writable && (
          <button type="button" onClick={() => open('new')}>
            {t('policies.new')}
          </button>
        )}
      </div>
      {!writable && <p class="muted">{t('common.readonly', { role: me.value?.user.role ?? '' })}</p>}
      {list === null ? (
        <p>{t('common.loading')}</p>
      ) : list.length === 0 ? (
        <p class="muted">{t('common.none')}</p>
      ) : (
        <table data-testid="policies">
          <thead>
            <tr>
              <th scope="col">{t('common.name')}</th>
              <th scope="col">{t('policies.version')}</th>
              <th scope="col">{t('policies.updated')}</th>
              <th scope="col">{t('common.actions')}</th>
            </tr>
          </thead>
          <tbody>
            {list.map((p) => (
              <tr>
                <td>{p.name}</td>
                <td>{p.version}</td>
                <td>{formatTime(p.updated_at, lang.value)}</td>
                <td>
                  <button type="button" class="link" onClick={() => open(p)}>
                    {t('policies.edit')}
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {editing !== null && (
        <form
          class="editor card"
          onSubmit={(e) => {
            e.preventDefault();
            void save();
          }}
        >
          <label>
            {t('common.name')}
            <input name="name" value={name} readOnly={!writable} onInput={(e) => setName((e.target as HTMLInputElement).value)} />
          </label>
          <label>
            {t('policies.document')}
            <textarea name="document" rows={16} spellcheck={false} readOnly={!writable} value={text} onInput={(e) => setText((e.target as HTMLTextAreaElement).value)} />
          </label>
          {error && <p role="alert" class="error" data-testid="policy-error">{error}</p>}
          {notice && <p role="status" class="ok">{notice}</p>}
          <div class="buttons">
            {writable && <button type="submit">{t('common.save')}</button>}
            <button type="button" onClick={() => setEditing(null)}>
              {t('common.close')}
            </button>
          </div>
        </form>
      )}
    </section>
  );
}
