import http from 'node:http';
import { sleep } from '../support/timing.js';

/** One socket per request, as many at once as asked: each long-poll and stream is its own client. */
export function unlimitedAgent(): http.Agent {
  return new http.Agent({ keepAlive: false, maxSockets: Number.POSITIVE_INFINITY });
}

export interface WaitAnswer {
  watchId: string;
  status: number;
  outcome: string | null;
  /** Date.now() when the final response's headers arrived. */
  answeredAtMs: number;
  /** Requests made: 1, plus one per 202 (timeout) or failed request before the answer. */
  requests: number;
  failures: number;
}

function get(agent: http.Agent, url: string): Promise<{ status: number; body: string; atMs: number }> {
  return new Promise((resolve, reject) => {
    const request = http.get(url, { agent }, (response) => {
      const atMs = Date.now();
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () =>
        resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), atMs }),
      );
      response.on('error', reject);
    });
    request.on('error', reject);
  });
}

/**
 * Long-polls a watch the way a CI job would: `GET …/wait?timeout=5m` again after every 202 or
 * failure, until a 200 or `deadlineMs` (Date.now()).
 */
export async function waitUntilDone(
  agent: http.Agent,
  base: string,
  watchId: string,
  deadlineMs: number,
): Promise<WaitAnswer> {
  let requests = 0;
  let failures = 0;
  let last = { status: 0, outcome: null as string | null, atMs: Date.now() };
  while (Date.now() < deadlineMs) {
    requests += 1;
    try {
      const response = await get(agent, `${base}/v1/watches/${watchId}/wait?timeout=5m`);
      const watch = JSON.parse(response.body) as { outcome?: string | null };
      last = { status: response.status, outcome: watch.outcome ?? null, atMs: response.atMs };
      if (response.status === 200) break;
      if (response.status !== 202) failures += 1;
    } catch {
      failures += 1;
      await sleep(500);
    }
  }
  return { watchId, status: last.status, outcome: last.outcome, answeredAtMs: last.atMs, requests, failures };
}

function idParts(id: string): [number, number] {
  const [ms = '0', seq = '0'] = id.split('-');
  return [Number(ms), Number(seq)];
}

/** A number that sums a set of stream ids exactly (for a few million ids), to compare two sets. */
export function idChecksum(id: string): number {
  const [ms, seq] = idParts(id);
  return (ms % 1_000_000_000) * 1000 + seq;
}

/**
 * A Server-Sent Events client that keeps only what the benchmark needs: how many events it got,
 * their ids' checksum, whether they came in order, and (when asked) each event's arrival time
 * against the time of its stream entry. A stream the server ends is resumed with Last-Event-ID.
 */
export class CountingStream {
  received = 0;
  checksum = 0;
  outOfOrder = 0;
  reconnects = 0;
  connected = false;
  /** The server ended the response (rather than the connection failing). */
  endedByServer = false;
  lastDeliveryAtMs = 0;
  readonly latenciesMs: number[] = [];
  private lastId: string | undefined;
  private request: http.ClientRequest | undefined;
  private closed = false;
  private reconnecting = true;

  constructor(
    private readonly agent: http.Agent,
    private readonly url: string,
    private readonly recordLatency: boolean,
  ) {}

  open(): void {
    if (this.closed) return;
    const headers: Record<string, string> = this.lastId === undefined ? {} : { 'last-event-id': this.lastId };
    const request = http.get(this.url, { agent: this.agent, headers }, (response) => {
      let carry = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        const text = carry + chunk;
        const lines = text.split('\n');
        carry = lines.pop() ?? '';
        const now = Date.now();
        for (const line of lines) {
          if (line.startsWith(': connected')) this.connected = true;
          else if (line.startsWith('id: ')) this.take(line.slice(4), now);
        }
      });
      response.on('end', () => {
        this.endedByServer = true;
        this.reopen();
      });
      response.on('error', () => this.reopen());
    });
    request.on('error', () => this.reopen());
    this.request = request;
  }

  close(): void {
    this.closed = true;
    this.request?.destroy();
  }

  /** From now on an ended stream stays ended (the server is being stopped). */
  stopReconnecting(): void {
    this.reconnecting = false;
    this.endedByServer = false;
  }

  private take(id: string, now: number): void {
    if (this.lastId !== undefined) {
      const [lastMs, lastSeq] = idParts(this.lastId);
      const [ms, seq] = idParts(id);
      if (ms < lastMs || (ms === lastMs && seq <= lastSeq)) this.outOfOrder += 1;
    }
    this.lastId = id;
    this.received += 1;
    this.checksum += idChecksum(id);
    this.lastDeliveryAtMs = now;
    if (this.recordLatency) this.latenciesMs.push(now - idParts(id)[0]);
  }

  private reopen(): void {
    if (this.closed || !this.reconnecting) return;
    this.reconnects += 1;
    setTimeout(() => this.open(), 200);
  }
}
