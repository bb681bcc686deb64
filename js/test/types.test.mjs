// The package's TypeScript declarations, as a consumer sees them: fixtures/ts-consumer is
// compiled with `tsc --strict --noEmit` against pkg/ (resolved through its package.json
// "exports"), with skipLibCheck off so the shipped .d.ts files are checked too.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { FIXTURES, PKG, ROOT } from '../test-support/helpers.mjs';

const run = promisify(execFile);
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc');
let dir;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rws-ts-consumer-'));
  await cp(join(FIXTURES, 'ts-consumer'), dir, { recursive: true });
  await writeFile(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  await mkdir(join(dir, 'node_modules/@types'), { recursive: true });
  await symlink(PKG, join(dir, 'node_modules/resilient-ws'), 'dir');
  await symlink(join(ROOT, 'node_modules/react'), join(dir, 'node_modules/react'), 'dir');
  await symlink(join(ROOT, 'node_modules/@types/react'), join(dir, 'node_modules/@types/react'), 'dir');
});

after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Runs tsc in the consumer directory; resolves to { code, output } whatever the exit code. */
async function tsc(...args) {
  try {
    const { stdout, stderr } = await run(process.execPath, [TSC, ...args], { cwd: dir, timeout: 60000 });
    return { code: 0, output: stdout + stderr };
  } catch (e) {
    if (typeof e.code !== 'number') throw e;
    return { code: e.code, output: (e.stdout ?? '') + (e.stderr ?? '') };
  }
}

test('a strict consumer using both entries compiles (moduleResolution bundler)', async () => {
  const { code, output } = await tsc('-p', 'tsconfig.json');
  assert.equal(output.trim(), '', 'no diagnostics');
  assert.equal(code, 0);
});

test('a strict consumer using both entries compiles (module and moduleResolution node16)', async () => {
  const { code, output } = await tsc('-p', 'tsconfig.json', '--module', 'node16', '--moduleResolution', 'node16');
  assert.equal(output.trim(), '', 'no diagnostics');
  assert.equal(code, 0);
});

test('the same consumer compiled as CommonJS (node16, no "type": "module") gets the .d.cts declarations', async () => {
  await writeFile(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true }));
  try {
    const { code, output } = await tsc('-p', 'tsconfig.json', '--module', 'node16', '--moduleResolution', 'node16', '--traceResolution');
    const diagnostics = output.split('\n').filter((l) => /error TS\d+/.test(l));
    assert.deepEqual(diagnostics, [], 'no diagnostics');
    assert.equal(code, 0);
    assert.match(output, /'resilient-ws\/react' was successfully resolved to '[^']*react\.d\.cts'/);
  } finally {
    await writeFile(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  }
});

test('wrong usage does not compile: the types are precise, not any', async () => {
  const { code, output } = await tsc('-p', 'tsconfig.wrong.json');
  assert.notEqual(code, 0);
  const errors = output.split('\n').filter((l) => /error TS\d+/.test(l)).map((l) => l.replace(/^(wrong\.ts\(\d+),\d+\).*(TS\d+).*$/, '$1 $2'));
  assert.deepEqual(errors, ['wrong.ts(7 TS2322', 'wrong.ts(8 TS2367', 'wrong.ts(9 TS2322'], output);
});
