import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  /** The path and query string, as sent. */
  path: string;
  /** The bearer token the request carried, if any. */
  token: string | undefined;
  /** What came back from upstream, recorded before it is passed on (absent for a lost answer). */
  answer?: RecordedAnswer;
}

export interface RecordedAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/**
 * A pass-through HTTP proxy in front of the simulator (or of Prism). It records every request with
 * its bearer token and the answer it got, so a test can tell which token reached which resource
 * (the simulator counts requests per token and per route, but not both together) and what a
 * validating proxy said of each exchange. It can also lose answers: a request it is told to
 * lose reaches the simulator (the action is created) but its answer never reaches the client,
 * either cut off at once or held until the client gives up. The simulator's own faults act before
 * a request lands, so they cannot show this case, which is the one DigitalOcean's lack of an
 * idempotency key makes hard.
 */
export class SimulatorProxy {
  private rules: Array<{ method: string; path: RegExp; holdMs: number; remaining: number }> = [];
  /** Requests whose answer was lost, in order. */
  readonly lost: string[] = [];
  /** Every request that came through, in order. */
  readonly requests: RecordedRequest[] = [];

  private constructor(
    private readonly server: http.Server,
    readonly url: string,
  ) {}

  static async start(upstream: string): Promise<SimulatorProxy> {
    let proxy: SimulatorProxy | undefined;
    const server = http.createServer((request, response) => proxy?.forward(upstream, request, response));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    proxy = new SimulatorProxy(server, `http://127.0.0.1:${port}`);
    return proxy;
  }

  /** Lose the answers to the next `times` matching requests, after holding them `holdMs`. */
  loseAnswers(method: string, path: RegExp, options: { times?: number; holdMs?: number } = {}): void {
    this.rules.push({ method, path, holdMs: options.holdMs ?? 0, remaining: options.times ?? 1 });
  }

  /** The tokens of the recorded requests whose method matches and whose path matches `path`. */
  tokensOf(method: string, path: RegExp): Array<string | undefined> {
    return this.requests
      .filter((request) => request.method === method && path.test(request.path))
      .map((request) => request.token);
  }

  /** The tokens of every recorded request, any method, whose path matches `path`. */
  tokensFor(path: RegExp): Array<string | undefined> {
    return this.requests.filter((request) => path.test(request.path)).map((request) => request.token);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private forward(upstream: string, request: http.IncomingMessage, response: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const header = request.headers.authorization;
      const recorded: RecordedRequest = {
        method: request.method ?? 'GET',
        path: request.url ?? '/',
        token: header === undefined ? undefined : /^Bearer\s+(\S+)/i.exec(header)?.[1],
      };
      this.requests.push(recorded);
      const rule = this.rules.find(
        (candidate) =>
          candidate.remaining > 0 &&
          candidate.method === request.method &&
          candidate.path.test(request.url ?? ''),
      );
      if (rule !== undefined) rule.remaining -= 1;
      const outgoing = http.request(
        new URL(request.url ?? '/', upstream),
        { method: request.method, headers: request.headers },
        (answer) => {
          if (rule === undefined) {
            const body: Buffer[] = [];
            answer.on('data', (chunk: Buffer) => body.push(chunk));
            answer.on('end', () => {
              const text = Buffer.concat(body).toString('utf8');
              recorded.answer = { status: answer.statusCode ?? 502, headers: answer.headers, body: text };
            });
            response.writeHead(answer.statusCode ?? 502, answer.headers);
            answer.pipe(response);
            return;
          }
          answer.resume();
          answer.on('end', () => {
            this.lost.push(`${request.method} ${request.url}`);
            setTimeout(() => response.socket?.destroy(), rule.holdMs);
          });
        },
      );
      outgoing.on('error', () => response.socket?.destroy());
      outgoing.end(Buffer.concat(chunks));
    });
  }
}
