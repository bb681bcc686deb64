// The "." entry: `init` and `Connection`, with their types. Importing this module touches
// neither `window` nor `WebSocket`: nothing runs until `init()` and `new Connection()`.
export { init } from './init.js';
export { Connection } from './resilient_ws.js';
export type { InitInput } from './resilient_ws.js';
export type {
  ConnectionOptions,
  ConnectionSnapshot,
  ConnectionStatus,
  ConnectionUrl,
  CloseInfo,
  Message,
  SendData,
  SendResult,
} from './types.js';
