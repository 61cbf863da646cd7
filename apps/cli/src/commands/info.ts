import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { backendInfo, formatBytes, machineInfo, memoryReport } from '@meddl/tensor';
import type { CommandSpec } from '../command';

const require = createRequire(import.meta.url);

function version(pkg: string): string {
  try {
    return (require(`${pkg}/package.json`) as { version: string }).version;
  } catch {
    return 'not installed';
  }
}

export const infoCommand: CommandSpec = {
  path: ['info'],
  description: 'Show the compute backend, package versions, CPU and memory',
  options: [{ flags: '--json', description: 'print as JSON' }],
  async run(_args, options) {
    const backend = await backendInfo();
    const machine = machineInfo();
    const mem = memoryReport();
    const own = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    const info = {
      meddl: own.version,
      backend: {
        name: backend.name,
        tfjsBackend: backend.tfjsName,
        version: backend.version,
        tfjsCore: backend.tfjsVersion,
        threads: backend.threads,
        simd: backend.simd,
        chosenBy: backend.chosenBy,
        skipped: backend.skipped,
      },
      machine,
      memory: { rss: mem.rss, heapUsed: mem.heapUsed },
      packages: {
        'onnxruntime-node': version('onnxruntime-node'),
      },
    };
    if (options.json) {
      console.log(JSON.stringify(info, null, 2));
      return;
    }
    console.log(`meddl ${info.meddl}`);
    console.log(
      `backend   ${backend.name} (tfjs '${backend.tfjsName}' ${backend.version}, tfjs-core ${backend.tfjsVersion}), ` +
        `threads ${backend.threads}, SIMD ${backend.simd ? 'yes' : 'no'}, chosen by ${backend.chosenBy}`,
    );
    for (const s of backend.skipped) console.log(`          skipped ${s.name}: ${s.reason}`);
    console.log(`cpu       ${machine.cpuModel} × ${machine.cores}`);
    console.log(`memory    ${formatBytes(machine.memoryBytes)} total, process RSS ${formatBytes(mem.rss)}`);
    console.log(`node      ${machine.node} (${machine.platform})`);
  },
};
