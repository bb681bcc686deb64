// Messages sent through the hook before its Connection exists (the WebAssembly module is
// still loading, or the connection is created in the effect after the first render).
// They are held here, bounded and with the same overflow policy as the Connection's outbox,
// and handed to the Connection, in order, as soon as it exists. If the connection never
// comes (the component unmounts, or the url becomes null), each one is reported through
// onDrop(data, "released"). Nothing is lost silently.

import { byteLength as measure, copyData, dropError, invalidDataError, outboxFullError, outboxLimits } from './messages.js';

/** The outbox bounds that apply (the `outbox` option, with the Connection's defaults). */
export interface PendingLimits {
  maxMessages?: number;
  maxBytes?: number;
  overflow?: string;
}

export type Payload = string | ArrayBuffer;

/** A sendWithAck's promise, waiting for its held message's fate. */
export interface AckWaiter {
  resolve(): void;
  reject(error: unknown): void;
}

/** A held message, and the sendWithAck waiting for it, if any. */
export interface Held {
  data: Payload;
  ack?: AckWaiter;
}
export type DropReason = 'overflow' | 'full' | 'released';

/** Bytes counted against maxBytes: UTF-8 length of text, byte length of binary (as the Connection counts them). */
export function byteLength(data: Payload): number {
  return measure(data);
}

/** A private copy of what the caller passed (they may reuse their buffer after the call). */
export function copyPayload(data: string | ArrayBuffer | ArrayBufferView): Payload {
  if (measure(data) < 0) throw invalidDataError(data);
  return copyData(data);
}

/**
 * The Connection's outbox rules (src/core/outbox.rs: Outbox::push), for the messages held
 * before the Connection exists, when the WebAssembly module may not even be loaded yet.
 * js/test/outbox-rules.test.mjs pins the two together: the same pushes give the same
 * results, drops and errors in both.
 */
export class PendingMessages {
  private items: { data: Payload; bytes: number; ack?: AckWaiter }[] = [];
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
  push(
    data: Payload,
    limits: PendingLimits | undefined,
    onDrop: (data: Payload, reason: DropReason) => void,
    ack?: AckWaiter,
  ): 'queued' | 'dropped' {
    const { maxMessages, maxBytes, overflow } = outboxLimits(limits);
    const bytes = byteLength(data);
    const fits = () => this.items.length < maxMessages && this.bytes + bytes <= maxBytes;
    if (!fits()) {
      if (overflow === 'drop-oldest' && bytes <= maxBytes && maxMessages > 0) {
        while (!fits()) {
          const oldest = this.items.shift()!;
          this.bytes -= oldest.bytes;
          onDrop(oldest.data, 'overflow');
          oldest.ack?.reject(dropError('overflow'));
        }
      } else if (overflow === 'drop-newest' || overflow === 'drop-oldest') {
        onDrop(data, 'full');
        ack?.reject(dropError('full'));
        return 'dropped';
      } else {
        throw outboxFullError(this.items.length, this.bytes, bytes, maxMessages, maxBytes);
      }
    }
    this.items.push({ data, bytes, ack });
    this.bytes += bytes;
    return 'queued';
  }

  /** Removes and returns everything held, oldest first. */
  take(): Payload[] {
    return this.takeHeld().map((item) => item.data);
  }

  /** Every held message with its waiter, oldest first, leaving none. */
  takeHeld(): Held[] {
    const items = this.items;
    this.items = [];
    this.bytes = 0;
    return items;
  }
}
