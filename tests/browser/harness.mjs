// harness.mjs - what the browser tests share: the server and its commands
// as child processes (stopped at the end), bounded waits, free ports, the
// pass/fail bookkeeping and a page that records its console errors.
//
// setup(out) checks that Chromium, playwright-core and the server binary
// are there (exit 77, a ctest skip, when one of the first two is missing),
// empties out of old screenshots and logs and makes a temporary directory;
// finish(main) runs the cases, stops every process, prints the tally and
// exits 0 only when every case passed.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(HERE, '..', '..');
export const BIN = path.resolve(process.env.SEALAUTH_BIN || path.join(ROOT, 'build', 'sealauth'));
export const OUT_BASE = path.resolve(process.env.SEALAUTH_BROWSER_OUT || path.join(ROOT, 'build', 'browser'));
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

const SKIP = 77;
let OUT = OUT_BASE;
let tmp = null;

function skip(why) {
  console.log(`SKIPPED: browser test: ${why}`);
  process.exit(SKIP);
}

// setup prepares a run whose screenshots and logs go to out; it answers
// playwright's chromium and a fresh temporary directory.
export async function setup(out) {
  if (!fs.existsSync(CHROMIUM))
    skip(`${CHROMIUM} not found (scripts/setup --test installs Debian's chromium)`);
  let chromium;
  try {
    ({ chromium } = await import('playwright-core'));
  } catch (e) {
    skip(`playwright-core is not installed (run npm ci in tests/browser): ${e.message}`);
  }
  if (!fs.existsSync(BIN)) {
    console.error(`browser test: ${BIN} not found (build first or set SEALAUTH_BIN)`);
    process.exit(1);
  }
  OUT = out;
  fs.mkdirSync(OUT, { recursive: true });
  for (const f of fs.readdirSync(OUT)) {
    if (f.endsWith('.log') || f.endsWith('.png'))
      fs.rmSync(path.join(OUT, f));
  }
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sealauth-browser-'));
  return { chromium, tmp };
}

// launch starts Debian's Chromium headless, with nothing that phones home.
export function launch(chromium) {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    timeout: 30000,
  });
}

// ---- Processes ------------------------------------------------------------

const children = new Set();
export function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

// withTimeout rejects when p does not settle within ms.
export function withTimeout(p, ms, what) {
  let t;
  return Promise.race([
    p.finally(() => clearTimeout(t)),
    new Promise((_, rej) => {
      t = setTimeout(() => rej(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]);
}

// freePort answers a loopback port nothing listens on, never the same one
// twice in a run. With TEST_PORTS="lo-hi" (ctest gives each suite a range of
// its own, below the kernel's ephemeral ports) it is drawn from that range,
// so a port chosen here cannot be taken meanwhile by a suite running beside
// this one, nor by an outgoing connection; without it the kernel picks.
const handedOut = new Set();
function tryListen(port) {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.unref();
    s.on('error', () => resolve(null));
    s.listen(port, '127.0.0.1', () => {
      const got = s.address().port;
      s.close(() => resolve(got));
    });
  });
}
export async function freePort() {
  const m = /^(\d+)-(\d+)$/.exec(process.env.TEST_PORTS || '');
  for (let i = 0; i < 200; i++) {
    const want = m ? Number(m[1]) + Math.floor(Math.random() * (Number(m[2]) - Number(m[1]) + 1)) : 0;
    if (handedOut.has(want))
      continue;
    const got = await tryListen(want);
    if (got !== null && !handedOut.has(got)) {
      handedOut.add(got);
      return got;
    }
  }
  throw new Error(`no free port in ${process.env.TEST_PORTS || 'the ephemeral range'}`);
}

// start runs BIN with args; stdout lines go to onLine, everything to a log.
export function start(name, args, env, onLine) {
  const log = fs.createWriteStream(path.join(OUT, `${name}.log`), { flags: 'a' });
  const child = spawn(BIN, args, {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let rest = '';
  child.stdout.on('data', (d) => {
    log.write(d);
    rest += d.toString('utf8');
    let i;
    while ((i = rest.indexOf('\n')) >= 0) {
      const line = rest.slice(0, i);
      rest = rest.slice(i + 1);
      if (onLine)
        onLine(line);
    }
  });
  child.stderr.on('data', (d) => log.write(d));
  child.exited = new Promise((resolve) => {
    child.on('exit', (code, sig) => {
      children.delete(child);
      log.end();
      resolve({ code, sig });
    });
  });
  return child;
}

// run runs BIN to completion and returns its stdout; fails on non-zero exit.
export async function run(args, env = {}, ms = 30000) {
  let out = '';
  const child = start('commands', args, env, (l) => { out += l + '\n'; });
  const { code, sig } = await withTimeout(child.exited, ms, `sealauth ${args[0]} ${args[1] || ''}`);
  if (code !== 0)
    throw new Error(`sealauth ${args.join(' ')} exited ${code ?? sig} (see ${OUT}/commands.log)`);
  return out.trim();
}

export async function stopAll() {
  for (const c of [...children]) {
    c.kill('SIGTERM');
    const r = await Promise.race([c.exited, sleep(3000).then(() => null)]);
    if (r === null) {
      c.kill('SIGKILL');
      await Promise.race([c.exited, sleep(2000)]);
    }
  }
}

export async function waitFor(check, ms, what) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    try {
      if (await check())
        return;
    } catch (e) {
      last = e;
    }
    await sleep(100);
  }
  throw new Error(`timed out after ${ms} ms: ${what}${last ? ` (${last.message})` : ''}`);
}

// rawGet sends a GET with the path exactly as given.
export function rawGet(port, p) {
  return withTimeout(new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: p }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('error', reject);
  }), 10000, `GET ${p}`);
}

