import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { loadConfig } from './config';
import { ServeConfigError, type ServeError } from './errors';
import { addKey, hasRole, KeyStore, readKeysFile } from './keys';
import { resolveConfinedPath } from './paths';

const dir = mkdtempSync(join(tmpdir(), 'meddl-serve-unit-'));

describe('config', () => {
  test('the example config validates; env overrides win; paths resolve against the file', () => {
    const file = new URL('../../../configs/serve/serve.example.yaml', import.meta.url).pathname;
    const c = loadConfig(file, {
      MEDDL_SERVE_PORT: '9090',
      MEDDL_SERVE_REDIS_URL: 'redis://r:6380',
      MEDDL_SERVE_IN_PROCESS_WORKERS: 'true',
    });
    expect(c.server.port).toBe(9090);
    expect(c.redis.url).toBe('redis://r:6380');
    expect(c.queue.inProcessWorkers).toBe(true);
    expect(c.models[0]).toMatchObject({ kind: 'tissuebert', temperature: 1.37, batchSize: 128, threads: 2 });
    expect(c.models.map((m) => m.kind)).toEqual([
      'tissuebert',
      'crc-mil',
      'mdf-net',
      'vjepa3d',
      'onnx',
      'onnx',
      'onnx',
      'onnx',
    ]);
    expect(c.models[2]).toMatchObject({
      kind: 'mdf-net',
      calibrate: 'run',
      run: '/srv/meddl/models/mdf-net/run',
    });
    expect(c.storage.artifactDir).toBe('/srv/meddl/artifacts');
  });

  test('bad fields and bad env values name the file and field', () => {
    const f = join(dir, 'bad.yaml');
    writeFileSync(f, 'server:\n  port: "eighty"\n');
    expect(() => loadConfig(f, {})).toThrow(ServeConfigError);
    expect(() => loadConfig(f, {})).toThrow(/bad\.yaml: server\.port/);
    writeFileSync(
      f,
      'models:\n  - kind: tissuebert\n    checkpoint: a\n    reference: b\n  - kind: tissuebert\n    checkpoint: c\n    reference: d\n',
    );
    expect(() => loadConfig(f, {})).toThrow(/'tissuebert' is used twice/);
    expect(() => loadConfig(undefined, { MEDDL_SERVE_PORT: '80x' })).toThrow(
      /MEDDL_SERVE_PORT: expected an integer/,
    );
  });
});

describe('API keys', () => {
  test('only a salted scrypt hash is stored; the key verifies, a wrong secret does not', () => {
    const file = join(dir, 'keys.json');
    const { key, record } = addKey(file, { name: 'lab', roles: ['submit'] });
    const other = addKey(file, { name: 'ops', roles: ['admin'] });
    const text = readFileSync(file, 'utf8');
    // The secret is everything after `mdl_<id>_` (base64url: it may itself contain '_').
    const prefix = `mdl_${record.id}_`;
    expect(key.startsWith(prefix)).toBe(true);
    const secret = key.slice(prefix.length);
    expect(secret.length).toBeGreaterThanOrEqual(32);
    expect(text).not.toContain(secret);
    expect(readKeysFile(file)).toHaveLength(2);
    const store = KeyStore.fromFile(file);
    expect(store.verify(key)).toMatchObject({ keyId: record.id, roles: ['submit'] });
    expect(store.verify(key)).toMatchObject({ keyId: record.id }); // memoised path
    // A secret that differs in its last character (never the same one: keys are random).
    const wrong = `${secret.slice(0, -1)}${secret.endsWith('x') ? 'y' : 'x'}`;
    expect(store.verify(`mdl_${record.id}_${wrong}`)).toBeNull();
    expect(store.verify(`mdl_${'0'.repeat(16)}_${secret}`)).toBeNull();
    expect(store.verify('Bearer nonsense')).toBeNull();
    const admin = store.verify(other.key);
    expect(admin && hasRole(admin, 'read')).toBe(true);
    expect(hasRole({ keyId: 'x', name: 'x', roles: ['submit'] }, 'read')).toBe(false);
  });
});

describe('confined paths', () => {
  const root = join(dir, 'root');
  mkdirSync(join(root, 'sub'), { recursive: true });
  writeFileSync(join(root, 'sub', 'a.pat'), 'x');
  writeFileSync(join(dir, 'secret.pat'), 'x');
  symlinkSync(join(dir, 'secret.pat'), join(root, 'link.pat'));
  symlinkSync(join(root, 'sub', 'a.pat'), join(root, 'inside.pat'));
  const roots = { r: root };
  const status = (p: string) => {
    try {
      resolveConfinedPath(roots, 'r', p);
      return 200;
    } catch (e) {
      return (e as ServeError).statusCode;
    }
  };
  test('inside the root (also through an inner symlink) is allowed', () => {
    expect(resolveConfinedPath(roots, 'r', 'sub/a.pat')).toBe(join(root, 'sub', 'a.pat'));
    expect(status('inside.pat')).toBe(200);
  });
  test('traversal, absolute, NUL, symlink escape, directories and unknown roots are refused', () => {
    expect(status('../secret.pat')).toBe(400);
    expect(status('sub/../../secret.pat')).toBe(400);
    expect(status('sub\\..\\..\\secret.pat')).toBe(400);
    expect(status(join(dir, 'secret.pat'))).toBe(400);
    expect(status('sub/a.pat\0')).toBe(400);
    expect(status('link.pat')).toBe(403);
    expect(status('sub')).toBe(400);
    expect(status('nope.pat')).toBe(404);
    expect(() => resolveConfinedPath(roots, 'constructor', 'a')).toThrow(/not configured/);
  });
});
