// The official ONNX checker (onnx.checker.check_model with full_check, from Debian's python3-onnx)
// run over exported models. Used by every package's export tests and by fixture scripts; the
// project itself never needs Python: `onnxCheckerPython()` is null when it is not installed, and
// tests skip on that.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** One file's verdict, as packages/onnx/scripts/check_onnx.py prints it. */
export interface OnnxCheckResult {
  file: string;
  ok: boolean;
  error?: string;
  ir_version?: number;
  opset?: number;
  nodes?: number;
  onnx_version?: string;
}

let cached: string | null | undefined;

/** A python3 that can `import onnx`, or null. Probed once per process. */
export function onnxCheckerPython(): string | null {
  if (cached === undefined) {
    cached =
      ['/usr/bin/python3', 'python3'].find(
        (p) => spawnSync(p, ['-c', 'import onnx'], { stdio: 'ignore' }).status === 0,
      ) ?? null;
  }
  return cached;
}

/** Path of the checker script shipped in this package (scripts/check_onnx.py). */
export const ONNX_CHECKER_SCRIPT = fileURLToPath(new URL('../scripts/check_onnx.py', import.meta.url));

/**
 * Checks each model (name → serialized bytes) with the official checker; one result per model, in
 * order. Throws when no python3 with onnx is installed or when the script itself fails to run.
 */
export function officialOnnxCheck(models: Record<string, Uint8Array>): OnnxCheckResult[] {
  const python = onnxCheckerPython();
  if (!python) throw new Error('officialOnnxCheck: no python3 with the onnx package (Debian: python3-onnx)');
  const dir = mkdtempSync(join(tmpdir(), 'meddl-onnx-check-'));
  try {
    const paths = Object.entries(models).map(([name, bytes]) => {
      const p = join(dir, `${name}.onnx`);
      writeFileSync(p, bytes);
      return p;
    });
    const r = spawnSync(python, [ONNX_CHECKER_SCRIPT, ...paths], { encoding: 'utf8' });
    const lines = r.stdout.trim().split('\n').filter(Boolean);
    if (lines.length !== paths.length) {
      throw new Error(
        `officialOnnxCheck: checker printed ${lines.length} results for ${paths.length} files: ${r.stderr}`,
      );
    }
    return lines.map((l, i) => ({
      ...(JSON.parse(l) as OnnxCheckResult),
      file: Object.keys(models)[i] as string,
    }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
