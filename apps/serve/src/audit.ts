/**
 * Append-only audit log: one JSON line per request (and per finished job) with who (key id),
 * what (case content hash, model, version), when and the outcome. No file names, no patient
 * fields: inputs are identified by their sha256 only. Opened in append mode, so it survives
 * restarts and several processes can share it (each line is one write(2) call).
 */
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

export interface AuditEntry {
  type: 'request' | 'job';
  keyId?: string;
  method?: string;
  route?: string;
  status?: number;
  model?: string;
  version?: string;
  caseSha256?: string;
  jobId?: string;
  outcome: string;
  ms?: number;
}

export class AuditLog {
  private fd: number | null;
  constructor(readonly file: string) {
    mkdirSync(dirname(file), { recursive: true });
    this.fd = openSync(file, 'a', 0o600);
  }
  write(entry: AuditEntry): void {
    if (this.fd === null) return;
    writeSync(this.fd, `${JSON.stringify({ time: new Date().toISOString(), ...entry })}\n`);
  }
  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}
