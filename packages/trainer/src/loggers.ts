import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { Callback } from './callbacks';
import { TensorBoardWriter } from './tensorboard/writer';
import type { EpochRecord, FitSummary, StepRecord, Trainer } from './trainer';

function fmtTime(sec: number): string {
  if (!Number.isFinite(sec)) return '--:--';
  const s = Math.max(0, Math.round(sec));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  return `${h ? `${h}:` : ''}${String(m).padStart(2, '0')}:${String(r).padStart(2, '0')}`;
}

/**
 * Progress on a terminal: loss, samples/s and ETA on one rewritten line; when the stream is
 * not a TTY it prints only one line per epoch (no progress noise in log files).
 */
export class ConsoleLogger implements Callback {
  readonly name = 'console';
  private readonly tty: boolean;
  constructor(
    private readonly out: NodeJS.WritableStream & { isTTY?: boolean } = process.stderr,
    options: { quiet?: boolean } = {},
  ) {
    this.tty = !options.quiet && Boolean(out.isTTY);
  }
  onTrainStepEnd(trainer: Trainer, r: StepRecord): void {
    if (!this.tty) return;
    const total = trainer.totalSteps;
    const eta = (total - r.step) * (r.stepSeconds || 0);
    this.out.write(
      `\repoch ${r.epoch + 1}/${trainer.config.maxEpochs} step ${r.step}/${total} loss ${r.loss.toFixed(4)} ` +
        `${r.samplesPerSec.toFixed(1)} samples/s ETA ${fmtTime(eta)}   `,
    );
  }
  onEpochEnd(_t: Trainer, r: EpochRecord): void {
    const metrics = Object.entries(r.metrics)
      .map(([k, v]) => `${k} ${v.toFixed(4)}`)
      .join(' ');
    this.out.write(
      `${this.tty ? '\n' : ''}epoch ${r.epoch + 1} step ${r.step} train_loss ${r.trainLoss.toFixed(4)} ${metrics} (${r.durationSec.toFixed(1)} s)\n`,
    );
  }
  onFitEnd(_t: Trainer, s: FitSummary): void {
    this.out.write(
      `fit ${s.status}${s.stopReason ? ` (${s.stopReason})` : ''}: ${s.epochs} epochs, ${s.steps} steps\n`,
    );
  }
}

function csvCell(v: unknown): string {
  if (v === undefined || v === null) return '';
  const s = String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** `metrics.csv`: one row per epoch (epoch, step, train_loss, lr, duration_s, then every metric). */
export class CsvLogger implements Callback {
  readonly name = 'csv';
  readonly path: string;
  private readonly rows: Record<string, number>[] = [];
  private columns: string[] = ['epoch', 'step', 'train_loss', 'lr', 'duration_s'];
  constructor(logDir: string) {
    this.path = join(logDir, 'metrics.csv');
  }
  onEpochEnd(trainer: Trainer, r: EpochRecord): void {
    const row: Record<string, number> = {
      epoch: r.epoch,
      step: r.step,
      train_loss: r.trainLoss,
      lr: trainer.optimizer?.paramGroups[0]?.lr ?? Number.NaN,
      duration_s: r.durationSec,
      ...r.metrics,
    };
    this.rows.push(row);
    const newCols = Object.keys(row).filter((k) => !this.columns.includes(k));
    if (newCols.length || this.rows.length === 1) {
      this.columns = [...this.columns, ...newCols];
      // A new metric appeared: rewrite the file so the header covers every column.
      writeFileSync(
        this.path,
        `${[this.columns.join(','), ...this.rows.map((x) => this.line(x))].join('\n')}\n`,
      );
    } else appendFileSync(this.path, `${this.line(row)}\n`);
  }
  private line(row: Record<string, number>): string {
    return this.columns.map((c) => csvCell(row[c])).join(',');
  }
}

/** `steps.jsonl`: one JSON object per logged optimizer step. */
export class JsonlLogger implements Callback {
  readonly name = 'jsonl';
  readonly path: string;
  constructor(logDir: string) {
    this.path = join(logDir, 'steps.jsonl');
  }
  onTrainStepEnd(trainer: Trainer, r: StepRecord): void {
    if (r.step % trainer.config.logEveryNSteps !== 0 && !r.skipped) return;
    const { scalars, ...rest } = r;
    appendFileSync(this.path, `${JSON.stringify({ ...rest, ...scalars, time: Date.now() / 1000 })}\n`);
  }
  onValidationEnd(trainer: Trainer, metrics: Record<string, number>): void {
    appendFileSync(
      this.path,
      `${JSON.stringify({ step: trainer.globalStep, epoch: trainer.epoch, validation: metrics, time: Date.now() / 1000 })}\n`,
    );
  }
}

/** TensorBoard scalars per logged step and per validation, plus the resolved config as text. */
export class TensorBoardLogger implements Callback {
  readonly name = 'tensorboard';
  readonly writer: TensorBoardWriter;
  constructor(logDir: string) {
    this.writer = new TensorBoardWriter(logDir);
  }
  onFitStart(trainer: Trainer): void {
    this.writer.text('config', `\`\`\`yaml\n${stringify(trainer.config)}\`\`\``, trainer.globalStep);
  }
  onTrainStepEnd(trainer: Trainer, r: StepRecord): void {
    if (r.skipped || r.step % trainer.config.logEveryNSteps !== 0) return;
    this.writer.scalars(r.step, {
      'train/loss': r.loss,
      'train/grad_norm': r.gradNorm,
      'train/samples_per_sec': r.samplesPerSec,
      lr: r.lr[0],
      ...r.scalars,
    });
  }
  onValidationEnd(trainer: Trainer, metrics: Record<string, number>): void {
    this.writer.scalars(
      trainer.globalStep,
      Object.fromEntries(Object.entries(metrics).map(([k, v]) => [k.includes('/') ? k : `val/${k}`, v])),
    );
  }
  onEpochEnd(_t: Trainer, r: EpochRecord): void {
    this.writer.scalars(r.step, { 'epoch/train_loss': r.trainLoss, epoch: r.epoch });
  }
  onFitEnd(): void {
    this.writer.close();
  }
}
