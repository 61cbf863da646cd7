// A minimal directory checkpoint sink for the cross-process resume test (the real one is
// @meddl/checkpoint's CheckpointManager): one JSON file per checkpoint, written atomically.
import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tf } from '@meddl/tensor';
import type { CheckpointInfo, CheckpointPayload, CheckpointSink } from '../src/trainer';

type Serialized = Record<string, { shape: number[]; data: number[] }>;
const ser = (d: Record<string, tf.Tensor>): Serialized =>
  Object.fromEntries(
    Object.entries(d).map(([k, t]) => [k, { shape: t.shape, data: Array.from(t.dataSync()) }]),
  );
const de = (d: Serialized) =>
  Object.fromEntries(Object.entries(d).map(([k, t]) => [k, tf.tensor(t.data, t.shape)]));

export class DirectorySink implements CheckpointSink {
  private n = 0;
  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true });
    this.n = readdirSync(dir).filter((f) => f.endsWith('.json')).length;
  }
  async save(payload: CheckpointPayload, info: CheckpointInfo): Promise<string> {
    const path = join(this.dir, `ckpt-${String(this.n++).padStart(4, '0')}-${info.reason}.json`);
    const body = JSON.stringify({
      model: ser(payload.model),
      optimizer: ser(payload.optimizer ?? {}),
      state: payload.state,
      info,
    });
    writeFileSync(`${path}.tmp`, body);
    renameSync(`${path}.tmp`, path);
    return path;
  }
  async latestValid() {
    const files = readdirSync(this.dir)
      .filter((f) => f.endsWith('.json'))
      .sort();
    const last = files.at(-1);
    if (!last) return null;
    const path = join(this.dir, last);
    const c = JSON.parse(readFileSync(path, 'utf8'));
    return { path, model: de(c.model), optimizer: de(c.optimizer), state: c.state };
  }
}
