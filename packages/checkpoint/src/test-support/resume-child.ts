/**
 * The fresh processes of the resume-exactness test (resume.test.ts bundles this file with esbuild).
 *   resume-first <runDir> <n>         train n steps of the tiny run, save a checkpoint, exit
 *   resume-second <runDir> <n> <out>  resume(runDir), train n more steps, write the weights to <out>
 */
import { join } from 'node:path';
import { initBackend } from '@meddl/tensor';
import { CheckpointManager, disposeCheckpoint, resume } from '../manager';
import { writeSafetensors } from '../safetensors';
import { createRun, payloadOf, restoreRun, trainSteps } from './tiny-training';

const [mode, dir, arg1, arg2] = process.argv.slice(2);

async function main(): Promise<void> {
  await initBackend('cpu');
  switch (mode) {
    case 'resume-first': {
      const run = createRun(11);
      trainSteps(run, Number(arg1));
      const mgr = new CheckpointManager(join(dir, 'checkpoints'), { keepLast: 2 });
      await mgr.save(payloadOf(run), { epoch: 0, step: run.step, metrics: { loss: run.lastLoss } });
      return;
    }
    case 'resume-second': {
      const run = createRun(99); // a different init: everything must come from the checkpoint
      const loaded = await resume(dir, { maxResumes: 5 });
      if (!loaded) throw new Error('nothing to resume');
      restoreRun(run, loaded);
      disposeCheckpoint(loaded);
      trainSteps(run, Number(arg1));
      writeSafetensors(arg2, run.model.stateDict(), { step: String(run.step) });
      process.stdout.write(JSON.stringify({ step: run.step, resumeCount: loaded.resumeCount }));
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
