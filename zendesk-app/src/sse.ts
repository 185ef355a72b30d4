// Server-Sent Events framing (WHATWG HTML §9.2.6), fed with text chunks as they arrive from a
// fetch() body. EventSource cannot send an Authorization header, hence this small parser.

export type SseFrame =
  | { kind: 'event'; event: string; data: string; id: string }
  | { kind: 'comment'; text: string };

export class SseParser {
  /** The last `id:` seen; what to send as `Last-Event-ID` when reconnecting. */
  lastEventId: string;
  private buffer = '';
  private eventType = '';
  private data: string[] = [];
  /** A chunk ended in CR: a LF starting the next chunk belongs to the same line break. */
  private skipLeadingLf = false;

  constructor(lastEventId = '') {
    this.lastEventId = lastEventId;
  }

  /** Feeds one decoded chunk; returns the frames it completed, in order. */
  feed(chunk: string): SseFrame[] {
    if (this.skipLeadingLf && chunk.startsWith('\n')) chunk = chunk.slice(1);
    this.skipLeadingLf = false;
    this.buffer += chunk;
    const frames: SseFrame[] = [];
    const lineBreak = /\r\n|\r|\n/g;
    let start = 0;
    for (let m = lineBreak.exec(this.buffer); m; m = lineBreak.exec(this.buffer)) {
      // A CR at the very end may be the first half of a CRLF split across chunks.
      if (m[0] === '\r' && m.index === this.buffer.length - 1) this.skipLeadingLf = true;
      this.line(this.buffer.slice(start, m.index), frames);
      start = m.index + m[0].length;
    }
    this.buffer = this.buffer.slice(start);
    return frames;
  }

  private line(line: string, frames: SseFrame[]): void {
    if (line === '') {
      this.dispatch(frames);
      return;
    }
    if (line.startsWith(':')) {
      frames.push({ kind: 'comment', text: line.slice(1).trimStart() });
      return;
    }
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'event':
        this.eventType = value;
        break;
      case 'data':
        this.data.push(value);
        break;
      case 'id':
        if (!value.includes('\0')) this.lastEventId = value;
        break;
      // `retry:` and unknown fields are ignored: the app has its own backoff.
    }
  }

  private dispatch(frames: SseFrame[]): void {
    // Per the standard, a block without data lines dispatches nothing (its id still counts).
    if (this.data.length > 0) {
      frames.push({
        kind: 'event',
        event: this.eventType || 'message',
        data: this.data.join('\n'),
        id: this.lastEventId,
      });
    }
    this.eventType = '';
    this.data = [];
  }
}
