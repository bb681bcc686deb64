// The resilient-ws chat demo: one React page on useWebSocket.
//
// Every message you write gets an id and a state:
//   queued     in the SDK's outbox (you are offline): sent, in order, once a socket is open again;
//   sending    handed to an open socket, not yet back from the server;
//   delivered  the server broadcast it back (the chat log shows the server's copy);
//   not delivered  the socket it was handed to died before the server got it (see demo/README.md);
//   dropped    pushed out of a full outbox.
import { StrictMode, useEffect, useReducer, useRef, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { useWebSocket } from 'resilient-ws/react';
import './styles.css';

const WS_URL = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
const OUTAGE_MS = 5000;

// Short values, so that every mechanism shows within seconds.
const OPTIONS = {
  reconnect: { initialDelayMs: 500, maxDelayMs: 2000, factor: 2, jitter: 0.5, minUptimeMs: 3000 },
  connectTimeoutMs: 3000,
  // A ping every 2 s; no answer within 2 s: the connection is dead (half-open) and is replaced.
  heartbeat: { intervalMs: 2000, timeoutMs: 2000, message: 'ping', pongMessage: 'pong' },
  outbox: { maxMessages: 50, maxBytes: 64 * 1024, overflow: 'drop-oldest' },
};

const STATE_LABELS = {
  queued: 'queued',
  sent: 'sending…',
  delivered: 'delivered',
  lost: 'not delivered',
  dropped: 'dropped',
};

function newId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
}

function defaultName() {
  const saved = localStorage.getItem('demo-user');
  if (saved) return saved;
  return `guest-${Math.floor(1000 + Math.random() * 9000)}`;
}

const logKey = (m) => `${m.id}@${m.serverAt}`;

const initialState = {
  log: [], // the server's messages, in server order
  mine: {}, // id -> { id, text, sentAt, state, epoch, deliveredAt }
  myOrder: [], // my ids, in the order I wrote them
  events: [], // newest first
  online: 0,
};

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
    case 'resend': {
      const m = state.mine[action.id];
      if (!m) return state;
      return { ...state, mine: { ...state.mine, [m.id]: { ...m, state: action.state, epoch: action.epoch } } };
    }
    case 'dropped': {
      const m = state.mine[action.id];
      if (!m || m.state === 'delivered') return state;
      return { ...state, mine: { ...state.mine, [m.id]: { ...m, state: 'dropped' } } };
    }
    case 'chat': {
      const chat = action.chat;
      const log = [...state.log, chat].slice(-500);
      const m = state.mine[chat.id];
      const mine =
        m && m.state !== 'delivered'
          ? { ...state.mine, [m.id]: { ...m, state: 'delivered', deliveredAt: Date.now() } }
          : state.mine;
      return { ...state, log, mine };
    }
    case 'history': {
      // The server's last messages, sent on every (re)connect: merge them into the log.
      const known = new Set(state.log.map(logKey));
      const log = [...state.log, ...action.messages.filter((m) => !known.has(logKey(m)))]
        .sort((a, b) => a.serverAt - b.serverAt)
        .slice(-500);
      const stored = new Set(action.messages.map((m) => m.id));
      const mine = { ...state.mine };
      for (const m of Object.values(state.mine)) {
        if (m.state === 'delivered' || m.state === 'dropped' || m.state === 'lost') continue;
        if (stored.has(m.id)) {
          mine[m.id] = { ...m, state: 'delivered', deliveredAt: Date.now() };
        } else if (
          // Handed to a socket that has since closed, and the server never stored it.
          (m.state === 'sent' && m.epoch < action.epoch) ||
          // Still "queued" here, but flushed into an earlier socket that has since closed.
          (m.state === 'queued' && m.epoch < action.epoch - 1)
        ) {
          mine[m.id] = { ...m, state: 'lost' };
        }
      }
      return { ...state, log, mine };
    }
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

