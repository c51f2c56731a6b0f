import { useState } from 'preact/hooks';
import { api, ApiError, me, sessionEnded, type Me } from '../api';
import { userTimeZone } from '../format';
import { isLang, lang, t } from '../i18n';
import { LinkButton } from '../components/scaffold';

export function SignIn() {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  // The second step: the password was right and the user has TOTP on.
  const [needCode, setNeedCode] = useState(false);
  const [code, setCode] = useState('');
  return (
    <main class="signin">
      <form
        aria-labelledby="signin-title"
        onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true);
          setError('');
          try {
            const body: Record<string, string> = { username, password };
            if (needCode) body.totp_code = code.trim();
            const m = await api<Me>('POST', '/session', body);
            if (isLang(m.user.language)) lang.value = m.user.language;
            userTimeZone.value = m.user.time_zone ?? '';
            sessionEnded.value = false;
            me.value = m;
          } catch (err) {
            if (err instanceof ApiError && err.code === 'totp_required') {
              setNeedCode(true);
              setTimeout(() => document.querySelector<HTMLInputElement>('input[name="totp_code"]')?.focus(), 0);
            } else if (err instanceof ApiError && err.code === 'totp_invalid') {
              setCode('');
              setError(t('signin.totp_wrong'));
            } else if (err instanceof ApiError && err.status === 429) {
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
        {sessionEnded.value && !error && (
          <p class="muted" role="status" data-testid="session-ended">
            {t('signin.session_ended')}
          </p>
        )}
        <label>
          {t('signin.username')}
          <input name="username" autocomplete="username" required value={username} onInput={(e) => setUsername((e.target as HTMLInputElement).value)} />
        </label>
        <label>
          {t('signin.password')}
          <input name="password" type="password" autocomplete="current-password" required value={password} onInput={(e) => setPassword((e.target as HTMLInputElement).value)} />
        </label>
        {needCode && (
          <label>
            {t('signin.totp')}
            <input
              name="totp_code"
              inputMode="numeric"
              autocomplete="one-time-code"
              pattern="[0-9]{6}"
              maxLength={6}
              required
              aria-describedby="totp-hint"
              value={code}
              onInput={(e) => setCode((e.target as HTMLInputElement).value)}
            />
            <span id="totp-hint" class="muted">
              {t('signin.totp_hint')}
            </span>
          </label>
        )}
        {error && (
          <p role="alert" class="error">
            {error}
          </p>
        )}
        <button type="submit" disabled={busy}>
          {t('signin.submit')}
        </button>
        <p class="lang-choice">
          <LinkButton onClick={() => (lang.value = lang.value === 'en' ? 'ja' : 'en')}>
            {lang.value === 'en' ? '日本語' : 'English'}
          </LinkButton>
        </p>
      </form>
    </main>
  );
}
