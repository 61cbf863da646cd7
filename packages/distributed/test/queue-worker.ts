// A queue worker process for queue.test.ts: `tsx queue-worker.ts <redis-url> <queue-name>`.
import { runWorker } from '../src/queue';
import { handlers } from './queue-handlers';

const [url, name] = process.argv.slice(2);
runWorker(url, name, handlers, { lockDurationMs: 1500, stalledIntervalMs: 500 });
process.stdout.write('ready\n');
