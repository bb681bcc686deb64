// The resilient-ws chat demo: one React page on useWebSocket with the delivery protocol.
//
// Log in (a development login: any name), pick a room, chat. The connection's URL is a
// function: before every attempt it fetches a fresh token (the event log shows each refresh).
// Every message you write gets a delivery chip from the SDK's acknowledgements (the hook's
// sendWithAck):
//   sending…   handed to the SDK, not acknowledged yet (resent on reconnect until it is);
//   stored     the server acknowledged it (it is in the room's history);
//   refused    the server refused it (a limit; the reason is shown) — not resent;
//   dropped    the SDK gave it up (outbox full, connection released).
import { StrictMode, useCallback, useEffect, useReducer, useRef, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { useWebSocket } from 'resilient-ws/react';
import './styles.css';

const WS_BASE = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
// Cluster mode: ?pin=a or ?pin=b makes nginx try that instance first (the other one if it is down).
const PIN = new URLSearchParams(location.search).get('pin');
const ROOM_RE = /^[a-z0-9-]{1,32}$/;

// Short values, so that every mechanism shows within seconds.
const OPTIONS = {
  reconnect: { initialDelayMs: 300, maxDelayMs: 2000, factor: 2, jitter: 0.5, minUptimeMs: 3000 },
  connectTimeoutMs: 3000,
  // A ping every 2 s; no answer within 2 s: the connection is dead (half-open) and is replaced.
  // Also what keeps an idle connection alive through nginx's proxy_read_timeout.
  heartbeat: { intervalMs: 2000, timeoutMs: 2000, message: 'ping', pongMessage: 'pong' },
  outbox: { maxMessages: 200, maxBytes: 256 * 1024, overflow: 'error' },
  delivery: { ackTimeoutMs: 5000, ackEveryMs: 500 },
};

const CHIP_LABELS = { sending: 'sending…', stored: 'stored', refused: 'refused', dropped: 'dropped' };

function newId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
}

const initialState = {
  log: [], // the room's messages, by room seq
  mine: {}, // id -> { id, text, sentAt, state, detail, ackedAt }
  myOrder: [], // my ids, in the order I wrote them
  events: [], // newest first
  online: 0,
  instance: null,
  killable: false,
};

function mergeLog(log, messages) {
  const known = new Set(log.map((m) => m.seq));
  const added = messages.filter((m) => !known.has(m.seq));
  if (added.length === 0) return log;
  return [...log, ...added].sort((a, b) => a.seq - b.seq).slice(-500);
}

function reducer(state, action) {
  switch (action.type) {
    case 'event': {
      // A retry loop repeats the same few events: fold a repeat into the recent one (×N).
      const e = action.event;
      const i = state.events
        .slice(0, 2)
        .findIndex((o) => o.kind === e.kind && o.text === e.text && e.at - o.at < 15_000);
      if (i >= 0) {
        const folded = { ...state.events[i], at: e.at, count: state.events[i].count + 1 };
        return { ...state, events: [folded, ...state.events.filter((_, j) => j !== i)] };
      }
      return { ...state, events: [{ ...e, count: 1 }, ...state.events].slice(0, 100) };
    }
    case 'compose':
      return {
        ...state,
        mine: { ...state.mine, [action.message.id]: action.message },
        myOrder: [...state.myOrder, action.message.id],
      };
    case 'settled': {
      const m = state.mine[action.id];
      if (!m) return state;
      const settled = { ...m, state: action.state, detail: action.detail, ackedAt: Date.now() };
      return { ...state, mine: { ...state.mine, [m.id]: settled } };
    }
    case 'chat':
      return { ...state, log: mergeLog(state.log, [action.chat]) };
    case 'history':
      return { ...state, log: mergeLog(state.log, action.messages) };
    case 'connected':
      return { ...state, instance: action.instance, killable: action.killable };
    case 'presence':
      return { ...state, online: action.online };
    default:
      return state;
  }
}

