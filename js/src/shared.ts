// share mode: one Connection per key, counted by reference. The first component to acquire
// a key creates the Connection; each later one joins it; when the last one releases it, the
// Connection is freed (which closes its socket). The registry knows nothing of React or of
// the Connection class, so it is tested on its own in Node.

/** What the registry needs of a connection. */
export interface Freeable {
  free(): void;
}

/** One component's hold on a shared connection. */
export interface Lease<C> {
  readonly connection: C;
  /** Lets go; idempotent. True if this was the last hold, and the connection was freed. */
  release(): boolean;
}

interface Entry<C, S> {
  connection: C;
  /** Live list, oldest first: the connection's callbacks fan out over it. */
  subscribers: S[];
}

export class SharedConnections<C extends Freeable, S> {
  private readonly entries = new Map<string, Entry<C, S>>();

  /**
   * Joins the connection registered under `key`, or registers the one `create` returns.
   * `create` receives the live, ordered list of subscribers (this one included once it
   * returns), so the callbacks it installs can fan out to every component that shares
   * the connection. If `create` throws, nothing is registered.
   */
  acquire(key: string, subscriber: S, create: (subscribers: readonly S[]) => C): Lease<C> {
    let entry = this.entries.get(key);
    if (entry === undefined) {
      const subscribers: S[] = [];
      const connection = create(subscribers);
      entry = { connection, subscribers };
      this.entries.set(key, entry);
    }
    entry.subscribers.push(subscriber);
    const held = entry;
    let released = false;
    return {
      connection: held.connection,
      release: () => {
        if (released) return false;
        released = true;
        const index = held.subscribers.indexOf(subscriber);
        if (held.subscribers.length > 1) {
          held.subscribers.splice(index, 1);
          return false;
        }
        // The last one: unregister first (a component mounting during free() gets a fresh
        // connection), free while it is still subscribed (so it hears what free() reports,
        // e.g. onDrop(..., "released") for messages still queued), then forget it.
        if (this.entries.get(key) === held) this.entries.delete(key);
        try {
          held.connection.free();
        } finally {
          held.subscribers.length = 0;
        }
        return true;
      },
    };
  }

  /** How many components hold the connection under `key` (0 when there is none). */
  refCount(key: string): number {
    return this.entries.get(key)?.subscribers.length ?? 0;
  }

  /** How many shared connections exist. */
  get size(): number {
    return this.entries.size;
  }
}

/**
 * The registry key of a hook, or null when it does not share: `share: true` shares by url
 * (a string url only: two functions cannot be compared) and protocols; `share: "name"`
 * shares under that name (and protocols), whatever the url.
 */
export function shareKey(url: unknown, share: boolean | string | undefined, protocolsKey: string): string | null {
  if (url === null || url === undefined) return null;
  if (typeof share === 'string') return `name:${share}\u0000${protocolsKey}`;
  if (share === true && typeof url === 'string') return `url:${url}\u0000${protocolsKey}`;
  return null;
}
