/**
 * The body of an inference worker thread (`models[].threads > 0`): loads one model entry with the
 * same `loadPredictor` as the main thread and runs predictions sent to it, so model compute never
 * blocks the API's event loop. Messages: in {type: 'predict', id, file, options} | {type: 'abort',
 * id}; out {type: 'ready', version} | {type: 'result', id, prediction} | {type: 'error', id?, error}.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { initBackend } from '@meddl/tensor';
import type { ModelEntry } from './config';
import type { Predictor, PredictorContext } from './predictor';
import { loadPredictor } from './service';

export interface WorkerInit {
  entry: ModelEntry;
  ctx: PredictorContext;
}

export type ToWorker =
  | { type: 'predict'; id: number; file: string; options: Record<string, unknown> }
  | { type: 'abort'; id: number; reason: string };

export interface SerializedError {
  name: string;
  message: string;
  meddl: boolean;
  statusCode?: number;
  code?: string;
}

export function serializeError(e: unknown): SerializedError {
  const err = e instanceof Error ? e : new Error(String(e));
  const x = err as Error & { meddl?: unknown; statusCode?: unknown; code?: unknown };
  return {
    name: err.name,
    message: err.message,
    meddl: x.meddl === true,
    ...(typeof x.statusCode === 'number' ? { statusCode: x.statusCode } : {}),
    ...(typeof x.code === 'string' ? { code: x.code } : {}),
  };
}

async function main(): Promise<void> {
  const port = parentPort;
  if (!port) throw new Error('predict-worker must run in a worker thread');
  const { entry, ctx } = workerData as WorkerInit;
  let predictor: Predictor;
  try {
    await initBackend();
    predictor = await loadPredictor(entry, ctx);
  } catch (e) {
    port.postMessage({ type: 'error', error: serializeError(e) });
    return;
  }
  const running = new Map<number, AbortController>();
  port.on('message', (m: ToWorker) => {
    if (m.type === 'abort') {
      running.get(m.id)?.abort(new Error(m.reason));
      return;
    }
    const ac = new AbortController();
    running.set(m.id, ac);
    predictor
      .predict({ file: m.file, options: m.options, signal: ac.signal })
      .then(
        (prediction) => port.postMessage({ type: 'result', id: m.id, prediction }),
        (e) => port.postMessage({ type: 'error', id: m.id, error: serializeError(e) }),
      )
      .finally(() => running.delete(m.id));
  });
  port.postMessage({ type: 'ready', version: predictor.version });
}

if (parentPort) void main();