function formatTime(ms) {
  const d = new Date(ms);
  const pad = (n, w = 2) => String(n).padStart(w, '0');
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

function describeClose(info) {
  if (!info) return '';
  const reason = info.reason ? ` “${info.reason}”` : '';
  return `${info.code}${reason}${info.wasClean ? '' : ', not clean'}`;
}

/** The current time, refreshed every 100 ms while `active`. */
function useNow(active) {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!active) return undefined;
    setNow(Date.now());
    const timer = setInterval(() => setNow(Date.now()), 100);
    return () => clearInterval(timer);
  }, [active]);
  return now;
}

function hue(name) {
  let h = 0;
  for (const c of name) h = (h * 31 + c.codePointAt(0)) % 360;
  return h;
}

function StatusBadge({ snapshot }) {
  const { status, attempt, nextRetryAt } = snapshot;
  const now = useNow(nextRetryAt != null);
  let detail = '';
  if (status === 'reconnecting' || (status === 'connecting' && attempt > 0)) {
    detail =
      nextRetryAt != null && nextRetryAt - now >= 50
        ? `retry #${attempt} in ${((nextRetryAt - now) / 1000).toFixed(1)} s`
        : `retry #${attempt} under way`;
  } else if (status === 'closed' && snapshot.lastClose) {
    detail = describeClose(snapshot.lastClose);
  }
  return (
    <div className={`badge badge-${status}`} data-testid="status" data-status={status}>
      <span className="dot" aria-hidden="true" />
      <span className="badge-status">{status}</span>
      {detail && <span className="badge-detail">{detail}</span>}
    </div>
  );
}

function Chip({ mine }) {
  const waited = mine.ackedAt && mine.ackedAt - mine.sentAt > 1500;
  let label = CHIP_LABELS[mine.state];
  if (mine.state === 'stored' && waited) label += ` after ${((mine.ackedAt - mine.sentAt) / 1000).toFixed(1)} s`;
  if (mine.detail) label += `: ${mine.detail}`;
  return <span className={`chip chip-${mine.state}`}>{label}</span>;
}

// Text goes in as React text children: rendered as text, never parsed as HTML.
function ChatRow({ chat, mine, source }) {
  return (
    <li
      className={`chat ${mine ? 'chat-mine' : ''}`}
      data-id={chat.id}
      data-seq={chat.seq}
      data-state={mine?.state ?? 'stored'}
      data-source={source}
    >
      <div className="chat-meta">
        <span className="chat-user" style={{ color: `hsl(${hue(chat.user)} 55% 38%)` }}>
          {chat.user}
        </span>
        <time>{formatTime(chat.at ?? chat.sentAt)}</time>
        {chat.instance && <span className="chat-instance">via {chat.instance}</span>}
        {mine && <Chip mine={mine} />}
      </div>
      <div className="chat-text">{chat.text}</div>
    </li>
  );
}

function ChatLog({ log, mine, myOrder, user }) {
  const ref = useRef(null);
  const pinned = useRef(true);
  const inLog = new Set(log.map((c) => c.id));
  const pending = myOrder.map((id) => mine[id]).filter((m) => !inLog.has(m.id));
  useEffect(() => {
    if (pinned.current && ref.current) ref.current.scrollTop = ref.current.scrollHeight;
  });
  const onScroll = () => {
    const el = ref.current;
    pinned.current = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
  };
  return (
    <ul className="chat-log" ref={ref} onScroll={onScroll} data-testid="chat-log">
      {log.length === 0 && pending.length === 0 && <li className="empty">No messages yet. Say hello!</li>}
      {log.map((chat) => (
        <ChatRow key={chat.seq} chat={chat} mine={mine[chat.id]} source="server" />
      ))}
      {pending.map((m) => (
        <ChatRow key={`mine-${m.id}`} chat={{ ...m, user }} mine={m} source="local" />
      ))}
    </ul>
  );
}

function EventLog({ events }) {
  return (
    <ol className="event-log" data-testid="event-log">
      {events.length === 0 && <li className="empty">Nothing yet.</li>}
      {events.map((e) => (
        <li key={e.seq} className={`event event-${e.kind}`} data-kind={e.kind}>
          <time>{formatTime(e.at)}</time>
          <span className="event-kind">{e.kind}</span>
          <span className="event-text">
            {e.text}
            {e.count > 1 && <span className="event-count"> ×{e.count}</span>}
          </span>
        </li>
      ))}
    </ol>
  );
}

