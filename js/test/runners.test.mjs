// The package in the test runners users already have: `npm pack` pkg/, install the tarball
// into a Jest app (jsdom, babel-jest) and a Vitest app (jsdom), each from its committed lock
// file with jest-websocket-mock, and run the same component tests there
// (fixtures/component-tests: useWebSocket, resilient-ws/compat, init + Connection).
// Nothing is polyfilled: Jest's jsdom has no TextEncoder, TextDecoder, fetch or MessageChannel.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FIXTURES } from '../test-support/helpers.mjs';
import { installFixture, packPkg, pkgExports, run } from '../test-support/packing.mjs';

const TESTS = join(FIXTURES, 'component-tests');
let dir;
let tarball;
let compat;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rws-runners-'));
  ({ tarball } = await packPkg(dir));
  compat = './compat' in (await pkgExports());
});

after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/**
 * Installs fixture `app` with the tarball (see installFixture), copies the component tests into its src/ (the
 * compat one only if this build has the entry), runs `command` there, which writes Jest's JSON
 * report (Vitest writes the same shape) to report.json. Returns { file name: { title: result } }.
 */
async function runApp(app, command) {
  const { dir: target, installed } = await installFixture(app, tarball);
  assert.equal(installed.name, 'resilient-ws');
  const tests = (await readdir(TESTS)).filter((f) => compat || !f.startsWith('Compat'));
  for (const f of tests) await cp(join(TESTS, f), join(target, 'src', f));
  const [bin, ...args] = command;
  const outcome = await run(process.execPath, [join(target, 'node_modules', bin), ...args], { cwd: target, timeout: 120000 }).catch((e) => e);
  const report = JSON.parse(await readFile(join(target, 'report.json'), 'utf8').catch(() => 'null'));
  assert.ok(report, `${app}: no report\n${outcome.stdout}\n${outcome.stderr}`);
  const results = {};
  for (const file of report.testResults) {
    const name = file.name.slice(file.name.lastIndexOf('/') + 1);
    results[name] = { message: file.message, tests: Object.fromEntries(file.assertionResults.map((a) => [a.title, a])) };
  }
  return results;
}

/** Asserts that `file` ran and that each of its tests passed; returns their titles. */
function assertPassed(results, file) {
  const r = results[file];
  assert.ok(r, `${file} ran (ran: ${Object.keys(results).join(', ')})`);
  const tests = Object.values(r.tests);
  assert.ok(tests.length > 0, `${file} has tests: ${r.message}`);
  for (const t of tests) assert.equal(t.status, 'passed', `${file} › ${t.title}:\n${t.failureMessages.join('\n')}`);
  return tests.map((t) => t.title);
}

const RUNNERS = {
  Jest: { app: 'jest-app', command: ['jest/bin/jest.js', '--ci', '--json', '--outputFile=report.json'] },
  Vitest: { app: 'vitest-app', command: ['vitest/vitest.mjs', 'run', '--reporter=json', '--outputFile=report.json'] },
};

for (const [runner, { app, command }] of Object.entries(RUNNERS)) {
  describe(`${runner} (jsdom, jest-websocket-mock), from the packed tarball`, () => {
    let results;
    before(async () => {
      results = await runApp(app, command);
    });

    test('a component using useWebSocket (resilient-ws/react)', () => {
      assertPassed(results, 'Chat.test.jsx');
    });
    test('init() and Connection (resilient-ws)', () => {
      assertPassed(results, 'Connection.test.jsx');
    });
    test('a component written for react-use-websocket, on resilient-ws/compat', (t) => {
      if (!compat) return t.skip('pkg/ has no ./compat entry: the compat entry (branch compat) has not landed in this build');
      assertPassed(results, 'Compat.test.jsx');
    });
    if (runner === 'Jest') {
      test("Jest's jsdom has no TextEncoder, TextDecoder, fetch or MessageChannel (nothing polyfilled)", () => {
        assertPassed(results, 'environment.test.jsx');
      });
    }
  });
}
