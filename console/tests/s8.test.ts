// The pure parts of the s8 pages: egress proposals accepted into a policy document, "add to
// allow-list" from an event, and API errors matched to the form fields they name.
import { describe, expect, it } from 'vitest';
import { acceptProposal, addToAllowList, destinationOf, proposalsOf, serviceOf, services } from '../src/egress';
import { isAbout, otherError, splitList } from '../src/fielderror';

const doc = () => ({
  integrity: { paths: ['/srv'] },
  egress: {
    mode: 'detect',
    allow: ['good.example'],
    services: [
      { id: 'web', unit: 'nginx.service', mode: 'learn', learn_for: '24h', allow: ['z.example'] },
      { id: 'fetch', exe: '/usr/bin/curl', mode: 'prevent', allow: ['repo.example'] },
    ],
  },
});

describe('egress services', () => {
  it('reads the services with their defaults', () => {
    expect(services(doc())).toEqual([
      { id: 'web', mode: 'learn', allow: ['z.example'] },
      { id: 'fetch', mode: 'prevent', allow: ['repo.example'] },
    ]);
    expect(services({ egress: { services: [{ exe: '/bin/x' }, { id: 'a' }] } })).toEqual([{ id: 'a', mode: 'learn', allow: [] }]);
    expect(services({})).toEqual([]);
  });

  it('accepts a proposal: union sorted once each, the mode set, learn_for gone, nothing else changed', () => {
    const d = doc();
    const next = acceptProposal(d, 'web', ['b.example', 'a.example', 'z.example'], 'prevent');
    expect(next.egress).toEqual({
      mode: 'detect',
      allow: ['good.example'],
      services: [
        { id: 'web', unit: 'nginx.service', mode: 'prevent', allow: ['a.example', 'b.example', 'z.example'] },
        { id: 'fetch', exe: '/usr/bin/curl', mode: 'prevent', allow: ['repo.example'] },
      ],
    });
    expect(next.integrity).toEqual({ paths: ['/srv'] });
    expect(d.egress.services[0].mode).toBe('learn'); // the original is not touched
    expect(() => acceptProposal(d, 'nope', [], 'detect')).toThrow(/no egress service nope/);
    expect(() => acceptProposal({}, 'web', [], 'detect')).toThrow(/no egress section/);
  });

  it('adds an event destination to the service or to the policy, once', () => {
    const r = addToAllowList(doc(), 'fetch', 'mirror.example');
    expect(r.added).toBe(true);
    expect((r.doc.egress as any).services[1].allow).toEqual(['repo.example', 'mirror.example']);
    expect(addToAllowList(r.doc, 'fetch', 'mirror.example').added).toBe(false);
    const p = addToAllowList(doc(), null, '192.0.2.7');
    expect((p.doc.egress as any).allow).toEqual(['good.example', '192.0.2.7']);
    const none = addToAllowList({ egress: { services: [{ id: 'x' }] } }, 'x', 'a.example');
    expect((none.doc.egress as any).services[0].allow).toEqual(['a.example']);
  });

  it('takes the name before the address, and the service only when the policy has it', () => {
    expect(destinationOf({ destination: { domain: 'a.example', ip: '192.0.2.1' } })).toBe('a.example');
    expect(destinationOf({ tls: { client: { server_name: 'sni.example' } }, destination: { ip: '192.0.2.1' } })).toBe('sni.example');
    expect(destinationOf({ dns: { question: { name: 'q.example.' } } })).toBe('q.example');
    expect(destinationOf({ destination: { ip: '2001:db8::1' } })).toBe('2001:db8::1');
    expect(destinationOf({ event: { module: 'egress' } })).toBe('');
    expect(serviceOf({ egress: { service: { id: 'web' } } }, doc())).toBe('web');
    expect(serviceOf({ egress: { service: { id: 'gone' } } }, doc())).toBeNull();
    expect(serviceOf({}, doc())).toBeNull();
  });

  it('keeps only the services that have a proposal', () => {
    expect(
      proposalsOf({
        truncated: false,
        items: [
          { service: 'web', mode: 'learn', allow: [], proposal: { allow: ['a.example'], agent_id: 'a1', hostname: 'web-01', at: '2026-12-07T00:00:00Z', event_id: 'e1' } },
          { service: 'idle', mode: 'learn', allow: [], proposal: null },
        ],
      }),
    ).toEqual([{ service: 'web', allow: ['a.example'], agent_id: 'a1', host: 'web-01', at: '2026-12-07T00:00:00Z' }]);
  });
});

describe('errors at the field', () => {
  it('matches a field and its parts only', () => {
    const e = { field: 'filter.modules[1]', message: 'filter.modules[1]: expected a string' };
    expect(isAbout(e, 'filter.modules')).toBe(true);
    expect(isAbout(e, 'filter')).toBe(true);
    expect(isAbout(e, 'filter.mod')).toBe(false);
    expect(isAbout({ field: 'recipients[0]', message: '' }, 'recipients')).toBe(true);
    expect(isAbout({ field: '', message: 'x' }, 'name')).toBe(false);
    expect(isAbout(null, 'name')).toBe(false);
  });

  it('shows an error no field shows above the buttons', () => {
    expect(otherError({ field: 'window_s', message: 'bad' }, ['window_s'])).toBe('');
    expect(otherError({ field: '', message: 'HTTP 503' }, ['window_s'])).toBe('Error: HTTP 503');
    expect(otherError(null, [])).toBe('');
  });

  it('splits lists as typed', () => {
    expect(splitList(' ips, waf ,,\nloginspect\n')).toEqual(['ips', 'waf', 'loginspect']);
    expect(splitList('')).toEqual([]);
  });
});