async function login(name) {
  const response = await fetch('/api/login', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name }),
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error ?? `login failed: HTTP ${response.status}`);
  return body;
}

function Chat({ user, room }) {
  const [state, dispatch] = useReducer(reducer, initialState);
  const [draft, setDraft] = useState('');
  const [killing, setKilling] = useState(false);
  const isOpen = useRef(false);
  const eventSeq = useRef(0);

  const note = useCallback(
    (kind, text) => dispatch({ type: 'event', event: { seq: ++eventSeq.current, at: Date.now(), kind, text } }),
    [],
  );

  // Called before every attempt: a fresh token each time (an expired one would get 401).
  const url = useCallback(async () => {
    const { token, expiresAt } = await login(user);
    note('token', `token refreshed (valid until ${formatTime(expiresAt)})`);
    const query = new URLSearchParams({ token, room });
    if (PIN) query.set('pin', PIN);
    return `${WS_BASE}?${query}`;
  }, [user, room, note]);

  const { snapshot, connection, sendWithAck } = useWebSocket(url, {
    ...OPTIONS,
    onOpen() {
      isOpen.current = true;
      note('open', 'connected');
    },
    onClose(info) {
      if (isOpen.current) note('close', describeClose(info));
      else note('retry', `attempt failed (${describeClose(info)})`);
      isOpen.current = false;
    },
    onError(error) {
      note('error', error instanceof Error ? error.message : String(error ?? 'socket error'));
    },
    onReconnectStop(attempts) {
      note('error', `gave up after ${attempts} attempts`);
    },
    onResync() {
      note('resync', 'the server had lost this session: starting afresh (history reloaded)');
    },
    onMessage({ data }) {
      if (typeof data !== 'string') return;
      let msg;
      try {
        msg = JSON.parse(data);
      } catch {
        return; // not JSON (the heartbeat's "pong" never gets here)
      }
      switch (msg.type) {
        case 'connected':
          dispatch({ type: 'connected', instance: msg.instance, killable: msg.killable });
          note('server', `on instance ${msg.instance}, room ${msg.room}`);
          break;
        case 'history':
          dispatch({ type: 'history', messages: msg.messages });
          break;
        case 'chat':
          dispatch({ type: 'chat', chat: msg });
          break;
        case 'presence':
          dispatch({ type: 'presence', online: msg.online });
          break;
        default:
      }
    },
  });

  function onSubmit(event) {
    event.preventDefault();
    const text = draft.trim();
    if (!text) return;
    const id = newId();
    dispatch({ type: 'compose', message: { id, text, sentAt: Date.now(), state: 'sending' } });
    setDraft('');
    let acked;
    try {
      // Held until the connection exists, then sent; resolves on the server's acknowledgement.
      acked = sendWithAck(JSON.stringify({ type: 'chat', id, text }));
    } catch (error) {
      dispatch({ type: 'settled', id, state: 'dropped', detail: error.message });
      return;
    }
    acked.then(
      () => dispatch({ type: 'settled', id, state: 'stored' }),
      (error) => {
        const refused = error?.reason === 'rejected';
        dispatch({ type: 'settled', id, state: refused ? 'refused' : 'dropped', detail: error?.detail ?? error?.reason });
        note(refused ? 'refused' : 'drop', `“${text.slice(0, 30)}”: ${error?.detail ?? error?.reason}`);
      },
    );
  }

  async function kill() {
    setKilling(true);
    note('control', `kill instance ${state.instance} (SIGKILL)`);
    try {
      // nginx routes /instance/<name>/ to that instance only.
      const response = await fetch(`/instance/${state.instance}/api/kill`, { method: 'POST' });
      if (!response.ok) note('error', `kill: HTTP ${response.status}`);
    } catch {
      note('error', 'kill: the instance is unreachable');
    } finally {
      setKilling(false);
    }
  }

  const { status, queuedMessages, unackedMessages, lastClose } = snapshot;
  return (
    <>
      <section className="toolbar" aria-label="Connection">
        <StatusBadge snapshot={snapshot} />
        <dl className="stats">
          <div>
            <dt>Instance</dt>
            <dd data-testid="instance">{status === 'connected' && state.instance ? state.instance : '–'}</dd>
          </div>
          <div>
            <dt>Online</dt>
            <dd>{status === 'connected' ? state.online : '–'}</dd>
          </div>
          <div data-testid="outbox" data-queued={queuedMessages} data-unacked={unackedMessages}>
            <dt>Outbox</dt>
            <dd>
              {queuedMessages} queued · {unackedMessages} unacked
            </dd>
          </div>
          <div>
            <dt>Last close</dt>
            <dd>{lastClose ? describeClose(lastClose) : '–'}</dd>
          </div>
        </dl>
        <div className="buttons">
          {state.killable && status === 'connected' && (
            <button type="button" data-testid="kill" disabled={killing} onClick={kill}>
              Kill this instance
            </button>
          )}
          {status === 'closed' && connection && (
            <button type="button" onClick={() => connection.reconnect()}>
              Reconnect
            </button>
          )}
        </div>
      </section>

      <main className="panes">
        <section className="chat-pane" aria-label="Chat">
          <ChatLog log={state.log} mine={state.mine} myOrder={state.myOrder} user={user} />
          <form className="composer" onSubmit={onSubmit}>
            <input
              className="message"
              aria-label="Message"
              placeholder={status === 'connected' ? 'Write a message…' : 'Offline: messages wait in the outbox…'}
              value={draft}
              maxLength={600}
              onChange={(e) => setDraft(e.target.value)}
              autoFocus
            />
            <button type="submit" disabled={!draft.trim()}>
              Send
            </button>
          </form>
        </section>
        <aside className="events-pane" aria-label="Connection events">
          <h2>Events</h2>
          <EventLog events={state.events} />
        </aside>
      </main>
    </>
  );
}

