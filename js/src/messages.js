// @ts-check
// What the WebAssembly driver and the hook share about messages: a message's byte length, its
// private copy, the outbox's defaults and the errors sendMessage throws. One file, imported by
// both: the wasm-bindgen glue loads it as a snippet (src/driver/message.rs), the hook as
// ./messages.js. The defaults are pinned to src/core/options.rs by a browser test.

/** The outbox's defaults (src/core/options.rs: OutboxOptions::default). */
export const OUTBOX_DEFAULTS = Object.freeze({ maxMessages: 1000, maxBytes: 1048576, overflow: 'error' });

/**
 * The outbox bounds that apply: the `outbox` option's, else the defaults (for the hook's
 * pre-connection holding and a follower tab's own check).
 * @param {{ maxMessages?: number, maxBytes?: number, overflow?: string } | undefined} outbox
 */
export function outboxLimits(outbox) {
  return {
    maxMessages: outbox?.maxMessages ?? OUTBOX_DEFAULTS.maxMessages,
    maxBytes: outbox?.maxBytes ?? OUTBOX_DEFAULTS.maxBytes,
    overflow: outbox?.overflow ?? OUTBOX_DEFAULTS.overflow,
  };
}

const ASCII = /^[\0-\x7f]*$/;

/**
 * The bytes a message counts against the outbox and bufferedAmount: the UTF-8 length of a
 * string (measured without encoding it; a lone surrogate counts as U+FFFD, as send() encodes
 * it), the byte length of an ArrayBuffer or a view. -1 for anything send() cannot take.
 * @param {unknown} data
 * @returns {number}
 */
export function byteLength(data) {
  if (typeof data === 'string') {
    // ASCII (most messages: JSON, ids): one byte per unit, checked natively, 4-10× faster than the loop.
    if (ASCII.test(data)) return data.length;
    const units = data.length;
    let bytes = units;
    for (let i = 0; i < units; i++) {
      const c = data.charCodeAt(i);
      if (c < 0x80) continue;
      if (c < 0x800) bytes += 1;
      else if (c < 0xd800 || c > 0xdbff || i + 1 === units || (data.charCodeAt(i + 1) & 0xfc00) !== 0xdc00) bytes += 2;
      else {
        bytes += 2; // a surrogate pair: 2 units, 4 bytes
        i++;
      }
    }
    return bytes;
  }
  if (data instanceof ArrayBuffer || ArrayBuffer.isView(data)) return data.byteLength;
  return -1;
}

/**
 * What is kept of a message that waits: a string as it is (immutable), binary as a private
 * ArrayBuffer, so that a caller reusing its buffer does not change what is sent later.
 * @param {string | ArrayBuffer | ArrayBufferView} data
 * @returns {string | ArrayBuffer}
 */
export function copyData(data) {
  if (typeof data === 'string') return data;
  if (data instanceof ArrayBuffer) return data.slice(0);
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice().buffer;
}

/**
 * A short rendering of a value for error messages.
 * @param {unknown} v
 * @returns {string}
 */
export function describe(v) {
  if (typeof v === 'string') return JSON.stringify(v);
  if (v === null || (typeof v !== 'object' && typeof v !== 'function')) return String(v);
  if (Array.isArray(v)) return 'an array';
  return `a value of type ${typeof v}`;
}

/**
 * A thrown value as text: "Name: message" for an Error.
 * @param {unknown} error
 * @returns {string}
 */
export function describeError(error) {
  if (error instanceof Error) return error.name ? `${error.name}: ${error.message}` : error.message;
  return typeof error === 'string' ? error : describe(error);
}

/**
 * sendJsonMessage's text: JSON.stringify of the value, or the TypeError it throws (nothing is
 * queued then) for a value with no JSON form (undefined, a function) or that cannot be
 * serialized (cyclic, BigInt). One rule for the Connection, the hook and shared tabs.
 * @param {unknown} value
 * @returns {string}
 */
export function jsonText(value) {
  let text;
  try {
    text = JSON.stringify(value);
  } catch (e) {
    throw new TypeError(`sendJsonMessage: the value cannot be serialized to JSON (${describeError(e)})`);
  }
  if (typeof text !== 'string') throw new TypeError(`sendJsonMessage: the value has no JSON form (got ${describe(value)})`);
  return text;
}

/**
 * What sendMessage throws for data it cannot send.
 * @param {unknown} data
 * @returns {TypeError}
 */
