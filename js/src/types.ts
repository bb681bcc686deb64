// The types of the Connection API as the package's own code uses them, taken from the
// declarations wasm-bindgen generates for the class itself, so they cannot drift from it.
import type { Connection } from './resilient_ws.js';

/** The options argument of `new Connection(url, options)`. */
export type ConnectionOptions = NonNullable<ConstructorParameters<typeof Connection>[1]>;
/** What `getSnapshot()` returns: immutable, same identity until something changes. */
export type ConnectionSnapshot = ReturnType<Connection['getSnapshot']>;
/** "connecting" | "connected" | "reconnecting" | "closed". */
export type ConnectionStatus = ConnectionSnapshot['status'];
/** A received message: `{ data: string | ArrayBuffer, receivedAt }`. */
export type Message = NonNullable<ConnectionSnapshot['lastMessage']>;
/** How a socket closed: `{ code, reason, wasClean }`. */
export type CloseInfo = NonNullable<ConnectionSnapshot['lastClose']>;
/** What `sendMessage` accepts: a string, an ArrayBuffer or an ArrayBufferView. */
export type SendData = Parameters<Connection['sendMessage']>[0];
/** "sent" | "queued" | "dropped". */
export type SendResult = ReturnType<Connection['sendMessage']>;

/** The snapshot while there is no Connection (yet): nothing received, queued or sent. */
export function emptySnapshot(status: ConnectionStatus): ConnectionSnapshot {
  return Object.freeze({
    status,
    lastMessage: null,
    lastJsonMessage: null,
    attempt: 0,
    nextRetryAt: null,
    queuedMessages: 0,
    queuedBytes: 0,
    bufferedAmount: 0,
    lastClose: null,
    unackedMessages: 0,
    resumed: null,
  }) as ConnectionSnapshot;
}
