import { afterAll, describe, expect, it } from 'vitest';
import { initBackend, nativePoolStats, nativeStatus, tf } from '../index';

// Output arrays of native kernels are reused after their tensor is disposed, unless anything
// other than a native kernel has read them (dataSync, cpu kernels that may alias them).
describe.runIf(nativeStatus().available)('native output pool', () => {
  afterAll(async () => {
    await tf.setBackend('cpu');
  });

  it('reuses arrays that only native kernels read', async () => {
    await initBackend('native');
    await tf.setBackend('meddl-native');
    const x = tf.ones([64, 64]);
    const before = nativePoolStats().hits;
    for (let i = 0; i < 5; i++) tf.tidy(() => tf.exp(tf.add(x, 1)));
    expect(nativePoolStats().hits).toBeGreaterThan(before);
    x.dispose();
  });

  it('never reuses an array that dataSync handed out or that a cpu kernel may alias', async () => {
    await initBackend('native');
    await tf.setBackend('meddl-native');
    const x = tf.fill([64, 64], 2);
    const y = tf.add(x, 1); // native output, value 3
    const held = y.dataSync();
    const view = tf.slice(tf.reshape(y, [4096]), [0], [2048]); // cpu Slice: may be a subarray view
    y.dispose();
    for (let i = 0; i < 5; i++) tf.tidy(() => tf.mul(tf.add(x, 5), 10)); // same-size native outputs
    expect(held.every((v) => v === 3)).toBe(true);
    expect(Array.from(view.dataSync()).every((v) => v === 3)).toBe(true);
    tf.dispose([x, view]);
  });

  it('keeps results correct when arrays are reused across many kernels', async () => {
    await initBackend('native');
    await tf.setBackend('meddl-native');
    const a = tf.range(0, 4096, 1, 'float32');
    for (let i = 0; i < 4; i++) {
      const s = tf.tidy(() => tf.sum(tf.sub(tf.mul(a, 2), a)).dataSync()[0]);
      expect(s).toBe((4095 * 4096) / 2);
    }
    a.dispose();
  });
});
