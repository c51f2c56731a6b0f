import { useState } from 'preact/hooks';
import { api, ApiError, me, type Me } from '../api';
import { isLang, lang, t } from '../i18n';

export function SignIn() {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  return (
    <main class="signin">
      <form
        aria-labelledby="signin-title"
        onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true);
          setError('');
          try {
            const m = await api<Me>('POST', '/session', { username, password });
            if (isLang(m.user.language)) lang.value = m.user.language;
            me.value = m;
          } catch (err) {
            if (err instanceof ApiError && err.status === 429) {
              setError(t('signin.throttled', { s: err.retryAfter ?? 60 }));
            } else if (err instanceof ApiError && (err.status === 401 || err.status === 400)) {
              setError(t('signin.failed'));
            } else {
              setError(t('common.error', { message: String((err as Error).message) }));
            }
          } finally {
            setBusy(false);
          }
        }}
      >
        <h1 id="signin-title">{t('signin.title')}</h1>
        <label>
          {t('signin.username')}
          <input name="username" autocomplete="username" required value={username} onInput={(e) => setUsername((e.target as HTMLInputElement).value)} />
        </label>
        <label>
          {t('signin.password')}
          <input name="password" type="password" autocomplete="current-password" required value={password} onInput={(e) => setPassword((e.target as HTMLInputElement).value)} />
        </label>
        {error && (
          <p role="alert" class="error">
            {error}
          </p>
        )}
        <button type="submit" disabled={busy}>
          {t('signin.submit')}
        </button>
        <p class="lang-choice">
          <button type="button" class="link" onClick={() => (lang.value = lang.value === 'en' ? 'ja' : 'en')}>
            {lang.value === 'en' ? '日本語' : 'English'}
          </button>
        </p>
      </form>
    </main>
  );
}
