// Keeps the bridge's event stream open: reads SSE frames from a fetch() body, treats silence as
// a drop (the bridge sends a heartbeat comment at least every 20 s), reconnects with backoff and
// resumes with Last-Event-ID.
import { ApiError } from './errors';
import { SseParser, type SseFrame } from './sse';

/** Silence after which the connection counts as dropped. */
export const SILENCE_MS = 45_000;

export type SseEvent = Extract<SseFrame, { kind: 'event' }>;

export interface StreamHandlers {
  /** The stream is (again) open: the time to fetch what may have been missed meanwhile. */
  onOpen(): void;
  onEvent(event: SseEvent): void;
  /** The stream dropped; it will be retried. */
  onDown(): void;
  /** The bridge refused the stream for good (e.g. session lost, ticket unknown). */
  onFatal(error: ApiError): void;
}

export type OpenStream = (lastEventId: string, signal: AbortSignal) => Promise<ReadableStream<Uint8Array>>;

/** Delay before reconnect attempt `attempt` (0-based): 1 s doubling to 30 s, with jitter. */
export function backoffDelay(attempt: number, random: number = Math.random()): number {
  const ceiling = Math.min(30_000, 1_000 * 2 ** attempt);
  return Math.round(ceiling * (0.5 + random / 2));
}

export class EventStream {
  private stopped = false;
  private controller: AbortController | null = null;
  private lastEventId = '';

  constructor(
    private readonly open: OpenStream,
    private readonly handlers: StreamHandlers,
  ) {}

  start(): void {
    void this.run();
  }

  stop(): void {
    this.stopped = true;
    this.controller?.abort();
  }

  private async run(): Promise<void> {
    for (let attempt = 0; !this.stopped; ) {
      const controller = new AbortController();
      this.controller = controller;
      try {
        const openTimer = setTimeout(() => controller.abort(), SILENCE_MS);
        const body = await this.open(this.lastEventId, controller.signal).finally(() =>
          clearTimeout(openTimer),
        );
        attempt = 0;
        this.handlers.onOpen();
        await this.read(body, controller);
      } catch (error) {
        if (this.stopped) return;
        // Only a network drop or a 5xx is worth retrying; the API layer already renewed the
        // session once on a 401.
        if (error instanceof ApiError && error.kind !== 'unreachable') {
          this.handlers.onFatal(error);
          return;
        }
      }
      if (this.stopped) return;
      this.handlers.onDown();
      await sleep(backoffDelay(attempt));
      attempt += 1;
    }
  }

  /** Reads until the body ends, fails, or stays silent too long. */
  private async read(body: ReadableStream<Uint8Array>, controller: AbortController): Promise<void> {
    // A new parser per connection: a frame half-received on a dropped connection is discarded.
    const parser = new SseParser(this.lastEventId);
    const decoder = new TextDecoder();
    const reader = body.getReader();
    let watchdog = setTimeout(() => controller.abort(), SILENCE_MS);
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        clearTimeout(watchdog);
        watchdog = setTimeout(() => controller.abort(), SILENCE_MS);
        for (const frame of parser.feed(decoder.decode(value, { stream: true }))) {
          if (frame.kind === 'event') {
            this.lastEventId = frame.id;
            this.handlers.onEvent(frame);
          }
        }
      }
    } finally {
      clearTimeout(watchdog);
      reader.cancel().catch(() => undefined);
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
