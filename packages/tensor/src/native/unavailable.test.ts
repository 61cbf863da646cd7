import { describe, expect, it } from 'vitest';

// A fresh module graph per test file (vitest forks), so the environment set here is what the
// loader sees when it runs on import.
describe('native backend unavailable', () => {
  it('falls back to the next backend and says why (MEDDL_NATIVE=0)', async () => {
    const old = process.env.MEDDL_NATIVE;
    const oldBackend = process.env.MEDDL_BACKEND;
    process.env.MEDDL_NATIVE = '0';
    delete process.env.MEDDL_BACKEND;
    try {
      const m = await import('../index');
      expect(m.nativeStatus()).toMatchObject({ available: false, reason: 'disabled by MEDDL_NATIVE=0' });
      await expect(m.initBackend('native')).rejects.toThrow(/Backend 'native'.*unavailable.*MEDDL_NATIVE=0/);
      const info = await m.initBackend();
      expect(['wasm', 'cpu', 'node', 'node-gpu']).toContain(info.name);
      expect(info.skipped).toContainEqual({ name: 'native', reason: 'disabled by MEDDL_NATIVE=0' });
    } finally {
      if (old === undefined) delete process.env.MEDDL_NATIVE;
      else process.env.MEDDL_NATIVE = old;
      if (oldBackend !== undefined) process.env.MEDDL_BACKEND = oldBackend;
    }
  });
});
