import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';

const deploy = join(new URL('.', import.meta.url).pathname, '../../../deploy/distributed');

describe('deploy/', () => {
  it('the Kubernetes manifest is an Indexed Job behind a headless Service whose DNS name is the master', () => {
    const docs = parseAllDocuments(readFileSync(join(deploy, 'meddl-ddp-k8s.yaml'), 'utf8')).map((d) =>
      d.toJS(),
    );
    const svc = docs.find((d) => d.kind === 'Service');
    const job = docs.find((d) => d.kind === 'Job');
    expect(svc.spec.clusterIP).toBe('None');
    expect(job.spec.completionMode).toBe('Indexed');
    expect(job.spec.template.spec.subdomain).toBe(svc.metadata.name);
    const args: string[] = job.spec.template.spec.containers[0].args;
    const nnodes = Number(args.find((a) => a.startsWith('--nnodes='))?.split('=')[1]);
    expect(nnodes).toBe(job.spec.completions);
    expect(args).toContain(`--master-addr=${job.metadata.name}-0.${svc.metadata.name}`);
    expect(args).toContain(`--master-port=${svc.spec.ports[0].port}`);
  });

  it('the sbatch script is valid bash', () => {
    execFileSync('bash', ['-n', join(deploy, 'meddl-ddp.sbatch')]);
  });
});
