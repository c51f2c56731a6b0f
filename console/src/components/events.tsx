// The columns every table of events shares (the Events page and a computer's latest events):
// module, action, severity and subject, each shown as text, after the table's own first columns.
import { eventSubject, fieldText, severityOf } from '../format';
import { t, type Key } from '../i18n';

export function SeverityBadge({ level }: { level: number }) {
  return <span class={`sev sev${level}`}>{t(`severity.${level}` as Key)}</span>;
}

export function eventCols(): string[] {
  return [t('events.module'), t('events.action'), t('events.severity'), t('events.subject')];
}

export function EventCells({ ev }: { ev: unknown }) {
  const sev = severityOf(ev);
  return (
    <>
      <td>{fieldText(ev, 'event.module')}</td>
      <td>{fieldText(ev, 'event.action')}</td>
      <td>{sev === undefined ? '' : <SeverityBadge level={sev} />}</td>
      <td class="subject">{eventSubject(ev)}</td>
    </>
  );
}
