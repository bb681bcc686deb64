// The "." entry: `init` and `Connection`, with their types. Importing this module touches
// neither `window` nor `WebSocket`: nothing runs until `init()` and `new Connection()`.
export { init } from './init.js';
export { Connection } from './connection.js';
export type {
  CloseInfo,
  ConnectionOptions,
  DropReason,
  HeartbeatOptions,
  InitInput,
  LastMessage,
  MessageData,
  OutboxOptions,
  OverflowPolicy,
  ReconnectOptions,
  SendResult,
  Snapshot,
  Status,
  UrlSource,
} from './resilient_ws.js';
export type { SendData } from './types.js';
