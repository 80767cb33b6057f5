// admin.test.mjs - the console at /admin in Debian's Chromium, against the
// real server on loopback, with DevTools virtual authenticators standing in
// for the admin's devices (WebAuthn.addVirtualAuthenticator: CTAP2, resident
// keys, user verification that succeeds).
//
// The server's public URL is http://localhost:PORT: browsers refuse an IP
// address as a passkey's relying party, and the console is loaded from
// exactly that origin.
//
// Cases, in order, on one server: the page and its policy; the install
// claim (a wrong token first); sign-in with the discoverable passkey; a
// second passkey on a second authenticator; revoking the first, which ends
// the session signed in with it, and signing in again with the second; the
// refused revoke of the last; the audit log, a key rotation, trust; a
// service added, and one imported from SAML metadata; a live login ended;
// an enrollment revoked while its login waits on the login page, and that
// token id's logins refused from then on; an admin invited and redeemed in
// a second browser at phone width; sign-out. Screenshots at 390x844 and
// 1280x800 go to SEALAUTH_BROWSER_OUT/admin (ctest: BUILD/browser/admin).

import { execFileSync, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';

import {
  ROOT, BIN, OUT_BASE, setup, launch, finish, freePort, start, run, waitFor, withTimeout, sleep, test, assert,
  assertEq, newPage,
} from './harness.mjs';

const OUT = path.join(OUT_BASE, 'admin');
const { chromium, tmp } = await setup(OUT);

const PHONE = { width: 390, height: 844 };
const ENROLLED = 'DE-7000001';
const DESKTOP = { width: 1280, height: 800 };

// shots saves the page at phone and desktop size, then restores desktop.
async function shots(page, name) {
  await page.setViewportSize(PHONE);
  await page.screenshot({ path: path.join(OUT, `${name}-phone.png`), fullPage: true });
  await page.setViewportSize(DESKTOP);
  await page.screenshot({ path: path.join(OUT, `${name}-desktop.png`), fullPage: true });
}

// authenticator adds a virtual platform authenticator whose user
// verification succeeds; it answers {id, presence(on)}.
async function authenticator(cdp, transport) {
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2', ctap2Version: 'ctap2_1', transport, hasResidentKey: true,
      hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true,
    },
  });
  return {
    id: authenticatorId,
    // presence(false) leaves the device unanswered, as if nobody touched it.
    presence: (on) => cdp.send('WebAuthn.setAutomaticPresenceSimulation',
      { authenticatorId, enabled: on }),
    credentials: async () => (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials,
  };
}

// pushInbox stands in for the enrolled phone's push endpoint: it takes
// every push (the server's UnifiedPush delivery) and answers none, as a
// phone whose owner has not looked yet. pushes counts them.
async function pushInbox(port) {
  const inbox = { pushes: 0 };
  const srv = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (req.method === 'POST')
        inbox.pushes++;
      res.writeHead(201);
      res.end();
    });
  });
  await new Promise((r) => srv.listen(port, '127.0.0.1', r));
  srv.unref();
  inbox.close = () => srv.close();
  return inbox;
}

