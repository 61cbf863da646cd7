import { loadConfig } from './config';
import { ServeError } from './errors';
import { addKey, ROLES, type Role } from './keys';
import { createService, createWorkerProcess, onShutdownSignals } from './service';

/** Structural copy of the CLI's CommandSpec (apps/cli/src/command.ts); the CLI mounts these. */
export interface ServeCommand {
  path: string[];
  description: string;
  arguments?: Array<{ name: string; description: string; required?: boolean }>;
  options?: Array<{ flags: string; description: string; default?: string | number | boolean }>;
  run(args: string[], options: Record<string, unknown>): Promise<void> | void;
}

const configOption = {
  flags: '--config <file>',
  description: 'service config (YAML); MEDDL_SERVE_* variables override it',
};

function configFile(options: Record<string, unknown>): string | undefined {
  return typeof options.config === 'string' ? options.config : undefined;
}

export const commands: ServeCommand[] = [
  {
    path: ['serve'],
    description:
      'Run the inference service (HTTP API; with in-process workers unless queue.inProcessWorkers is false)',
    options: [configOption],
    async run(_args, options) {
      const service = await createService(loadConfig(configFile(options)));
      onShutdownSignals(() => service.shutdown());
      const address = await service.listen();
      console.log(
        `serve: listening on ${address} (models: ${
          service.registry
            .list()
            .map((p) => `${p.name}@${p.version}`)
            .join(', ') || 'none'
        })`,
      );
    },
  },
  {
    path: ['serve', 'worker'],
    description:
      'Run queue workers only (scale out: any number of these on any hosts sharing Redis and the upload folder)',
    options: [configOption],
    async run(_args, options) {
      const w = await createWorkerProcess(loadConfig(configFile(options)));
      onShutdownSignals(() => w.shutdown());
      console.log(`serve worker: ${w.pool.workers.length} model queue(s)`);
    },
  },
  {
    path: ['serve', 'keys', 'add'],
    description: 'Create an API key (printed once; only its scrypt hash is stored in the keys file)',
    arguments: [
      { name: 'name', description: 'who or what the key is for (no patient data)', required: true },
    ],
    options: [
      configOption,
      {
        flags: '--roles <list>',
        description: `comma-separated roles: ${ROLES.join(', ')}`,
        default: 'submit,read',
      },
      { flags: '--rate-limit <n>', description: 'requests per window for this key (default: the config)' },
    ],
    run(args, options) {
      const name = args[0];
      if (!name) throw new ServeError(400, 'a key name is required');
      const roles = String(options.roles ?? 'submit,read')
        .split(',')
        .map((r) => r.trim())
        .filter(Boolean);
      const bad = roles.find((r) => !(ROLES as readonly string[]).includes(r));
      if (bad || roles.length === 0)
        throw new ServeError(400, `--roles: unknown role '${bad ?? ''}' (use ${ROLES.join(', ')})`);
      const rl = options.rateLimit ?? options['rate-limit'];
      const rateLimit = rl === undefined ? undefined : Number(rl);
      if (rateLimit !== undefined && !(Number.isInteger(rateLimit) && rateLimit > 0))
        throw new ServeError(400, `--rate-limit: expected a positive integer, got '${String(rl)}'`);
      const config = loadConfig(configFile(options));
      const { key, record } = addKey(config.keysFile, { name, roles: roles as Role[], rateLimit });
      console.log(`key ${record.id} (${record.roles.join(',')}) added to ${config.keysFile}`);
      console.log(key);
    },
  },
];