function formatBytes(n) {
  if (n < 1024) return `${n} B`;
  return `${(n / 1024).toFixed(1)} KiB`;
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

function ChatRow({ chat, mine, source, onResend }) {
  const state = mine?.state;
  const waited = mine && mine.deliveredAt && mine.deliveredAt - mine.sentAt > 1500;
  return (
    <li className={`chat ${mine ? 'chat-mine' : ''}`} data-id={chat.id} data-state={state ?? 'delivered'} data-source={source}>
      <div className="chat-meta">
        <span className="chat-user" style={{ color: `hsl(${hue(chat.user)} 55% 38%)` }}>
          {chat.user}
        </span>
        <time>{formatTime(chat.serverAt ?? chat.sentAt)}</time>
        {mine && (
          <span className={`chip chip-${state}`}>
            {STATE_LABELS[state]}
            {state === 'delivered' && waited ? ` after ${((mine.deliveredAt - mine.sentAt) / 1000).toFixed(1)} s` : ''}
          </span>
        )}
        {state === 'lost' && (
          <button type="button" className="link" onClick={() => onResend(mine)}>
            resend
          </button>
        )}
      </div>
      <div className="chat-text">{chat.text}</div>
    </li>
  );
}

function ChatLog({ log, mine, myOrder, onResend }) {
  const ref = useRef(null);
  const pinned = useRef(true);
  const pending = myOrder.map((id) => mine[id]).filter((m) => m.state !== 'delivered');
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
        <ChatRow key={logKey(chat)} chat={chat} mine={mine[chat.id]} source="server" onResend={onResend} />
      ))}
      {pending.map((m) => (
        <ChatRow key={`mine-${m.id}`} chat={m} mine={m} source="local" onResend={onResend} />
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

function App() {
  const [state, dispatch] = useReducer(reducer, initialState);
  const [user, setUser] = useState(defaultName);
  const [draft, setDraft] = useState('');
  const [controlBusy, setControlBusy] = useState(false);
  const opens = useRef(0); // sockets opened so far: which one a message went to
  const isOpen = useRef(false);
  const bootId = useRef(null);
  const eventSeq = useRef(0);

  const note = (kind, text) => dispatch({ type: 'event', event: { seq: ++eventSeq.current, at: Date.now(), kind, text } });

  const { sendJsonMessage, snapshot, connection } = useWebSocket(WS_URL, {
    ...OPTIONS,
    onOpen() {
      isOpen.current = true;
      opens.current += 1;
      note('open', `connected (socket #${opens.current})`);
    },
    onClose(info) {
      if (isOpen.current) note('close', describeClose(info));
      else note('retry', `attempt failed (${describeClose(info)})`);
      isOpen.current = false;
    },
    onError(error) {
      const text = error instanceof Error ? error.message : String(error ?? 'socket error');
      note('error', text);
    },
    onReconnectStop(attempts) {
      note('error', `gave up after ${attempts} attempts`);
    },
    onDrop(data, reason) {
      let id = null;
      try {
        id = JSON.parse(data).id;
      } catch {
        // not one of ours
      }
      if (id) dispatch({ type: 'dropped', id });
      note('drop', `a message was dropped (${reason})`);
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
        case 'chat':
          dispatch({ type: 'chat', chat: msg });
          break;
        case 'history':
          if (bootId.current && bootId.current !== msg.bootId) {
            note('server', 'the server restarted (new boot id)');
          }
          bootId.current = msg.bootId;
          dispatch({ type: 'history', messages: msg.messages, epoch: opens.current });
          break;
        case 'presence':
          dispatch({ type: 'presence', online: msg.online });
          break;
        case 'error':
          note('error', `server: ${msg.message}`);
          break;
        default:
      }
    },
  });

  useEffect(() => {
    localStorage.setItem('demo-user', user);
  }, [user]);

  // Each "not delivered" message is announced once in the event log.
  const announced = useRef(new Set());
  useEffect(() => {
    for (const m of Object.values(state.mine)) {
      if (m.state === 'lost' && !announced.current.has(m.id)) {
        announced.current.add(m.id);
        note('lost', `“${m.text.slice(0, 30)}” died with its socket: not delivered`);
      }
    }
  });

  function send(message, resend = false) {
    let result;
    try {
      result = sendJsonMessage({ type: 'chat', id: message.id, user: message.user, text: message.text, sentAt: message.sentAt });
    } catch (error) {
      note('error', `send failed: ${error.message}`);
      result = 'dropped';
    }
    const sendState = result === 'sent' ? 'sent' : result === 'queued' ? 'queued' : 'dropped';
    if (resend) dispatch({ type: 'resend', id: message.id, state: sendState, epoch: opens.current });
    else dispatch({ type: 'compose', message: { ...message, state: sendState, epoch: opens.current } });
  }

  function onSubmit(event) {
    event.preventDefault();
    const text = draft.trim();
    if (!text) return;
    send({ id: newId(), user: user.trim() || 'anonymous', text, sentAt: Date.now() });
    setDraft('');
  }

  async function control(path, label) {
    setControlBusy(true);
    note('control', label);
    try {
      const response = await fetch(path, { method: 'POST' });
      if (!response.ok) note('error', `${path}: HTTP ${response.status}`);
    } catch {
      note('error', `${path}: the server is unreachable`);
    } finally {
      setControlBusy(false);
    }
  }

  const { status, queuedMessages, queuedBytes, bufferedAmount, lastClose } = snapshot;
  return (
    <div className="app">
      <header className="top">
        <div className="title">
          <h1>resilient-ws chat</h1>
          <p>Restart the server or cut the network, keep typing, and watch the messages catch up.</p>
        </div>
        <StatusBadge snapshot={snapshot} />
      </header>

      <section className="toolbar" aria-label="Demo controls">
        <div className="buttons">
          <button type="button" disabled={controlBusy} onClick={() => control('/control/restart', 'restart the server')}>
            Restart server
          </button>
          <button
            type="button"
            disabled={controlBusy}
            onClick={() => control(`/control/outage?ms=${OUTAGE_MS}`, `network loss for ${OUTAGE_MS / 1000} s`)}
          >
            Simulate network loss (5 s)
          </button>
          {status === 'closed' && connection && (
            <button type="button" onClick={() => connection.reconnect()}>
              Reconnect
            </button>
          )}
        </div>
        <dl className="stats">
          <div data-testid="outbox" data-queued={queuedMessages}>
            <dt>Outbox</dt>
            <dd>
              {queuedMessages} {queuedMessages === 1 ? 'message' : 'messages'} · {formatBytes(queuedBytes)}
            </dd>
          </div>
          <div>
            <dt>Socket buffer</dt>
            <dd>{formatBytes(bufferedAmount)}</dd>
          </div>
          <div>
            <dt>Online</dt>
            <dd>{status === 'connected' ? state.online : '–'}</dd>
          </div>
          <div>
            <dt>Last close</dt>
            <dd>{lastClose ? describeClose(lastClose) : '–'}</dd>
          </div>
        </dl>
      </section>

      <main className="panes">
        <section className="chat-pane" aria-label="Chat">
          <ChatLog log={state.log} mine={state.mine} myOrder={state.myOrder} onResend={(m) => send(m, true)} />
          <form className="composer" onSubmit={onSubmit}>
            <input
              className="name"
              aria-label="Your name"
              value={user}
              maxLength={32}
              onChange={(e) => setUser(e.target.value)}
            />
            <input
              className="message"
              aria-label="Message"
              placeholder={status === 'connected' ? 'Write a message…' : 'Offline: messages wait in the outbox…'}
              value={draft}
              maxLength={2000}
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
    </div>
  );
}

createRoot(document.getElementById('root')).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
