import { describe, expect, it } from 'vitest';
import { BackendError, initBackend, tf } from './index';

describe('backend choice', () => {
  it('initializes the cpu backend on request', async () => {
    const info = await initBackend('cpu');
    expect(info.name).toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
    expect(info.chosenBy).toBe('argument');
    const y = tf.tidy(() => tf.add(tf.tensor1d([1, 2]), tf.tensor1d([3, 4])).dataSync());
    expect(Array.from(y)).toEqual([4, 6]);
  });

  it('initializes the wasm backend on request', async () => {
    const info = await initBackend('wasm');
    expect(info.name).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    expect(info.threads).toBeGreaterThanOrEqual(1);
    const y = tf.tidy(() => tf.matMul(tf.tensor2d([[1, 2]]), tf.tensor2d([[3], [4]])).dataSync());
    expect(Array.from(y)).toEqual([11]);
    await initBackend('cpu');
  });

  it('refuses an unavailable backend with a clear message', async () => {
    await expect(initBackend('node')).rejects.toThrow(BackendError);
    await expect(initBackend('node')).rejects.toThrow(/Backend 'node'.*unavailable.*tfjs-node/);
  });

  it('refuses an unknown backend name from the environment', async () => {
    const old = process.env.MEDDL_BACKEND;
    process.env.MEDDL_BACKEND = 'tpu';
    try {
      await expect(initBackend()).rejects.toThrow(/MEDDL_BACKEND: unknown backend 'tpu'/);
    } finally {
      if (old === undefined) delete process.env.MEDDL_BACKEND;
      else process.env.MEDDL_BACKEND = old;
    }
  });
});
