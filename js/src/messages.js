// @ts-check
// What the WebAssembly driver and the hook share about messages: a message's byte length, its
// private copy, the outbox's defaults and the errors sendMessage throws. One file, imported by
// both: the wasm-bindgen glue loads it as a snippet (src/driver/message.rs), the hook as
// ./messages.js. The defaults are pinned to src/core/options.rs by a browser test.

/** The outbox's defaults (src/core/options.rs: OutboxOptions::default). */
export const OUTBOX_DEFAULTS = Object.freeze({ maxMessages: 1000, maxBytes: 1048576, overflow: 'error' });

/**
 * The bytes a message counts against the outbox and bufferedAmount: the UTF-8 length of a
 * string (measured without encoding it; a lone surrogate counts as U+FFFD, as send() encodes
 * it), the byte length of an ArrayBuffer or a view. -1 for anything send() cannot take.
 * @param {unknown} data
 * @returns {number}
 */
export function byteLength(data) {
  if (typeof data === 'string') {
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
