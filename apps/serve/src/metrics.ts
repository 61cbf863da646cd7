/** A few Prometheus metrics, written in the text exposition format (no client library needed). */
type Labels = Record<string, string>;

function fmt(labels: Labels): string {
  const e = Object.entries(labels);
  return e.length ? `{${e.map(([k, v]) => `${k}="${v.replace(/["\\\n]/g, '_')}"`).join(',')}}` : '';
}

class Counter {
  readonly values = new Map<string, { labels: Labels; value: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}
  inc(labels: Labels = {}, by = 1): void {
    const k = fmt(labels);
    const v = this.values.get(k);
    if (v) v.value += by;
    else this.values.set(k, { labels, value: by });
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    for (const { labels, value } of this.values.values()) lines.push(`${this.name}${fmt(labels)} ${value}`);
    return lines.join('\n');
  }
}

class Histogram {
  readonly series = new Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly buckets: number[],
  ) {}
  observe(labels: Labels, value: number): void {
    const k = fmt(labels);
    let s = this.series.get(k);
    if (!s) {
      s = { labels, counts: this.buckets.map(() => 0), sum: 0, count: 0 };
      this.series.set(k, s);
    }
    this.buckets.forEach((b, i) => {
      if (value <= b) s.counts[i]++;
    });
    s.sum += value;
    s.count++;
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const s of this.series.values()) {
      this.buckets.forEach((b, i) => {
        lines.push(`${this.name}_bucket${fmt({ ...s.labels, le: String(b) })} ${s.counts[i]}`);
      });
      lines.push(`${this.name}_bucket${fmt({ ...s.labels, le: '+Inf' })} ${s.count}`);
      lines.push(`${this.name}_sum${fmt(s.labels)} ${s.sum}`);
      lines.push(`${this.name}_count${fmt(s.labels)} ${s.count}`);
    }
    return lines.join('\n');
  }
}

const SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

export class ServeMetrics {
  readonly requests = new Counter('meddl_http_requests_total', 'HTTP requests by route and status');
  readonly latency = new Histogram('meddl_http_request_seconds', 'HTTP request latency', SECONDS);
  readonly jobs = new Counter('meddl_jobs_total', 'Jobs finished by model and outcome');
  readonly jobSeconds = new Histogram('meddl_job_seconds', 'Job run time', SECONDS);
  readonly cache = new Counter('meddl_cache_lookups_total', 'Result cache lookups by outcome (hit, miss)');
  readonly predictions = new Counter(
    'meddl_predictions_total',
    'Model predictions computed (not from cache)',
  );
  readonly shed = new Counter('meddl_shed_total', 'Requests shed by reason');

  render(gauges: { name: string; help: string; values: { labels: Labels; value: number }[] }[] = []): string {
    const parts = [
      this.requests,
      this.latency,
      this.jobs,
      this.jobSeconds,
      this.cache,
      this.predictions,
      this.shed,
    ].map((m) => m.render());
    for (const g of gauges) {
      parts.push(
        [
          `# HELP ${g.name} ${g.help}`,
          `# TYPE ${g.name} gauge`,
          ...g.values.map((v) => `${g.name}${fmt(v.labels)} ${v.value}`),
        ].join('\n'),
      );
    }
    return `${parts.join('\n')}\n`;
  }
}