function App() {
  const params = new URLSearchParams(location.search);
  const [user, setUser] = useState(null);
  const [name, setName] = useState(() => params.get('name') ?? localStorage.getItem('demo-user') ?? '');
  const [room, setRoom] = useState(() => params.get('room') ?? 'lobby');
  const [roomDraft, setRoomDraft] = useState(room);
  const [error, setError] = useState('');

  async function onLogin(event) {
    event.preventDefault();
    setError('');
    try {
      const { user: accepted } = await login(name);
      localStorage.setItem('demo-user', accepted);
      setUser(accepted);
    } catch (e) {
      setError(e.message);
    }
  }

  function onRoom(event) {
    event.preventDefault();
    if (ROOM_RE.test(roomDraft)) setRoom(roomDraft);
  }

  return (
    <div className="app">
      <header className="top">
        <div className="title">
          <h1>resilient-ws chat</h1>
          <p>Kill an instance, restart one, cut the network: keep typing, nothing is lost or doubled.</p>
        </div>
        {user && (
          <form className="room" onSubmit={onRoom}>
            <span data-testid="user">{user}</span> in
            <input
              aria-label="Room"
              value={roomDraft}
              maxLength={32}
              onChange={(e) => setRoomDraft(e.target.value.toLowerCase())}
            />
            <button type="submit" disabled={!ROOM_RE.test(roomDraft) || roomDraft === room}>
              Join
            </button>
          </form>
        )}
      </header>
      {user ? (
        // A new room is a new connection (and a new delivery session).
        <Chat key={room} user={user} room={room} />
      ) : (
        <form className="login" onSubmit={onLogin} data-testid="login">
          <p>A development login: any name, no password.</p>
          <input aria-label="Your name" value={name} maxLength={32} onChange={(e) => setName(e.target.value)} autoFocus />
          <button type="submit" disabled={!name.trim()}>
            Log in
          </button>
          {error && <p className="error">{error}</p>}
        </form>
      )}
    </div>
  );
}

createRoot(document.getElementById('root')).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
