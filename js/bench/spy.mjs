// The raw socket spy of the peers bench: replaces window.WebSocket, before any library module
// runs (engine.io-client reads the global once, at load), with a subclass whose send() notes the
// highest bufferedAmount seen right after a send while `spy.on`, and keeps the last socket made
// with the number of sends on it (what a timed-out echo reports). Every library, and the raw
// variant, then goes through it alike; the figures are the socket's, not the library's own.
const Native = globalThis.WebSocket;

export const spy = { on: false, peak: 0, sockets: 0, last: null, lastSends: 0 };

class SpyWebSocket extends Native {
  constructor(url, protocols) {
    super(url, protocols);
    spy.sockets++;
    spy.last = this;
    spy.lastSends = 0;
  }

  send(data) {
    super.send(data);
    if (this === spy.last) spy.lastSends++;
    if (spy.on) {
      const b = this.bufferedAmount;
      if (b > spy.peak) spy.peak = b;
    }
  }
}

globalThis.WebSocket = SpyWebSocket;
