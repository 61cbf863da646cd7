/** Least-recently-used cache bounded by total bytes (Map keeps insertion order; re-insert on hit). */
export class ByteLruCache<V extends { byteLength: number }> {
  private readonly entries = new Map<string, V>();
  private used = 0;

  constructor(readonly maxBytes: number) {}

  get(key: string): V | undefined {
    const value = this.entries.get(key);
    if (value !== undefined) {
      this.entries.delete(key);
      this.entries.set(key, value);
    }
    return value;
  }

  set(key: string, value: V): void {
    const old = this.entries.get(key);
    if (old !== undefined) {
      this.used -= old.byteLength;
      this.entries.delete(key);
    }
    if (value.byteLength > this.maxBytes) return;
    this.entries.set(key, value);
    this.used += value.byteLength;
    while (this.used > this.maxBytes) {
      const oldest = this.entries.keys().next().value as string;
      this.used -= (this.entries.get(oldest) as V).byteLength;
      this.entries.delete(oldest);
    }
  }

  get bytes(): number {
    return this.used;
  }

  get size(): number {
    return this.entries.size;
  }

  clear(): void {
    this.entries.clear();
    this.used = 0;
  }
}