export function invalidDataError(data) {
  const plain = data !== null && typeof data === 'object' && !Array.isArray(data) && !ArrayBuffer.isView(data);
  return new TypeError(
    `sendMessage: data must be a string, an ArrayBuffer or an ArrayBufferView (got ${describe(data)})` +
      (plain ? '; to send an object as JSON, use sendJsonMessage' : ''),
  );
}

/**
 * The error sendMessage throws under overflow "error" when the message does not fit: nothing
 * was queued. Its name is "OutboxFullError"; the counts are properties too.
 * @param {number} queuedMessages
 * @param {number} queuedBytes
 * @param {number} messageBytes
 * @param {number} maxMessages
 * @param {number} maxBytes
 * @returns {Error & { queuedMessages: number, queuedBytes: number, messageBytes: number }}
 */
export function outboxFullError(queuedMessages, queuedBytes, messageBytes, maxMessages, maxBytes) {
  const error = new Error(
    `outbox full: ${queuedMessages} messages and ${queuedBytes} bytes queued ` +
      `(limits: maxMessages ${maxMessages}, maxBytes ${maxBytes}); the ${messageBytes}-byte message was not queued`,
  );
  error.name = 'OutboxFullError';
  return Object.assign(error, { queuedMessages, queuedBytes, messageBytes });
}

// ---- delivery (PROTOCOL.md): the wire form of the protocol's frames ----

/**
 * What a sendWithAck promise rejects with when its message is dropped: reason "overflow",
 * "full", "released" or "rejected" (then detail is the server's reason).
 * @param {string} reason
 * @param {string} [detail]
 * @returns {Error & { reason: string, detail: string | undefined }}
 */
export function dropError(reason, detail) {
  const error = new Error(`message not delivered: ${reason}${detail ? ` (${detail})` : ''}`);
  error.name = 'DropError';
  return Object.assign(error, { reason, detail });
}

/**
 * A client frame (src/core/delivery.rs ClientFrame): kind 0 hello (n = in, a = sid),
 * 1 data (n = seq, a = the message), 2 ack (n = upto). Text frames are JSON with the keys in
 * the protocol's order; binary data is the byte 0x64, the seq (8 bytes, big-endian), the bytes.
 * @param {number} kind
 * @param {number} n
 * @param {unknown} a
 * @returns {string | ArrayBuffer}
 */
export function encodeFrame(kind, n, a) {
  if (kind === 1 && typeof a !== 'string') {
    const data = /** @type {ArrayBuffer | ArrayBufferView} */ (a);
    const bytes = data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    const frame = new Uint8Array(9 + bytes.length);
    frame[0] = 0x64;
    new DataView(frame.buffer).setBigUint64(1, BigInt(n));
    frame.set(bytes, 9);
    return frame.buffer;
  }
  return JSON.stringify(kind === 0 ? { t: 'hello', sid: a, in: n } : kind === 1 ? { t: 'd', s: n, p: a } : { t: 'a', s: n });
}

/** @param {unknown} n */
const isSeq = (n) => Number.isSafeInteger(n) && /** @type {number} */ (n) >= 0;

/**
 * A server frame (src/core/delivery.rs ServerFrame) as [kind, n, x]: 0 welcome (n = out,
 * x = resumed), 1 ack (n = upto), 2 nack (n = seq, x = the reason), 3 data (n = seq, x = the
 * message); undefined for any message that is not a protocol frame.
 * @param {unknown} data
 * @returns {[number, number, unknown] | undefined}
 */
export function decodeFrame(data) {
  if (data instanceof ArrayBuffer) {
    if (data.byteLength < 9 || new Uint8Array(data, 0, 1)[0] !== 0x64) return undefined;
    const seq = Number(new DataView(data).getBigUint64(1));
    return isSeq(seq) ? [3, seq, data.slice(9)] : undefined;
  }
  if (typeof data !== 'string' || data.charCodeAt(0) !== 123 /* { */) return undefined;
  let f;
  try {
    f = JSON.parse(data);
  } catch {
    return undefined;
  }
  if (f === null || typeof f !== 'object') return undefined;
  if (f.t === 'welcome') return isSeq(f.out) && typeof f.resumed === 'boolean' ? [0, f.out, f.resumed] : undefined;
  if (!isSeq(f.s)) return undefined;
  if (f.t === 'a') return [1, f.s, undefined];
  if (f.t === 'n') return [2, f.s, typeof f.e === 'string' ? f.e : ''];
  if (f.t === 'd') return typeof f.p === 'string' ? [3, f.s, f.p] : undefined;
  return undefined;
}