// command runs BIN to its end, for a command expected to fail, and answers
// its exit status and what it wrote to stderr.
async function command(args, env = {}) {
  const child = spawn(BIN, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  const code = await withTimeout(new Promise((resolve) => child.on('close', (c, sig) => resolve(c ?? sig))),
    30000, `sealauth ${args.slice(0, 2).join(' ')}`);
  fs.appendFileSync(path.join(OUT, 'commands.log'), stderr);
  return { code, stderr };
}

async function auditEvents(dataDir, env) {
  const out = await run(['audit', 'tail', '--data-dir', dataDir, '--json', '-n', '1000'], env);
  return out.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
}

// passkeyLabels reads the names in the passkey list once it settled.
async function passkeyLabels(page) {
  await page.locator('#passkeys-panel[aria-busy="false"]').waitFor();
  return page.locator('#passkeys-panel .item-title').allTextContents();
}

async function main() {
  const port = await freePort();
  const publicUrl = `http://localhost:${port}`;
  const dataDir = path.join(tmp, 'data');
  const env = {
    SEALAUTH_LISTEN: `127.0.0.1:${port}`,
    SEALAUTH_PUBLIC_URL: publicUrl,
    SEALAUTH_WEB_DIR: path.join(ROOT, 'web'),
    SEALAUTH_LOG_LEVEL: 'warn',
    SEALAUTH_RATE_LIMITS: 'admin=1000/60,install=100/600,initiate=100/60,push=100/600',
    // The enrolled phone's push endpoint is on loopback.
    SEALAUTH_PUSH_ALLOW_PRIVATE: '1',
  };
  const server = start('server', ['serve', '--data-dir', dataDir], env);
  const serverGone = server.exited.then((r) => {
    throw new Error(`the server exited early (${r.code ?? r.sig}); see ${OUT}/server.log`);
  });
  serverGone.catch(() => {});
  await Promise.race([
    waitFor(async () => (await fetch(`http://127.0.0.1:${port}/health`)).status > 0, 30000, 'the server answering /health'),
    serverGone,
  ]);
  const tokenFile = path.join(dataDir, 'install-token');
  await waitFor(() => fs.existsSync(tokenFile), 10000, 'the install token file');
  const installToken = fs.readFileSync(tokenFile, 'utf8').trim();

  // One person enrolled with the demo tools: a demo seal and a device
  // whose pushes go to an inbox this script keeps.
  const base = `http://127.0.0.1:${port}`;
  const devDir = path.join(tmp, 'device');
  const phonePort = await freePort();
  const inbox = await pushInbox(phonePort);
  const seal = await run(['trust', 'issue', '--dir', path.join(dataDir, 'trust'), '--given-name', 'Erika',
    '--family-name', 'Mustermann', '--dob', '1990-04-01', '--nationality', 'DEU', '--document', 'C01X00T47',
    '--token-id', ENROLLED]);
  await run(['device', 'init', '--dir', devDir]);
  await run(['device', 'enroll', '--dir', devDir, '--server', base, '--listen-port', String(phonePort), seal]);

  const browser = await launch(chromium);
  const { context, page } = await newPage(browser, DESKTOP);
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const laptop = await authenticator(cdp, 'internal');
  let key = null;
  const item = (label) => page.locator('#passkeys-panel .item').filter({
    has: page.locator('.item-title', { hasText: label }),
  });

  try {
    await test('the console page: served at /admin under the login page CSP', async () => {
      const r = await fetch(`http://127.0.0.1:${port}/admin`);
      assertEq(r.status, 200, 'GET /admin');
      assertEq(r.headers.get('content-type'), 'text/html; charset=utf-8', 'Content-Type');
      const login = await fetch(`http://127.0.0.1:${port}/`);
      const csp = r.headers.get('content-security-policy') || '';
      assertEq(csp, login.headers.get('content-security-policy'), 'the same CSP as the login page');
      assert(csp.includes("script-src 'self'") && csp.includes("style-src 'self'") &&
        !csp.includes('unsafe-inline'), `strict CSP: ${csp}`);
      const html = await r.text();
      assert(!/<script(?![^>]*\bsrc=)/i.test(html) && !/\sstyle=/i.test(html) && !/\son[a-z]+=/i.test(html),
        'no inline script, style or handler in admin.html');
      // Invitation links name /admin/ (a fragment follows); it is the same page.
      const slash = await fetch(`http://127.0.0.1:${port}/admin/`);
      assertEq(slash.status, 200, 'GET /admin/');
      assertEq(await slash.text(), html, '/admin/ is the console');
      for (const f of ['admin.js', 'admin-webauthn.js', 'admin-people.js', 'admin-system.js', 'admin.css']) {
        const s = await fetch(`http://127.0.0.1:${port}/static/${f}`);
        assertEq(s.status, 200, `/static/${f}`);
      }
    });

    await test('install claim: a wrong token is refused in words, the right one makes the first admin', async () => {
      await page.goto(`${publicUrl}/admin`);
      await page.getByRole('heading', { name: 'Sign in to the console' }).waitFor();
      for (const role of ['banner', 'main'])
        assertEq(await page.getByRole(role).count(), 1, `one ${role} landmark`);
      await shots(page, 'signin');
      const claim = page.locator('#claim-form');

      await claim.getByLabel('Install token').fill('AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA');
      await claim.getByLabel('Your name').fill('Ada Admin');
      await claim.getByLabel('Name of this passkey').fill('laptop');
      await claim.getByRole('button', { name: 'Claim and create my passkey' }).click();
      const tokenError = page.locator('#claim-token-error');
      await tokenError.waitFor({ state: 'visible' });
      assert((await tokenError.textContent()).includes('install-token'), 'the error says where the token is');
      assertEq(await claim.getByLabel('Install token').getAttribute('aria-invalid'), 'true', 'the field is marked invalid');
      assertEq((await laptop.credentials()).length, 0, 'no passkey made for a refused token');

      await claim.getByLabel('Install token').fill(installToken);
      await claim.getByRole('button', { name: 'Claim and create my passkey' }).click();
      await page.locator('#status', { hasText: 'This server is yours, Ada Admin' }).waitFor();
      const creds = await laptop.credentials();
      assertEq(creds.length, 1, 'one passkey on the laptop');
      assert(creds[0].isResidentCredential, 'a discoverable passkey');
      assert(!fs.existsSync(tokenFile), 'the install token file is gone');

      // The window is closed for good: the same token again is refused.
      const again = await fetch(`http://127.0.0.1:${port}/v1/install/claim/start`, {
        method: 'POST', headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ installToken, name: 'Eve' }),
      });
      assertEq(again.status, 403, 'a second claim');
    });

    await test('sign in with the discoverable passkey', async () => {
      await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
      await page.getByRole('heading', { name: 'Enrollments', level: 1 }).waitFor();
      assertEq(await page.locator('#who-name').textContent(), 'Ada Admin', 'signed in as');
      assertEq(await page.evaluate(() => document.activeElement.id), 'enrollments-title', 'focus on the section heading');
      assertEq(await page.getByRole('navigation', { name: 'Console sections' }).count(), 1, 'the sections are a navigation landmark');
      assertEq(await page.locator('#nav a[aria-current="page"]').textContent(), 'Enrollments', 'the current section is marked');
      await page.getByRole('link', { name: 'Your passkeys' }).click();
      await page.getByRole('heading', { name: 'Your passkeys' }).waitFor();
      assertEq(await page.locator('#nav a[aria-current="page"]').textContent(), 'Your passkeys', 'the new section is marked');
      assertEq(JSON.stringify(await passkeyLabels(page)), '["laptop"]', 'the claimed passkey is listed');
      await item('laptop').getByText('Signed in with this one').waitFor();
      // The session is the HttpOnly cookie: the page's script cannot read it.
      assertEq(await page.evaluate(() => document.cookie), '', 'no cookie readable by script');
      await shots(page, 'passkeys');
    });

    await test('add a second passkey: step-up with the first, create on a second device', async () => {
      await page.getByRole('button', { name: 'Add a passkey' }).click();
      const dialog = page.getByRole('dialog');
      await dialog.getByRole('heading', { name: 'Add a passkey' }).waitFor();
      await dialog.getByLabel('Name of the new passkey').fill('security key');
      await shots(page, 'add-passkey');
      await dialog.getByRole('button', { name: 'Confirm it’s me' }).click();
      await dialog.getByRole('heading', { name: 'Create the new passkey' }).waitFor();

      // The new device: a second authenticator; the laptop, which already
      // holds a passkey of this admin, is left untouched from now on.
      key = await authenticator(cdp, 'usb');
      await laptop.presence(false);
      await dialog.getByRole('button', { name: 'Create passkey' }).click();
      await page.locator('#status', { hasText: 'Passkey “security key” added.' }).waitFor();
      assert(!await dialog.isVisible(), 'the dialog closed');
      assertEq(JSON.stringify((await passkeyLabels(page)).sort()), '["laptop","security key"]', 'both passkeys listed');
      assertEq((await key.credentials()).length, 1, 'the new passkey is on the second device');
      assertEq((await laptop.credentials()).length, 1, 'the laptop still holds one');
    });

    await test('revoke one passkey after a confirmation and a step-up', async () => {
      await item('laptop').getByRole('button', { name: 'Revoke passkey laptop' }).click();
      const dialog = page.getByRole('dialog');
      await dialog.getByRole('heading', { name: 'Revoke passkey “laptop”?' }).waitFor();
      assertEq(await page.evaluate(() => document.activeElement.id), 'dialog-cancel',
        'a destructive change starts on Cancel');
      // Escape backs out and nothing changes.
      await page.keyboard.press('Escape');
      await dialog.waitFor({ state: 'hidden' });
      assertEq((await passkeyLabels(page)).length, 2, 'nothing revoked after Escape');

      await item('laptop').getByRole('button', { name: 'Revoke passkey laptop' }).click();
      await shots(page, 'revoke-dialog');
      await dialog.getByRole('button', { name: 'Revoke passkey' }).click();
      // This session was signed in with the laptop: it ends with the
      // passkey, and the console goes back to the sign-in saying so.
      await page.locator('#status', { hasText: 'Passkey “laptop” revoked. You had signed in with it' }).waitFor();
      await page.getByRole('heading', { name: 'Sign in to the console' }).waitFor();
      const me = await page.evaluate(async () => (await fetch('/v1/admin/me')).status);
      assertEq(me, 401, 'the session signed in with the revoked passkey is over on the server');
      // Signed in again with the remaining passkey (the laptop stays
      // untouched: its passkey is gone from the server).
      await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
      await page.getByRole('heading', { name: 'Your passkeys', level: 1 }).waitFor();
      assertEq(await page.locator('#who-name').textContent(), 'Ada Admin', 'signed in again as');
      assertEq(JSON.stringify(await passkeyLabels(page)), '["security key"]', 'one passkey left');
      await item('security key').getByText('Signed in with this one').waitFor();
    });

    await test('revoking the last passkey is refused and said in plain words', async () => {
      await item('security key').getByRole('button', { name: 'Revoke passkey security key' }).click();
      const dialog = page.getByRole('dialog');
      await dialog.getByText('It is your only passkey').waitFor();
      await dialog.getByRole('button', { name: 'Revoke passkey' }).click();
      const alert = page.getByRole('alert').filter({ hasText: 'This is your only passkey' });
      await alert.waitFor();
      assert(!await dialog.isVisible(), 'the dialog closed');
      assertEq(JSON.stringify(await passkeyLabels(page)), '["security key"]', 'the last passkey stays');
      await shots(page, 'last-passkey-refused');
      const events = (await auditEvents(dataDir, env)).map((e) => e.event);
      for (const ev of ['admin.install_claimed', 'admin.login', 'admin.passkey_registered',
        'admin.passkey_revoked', 'admin.passkey_revoke_refused'])
        assert(events.includes(ev), `audited ${ev}`);
    });

    await test('audit log: this run\'s events, a filter, and the chain verified', async () => {
      await page.getByRole('link', { name: 'Audit log' }).click();
      await page.getByRole('heading', { name: 'Audit log', level: 1 }).waitFor();
      const rows = () => page.locator('#audit-panel tbody tr').evaluateAll((rs) => rs.map((r) => r.dataset.event));
      await page.locator('#audit-panel table').waitFor();
      const all = await rows();
      for (const ev of ['admin.install_claimed', 'admin.login', 'admin.passkey_revoke_refused'])
        assert(all.includes(ev), `the list shows ${ev} (${all.join(', ')})`);
      await page.getByLabel('Event', { exact: true }).fill('admin.passkey_*');
      await page.locator('#audit-filter').getByRole('button', { name: 'Search' }).click();
      await waitFor(async () => {
        const ev = await rows();
        return ev.length > 0 && ev.every((e) => e.startsWith('admin.passkey_'));
      }, 10000, 'only admin.passkey_* rows');
      await page.getByRole('button', { name: 'Verify the chain' }).click();
      await page.locator('#audit-verify[data-state="ok"]').waitFor();
      assert((await page.locator('#audit-verify').textContent()).startsWith('The chain is intact: '), 'the chain is intact');
      await shots(page, 'audit');
    });

    await test('signing keys: a rotation confirmed with a passkey adds a published key', async () => {
      await page.getByRole('link', { name: 'Signing keys' }).click();
      await page.getByRole('heading', { name: 'Signing keys', level: 1 }).waitFor();
      await page.locator('#keys-panel[aria-busy="false"] .items').waitFor();
      const before = await page.locator('#keys-panel .item').count();
      await page.getByRole('button', { name: 'Rotate the key' }).click();
      const dialog = page.getByRole('dialog');
      await dialog.getByRole('heading', { name: 'Rotate the signing key?' }).waitFor();
      await dialog.getByRole('button', { name: 'Rotate the key' }).click();
      const status = page.locator('#status', { hasText: 'New key' });
      await status.waitFor();
      const kid = (await status.textContent()).match(/New key (\S+) published/)[1];
      await page.locator(`#keys-panel .item[data-kid="${kid}"]`).waitFor();
      assertEq(await page.locator('#keys-panel .item').count(), before + 1, 'one key more');
      const jwks = await (await fetch(`http://127.0.0.1:${port}/jwks`)).json();
      assert(jwks.keys.some((k) => k.kid === kid), 'the new key is published in /jwks');
      await shots(page, 'keys');
    });

    await test('trust: the set in use and its documents', async () => {
      await page.getByRole('link', { name: 'Trust' }).click();
      await page.getByRole('heading', { name: 'Trust', level: 1 }).waitFor();
      await page.locator('#trust-panel[aria-busy="false"] table').waitFor();
      const api = await page.evaluate(async () => (await fetch('/v1/admin/trust')).json());
      assertEq(await page.locator('#trust-panel .item-head .badge').textContent(), api.status.status, 'the status shown is the server\'s');
      assertEq(await page.locator('#trust-panel tbody tr').count(), api.documents.length, 'one row a document');
      await shots(page, 'trust');
    });

    await test('services: one added from the form with a step-up, then deleted', async () => {
      await page.getByRole('link', { name: 'Services' }).click();
      await page.getByRole('heading', { name: 'Services', level: 1 }).waitFor();
      await page.getByRole('button', { name: 'Add a service' }).click();
      const form = page.locator('#service-form');
      await form.getByLabel('Service id').fill('shop');
      await form.getByLabel('Name', { exact: true }).fill('Example Shop');
      await form.getByLabel('Allowed scopes').fill('identity:name\nidentity:age_over_18');
      await form.getByLabel('Origins').fill('https://shop.example');
      await form.getByRole('button', { name: 'Save service' }).click();
      const dialog = page.getByRole('dialog');
      await dialog.getByRole('button', { name: 'Add service' }).click();
      await page.locator('#status', { hasText: 'Service Example Shop added.' }).waitFor();
      await page.locator('#services-panel tr[data-service-id="shop"]').waitFor();
      const rec = await page.evaluate(async () => (await fetch('/v1/admin/services/shop')).json());
      assertEq(JSON.stringify(rec.scopes), '["identity:name","identity:age_over_18"]', 'the scopes saved');
      assertEq(JSON.stringify(rec.origins), '["https://shop.example"]', 'the origins saved');
      await shots(page, 'services');
      await page.getByRole('button', { name: 'Delete Example Shop' }).click();
      await dialog.getByRole('button', { name: 'Delete service' }).click();
      await page.locator('#status', { hasText: 'Service Example Shop deleted.' }).waitFor();
      await page.locator('#services-panel[aria-busy="false"]').waitFor();
      assertEq(await page.locator('#services-panel tr[data-service-id="shop"]').count(), 0, 'the service is gone');
    });

    await test('services: SAML metadata imported with a preview and a step-up, then imported again as an update', async () => {
      const entityId = 'https://wiki.example/saml/md';
      // The SP's signing certificate (single logout needs one), made by
      // openssl as an SP's tooling would.
      const pem = execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256',
        '-nodes', '-subj', '/CN=wiki.example', '-days', '30', '-keyout', path.join(tmp, 'sp.key')], { encoding: 'utf8' });
      const der = pem.replace(/-----[A-Z ]+-----|\s/g, '');
      const fingerprint = new crypto.X509Certificate(pem).fingerprint256;
      const metadata = (acs) => '<?xml version="1.0"?>\n' +
        `<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="${entityId}">\n` +
        '  <md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol" WantAssertionsSigned="true">\n' +
        '    <md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#">' +
        `<ds:X509Data><ds:X509Certificate>${der}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>\n` +
        '    <md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://wiki.example/saml/slo"/>\n' +
        `    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="${acs}" index="0"/>\n` +
        '    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact" Location="https://wiki.example/saml/artifact" index="1"/>\n' +
        '  </md:SPSSODescriptor>\n</md:EntityDescriptor>\n';
      const record = () => page.evaluate(async () => {
        const r = await fetch('/v1/admin/services/wiki');
        return { status: r.status, body: await r.json() };
      });
      await page.getByRole('link', { name: 'Services' }).click();
      await page.getByRole('heading', { name: 'Services', level: 1 }).waitFor();
      await page.getByRole('button', { name: 'Import SAML metadata', exact: true }).click();
      const form = page.locator('#saml-import-form');
      await form.getByRole('heading', { name: 'Import SAML metadata' }).waitFor();
      assertEq(await page.evaluate(() => document.activeElement.id), 'smd-id', 'focus on the first field');
      await form.getByLabel('Service id').fill('wiki');
      await form.getByLabel('Name', { exact: true }).fill('Team wiki');
      await form.getByLabel('Metadata document (XML)').fill(metadata('https://wiki.example/saml/acs'));
      // A new service without scopes: the server's refusal under the field.
      await form.getByRole('button', { name: 'Preview the import' }).click();
      await page.locator('#smd-scopes-error').waitFor({ state: 'visible' });
      assertEq(await form.getByLabel('Allowed scopes').getAttribute('aria-invalid'), 'true', 'the scopes field is marked');
      assertEq(await page.evaluate(() => document.activeElement.id), 'smd-scopes', 'focus on the field at fault');

      await form.getByLabel('Allowed scopes').fill('identity:name');
      await form.getByRole('button', { name: 'Preview the import' }).click();
      const dialog = page.getByRole('dialog');
      await dialog.getByRole('heading', { name: 'Create wiki from its SAML metadata?' }).waitFor();
      for (const t of [entityId, 'https://wiki.example/saml/acs', 'https://wiki.example/saml/slo', fingerprint,
        'CN=wiki.example', 'unsigned', 'Left out of the settings'])
        await dialog.getByText(t, { exact: false }).first().waitFor();
      await dialog.locator('.notice-warn li', { hasText: 'artifact' }).waitFor();
      await shots(page, 'saml-import-preview');
      assertEq((await record()).status, 404, 'nothing is stored by the preview');
      await dialog.getByRole('button', { name: 'Create service' }).click();
      await page.locator('#status', { hasText: 'Service Team wiki created from its SAML metadata.' }).waitFor();
      assert(await form.isHidden(), 'the form closed');
      const row = page.locator('#services-panel tr[data-service-id="wiki"]');
      await row.getByText('SAML', { exact: true }).waitFor();
      let rec = (await record()).body;
      assertEq(rec.saml.entityId, entityId, 'the entity id stored');
      assertEq(JSON.stringify(rec.saml.acs.map((a) => a.url)), '["https://wiki.example/saml/acs"]', 'the POST ACS stored, the artifact one left out');
      assertEq(rec.saml.metadata.source, 'pasted', 'where the settings came from');
      assertEq(JSON.stringify(rec.scopes), '["identity:name"]', 'the scopes');

      // The same service again from its row: an update, the id fixed.
      await row.getByRole('button', { name: 'Import SAML metadata into Team wiki' }).click();
      await form.getByRole('heading', { name: 'Import SAML metadata into Team wiki' }).waitFor();
      assert(!await form.getByLabel('Service id').isEditable(), 'the service id is fixed');
      assertEq(await form.getByLabel('Service id').inputValue(), 'wiki', 'the row\'s service');
      await form.getByLabel('Metadata document (XML)').fill(metadata('https://wiki.example/saml/acs2'));
      await form.getByRole('button', { name: 'Preview the import' }).click();
      await dialog.getByRole('heading', { name: 'Update wiki from its SAML metadata?' }).waitFor();
      await dialog.getByText('https://wiki.example/saml/acs2', { exact: false }).first().waitFor();
      await dialog.getByRole('button', { name: 'Update service' }).click();
      await page.locator('#status', { hasText: 'Service Team wiki updated from its SAML metadata.' }).waitFor();
      rec = (await record()).body;
      assertEq(JSON.stringify(rec.saml.acs.map((a) => a.url)), '["https://wiki.example/saml/acs2"]', 'the new ACS stored');
      assertEq(rec.name, 'Team wiki', 'the name kept');
      const imports = (await auditEvents(dataDir, env)).filter((e) => e.event === 'admin.service_saml_imported');
      assertEq(imports.length, 2, 'two imports audited');
      assertEq(JSON.stringify(imports.map((e) => e.detail.created).sort()), '[false,true]', 'one created, one updated');
    });

    await test('live logins: a login in progress is listed and ended with a step-up', async () => {
      // A login for a token id nobody enrolled, as a stranger would start it.
      const r = await fetch(`http://127.0.0.1:${port}/auth/initiate`, {
        method: 'POST', headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ tokenId: 'DE-NOBODY-1', serviceId: 'demo', scopes: [] }),
      });
      assertEq(r.status, 200, 'POST /auth/initiate');
      const { sessionId } = await r.json();
      await page.getByRole('link', { name: 'Live logins' }).click();
      await page.getByRole('heading', { name: 'Live logins', level: 1 }).waitFor();
      const row = page.locator(`#logins-panel tr[data-session-id="${sessionId}"]`);
      await row.getByText('Waiting', { exact: true }).waitFor();
      await row.getByText('not enrolled').waitFor();
      await shots(page, 'logins');
      await row.getByRole('button', { name: `End the login ${sessionId}` }).click();
      const dialog = page.getByRole('dialog');
      await dialog.getByRole('heading', { name: 'End this login?' }).waitFor();
      await dialog.getByRole('button', { name: 'End login' }).click();
      await page.locator('#status', { hasText: 'The login has ended.' }).waitFor();
      // Ended, it leaves the list of live logins.
      await row.waitFor({ state: 'detached' });
      const events = (await auditEvents(dataDir, env)).map((e) => e.event);
      assert(events.includes('admin.login_session_ended'), 'audited admin.login_session_ended');
    });

    await test('revoking an enrollment ends its live login and refuses its token id from then on', async () => {
      // Before: a login of the enrolled token id on the login page reaches
      // the phone and waits for it.
      const { context: ctx2, page: login } = await newPage(browser, DESKTOP);
      try {
        await login.goto(`${publicUrl}/`);
        await login.getByLabel('Token ID').fill(ENROLLED);
        const pushed = inbox.pushes;
        await login.getByRole('button', { name: 'Log in with your phone' }).click();
        await login.locator('#code[data-state="live"]').waitFor();
        await waitFor(() => inbox.pushes > pushed, 20000, 'the login pushed to the enrolled phone');

        await page.getByRole('link', { name: 'Enrollments' }).click();
        await page.getByRole('heading', { name: 'Enrollments', level: 1 }).waitFor();
        const row = page.locator(`#enrollments-panel tr[data-token-id="${ENROLLED}"]`);
        await row.getByText('active', { exact: true }).waitFor();
        await row.getByRole('button', { name: `Revoke ${ENROLLED}` }).click();
        const dialog = page.getByRole('dialog');
        await dialog.getByRole('heading', { name: `Revoke the enrollment of ${ENROLLED}?` }).waitFor();
        assertEq(await page.evaluate(() => document.activeElement.id), 'dialog-cancel',
          'a revocation starts on Cancel');
        await dialog.getByLabel('Reason (optional)').fill('phone reported stolen');
        await shots(page, 'revoke-enrollment');
        await dialog.getByRole('button', { name: 'Revoke enrollment' }).click();
        await page.locator('#status', { hasText: `Enrollment ${ENROLLED} revoked; 1 waiting login ended.` }).waitFor();
        await row.getByText('revoked', { exact: true }).waitFor();
        assertEq(await row.getByRole('button', { name: `Revoke ${ENROLLED}` }).count(), 0, 'no Revoke on a revoked row');

        // The login page was told over its WebSocket and stopped.
        await login.locator('#status', { hasText: 'revoked by an administrator' }).waitFor();
        assertEq(await login.locator('#code').getAttribute('data-state'), 'ended', 'the code is marked ended');
        assert(await login.locator('#countdown-box').isHidden(), 'the countdown is gone');
        await login.screenshot({ path: path.join(OUT, 'login-revoked-desktop.png'), fullPage: true });
        assertEq(login.problems.join('\n'), '', 'no console errors on the login page');
      } finally {
        await ctx2.close();
      }

      // After: a new login of that token id is a decoy. It answers like any
      // other, but the phone is never asked, and the phone's own signed
      // approval with the right code is refused.
      const pushed = inbox.pushes;
      const r = await fetch(`${base}/auth/initiate`, {
        method: 'POST', headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ tokenId: ENROLLED, serviceId: 'demo', scopes: [] }),
      });
      assertEq(r.status, 200, 'a revoked token id gets a decoy session');
      const { sessionId, autoPassword } = await r.json();
      const { code, stderr } = await command(['device', 'approve', '--dir', devDir, '--server', base,
        '--session', sessionId, '--otp', autoPassword]);
      assertEq(code, 1, 'the phone\'s approval is refused');
      assert(stderr.includes('approve refused: HTTP 403 token_revoked'), `refused as token_revoked: ${stderr}`);
      await sleep(1500);
      assertEq(inbox.pushes, pushed, 'no push reached the phone after the revocation');
      const events = await auditEvents(dataDir, env);
      const rev = events.filter((e) => e.event === 'admin.enrollment_revoked');
      assertEq(rev.length, 1, 'one admin.enrollment_revoked row');
      assertEq(rev[0].detail.tokenId, ENROLLED, 'the revoked token id audited');
      assertEq(rev[0].detail.reason, 'phone reported stolen', 'the reason audited');
      assert(events.some((e) => e.event === 'auth.initiate_unknown' && e.detail.sessionId === sessionId &&
        e.detail.reason === 'revoked'), 'the decoy login audited as revoked');
    });

    await test('invite and redeem: a second admin joins by the copy-once link on a phone and is listed', async () => {
      const dialog = page.getByRole('dialog');
      // invite makes an invitation in the console with a step-up and
      // answers the link its dialog shows (left open).
      const invite = async (name) => {
        await page.getByRole('link', { name: 'Admins' }).click();
        await page.getByRole('heading', { name: 'Admins', level: 1 }).waitFor();
        await page.locator('#admins-panel[aria-busy="false"] .items').waitFor();
        await page.getByRole('button', { name: 'Invite an admin' }).click();
        await dialog.getByRole('heading', { name: 'Invite an admin' }).waitFor();
        await dialog.getByLabel('Their name').fill(name);
        await dialog.getByRole('button', { name: 'Create the link' }).click();
        await dialog.getByRole('heading', { name: `The link for ${name}` }).waitFor();
        return dialog.getByLabel('Invitation link').inputValue();
      };
      const link = await invite('Bea Admin');
      assert(new RegExp(`^${publicUrl}/admin/#invite=[A-Za-z0-9_-]{43}$`).test(link), `the invitation link (${link})`);
      assert(await dialog.getByLabel('Invitation link').isEditable() === false, 'the link is read-only');
      await dialog.getByRole('button', { name: 'Copy the link' }).click();
      // Headless Chromium grants this page no clipboard: the link is then
      // selected for copying by hand, and the dialog says so.
      await dialog.locator('#dialog-step', { hasText: /Copied|the link is selected/ }).waitFor();
      await shots(page, 'invite-link');
      await dialog.getByRole('button', { name: 'Done' }).click();
      await dialog.waitFor({ state: 'hidden' });
      assertEq(await page.locator('#dialog-input').inputValue(), '', 'the link is dropped with the dialog');
      await page.locator('#admins-panel tr', { hasText: 'Bea Admin' }).waitFor();

      // The inviting admin opens the link in the signed-in tab: the console
      // says who the link is for instead of showing a section, and going
      // back leaves the invitation unused.
      await page.goto(link);
      await page.getByRole('heading', { name: 'This link invites a new admin', level: 1 }).waitFor();
      assertEq(await page.locator('#invite-in-name').textContent(), 'Ada Admin', 'says who is signed in');
      assertEq(await page.evaluate(() => document.activeElement.id), 'invite-in-title', 'focus on the heading');
      await page.getByRole('button', { name: 'Sign out and accept the invitation' }).waitFor();
      await shots(page, 'invite-signed-in');
      await page.getByRole('button', { name: 'Back to the console' }).click();
      await page.getByRole('heading', { name: 'Enrollments', level: 1 }).waitFor();
      assert(!page.url().includes('invite='), `the link left the address bar (${page.url()})`);

      // The invitee: another browser at phone width, with a device of its own.
      const { context: ctx2, page: bea } = await newPage(browser, PHONE);
      try {
        const cdp2 = await ctx2.newCDPSession(bea);
        await cdp2.send('WebAuthn.enable');
        const beaPhone = await authenticator(cdp2, 'internal');
        await bea.goto(link);
        await bea.getByRole('heading', { name: 'You are invited to this console', level: 1 }).waitFor();
        await bea.locator('#invite-form').getByLabel('Name of this passkey').fill('Bea phone');
        await bea.screenshot({ path: path.join(OUT, 'invite-accept-phone.png'), fullPage: true });
        await bea.getByRole('button', { name: 'Accept and create my passkey' }).click();
        await bea.locator('#status', { hasText: 'Welcome, Bea Admin: you are an admin of this server now.' }).waitFor();
        assert(!bea.url().includes('invite='), 'the used link left the address bar');
        const creds = await beaPhone.credentials();
        assertEq(creds.length, 1, 'one passkey on the invitee\'s device');
        assert(creds[0].isResidentCredential, 'a discoverable passkey');
        await bea.getByRole('button', { name: 'Sign in with a passkey' }).click();
        await bea.getByRole('heading', { name: 'Enrollments', level: 1 }).waitFor();
        assertEq(await bea.locator('#who-name').textContent(), 'Bea Admin', 'the invitee is signed in as herself');
        await bea.screenshot({ path: path.join(OUT, 'invitee-signed-in-phone.png'), fullPage: true });

        // The link worked once.
        const again = await fetch(`${base}/v1/invite/start`, {
          method: 'POST', headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ inviteToken: link.split('#invite=')[1] }),
        });
        assertEq(again.status, 401, 'the used invitation again');
        assertEq((await again.json()).error, 'invite_invalid', 'refused as invite_invalid');

        // The first admin sees the new admin, and her sign-in by name.
        await page.getByRole('link', { name: 'Admins' }).click();
        await page.locator('#admins-panel[aria-busy="false"] .items').waitFor();
        const newAdmin = page.locator('#admins-panel .item').filter({
          has: page.locator('.item-title', { hasText: 'Bea Admin' }),
        });
        await newAdmin.waitFor();
        await newAdmin.getByText('invitation from Ada Admin').waitFor();
        assertEq(await newAdmin.locator('.fact', { hasText: 'Passkeys' }).locator('dd').textContent(), '1', 'her one passkey');
        await page.locator('#admins-panel').getByText('No invitation is open.').waitFor();
        await page.getByRole('link', { name: 'Console sign-ins' }).click();
        await page.locator('#admin-sessions-panel[aria-busy="false"] .items').waitFor();
        await page.locator('#admin-sessions-panel .item-title', { hasText: 'Bea Admin' }).waitFor();
        await page.getByRole('button', { name: 'End the session of Bea Admin from 127.0.0.1' }).waitFor();
        await shots(page, 'sessions-two-admins');
        const events = (await auditEvents(dataDir, env)).map((e) => e.event);
        for (const ev of ['admin.invited', 'admin.invite_accepted'])
          assert(events.includes(ev), `audited ${ev}`);

        // A link opened while signed in as another admin is accepted from
        // its page after signing out: Ada invites Cy, and the link is
        // opened in Bea's signed-in tab.
        const cyLink = await invite('Cy Admin');
        await dialog.getByRole('button', { name: 'Done' }).click();
        await bea.goto(cyLink);
        await bea.getByRole('heading', { name: 'This link invites a new admin', level: 1 }).waitFor();
        assertEq(await bea.locator('#invite-in-name').textContent(), 'Bea Admin', 'says who is signed in');
        await bea.getByRole('button', { name: 'Sign out and accept the invitation' }).click();
        await bea.getByRole('heading', { name: 'You are invited to this console', level: 1 }).waitFor();
        await bea.locator('#status', { hasText: 'You are signed out. Accept the invitation below' }).waitFor();
        assertEq(await bea.evaluate(() => document.activeElement.id), 'invite-title', 'focus on the invitation');
        assertEq(await bea.evaluate(async () => (await fetch('/v1/admin/me')).status), 401, 'Bea\'s session is over');
        await bea.locator('#invite-form').getByLabel('Name of this passkey').fill('Cy phone');
        await bea.getByRole('button', { name: 'Accept and create my passkey' }).click();
        await bea.locator('#status', { hasText: 'Welcome, Cy Admin: you are an admin of this server now.' }).waitFor();
        assertEq((await beaPhone.credentials()).length, 2, 'Cy\'s passkey beside Bea\'s on that device');
        await page.getByRole('link', { name: 'Admins' }).click();
        await page.locator('#admins-panel .item-title', { hasText: 'Cy Admin' }).waitFor();
        assertEq(await page.locator('#admins-panel .item').count(), 3, 'three admins');
        const problems = bea.problems.filter((p) =>
          !/Failed to load resource: the server responded with a status of 401/.test(p));
        assertEq(problems.join('\n'), '', 'no console errors in the invitee\'s browser');
      } finally {
        await ctx2.close();
      }
    });

    await test('a section whose endpoint the server lacks says so and shows nothing else', async () => {
      // The server answers the audit query as one without that endpoint would.
      await page.route('**/v1/admin/audit?*', (r) => r.fulfill({
        status: 404, contentType: 'application/json', body: '{"error":"not_found","message":"not found"}',
      }));
      await page.route('**/v1/admin/audit', (r) => r.fulfill({
        status: 404, contentType: 'application/json', body: '{"error":"not_found","message":"not found"}',
      }));
      try {
        await page.getByRole('link', { name: 'Audit log' }).click();
        await page.getByRole('heading', { name: 'Audit log', level: 1 }).waitFor();
        const panel = page.locator('#audit-panel');
        await panel.getByText('not available on this server').waitFor();
        assertEq(await panel.locator('table, li').count(), 0, 'no rows shown');
        await shots(page, 'unavailable');
      } finally {
        await page.unroute('**/v1/admin/audit?*');
        await page.unroute('**/v1/admin/audit');
      }
    });

    await test('console sign-ins are listed and sign-out ends the session', async () => {
      await page.getByRole('link', { name: 'Console sign-ins' }).click();
      await page.getByRole('heading', { name: 'Console sign-ins', level: 1 }).waitFor();
      await page.locator('#admin-sessions-panel[aria-busy="false"]').waitFor();
      await page.locator('#admin-sessions-panel').getByText('This session').waitFor();
      await shots(page, 'sessions');
      await page.getByRole('button', { name: 'Sign out', exact: true }).first().click();
      await page.getByRole('heading', { name: 'Sign in to the console' }).waitFor();
      const me = await page.evaluate(async () => (await fetch('/v1/admin/me')).status);
      assertEq(me, 401, 'the session is over on the server');
      // The refusals the cases provoked (400, 401, 404, 409) are logged by the
      // browser as failed loads; anything else is a fault of the page.
      const problems = page.problems.filter((p) =>
        !/Failed to load resource: the server responded with a status of 40[0149]/.test(p));
      assertEq(problems.join('\n'), '', 'no console errors or CSP violations');
    });
  } finally {
    await context.close();
    await browser.close();
  }

  await test('the server shuts down cleanly on SIGTERM', async () => {
    server.kill('SIGTERM');
    const r = await server.exited;
    assertEq(r.code, 0, `server exit status (see ${OUT}/server.log)`);
  });
}

await finish(main);
