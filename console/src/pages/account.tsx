// Account: the signed-in user's own settings: time zone (PATCH /session {time_zone}) and the TOTP
// second factor (POST /session/totp, /session/totp/confirm, /session/totp/disable). The secret is
// shown once, as text and as a QR code of its otpauth:// URI; it is never fetched again.
import { useState } from 'preact/hooks';
import { api, ApiError, me, type Me } from '../api';
import { timeZones, userTimeZone } from '../format';
import { t } from '../i18n';
import { QrCode } from '../components/qr';

interface Enrolment {
  secret: string;
  uri: string;
}

export function Account() {
  const user = me.value?.user;
  const [enrolment, setEnrolment] = useState<Enrolment | null>(null);
  const [code, setCode] = useState('');
  const [message, setMessage] = useState('');
  const [error, setError] = useState('');
  if (!user) return null;
  const run = async (f: () => Promise<void>) => {
    setError('');
    setMessage('');
    try {
      await f();
    } catch (e) {
      if (e instanceof ApiError && e.code === 'totp_invalid') setError(t('signin.totp_wrong'));
      else setError(t('common.error', { message: String((e as Error).message) }));
    }
  };
  const submitCode = (path: string, done: string) =>
    run(async () => {
      const m = await api<Me>('POST', path, { code: code.trim() });
      me.value = m;
      setEnrolment(null);
      setCode('');
      setMessage(done);
    });
  return (
    <section>
      <h1>{t('account.title')}</h1>
      {error && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
      {message && (
        <p role="status" class="ok" data-testid="account-status">
          {message}
        </p>
      )}
      <h2>{t('account.time_zone')}</h2>
      <form
        class="inline"
        aria-label={t('account.time_zone')}
        onSubmit={(e) => {
          e.preventDefault();
          const z = ((e.target as HTMLFormElement).elements.namedItem('time_zone') as HTMLSelectElement).value;
          void run(async () => {
            const m = await api<Me>('PATCH', '/session', { time_zone: z });
            me.value = m;
            userTimeZone.value = m.user.time_zone ?? '';
            setMessage(t('account.saved'));
          });
        }}
      >
        <label>
          {t('account.time_zone')}{' '}
          <select name="time_zone" value={userTimeZone.value}>
            <option value="">{t('account.tz_browser')}</option>
            {timeZones().map((z) => (
              <option value={z}>{z}</option>
            ))}
          </select>
        </label>
        <button type="submit">{t('common.save')}</button>
      </form>

      <h2>{t('account.totp')}</h2>
      <p data-testid="totp-state">{user.totp_enabled ? t('account.totp_on') : t('account.totp_off')}</p>
      {!user.totp_enabled && !enrolment && (
        <button
          type="button"
          onClick={() =>
            run(async () => {
              setEnrolment(await api<Enrolment>('POST', '/session/totp'));
              setTimeout(() => document.querySelector<HTMLInputElement>('input[name="code"]')?.focus(), 0);
            })
          }
        >
          {t('account.totp_start')}
        </button>
      )}
      {enrolment && (
        <div class="card secret" role="region" aria-label={t('account.totp')}>
          <p>{t('account.totp_scan')}</p>
          <p>
            {t('account.totp_secret')}: <code data-testid="totp-secret">{enrolment.secret}</code>
          </p>
          <QrCode text={enrolment.uri} label={t('account.totp_qr')} />
          <p>
            {t('account.totp_uri')}: <code data-testid="totp-uri">{enrolment.uri}</code>
          </p>
        </div>
      )}
      {(enrolment || user.totp_enabled) && (
        <form
          class="inline"
          aria-label={enrolment ? t('account.totp_confirm') : t('account.totp_disable')}
          onSubmit={(e) => {
            e.preventDefault();
            if (enrolment) void submitCode('/session/totp/confirm', t('account.totp_enabled'));
            else void submitCode('/session/totp/disable', t('account.totp_disabled'));
          }}
        >
          <label>
            {t('signin.totp')}{' '}
            <input
              name="code"
              inputMode="numeric"
              autocomplete="one-time-code"
              pattern="[0-9]{6}"
              maxLength={6}
              required
              value={code}
              onInput={(e) => setCode((e.target as HTMLInputElement).value)}
            />
          </label>
          <button type="submit">{enrolment ? t('account.totp_confirm') : t('account.totp_disable')}</button>
          {enrolment && (
            <button type="button" onClick={() => setEnrolment(null)}>
              {t('common.cancel')}
            </button>
          )}
        </form>
      )}
    </section>
  );
}
