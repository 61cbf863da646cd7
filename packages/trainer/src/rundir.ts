import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { backendInfo, getSeed } from '@meddl/tensor';
import { stringify } from 'yaml';

export interface RunDirectory {
  root: string;
  logs: string;
  checkpoints: string;
}

/** The git commit of the working directory, or null outside a repository. */
export function codeRevision(cwd = process.cwd()): string | null {
  try {
    return execFileSync('git', ['rev-parse', 'HEAD'], { cwd, stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim();
  } catch {
    return null;
  }
}

function trainerVersion(): string {
  try {
    return (
      JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
    ).version;
  } catch {
    return 'unknown';
  }
}

/**
 * Creates `runsDir/<name>/` with config.yaml (the resolved config), run.json (backend, seed,
 * code revision, versions, start time), logs/ and checkpoints/. Without `resume`, an existing
 * name gets a numeric suffix so runs never overwrite each other.
 */
export async function createRunDirectory(
  runsDir: string,
  name: string,
  config: unknown,
  options: { resume?: boolean; seed?: number } = {},
): Promise<RunDirectory> {
  let root = resolve(runsDir, name);
  if (!options.resume) {
    for (let k = 1; existsSync(root); k++) root = resolve(runsDir, `${name}-${k}`);
  }
  const logs = join(root, 'logs');
  const checkpoints = join(root, 'checkpoints');
  mkdirSync(logs, { recursive: true });
  mkdirSync(checkpoints, { recursive: true });
  writeFileSync(join(root, 'config.yaml'), stringify(config));
  const info = {
    name,
    startTime: new Date().toISOString(),
    resumed: Boolean(options.resume),
    seed: options.seed ?? getSeed(),
    codeRevision: codeRevision(),
    backend: await backendInfo(),
    versions: { node: process.version, '@meddl/trainer': trainerVersion() },
    argv: process.argv.slice(2),
  };
  const runJson = join(root, 'run.json');
  if (options.resume && existsSync(runJson)) {
    const prev = JSON.parse(readFileSync(runJson, 'utf8')) as { resumes?: unknown[] };
    writeFileSync(runJson, JSON.stringify({ ...prev, resumes: [...(prev.resumes ?? []), info] }, null, 2));
  } else writeFileSync(runJson, JSON.stringify(info, null, 2));
  return { root, logs, checkpoints };
}
