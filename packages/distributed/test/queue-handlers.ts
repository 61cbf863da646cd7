// Job handlers for the queue tests, used in-process and by queue-worker.ts. 'checksum' reads an
// input file, takes a while (so a test can kill its worker mid-job), and writes the SHA-256 of
// the content once; every finished run appends one line to the `done` log.
import { createHash } from 'node:crypto';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type JobHandler, writeOutputOnce } from '../src/queue';

export interface ChecksumJob {
  input: string;
  outDir: string;
  delayMs: number;
  /** Fail the first N attempts (to test retries). */
  failAttempts?: number;
}

export const handlers: Record<string, JobHandler> = {
  async checksum(raw, ctx) {
    const job = raw as ChecksumJob;
    writeFileSync(join(job.outDir, `${ctx.id}.started-${process.pid}`), '');
    if (ctx.attempt <= (job.failAttempts ?? 0)) throw new Error(`planned failure on attempt ${ctx.attempt}`);
    await ctx.progress(10);
    await new Promise((r) => setTimeout(r, job.delayMs));
    const digest = createHash('sha256').update(readFileSync(job.input)).digest('hex');
    const { written } = await writeOutputOnce(join(job.outDir, `${ctx.id}.sha256`), () => `${digest}\n`);
    await ctx.progress(100);
    appendFileSync(join(job.outDir, 'done.log'), `${ctx.id} ${process.pid} ${written}\n`);
    return { digest, written };
  },
};
