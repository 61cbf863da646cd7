import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { tfRecord } from './crc32c';
import { confusionMatrixImage } from './png';
import { DT_STRING, eventType } from './proto';

/**
 * Writes TensorBoard event files (`events.out.tfevents.<time>.<host>`): TFRecord-framed
 * `tensorflow.Event` protos, the first one carrying file_version 'brain.Event:2'. Records are
 * appended synchronously, so a crash loses at most the record being written.
 */
export class TensorBoardWriter {
  readonly path: string;
  private fd: number | null;

  constructor(logDir: string, options: { now?: () => number } = {}) {
    mkdirSync(logDir, { recursive: true });
    this.now = options.now ?? (() => Date.now() / 1000);
    const t = Math.floor(this.now());
    this.path = join(logDir, `events.out.tfevents.${t}.${hostname()}.${process.pid}`);
    this.fd = openSync(this.path, 'a');
    this.writeEvent({ wall_time: this.now(), step: 0, file_version: 'brain.Event:2' });
  }

  private readonly now: () => number;

  private writeEvent(event: Record<string, unknown>): void {
    if (this.fd === null) throw new Error(`TensorBoardWriter for ${this.path} is closed`);
    const type = eventType();
    const bytes = type.encode(type.fromObject(event)).finish();
    writeSync(this.fd, tfRecord(bytes));
  }

  private writeValues(step: number, values: Record<string, unknown>[]): void {
    this.writeEvent({ wall_time: this.now(), step, summary: { value: values } });
  }

  /** Scalars shown in the Scalars tab (`simple_value`). */
  scalars(step: number, values: Record<string, number>): void {
    const vals = Object.entries(values)
      .filter(([, v]) => Number.isFinite(v))
      .map(([tag, v]) => ({ tag, simple_value: v }));
    if (vals.length) this.writeValues(step, vals);
  }

  scalar(tag: string, value: number, step: number): void {
    this.scalars(step, { [tag]: value });
  }

  /** A PNG image (Images tab). */
  image(tag: string, png: Uint8Array, width: number, height: number, step: number, channels = 3): void {
    this.writeValues(step, [
      { tag, image: { height, width, colorspace: channels, encoded_image_string: png } },
    ]);
  }

  /** A confusion matrix rendered as a heatmap image. */
  confusionMatrix(tag: string, matrix: number[][], step: number): void {
    const { png, width, height } = confusionMatrixImage(matrix);
    this.image(tag, png, width, height, step);
  }

  /** Markdown text (Text tab): a DT_STRING tensor summary with plugin 'text'. */
  text(tag: string, markdown: string, step: number): void {
    this.writeValues(step, [
      {
        tag,
        metadata: { plugin_data: { plugin_name: 'text', content: new Uint8Array() } },
        tensor: { dtype: DT_STRING, tensor_shape: {}, string_val: [Buffer.from(markdown, 'utf8')] },
      },
    ]);
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}
