/**
 * API keys. A key is `mdl_<id>_<secret>`; the keys file stores, per id, a random salt and
 * scrypt(secret, salt) — never the secret — plus the key's roles and optional rate limit.
 * Verification looks the id up, recomputes scrypt and compares in constant time; successful
 * verifications are remembered in memory (by sha256 of the whole key) so scrypt runs once per
 * key per process, not once per request.
 */
import { createHash, randomBytes, scryptSync, timingSafeEqual } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { z } from 'zod';
import { ServeConfigError } from './errors';

export const ROLES = ['submit', 'read', 'admin'] as const;
export type Role = (typeof ROLES)[number];

const SCRYPT = { N: 16384, r: 8, p: 1, keylen: 32 };

export const KeyRecordSchema = z.object({
  id: z.string().regex(/^[a-f0-9]{16}$/),
  name: z.string(),
  roles: z.array(z.enum(ROLES)).min(1),
  salt: z.string(),
  hash: z.string(),
  /** Requests per rate-limit window for this key (default: the config's). */
  rateLimit: z.number().int().positive().optional(),
  createdAt: z.string(),
  disabled: z.boolean().optional(),
});
export type KeyRecord = z.infer<typeof KeyRecordSchema>;
const KeysFileSchema = z.object({ version: z.literal(1), keys: z.array(KeyRecordSchema) });

export interface Principal {
  keyId: string;
  name: string;
  roles: Role[];
  rateLimit?: number;
}

function hashSecret(secret: string, salt: Buffer): Buffer {
  return scryptSync(secret, salt, SCRYPT.keylen, { N: SCRYPT.N, r: SCRYPT.r, p: SCRYPT.p });
}

export function readKeysFile(file: string): KeyRecord[] {
  if (!existsSync(file)) return [];
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new ServeConfigError(file, `not a valid keys file: ${(e as Error).message}`);
  }
  const r = KeysFileSchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new ServeConfigError(file, `${issue.path.join('.')}: ${issue.message}`);
  }
  return r.data.keys;
}

function writeKeysFile(file: string, keys: KeyRecord[]): void {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  writeFileSync(tmp, `${JSON.stringify({ version: 1, keys }, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, file);
}

/** Creates a key, appends its hashed record to the keys file (atomically) and returns the secret key once. */
export function addKey(
  file: string,
  spec: { name: string; roles: Role[]; rateLimit?: number },
): { key: string; record: KeyRecord } {
  const keys = readKeysFile(file);
  const id = randomBytes(8).toString('hex');
  const secret = randomBytes(24).toString('base64url');
  const salt = randomBytes(16);
  const record = KeyRecordSchema.parse({
    id,
    name: spec.name,
    roles: [...new Set(spec.roles)],
    salt: salt.toString('base64'),
    hash: hashSecret(secret, salt).toString('base64'),
    rateLimit: spec.rateLimit,
    createdAt: new Date().toISOString(),
  });
  writeKeysFile(file, [...keys, record]);
  return { key: `mdl_${id}_${secret}`, record };
}

export class KeyStore {
  private byId = new Map<string, KeyRecord>();
  private verified = new Map<string, Principal>();

  constructor(records: KeyRecord[]) {
    for (const r of records) if (!r.disabled) this.byId.set(r.id, r);
  }

  static fromFile(file: string): KeyStore {
    return new KeyStore(readKeysFile(file));
  }

  get size(): number {
    return this.byId.size;
  }

  /** The principal of a presented key, or null when the key is unknown or wrong. */
  verify(presented: string): Principal | null {
    const m = /^mdl_([a-f0-9]{16})_([A-Za-z0-9_-]{16,64})$/.exec(presented);
    if (!m) return null;
    const digest = createHash('sha256').update(presented).digest('hex');
    const known = this.verified.get(digest);
    if (known) return known;
    const rec = this.byId.get(m[1]);
    if (!rec) return null;
    const expected = Buffer.from(rec.hash, 'base64');
    const actual = hashSecret(m[2], Buffer.from(rec.salt, 'base64'));
    if (expected.length !== actual.length || !timingSafeEqual(expected, actual)) return null;
    const p: Principal = { keyId: rec.id, name: rec.name, roles: rec.roles, rateLimit: rec.rateLimit };
    if (this.verified.size > 10_000) this.verified.clear();
    this.verified.set(digest, p);
    return p;
  }
}

/** admin implies every role. */
export function hasRole(p: Principal, role: Role): boolean {
  return p.roles.includes(role) || p.roles.includes('admin');
}
