import { describe, expect, it } from 'vitest';
import { dictionaries, translate } from '../src/i18n';

describe('i18n', () => {
  it('has every key in both languages, none empty', () => {
    const en = Object.keys(dictionaries.en).sort();
    const ja = Object.keys(dictionaries.ja).sort();
    expect(ja).toEqual(en);
    for (const l of ['en', 'ja'] as const) {
      for (const [k, v] of Object.entries(dictionaries[l])) {
        expect(v.trim(), `${l}:${k}`).not.toBe('');
      }
    }
  });

  it('uses the same placeholders in both languages', () => {
    const names = (s: string) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
    for (const k of Object.keys(dictionaries.en) as Array<keyof typeof dictionaries.en>) {
      expect(names(dictionaries.ja[k]), k).toEqual(names(dictionaries.en[k]));
    }
  });

  it('translates Japanese and fills placeholders as text', () => {
    expect(translate('ja', 'nav.events')).toBe('イベント');
    expect(translate('en', 'dash.total', { n: 3 })).toBe('3 events');
    expect(translate('en', 'common.error', { message: '<b>x</b>' })).toBe('Error: <b>x</b>');
  });
});
