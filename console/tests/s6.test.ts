import { describe, expect, it } from 'vitest';
import { exclusionFor, prefixOf, previewParams } from '../src/exclusions';

describe('IPS tuning: exclusions', () => {
  it('offers the directory of the top path as the prefix, ending with a slash', () => {
    expect(prefixOf('/api/search')).toBe('/api/');
    expect(prefixOf('/api/v2/items')).toBe('/api/v2/');
    expect(prefixOf('/api/')).toBe('/api/');
    expect(prefixOf('/index.html')).toBe('/');
    expect(prefixOf('')).toBe('/');
  });
  it('writes the agent policy form of each scope', () => {
    expect(exclusionFor('target', '942100', 'ARGS:q', '/api/')).toEqual({ id: 942100, target: 'ARGS:q' });
    expect(exclusionFor('prefix', '942100', 'ARGS:q', '/api/')).toEqual({ id: 942100, target: 'ARGS:q', path_prefix: '/api/' });
  });
  it('previews with the same scope', () => {
    expect(previewParams('rule', '942100', 'ARGS:q', '/api/')).toEqual({ exclude_rule: '942100' });
    expect(previewParams('target', '942100', 'ARGS:q', '/api/')).toEqual({ exclude_rule: '942100', exclude_target: 'ARGS:q' });
    expect(previewParams('prefix', '942100', 'ARGS:q', '/api/')).toEqual({ exclude_rule: '942100', exclude_target: 'ARGS:q', exclude_path: '/api/' });
  });
});
