import { describe, expect, it } from 'vitest';
import { idPattern, isId, newId } from '../../lib/ids';

describe('ids', () => {
  it('are prefixed, lowercase and sort by creation', () => {
    const ids = Array.from({ length: 200 }, () => newId('operation'));
    for (const id of ids) {
      expect(id).toMatch(new RegExp(idPattern('operation')));
      expect(id).toBe(id.toLowerCase());
    }
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('reject ids of another kind', () => {
    expect(isId('node', newId('cluster'))).toBe(false);
    expect(isId('node', newId('node'))).toBe(true);
  });
});
