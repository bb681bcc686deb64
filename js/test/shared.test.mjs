// The share-mode registry (pkg/shared.js), in plain Node with fake connections.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SharedConnections, shareKey } from '../../pkg/shared.js';

/** A fake connection: counts free() calls and records who heard its last words. */
function fakeFactory() {
  const made = [];
  const create = (subscribers) => {
    const connection = {
      id: made.length,
      freed: 0,
      heardAtFree: null,
      subscribers,
      free() {
        this.freed += 1;
        this.heardAtFree = [...subscribers];
      },
    };
    made.push(connection);
    return connection;
  };
  return { made, create };
}

test('the first acquire creates, later ones with the same key join the same connection', () => {
  const registry = new SharedConnections();
  const { made, create } = fakeFactory();
  const a = registry.acquire('k', 'A', create);
  const b = registry.acquire('k', 'B', create);
  assert.equal(made.length, 1);
  assert.equal(a.connection, b.connection);
  assert.equal(registry.refCount('k'), 2);
  assert.deepEqual(a.connection.subscribers, ['A', 'B'], 'the live subscriber list, in join order');
  const c = registry.acquire('other', 'C', create);
  assert.equal(made.length, 2);
  assert.notEqual(c.connection, a.connection);
  assert.equal(registry.size, 2);
});

test('the connection is freed once, when the last holder releases it', () => {
  const registry = new SharedConnections();
  const { made, create } = fakeFactory();
  const a = registry.acquire('k', 'A', create);
  const b = registry.acquire('k', 'B', create);
  assert.equal(a.release(), false);
  assert.equal(a.release(), false, 'release is idempotent');
  assert.equal(made[0].freed, 0, 'B still holds it');
  assert.equal(registry.refCount('k'), 1);
  assert.deepEqual(made[0].subscribers, ['B'], 'A no longer hears its callbacks');
  assert.equal(b.release(), true);
  assert.equal(made[0].freed, 1);
  assert.deepEqual(made[0].heardAtFree, ['B'], 'the last holder still hears what free() reports');
  assert.deepEqual(made[0].subscribers, []);
  assert.equal(b.release(), false);
  assert.equal(made[0].freed, 1, 'never freed twice');
  assert.equal(registry.refCount('k'), 0);
  assert.equal(registry.size, 0);
});

test('after the last release, the next acquire creates a new connection', () => {
  const registry = new SharedConnections();
  const { made, create } = fakeFactory();
  registry.acquire('k', 'A', create).release();
  const again = registry.acquire('k', 'A2', create);
  assert.equal(made.length, 2);
  assert.equal(again.connection, made[1]);
  assert.equal(made[1].freed, 0);
});

test('a stale lease cannot release a newer connection under the same key', () => {
  const registry = new SharedConnections();
  const { made, create } = fakeFactory();
  const old = registry.acquire('k', 'A', create);
  old.release();
  registry.acquire('k', 'B', create);
  assert.equal(old.release(), false);
  assert.equal(made[1].freed, 0);
  assert.equal(registry.refCount('k'), 1);
});

test('when create throws, nothing is registered', () => {
  const registry = new SharedConnections();
  assert.throws(() => registry.acquire('k', 'A', () => { throw new Error('bad url'); }), /bad url/);
  assert.equal(registry.size, 0);
  assert.equal(registry.refCount('k'), 0);
  const { made, create } = fakeFactory();
  registry.acquire('k', 'A', create);
  assert.equal(made.length, 1);
});

test('shareKey: by string url and protocols, by name, or not shared', () => {
  assert.equal(shareKey('ws://a/x', undefined, ''), null, 'share not asked');
  assert.equal(shareKey('ws://a/x', false, ''), null);
  assert.equal(shareKey(null, true, ''), null, 'null url');
  assert.equal(shareKey(() => 'ws://a/x', true, ''), null, 'a function url cannot be compared');
  assert.equal(shareKey('ws://a/x', true, ''), shareKey('ws://a/x', true, ''));
  assert.notEqual(shareKey('ws://a/x', true, ''), shareKey('ws://a/y', true, ''));
  assert.notEqual(shareKey('ws://a/x', true, '"v1"'), shareKey('ws://a/x', true, '"v2"'), 'protocols are part of the key');
  assert.equal(shareKey(() => 'ws://a', 'chat', ''), shareKey('ws://b', 'chat', ''), 'a name shares whatever the url');
  assert.notEqual(shareKey('ws://a/x', 'ws://a/x', ''), shareKey('ws://a/x', true, ''), 'names and urls do not collide');
});
