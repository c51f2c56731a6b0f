import { describe, expect, it } from 'vitest';
import { lineDiff, toYaml } from '../src/textdiff';

describe('lineDiff', () => {
  it('keeps common lines and marks removed and added ones with their numbers', () => {
    const d = lineDiff('a\nb\nc\nd', 'a\nc\nx\nd');
    expect(d.map((l) => `${l.kind}:${l.text}`)).toEqual(['same:a', 'del:b', 'same:c', 'add:x', 'same:d']);
    expect(d[1]).toEqual({ kind: 'del', text: 'b', oldNo: 2 });
    expect(d[3]).toEqual({ kind: 'add', text: 'x', newNo: 3 });
  });
  it('handles empty sides', () => {
    expect(lineDiff('', 'a\nb').map((l) => l.kind)).toEqual(['add', 'add']);
    expect(lineDiff('a', '').map((l) => l.kind)).toEqual(['del']);
    expect(lineDiff('', '')).toEqual([]);
  });
  it('keeps markup as plain text', () => {
    const d = lineDiff('x', '<img src=x onerror=alert(1)>');
    expect(d[1].text).toBe('<img src=x onerror=alert(1)>');
  });
});

describe('toYaml', () => {
  it('writes maps and lists in block style', () => {
    expect(toYaml({ integrity: { paths: ['/var/www', { path: '/srv', recursive: false }], schedule: '1h' } })).toBe(
      'integrity:\n  paths:\n    - /var/www\n    - path: /srv\n      recursive: false\n  schedule: 1h\n',
    );
  });
  it('quotes strings that YAML would read as something else', () => {
    expect(toYaml({ a: 'true', b: '10', c: 'x: y', d: '', e: '#c', f: 'null', g: 5, h: null })).toBe(
      'a: "true"\nb: "10"\nc: "x: y"\nd: ""\ne: "#c"\nf: "null"\ng: 5\nh: null\n',
    );
  });
  it('writes empty collections inline', () => {
    expect(toYaml({ firewall: {}, x: { z: [] }, y: 1 })).toBe('firewall: {}\nx:\n  z: []\n"y": 1\n');
    expect(toYaml({})).toBe('{}\n');
  });
});