// ---- Cases ------------------------------------------------------------------

export const results = [];

export async function test(name, fn) {
  const t0 = Date.now();
  try {
    await withTimeout(fn(), 90000, name);
    results.push({ name, ok: true });
    console.log(`ok    ${name} (${Date.now() - t0} ms)`);
  } catch (e) {
    results.push({ name, ok: false });
    console.log(`FAIL  ${name}: ${e.stack || e}`);
    logTails();
  }
}

// logTails prints the last lines of every process log, so a failure seen
// only in a CI transcript still shows what the server and phone said.
function logTails() {
  for (const f of fs.readdirSync(OUT).filter((n) => n.endsWith('.log')).sort()) {
    const lines = fs.readFileSync(path.join(OUT, f), 'utf8').trimEnd().split('\n').slice(-15);
    console.log(`----- last lines of ${f}`);
    for (const l of lines)
      console.log(`  ${l.length > 400 ? `${l.slice(0, 400)}...` : l}`);
  }
}

export function assert(cond, msg) {
  if (!cond)
    throw new Error(`assertion failed: ${msg}`);
}

export function assertEq(got, want, what) {
  if (got !== want)
    throw new Error(`${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
}

// newPage opens a page that records console errors, page errors and CSP
// violations, so a case fails when the page breaks its own policy.
export async function newPage(browser, viewport) {
  const context = await browser.newContext({ viewport, deviceScaleFactor: 1 });
  const page = await context.newPage();
  page.setDefaultTimeout(20000);
  page.problems = [];
  page.on('console', (m) => {
    if (m.type() === 'error')
      page.problems.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => page.problems.push(`page error: ${e.message}`));
  return { context, page };
}

// finish runs main, then stops every process, removes the temporary
// directory, prints the tally and exits.
export async function finish(main) {
  let fatal = null;
  try {
    await main();
  } catch (e) {
    fatal = e;
    console.log(`FAIL  setup: ${e.stack || e}`);
    logTails();
  } finally {
    await stopAll();
    if (tmp)
      fs.rmSync(tmp, { recursive: true, force: true });
  }
  const passed = results.filter((r) => r.ok).length;
  const failed = results.length - passed + (fatal ? 1 : 0);
  console.log(`screenshots and logs: ${OUT}`);
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed === 0 && passed > 0 ? 0 : 1);
}
