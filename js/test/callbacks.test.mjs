// The callbacks the hook installs on a Connection (pkg/callbacks.js), in plain Node.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connectionOptions, defaultShouldReconnect } from '../../pkg/callbacks.js';

const target = (callbacks) => {
  const t = { active: true, current: callbacks, callbacks: () => t.current };
  return t;
};

test('passes the other options through, minus share, and installs forwarding callbacks', () => {
  const options = connectionOptions(
    { protocols: ['v1'], reconnect: { maxAttempts: 3 }, heartbeat: false, share: true, onMessage: () => {}, outbox: undefined },
    [target({})],
  );
  assert.deepEqual(options.protocols, ['v1']);
  assert.deepEqual(options.reconnect, { maxAttempts: 3 });
  assert.equal(options.heartbeat, false);
  assert.ok(!('share' in options), 'share is the hook\'s own option');
  assert.ok(!('outbox' in options), 'undefined options are left out');
  for (const name of ['onOpen', 'onClose', 'onMessage', 'onError', 'onReconnectStop', 'onDrop', 'onStatus']) {
    assert.equal(typeof options[name], 'function', name);
  }
  assert.ok(!('shouldReconnect' in options), 'no shouldReconnect unless one was given');
});

test('calls the latest callbacks, not the ones at creation', () => {
  const calls = [];
  const t = target({ onMessage: (m) => calls.push(['v1', m]) });
  const options = connectionOptions(t.current, [t]);
  options.onMessage('a');
  t.current = { onMessage: (m) => calls.push(['v2', m]) };
  options.onMessage('b');
  t.current = {};
  options.onMessage('c');
  assert.deepEqual(calls, [['v1', 'a'], ['v2', 'b']]);
});

test('fans out to every target in order, skipping inactive and removed ones', () => {
  const calls = [];
  const a = target({ onOpen: () => calls.push('a') });
  const b = target({ onOpen: () => calls.push('b') });
  const c = target({ onOpen: () => calls.push('c') });
  const targets = [a, b, c];
  const options = connectionOptions({}, targets);
  options.onOpen();
  b.active = false;
  options.onOpen();
  targets.splice(targets.indexOf(c), 1);
  options.onOpen();
  assert.deepEqual(calls, ['a', 'b', 'c', 'a', 'c', 'a']);
});

test('a throwing callback goes to its own onError; the others still hear the event', () => {
  const calls = [];
  const boom = new Error('boom');
  const a = target({ onClose: () => { throw boom; }, onError: (e) => calls.push(['a.onError', e]) });
  const b = target({ onClose: (info) => calls.push(['b.onClose', info.code]) });
  const options = connectionOptions({}, [a, b]);
  options.onClose({ code: 1006, reason: '', wasClean: false });
  assert.deepEqual(calls, [['a.onError', boom], ['b.onClose', 1006]]);
});

test('a throwing callback with no onError is reported as uncaught, never swallowed', () => {
  const reported = [];
  const saved = globalThis.reportError;
  globalThis.reportError = (e) => reported.push(e);
  try {
    const boom = new Error('boom');
    const options = connectionOptions({}, [target({ onMessage: () => { throw boom; } })]);
    assert.doesNotThrow(() => options.onMessage({ data: 'x', receivedAt: 0 }), 'the connection is not broken');
    assert.deepEqual(reported, [boom]);
  } finally {
    if (saved === undefined) delete globalThis.reportError;
    else globalThis.reportError = saved;
  }
});

test('shouldReconnect: the latest one decides; removed later, the default policy does', () => {
  const t = target({ shouldReconnect: () => false });
  const options = connectionOptions(t.current, [t]);
  assert.equal(options.shouldReconnect({ code: 1006 }), false);
  t.current = { shouldReconnect: (info) => info.code === 4000 };
  assert.equal(options.shouldReconnect({ code: 4000 }), true);
  t.current = {};
  assert.equal(options.shouldReconnect({ code: 1006 }), true);
  assert.equal(options.shouldReconnect({ code: 4401 }), false);
});

test('the default close policy matches the core: no reconnect after protocol, policy or auth closes', () => {
  for (const code of [1002, 1003, 1007, 1008, 1009, 1010, 4401, 4403]) assert.equal(defaultShouldReconnect({ code }), false, String(code));
  for (const code of [1000, 1001, 1005, 1006, 1011, 1012, 1013, 4000]) assert.equal(defaultShouldReconnect({ code }), true, String(code));
});

test('any other on… function option given at creation is forwarded too, in its latest version', () => {
  const calls = [];
  const t = target({ onAck: (d) => calls.push(['v1', d]), onFuture: 'not a function' });
  const options = connectionOptions(t.current, [t]);
  assert.equal(typeof options.onAck, 'function');
  assert.equal(options.onFuture, 'not a function', 'a non-function value is passed on as is (the Connection judges it)');
  t.current = { onAck: (d) => calls.push(['v2', d]) };
  options.onAck('m');
  assert.deepEqual(calls, [['v2', 'm']]);
});
