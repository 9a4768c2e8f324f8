export interface SseMessage {
  id: string;
  event: string;
  data: { type: string; outcome: string; watch: { id: string }; webhooks?: unknown };
}

/** A minimal Server-Sent Events reader over fetch, as a non-browser client would write one. */
export class SseClient {
  readonly messages: SseMessage[] = [];
  readonly comments: string[] = [];
  ended = false;
  private readonly controller = new AbortController();

  private constructor(readonly response: Response) {}

  /** Opens a stream; `headers` carry the Authorization (and Last-Event-ID) the test sends. */
  static async open(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
    const controller = new AbortController();
    const response = await fetch(url, { headers, signal: controller.signal });
    const client = new SseClient(response);
    client.controller.signal.addEventListener('abort', () => controller.abort());
    if (response.ok) void client.pump();
    return client;
  }

  private async pump(): Promise<void> {
    const reader = (this.response.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      while (true) {
        const { done, value } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let end = buffer.indexOf('\n\n');
        while (end !== -1) {
          this.parse(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
          end = buffer.indexOf('\n\n');
        }
      }
    } catch {
      // aborted by close()
    } finally {
      this.ended = true;
    }
  }

  private parse(frame: string): void {
    const fields = new Map<string, string>();
    for (const line of frame.split('\n')) {
      if (line.startsWith(':')) this.comments.push(line.slice(1).trim());
      else {
        const colon = line.indexOf(':');
        fields.set(line.slice(0, colon), line.slice(colon + 1).trimStart());
      }
    }
    const data = fields.get('data');
    if (data !== undefined) {
      this.messages.push({
        id: fields.get('id') ?? '',
        event: fields.get('event') ?? '',
        data: JSON.parse(data),
      });
    }
  }

  watchIds(): string[] {
    return this.messages.map((message) => message.data.watch.id);
  }

  close(): void {
    this.controller.abort();
  }
}
