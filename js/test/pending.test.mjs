// The hook's hold for messages sent before its Connection exists (pkg/pending.js).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PendingMessages, byteLength, copyPayload } from '../../pkg/pending.js';

const drops = () => {
  const list = [];
  const onDrop = (data, reason) => list.push([typeof data === 'string' ? data : `<${data.byteLength}>`, reason]);
  return { list, onDrop };
};

test('holds messages in order and hands them over once', () => {
  const p = new PendingMessages();
  const { list, onDrop } = drops();
  assert.equal(p.push('a', undefined, onDrop), 'queued');
  assert.equal(p.push('b', undefined, onDrop), 'queued');
  assert.equal(p.size, 2);
  assert.deepEqual(p.take(), ['a', 'b']);
  assert.deepEqual(p.take(), []);
  assert.equal(p.size, 0);
  assert.equal(p.queuedBytes, 0);
  assert.deepEqual(list, []);
});

test('counts UTF-8 bytes of text and the length of binary', () => {
  assert.equal(byteLength('héllo'), 6);
  assert.equal(byteLength('😀'), 4);
  assert.equal(byteLength(new ArrayBuffer(7)), 7);
  const p = new PendingMessages();
  p.push('é', undefined, () => {});
  p.push(new ArrayBuffer(3), undefined, () => {});
  assert.equal(p.queuedBytes, 5);
});

test('overflow "error" (the default): throws OutboxFullError and holds nothing more', () => {
  const p = new PendingMessages();
  const { list, onDrop } = drops();
  const limits = { maxMessages: 2 };
  p.push('a', limits, onDrop);
  p.push('b', limits, onDrop);
  assert.throws(() => p.push('c', limits, onDrop), (e) => e.name === 'OutboxFullError');
  assert.equal(p.size, 2);
  assert.throws(() => p.push('x'.repeat(11), { maxBytes: 10 }, onDrop), (e) => e.name === 'OutboxFullError', 'bytes bound too');
  assert.deepEqual(list, []);
  assert.deepEqual(p.take(), ['a', 'b']);
});

test('overflow "drop-newest": refuses the new message and reports it', () => {
  const p = new PendingMessages();
  const { list, onDrop } = drops();
  const limits = { maxMessages: 1, overflow: 'drop-newest' };
  assert.equal(p.push('a', limits, onDrop), 'queued');
  assert.equal(p.push('b', limits, onDrop), 'dropped');
  assert.deepEqual(list, [['b', 'full']]);
  assert.deepEqual(p.take(), ['a']);
});

test('overflow "drop-oldest": evicts the oldest until the new one fits, reporting each', () => {
  const p = new PendingMessages();
  const { list, onDrop } = drops();
  const limits = { maxBytes: 6, overflow: 'drop-oldest' };
  p.push('aa', limits, onDrop);
  p.push('bb', limits, onDrop);
  p.push('cc', limits, onDrop);
  assert.equal(p.push('dddd', limits, onDrop), 'queued');
  assert.deepEqual(list, [['aa', 'overflow'], ['bb', 'overflow']]);
  assert.deepEqual(p.take(), ['cc', 'dddd']);
  assert.equal(p.push('x'.repeat(7), limits, onDrop), 'dropped', 'a message larger than maxBytes alone cannot fit');
  assert.deepEqual(list.at(-1), ['xxxxxxx', 'full']);
});

test('copyPayload copies binary data, so the caller may reuse its buffer', () => {
  const bytes = new Uint8Array([1, 2, 3, 4]);
  const view = bytes.subarray(1, 3);
  const copy = copyPayload(view);
  bytes[1] = 99;
  assert.ok(copy instanceof ArrayBuffer);
  assert.deepEqual([...new Uint8Array(copy)], [2, 3]);
  const buffer = new Uint8Array([5, 6]).buffer;
  const copy2 = copyPayload(buffer);
  new Uint8Array(buffer)[0] = 0;
  assert.deepEqual([...new Uint8Array(copy2)], [5, 6]);
  assert.equal(copyPayload('text'), 'text');
  assert.throws(() => copyPayload(42), TypeError);
});

test('byteLength is the exact UTF-8 length send() puts on the wire, without encoding', () => {
  const encoder = new TextEncoder(); // encodes lone surrogates as U+FFFD, as WebSocket.send does
  const samples = ['', 'a', 'é', '€', '😀', 'a😀b', '\ud800', '\udc00x', 'x\ud83d', '\ud83d\ude00\ud83d', 'ß'.repeat(100)];
  for (let i = 0; i < 200; i++) {
    let s = '';
    for (let j = 0; j < 20; j++) s += String.fromCharCode([0x41, 0xe9, 0x20ac, 0xd83d, 0xde00, 0x7ff, 0x800, 0xffff][(i * 7 + j * 3) % 8]);
    samples.push(s);
  }
  for (const s of samples) assert.equal(byteLength(s), encoder.encode(s).length, JSON.stringify(s));
});
