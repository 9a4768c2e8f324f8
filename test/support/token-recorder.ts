import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  /** The path and query string, as sent. */
  path: string;
  /** The bearer token the request carried, if any. */
  token: string | undefined;
}

/**
 * A pass-through HTTP proxy in front of the simulator that records which bearer token each
 * request carried, so a test can tell which token reached which resource (the simulator counts
 * requests per token and per route, but not both together).
 */
export class TokenRecorder {
  readonly requests: RecordedRequest[] = [];

  private constructor(
    private readonly server: http.Server,
    readonly url: string,
  ) {}

  static async start(upstream: string): Promise<TokenRecorder> {
    let recorder: TokenRecorder | undefined;
    const server = http.createServer((request, response) => recorder?.forward(upstream, request, response));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    recorder = new TokenRecorder(server, `http://127.0.0.1:${port}`);
    return recorder;
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
      this.requests.push({
        method: request.method ?? 'GET',
        path: request.url ?? '/',
        token: header === undefined ? undefined : /^Bearer\s+(\S+)/i.exec(header)?.[1],
      });
      const outgoing = http.request(
        new URL(request.url ?? '/', upstream),
        { method: request.method, headers: request.headers },
        (answer) => {
          response.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(response);
        },
      );
      outgoing.on('error', () => response.destroy());
      outgoing.end(Buffer.concat(chunks));
    });
  }
}
