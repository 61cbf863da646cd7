export interface ManifestIssue {
  /** 1-based data row (the header is not a row). */
  row: number;
  /** 1-based line in the file where the row ends. */
  line: number;
  /** Dotted field path, or '' for the whole row. */
  field: string;
  message: string;
}

/** A manifest that cannot be parsed or whose rows fail the caller's schema. */
export class ManifestError extends Error {
  readonly meddl = true;
  readonly file: string;
  readonly issues: ManifestIssue[];
  constructor(file: string, message: string, issues: ManifestIssue[] = []) {
    super(`${file}: ${message}`);
    this.name = 'ManifestError';
    this.file = file;
    this.issues = issues;
  }
}

/** Impossible split requests (bad ratios, more folds than groups, unknown columns). */
export class SplitError extends Error {
  readonly meddl = true;
  constructor(message: string) {
    super(message);
    this.name = 'SplitError';
  }
}
