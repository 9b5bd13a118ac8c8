import { request } from 'node:http';

/** One sample of a Prometheus text exposition: `name{labels} value`. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/**
 * The samples of a text exposition (format 0.0.4), read independently of
 * prom-client, so a test checks what a Prometheus server would read. A line
 * that is neither a comment nor a sample throws.
 */
export function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = SAMPLE.exec(line);
    if (match === null) throw new Error(`not a sample line: ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    for (const [, key, value] of (match[2] ?? '').matchAll(LABEL)) {
      labels[key!] = value!.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
    }
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

/** The metrics as a scrape read them: the value of one sample, by name and labels. */
export class Scrape {
  constructor(readonly samples: readonly Sample[]) {}

  static of(text: string): Scrape {
    return new Scrape(parseExposition(text));
  }

  /** The sample's value; throws when there is no such sample (a metric missing is a failure, not a 0). */
  value(name: string, labels: Record<string, string> = {}): number {
    const sample = this.samples.find(
      (s) =>
        s.name === name &&
        Object.keys(s.labels).length === Object.keys(labels).length &&
        Object.entries(labels).every(([key, value]) => s.labels[key] === value),
    );
    if (sample === undefined) throw new Error(`no sample ${name}${JSON.stringify(labels)} in the scrape`);
    return sample.value;
  }

  /** The samples of `name`, by the value of their label `label`. */
  byLabel(name: string, label: string): Record<string, number> {
    return Object.fromEntries(
      this.samples.filter((s) => s.name === name).map((s) => [s.labels[label] ?? '', s.value] as const),
    );
  }
}

/** GET `path` on loopback `port`: status, content type and body. */
export function httpGet(
  port: number,
  path: string,
  method = 'GET',
  host = '127.0.0.1',
): Promise<{ status: number; contentType: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host, port, path, method, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, contentType: res.headers['content-type'], body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** Scrapes `GET /metrics` on loopback `port`; a status other than 200 throws. */
export async function scrape(port: number, host?: string): Promise<Scrape> {
  const { status, body } = await httpGet(port, '/metrics', 'GET', host);
  if (status !== 200) throw new Error(`GET /metrics answered ${status}: ${body}`);
  return Scrape.of(body);
}
