// Messages sent through the hook before its Connection exists (the WebAssembly module is
// still loading, or the connection is created in the effect after the first render).
// They are held here, bounded and with the same overflow policy as the Connection's outbox,
// and handed to the Connection, in order, as soon as it exists. If the connection never
// comes (the component unmounts, or the url becomes null), each one is reported through
// onDrop(data, "released"). Nothing is lost silently.

/** The outbox bounds that apply (the `outbox` option, with the Connection's defaults). */
export interface PendingLimits {
  maxMessages?: number;
  maxBytes?: number;
  overflow?: string;
}

export type Payload = string | ArrayBuffer;
export type DropReason = 'overflow' | 'full' | 'released';

const DEFAULT_MAX_MESSAGES = 1000;
const DEFAULT_MAX_BYTES = 1024 * 1024;

let encoder: TextEncoder | undefined;

/** Bytes counted against maxBytes: UTF-8 length of text, byte length of binary. */
export function byteLength(data: Payload): number {
  if (typeof data !== 'string') return data.byteLength;
  encoder ??= new TextEncoder();
  return encoder.encode(data).length;
}

/** A private copy of what the caller passed (they may reuse their buffer after the call). */
export function copyPayload(data: string | ArrayBuffer | ArrayBufferView): Payload {
  if (typeof data === 'string') return data;
  if (data instanceof ArrayBuffer) return data.slice(0);
  if (ArrayBuffer.isView(data)) {
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice().buffer;
  }
  throw new TypeError('sendMessage: data must be a string, an ArrayBuffer or an ArrayBufferView');
}

/** The error the Connection throws with overflow "error": same name, so one catch handles both. */
export function outboxFullError(messages: number, bytes: number, messageBytes: number): Error {
  const error = new Error(
    `outbox full: ${messages} messages, ${bytes} bytes queued; a message of ${messageBytes} bytes does not fit`,
  );
  error.name = 'OutboxFullError';
  return error;
}

export class PendingMessages {
  private items: { data: Payload; bytes: number }[] = [];
  private bytes = 0;

  get size(): number {
    return this.items.length;
  }

  get queuedBytes(): number {
    return this.bytes;
  }

  /**
   * Holds `data` (already copied). Returns "queued" or "dropped" like the Connection's
   * sendMessage, calling `onDrop` for every message dropped; with overflow "error" (the
   * default) and no room, throws an Error named "OutboxFullError" and holds nothing.
   */
  push(data: Payload, limits: PendingLimits | undefined, onDrop: (data: Payload, reason: DropReason) => void): 'queued' | 'dropped' {
    const maxMessages = limits?.maxMessages ?? DEFAULT_MAX_MESSAGES;
    const maxBytes = limits?.maxBytes ?? DEFAULT_MAX_BYTES;
    const overflow = limits?.overflow ?? 'error';
    const bytes = byteLength(data);
    const fits = () => this.items.length < maxMessages && this.bytes + bytes <= maxBytes;
    if (!fits()) {
      if (overflow === 'drop-oldest' && bytes <= maxBytes && maxMessages > 0) {
        while (!fits()) {
          const oldest = this.items.shift()!;
          this.bytes -= oldest.bytes;
          onDrop(oldest.data, 'overflow');
        }
      } else if (overflow === 'drop-newest' || overflow === 'drop-oldest') {
        onDrop(data, 'full');
        return 'dropped';
      } else {
        throw outboxFullError(this.items.length, this.bytes, bytes);
      }
    }
    this.items.push({ data, bytes });
    this.bytes += bytes;
    return 'queued';
  }

  /** Removes and returns everything held, oldest first. */
  take(): Payload[] {
    const items = this.items.map((item) => item.data);
    this.items = [];
    this.bytes = 0;
    return items;
  }
}
