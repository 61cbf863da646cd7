// Embeddings from an exported encoder (`meddl export vjepa3d` / exportVJepaEncoder) through
// @meddl/onnx's OnnxSession (onnxruntime), with the same preprocessing and pooling as the
// checkpoint path (`embedVolumes`): centre crop to the model input, `tokens` [B, N, D] from the
// graph, pooled here (mean, or mean ‖ max) so both poolings come from one exported graph.
import { existsSync, readFileSync } from 'node:fs';
import { OnnxSession } from '@meddl/onnx';
import type { Volume3d } from './data/read';
import { VJepaArgumentError } from './errors';
import type { ModelConfig, Pooling } from './model';
import { centerCrop, type Shape3 } from './transforms';

/** What `meddl export vjepa3d` writes beside the model (<file>.onnx.json), the parts used here. */
export interface VJepaOnnxSidecar {
  model: string;
  encoder?: 'context' | 'target';
  config?: ModelConfig;
  preprocessing?: { inputShape?: Shape3; data?: { dir?: string; resampleShape?: Shape3 } };
}

/** Reads `<onnx>.json` when it exists (null otherwise); errors name the file. */
export function readOnnxSidecar(onnxPath: string): VJepaOnnxSidecar | null {
  const path = `${onnxPath}.json`;
  if (!existsSync(path)) return null;
  let v: unknown;
  try {
    v = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new VJepaArgumentError('--onnx', `${path}: not JSON (${(e as Error).message})`);
  }
  const s = v as VJepaOnnxSidecar;
  if (typeof s !== 'object' || s === null || s.model !== 'vjepa3d')
    throw new VJepaArgumentError(
      '--onnx',
      `${path}: not a vjepa3d export sidecar (model '${String(s?.model)}')`,
    );
  return s;
}

/** Opens an exported V-JEPA encoder and checks its signature: `volumes` [B, 1, D, H, W] → `tokens` [B, N, D]. */
export async function openOnnxEncoder(model: string | Uint8Array, inputShape: Shape3): Promise<OnnxSession> {
  const session = await OnnxSession.create(model, { threads: 1 });
  const input = session.inputs.find((i) => i.name === 'volumes');
  const tokens = session.outputs.find((o) => o.name === 'tokens');
  if (!input || !tokens)
    throw new VJepaArgumentError(
      '--onnx',
      `${session.source}: expected input 'volumes' and output 'tokens' (a vjepa3d encoder export), got ${session.inputs.map((i) => i.name).join(', ')} → ${session.outputs.map((o) => o.name).join(', ')}`,
    );
  const dims = input.dims.slice(2);
  if (dims.length !== 3 || dims.some((d, k) => typeof d === 'number' && d !== inputShape[k]))
    throw new VJepaArgumentError(
      '--onnx',
      `${session.source}: input volumes [${input.dims.join(', ')}] does not match the model input [${inputShape.join(', ')}]`,
    );
  return session;
}

/**
 * Pooled per-volume embeddings from an exported encoder: the same result as
 * `embedVolumes(model, volumes, encoder, pooling)` for the encoder that was exported.
 */
export async function embedVolumesOnnx(
  session: OnnxSession,
  volumes: Volume3d[],
  inputShape: Shape3,
  pooling: Pooling = 'mean',
  batchSize = 8,
): Promise<{ embeddings: Float32Array; dim: number }> {
  const [D, H, W] = inputShape;
  const voxels = D * H * W;
  let out: Float32Array | null = null;
  let dim = 0;
  for (let s = 0; s < volumes.length; s += batchSize) {
    const vols = volumes.slice(s, s + batchSize).map((v) => centerCrop(v, inputShape));
    const b = vols.length;
    const data = new Float32Array(b * voxels);
    vols.forEach((v, i) => {
      data.set(v.data, i * voxels);
    });
    const r = await session.run({ volumes: { data, dims: [b, 1, D, H, W] } }, ['tokens']);
    const t = r.tokens;
    if (t?.dims.length !== 3)
      throw new VJepaArgumentError(
        '--onnx',
        `${session.source}: output 'tokens' is not [batch, tokens, dim]`,
      );
    const [, n, d] = t.dims as [number, number, number];
    const tok = t.data as Float32Array;
    dim = pooling === 'mean' ? d : 2 * d;
    out ??= new Float32Array(volumes.length * dim);
    for (let i = 0; i < b; i++) {
      const row = out.subarray((s + i) * dim, (s + i + 1) * dim);
      for (let j = 0; j < d; j++) {
        let sum = 0;
        let max = Number.NEGATIVE_INFINITY;
        for (let k = 0; k < n; k++) {
          const x = tok[(i * n + k) * d + j] as number;
          sum += x;
          if (x > max) max = x;
        }
        row[j] = sum / n;
        if (pooling === 'mean-max') row[d + j] = max;
      }
    }
  }
  return { embeddings: out ?? new Float32Array(0), dim };
}
