/**
 * The child process of the kill, signal and file-size-limit tests (kill.test.ts bundles it with
 * esbuild, see spawn-child.ts, so it runs the current sources in a plain `node` process).
 *   loop <dir>    save checkpoints forever, alternating save() and saveAsync()+flush(), printing
 *                 `saved <step>` once each is durable
 *   signal <dir>  install the SIGINT/SIGTERM handlers, print `ready`, wait
 *   big <dir>     save a small checkpoint, then one too big for `ulimit -f`; print the error as JSON
 *   try-save <dir>  save one small checkpoint; print the outcome as JSON (run without write permission)
 * It handles raw typed arrays only, never tfjs tensors, so the bundle replaces @meddl/tensor with
 * no-tfjs.ts: each of the many processes the kill test starts then skips loading tfjs (about a second).
 */
import { CheckpointError } from '../errors';
import { CheckpointManager } from '../manager';
import { loopPayload } from './payloads';

const [mode, dir] = process.argv.slice(2);

async function main(): Promise<void> {
  switch (mode) {
    case 'loop': {
      const mgr = new CheckpointManager(dir, {
        keepLast: 2,
        keepBest: [{ monitor: 'loss', mode: 'min', k: 1 }],
      });
      const records = mgr.list();
      let step = records.length ? records[records.length - 1].step + 1 : 0;
      process.stdout.write('ready\n');
      for (;;) {
        const payload = loopPayload(step);
        const info = { epoch: Math.floor(step / 10), step, metrics: { loss: 1 / (1 + step) } };
        if (step % 2 === 0) {
          await mgr.save(payload, info);
        } else {
          await mgr.saveAsync(payload, info);
          await mgr.flush();
        }
        process.stdout.write(`saved ${step}\n`);
        step++;
      }
    }
    case 'signal': {
      const mgr = new CheckpointManager(dir, {});
      mgr.installSignalHandlers(() => ({
        payload: loopPayload(7),
        info: { epoch: 0, step: 7, metrics: {} },
      }));
      process.stdout.write('ready\n');
      setInterval(() => {}, 1000);
      return;
    }
    case 'big':
    case 'try-save': {
      const mgr = new CheckpointManager(dir, {});
      if (mode === 'big') await mgr.save(loopPayload(1, 16), { epoch: 0, step: 1, metrics: { loss: 1 } });
      try {
        await mgr.save(loopPayload(2, mode === 'big' ? 512 : 16), {
          epoch: 0,
          step: 2,
          metrics: { loss: 0.5 },
        });
        process.stdout.write(JSON.stringify({ ok: true }));
      } catch (err) {
        const e = err as CheckpointError;
        process.stdout.write(
          JSON.stringify({
            ok: false,
            name: e.name,
            meddl: e.meddl,
            code: e.code,
            message: e.message,
            typed: e instanceof CheckpointError,
          }),
        );
      }
      return;
    }
    default:
      throw new Error(`unknown mode ${mode}`);
  }
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
