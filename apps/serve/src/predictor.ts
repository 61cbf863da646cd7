/**
 * The model registry: each domain plugs in a `Predictor`. The service only knows this interface
 * (name, version, what inputs it takes, predict); the model math stays in the domain package.
 */
import type { z } from 'zod';

/** An input kind a predictor accepts, with the file names and content types that carry it. */
export interface InputKind {
  /** e.g. 'methylation-pat' */
  kind: string;
  description: string;
  /** Accepted file name endings, e.g. ['.pat.gz', '.pat']. */
  extensions: string[];
  /** Accepted upload content types. */
  contentTypes: string[];
}

export interface PredictInput {
  /** A local file (an upload in the spool folder, or a confined server-side path). */
  file: string;
  /** Validated predictor options (see `optionsSchema`). */
  options: Record<string, unknown>;
  /** Aborted on cancellation or timeout; predictors check it between batches. */
  signal?: AbortSignal;
}

export interface Prediction {
  /** Class labels, in the order of `probabilities`. */
  labels: string[];
  /**
   * Calibrated probabilities, in the order of `labels`: for single-label models (tissuebert,
   * crc-mil) they sum to 1; for multi-label models (mdf-net) each is the probability of its own
   * finding; embedding models (vjepa3d) have none (the vector is in `extras.embedding`).
   */
  probabilities: number[];
  /**
   * Uncertainty of the prediction; `score` in [0, 1], higher = less certain; the rest
   * model-specific. null for models without one (embeddings).
   */
  uncertainty: ({ score: number; method: string } & Record<string, unknown>) | null;
  /** Model-specific extras (e.g. read counts, a heatmap link). */
  extras: Record<string, unknown>;
}

export interface ModelCard {
  name: string;
  version: string;
  kind: string;
  labels: string[];
  inputs: InputKind[];
  calibration: { method: string; calibrated: boolean } & Record<string, unknown>;
  options: Record<string, unknown>;
  /** 'multiclass' (probabilities sum to 1), 'multilabel' (one probability per label) or 'embedding'. */
  task?: 'multiclass' | 'multilabel' | 'embedding';
  /** How predictions run: on the thread that took the job, or in a pool of worker threads. */
  execution?: { threads: number };
  [extra: string]: unknown;
}

/** What a predictor may need from the service when it loads. */
export interface PredictorContext {
  /** Where predictors write images they link to (served at /v1/artifacts/<name>). */
  artifactDir: string;
}

export interface Predictor {
  readonly name: string;
  readonly version: string;
  readonly inputs: InputKind[];
  /** zod schema of the per-request options (part of the cache key). */
  readonly optionsSchema: z.ZodType<Record<string, unknown>>;
  card(): ModelCard;
  /** Cheap check of an input before it is queued; throws a meddl error (→ 400) when malformed. */
  validate?(file: string): void | Promise<void>;
  /**
   * The config entry worker threads load (default: the predictor's own). A predictor that derives
   * something expensive at load (mdf-net's fitted temperatures) passes it on here.
   */
  threadEntry?(): unknown;
  predict(input: PredictInput): Promise<Prediction>;
  dispose?(): void;
}

export class ModelRegistry {
  private readonly models = new Map<string, Predictor>();

  register(p: Predictor): void {
    this.models.set(p.name, p);
  }

  get(name: string): Predictor | undefined {
    return this.models.get(name);
  }

  list(): Predictor[] {
    return [...this.models.values()];
  }

  dispose(): void {
    for (const p of this.models.values()) p.dispose?.();
    this.models.clear();
  }
}
