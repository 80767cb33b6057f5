/*
 * admin.js - the sealauth console at /admin: the install claim, accepting
 * an invitation, sign-in with a passkey, the admin's own passkeys and the
 * console's sign-ins. The other sections (admin-people.js,
 * admin-system.js) register with SealauthConsole.view and use the helpers
 * exported here.
 *
 * The session is the HttpOnly cookie the server sets at sign-in; the CSRF
 * token that goes with it stays in this tab's sessionStorage and rides on
 * every change as X-CSRF-Token. The bearer token in the sign-in answer is
 * never kept. Server data reaches the page only through textContent.
 */
'use strict';

window.SealauthConsole = (function () {
  const W = window.SealauthWebAuthn;
  const $ = (id) => document.getElementById(id);
  const CSRF_KEY = 'sealauth.console.csrf';

  let csrf = sessionStorage.getItem(CSRF_KEY);
  let me = null; /* {id, name, sessionId, passkeyId} once signed in */
  const views = new Map(); /* name -> {load, title} */

  /* ---- The API ------------------------------------------------------------ */

  class ApiError extends Error {
    constructor(status, body, retryAfter) {
      super((body && body.message) || `HTTP ${status}`);
      this.status = status;
      this.body = body || {};
      this.code = this.body.error || '';
      this.field = this.body.field || null;
      this.retryAfter = retryAfter;
    }
  }

  /* api calls the server; a refusal throws ApiError. A call refused for
   * want of a session sends the console back to the sign-in. */
  async function api(method, path, body) {
    const headers = { Accept: 'application/json' };
    if (body !== undefined)
      headers['Content-Type'] = 'application/json';
    if (method !== 'GET' && csrf)
      headers['X-CSRF-Token'] = csrf;
    let res;
    try {
      res = await fetch(path, {
        method, headers, credentials: 'same-origin', cache: 'no-store',
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch {
      throw new ApiError(0, { error: 'network', message: 'The server could not be reached. Check the connection and try again.' });
    }
    const text = await res.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = null;
    }
    if (res.ok)
      return data;
    const err = new ApiError(res.status, data, res.headers.get('Retry-After'));
    if (me && (err.code === 'unauthorized' || err.code === 'csrf_failed'))
      sessionEnded(err);
    throw err;
  }

  /* missing tells whether a refusal means this server has no such endpoint. */
  function missing(e) {
    return e instanceof ApiError && (e.status === 404 || e.status === 405) &&
      (e.code === 'not_found' || e.code === 'method_not_allowed') && !e.field;
  }

  function sentence(t) {
    const s = String(t || '').trim();
    if (!s)
      return '';
    const c = s.charAt(0).toUpperCase() + s.slice(1);
    return /[.!?]$/.test(c) ? c : `${c}.`;
  }

  /* words says what went wrong, in words an admin can act on. */
  function words(e) {
    if (e instanceof DOMException)
      return W.explain(e, false);
    if (!(e instanceof ApiError))
      return sentence(e && e.message ? e.message : String(e));
    switch (e.code) {
    case 'last_passkey_protected':
      return 'This is your only passkey, so it stays: without it nobody could sign in as you. Add another passkey first, then revoke this one.';
    case 'last_admin_protected':
      return 'This is the last admin, so it stays: without one nobody could run the console.';
    case 'invite_invalid':
      return `This invitation cannot be used: ${sentence(e.message)} Ask the admin who invited you for a new link.`;
    case 'install_closed':
      return 'This server has already been claimed. Sign in with your passkey, or ask an admin to invite you.';
    case 'admin_unavailable':
      return `Administration is switched off on this server. ${sentence(e.message)}`;
    case 'rate_limited':
      return `Too many requests in a short time. Wait ${e.retryAfter ? `${e.retryAfter} seconds` : 'a minute'} and try again.`;
    case 'webauthn_failed':
    case 'challenge_invalid':
      return `The server did not accept the passkey: ${e.message}. Nothing was changed.`;
    case 'passkey_cloned':
      return 'The server refused this passkey: its signature counter went backwards, which happens when a passkey was copied. The attempt is in the audit log.';
    case 'csrf_failed':
    case 'unauthorized':
      return 'Your console session has ended. Sign in again.';
    case 'network':
      return e.message;
    default:
      break;
    }
    if (e.status >= 500)
      return `The server could not do this: ${sentence(e.message)} Try again in a moment.`;
    return sentence(e.message);
  }

  /* ---- Messages ----------------------------------------------------------- */

  function say(text) {
    const a = $('alert');
    a.hidden = true;
    a.textContent = '';
    const s = $('status');
    s.textContent = text;
    s.hidden = !text;
  }

  function fail(text) {
    $('status').hidden = true;
    const a = $('alert');
    a.textContent = text;
    a.hidden = !text;
  }

  function clearMessages() {
    say('');
    fail('');
  }

  /* ---- Building blocks ---------------------------------------------------- */

  /* el makes an element with text or children; attrs set attributes. */
  function el(tag, attrs, ...kids) {
    const n = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false)
        continue;
      if (k === 'class')
        n.className = v;
      else if (k === 'text')
        n.textContent = v;
      else if (k.startsWith('on'))
        n.addEventListener(k.slice(2), v);
      else
        n.setAttribute(k, v === true ? '' : v);
    }
    for (const k of kids.flat()) {
      if (k !== null && k !== undefined && k !== false)
        n.append(k instanceof Node ? k : document.createTextNode(String(k)));
    }
    return n;
  }

  const timeFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

  /* when shows a time (unix seconds or ISO 8601) in the reader's zone. */
  function when(t, never = 'never') {
    if (t === null || t === undefined || t === 0 || t === '')
      return el('span', { class: 'muted', text: never });
    const d = typeof t === 'number' ? new Date(t * 1000) : new Date(t);
    if (Number.isNaN(d.getTime()))
      return el('span', { text: String(t) });
    return el('time', { datetime: d.toISOString(), title: d.toISOString(), text: timeFmt.format(d) });
  }

  /* facts renders label/value pairs as a description list. */
  function facts(pairs) {
    return el('dl', { class: 'facts' }, pairs.filter(Boolean).map(([k, v]) =>
      el('div', { class: 'fact' }, el('dt', { text: k }), el('dd', {}, v))));
  }

  function badge(text, tone) {
    return el('span', { class: `badge${tone ? ` badge-${tone}` : ''}`, text });
  }

  /* short shows a long id by its start, the whole of it in the title. */
  function short(id, n = 12) {
    const s = String(id || '');
    return el('code', { class: 'id', title: s, text: s.length > n ? `${s.slice(0, n)}…` : s });
  }

  /* panelState fills a panel with a message: loading, empty, unavailable
   * or an error. */
  function panelMessage(panel, kind, text) {
    panel.setAttribute('aria-busy', kind === 'loading' ? 'true' : 'false');
    panel.replaceChildren(el('p', { class: `panel-msg panel-${kind}`, text }));
  }

  /* loadInto runs a loader for a panel: "Loading…", then what it renders,
   * "not available on this server" for an endpoint this server lacks, or
   * the error in words. */
  async function loadInto(panel, what, loader) {
    panelMessage(panel, 'loading', `Loading ${what}…`);
    try {
      const node = await loader();
      panel.setAttribute('aria-busy', 'false');
      panel.replaceChildren(node);
    } catch (e) {
      if (missing(e))
        panelMessage(panel, 'unavailable', `${what.charAt(0).toUpperCase()}${what.slice(1)} are not available on this server: its version of sealauth has no such endpoint yet.`);
      else
        panelMessage(panel, 'error', words(e));
    }
  }

  /* table renders rows as a table that stacks into one card a row at phone
   * width (the cells then carry their column's name). cols: [{label,
   * cell(row)}]; attrs(row) gives a row's attributes. */
  function table(label, cols, rows, attrs) {
    return el('div', { class: 'table-wrap' },
      el('table', { class: 'grid', role: 'table', 'aria-label': label },
        el('thead', { role: 'rowgroup' }, el('tr', { role: 'row' },
          cols.map((c) => el('th', { scope: 'col', role: 'columnheader', text: c.label })))),
        el('tbody', { role: 'rowgroup' }, rows.map((r) =>
          el('tr', { role: 'row', ...(attrs ? attrs(r) : {}) },
            cols.map((c) => el('td', { role: 'cell', 'data-label': c.label, class: c.cls }, c.cell(r))))))));
  }

  /*
   * paged shows a list that pages with a cursor: page(cursor) answers
   * {rows, nextCursor, note}, render(rows) the node for all rows so far.
   * "Show more" fetches the next page and keeps the reader's place.
   */
  function paged(panel, what, page, render) {
    let rows = [];
    let cursor = null;
    const more = el('button', { type: 'button', class: 'btn btn-secondary btn-small', text: 'Show more' });
    const note = el('p', { class: 'hint', 'aria-live': 'polite' });
    const body = el('div');
    async function next() {
      more.disabled = true;
      try {
        const r = await page(cursor);
        rows = rows.concat(r.rows);
        cursor = r.nextCursor || null;
        note.textContent = r.note || '';
        body.replaceChildren(render(rows));
        more.hidden = !cursor;
      } catch (e) {
        if (!rows.length)
          throw e;
        note.textContent = words(e);
      } finally {
        more.disabled = false;
      }
    }
    more.addEventListener('click', next);
    return loadInto(panel, what, async () => {
      await next();
      return el('div', {}, body, el('div', { class: 'pager' }, more, note));
    });
  }

  /* query makes a query string of the members that have a value. */
  function query(o) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(o)) {
      if (v !== undefined && v !== null && v !== '')
        q.set(k, v);
    }
    const t = q.toString();
    return t ? `?${t}` : '';
  }

  /* dayStart reads a date field as the unix second its day begins here;
   * with next set, the day after. */
  function dayStart(value, next) {
    if (!value)
      return '';
    const d = new Date(`${value}T00:00:00`);
    if (next)
      d.setDate(d.getDate() + 1);
    return Number.isNaN(d.getTime()) ? '' : String(Math.floor(d.getTime() / 1000));
  }

  /* ---- The dialog: confirmations and step-ups ----------------------------- */

  const dialog = (function () {
    const d = $('dialog');
    let handler = null;
    let abort = null;
    let onClose = null;

    function set(o) {
      $('dialog-title').textContent = o.title;
      $('dialog-body').replaceChildren(...(o.body || []).map((p) =>
        p instanceof Node ? p : el('p', { text: p })));
      const field = $('dialog-field');
      field.hidden = !o.input;
      if (o.input) {
        const input = $('dialog-input');
        $('dialog-input-label').textContent = o.input.label;
        $('dialog-input-hint').textContent = o.input.hint || '';
        $('dialog-input-hint').hidden = !o.input.hint;
        input.value = o.input.value || '';
        input.maxLength = o.input.maxlength || 64;
        input.readOnly = !!o.input.readonly;
        input.removeAttribute('aria-invalid');
      }
      const ok = $('dialog-ok');
      ok.textContent = o.ok;
      ok.className = `btn ${o.danger ? 'btn-danger' : 'btn-primary'}`;
      ok.disabled = false;
      ok.hidden = !o.ok;
      d.classList.toggle('dialog-wide', !!o.wide);
      $('dialog-cancel').textContent = o.cancel || 'Cancel';
      $('dialog-step').textContent = o.step || '';
      $('dialog-error').hidden = true;
      handler = o.onOk || null;
      if (o.onClose !== undefined)
        onClose = o.onClose;
    }

    /* open shows the dialog. o: title, body (strings or nodes), ok (button
     * text), danger, wide (room for a preview), input {label, value},
     * onOk(ctx) returning true to close, onClose. The first focus goes to Cancel for a destructive
     * change, to the field or the button otherwise. */
    function open(o) {
      onClose = null;
      set(o);
      if (!d.open)
        d.showModal();
      if (o.danger)
        $('dialog-cancel').focus();
      else if (o.input && !o.input.readonly)
        $('dialog-input').focus();
      else
        $('dialog-ok').focus();
    }

    /* closed ends the opening that was shown: its ceremony is aborted,
     * its handler dropped and its onClose run, once. */
    function closed() {
      if (abort)
        abort.abort();
      abort = null;
      const f = onClose;
      onClose = null;
      handler = null;
      if (f)
        f();
    }

    /* close closes the dialog and ends its opening at once: the close
     * event comes later, maybe after another opening (the invitation
     * link follows its step-up), which it must not end. */
    function close() {
      if (d.open)
        d.close();
      closed();
    }

    const ctx = {
      step(text) {
        $('dialog-step').textContent = text;
      },
      get signal() {
        return abort ? abort.signal : undefined;
      },
      input() {
        return $('dialog-input').value.trim();
      },
      update: set,
    };

    $('dialog-form').addEventListener('submit', async (ev) => {
      ev.preventDefault();
      if (!handler || $('dialog-ok').disabled)
        return;
      $('dialog-ok').disabled = true;
      $('dialog-error').hidden = true;
      abort = new AbortController();
      try {
        if (await handler(ctx))
          close();
      } catch (e) {
        $('dialog-step').textContent = '';
        $('dialog-error').textContent = words(e);
        $('dialog-error').hidden = false;
      } finally {
        $('dialog-ok').disabled = false;
        abort = null;
      }
    });
    $('dialog-cancel').addEventListener('click', close);
    /* Escape closes the dialog without close(); a close event that finds
     * the dialog open again belongs to an opening already ended. */
    d.addEventListener('close', () => {
      if (!d.open)
        closed();
    });
    return { open, close, ctx };
  })();

  /* fatal tells whether an error ends a change for good: the dialog then
   * closes and the banner says why. A cancelled prompt or a failed step-up
   * with a new challenge can be tried again in the dialog. */
  function retryable(e) {
    return e instanceof DOMException || (e instanceof ApiError && e.body.retryId);
  }

  /*
   * stepUp runs a change confirmed by a fresh passkey assertion: start()
   * answers {id, uvOptions}, finish(id, uvResponse) makes the change. A
   * failed step-up answers a retryId and new options for the same pending
   * change, kept in ctx for the next try.
   */
  async function stepUp(ctx, start, finish) {
    if (!ctx.pending) {
      ctx.step('Preparing…');
      const r = await start();
      ctx.pending = { id: r.id || r.stepupId, uvOptions: r.uvOptions };
    }
    ctx.step('Confirm with one of your passkeys when your browser asks…');
    let uv;
    try {
      uv = await W.get(ctx.pending.uvOptions, ctx.signal);
    } catch (e) {
      throw e instanceof DOMException ? e : new Error(W.explain(e, false));
    }
    ctx.step('Checking…');
    try {
      return await finish(ctx.pending.id, uv);
    } catch (e) {
      ctx.pending = e instanceof ApiError && e.body.retryId
        ? { id: e.body.retryId, uvOptions: e.body.uvOptions } : null;
      throw e;
    }
  }

  /*
   * change opens a confirmation for a change and runs it. run(ctx) makes
   * the change and returns the sentence to show; a fatal refusal closes
   * the dialog and shows why; after either the view reloads.
   */
  function change(o, run, reload) {
    const state = { pending: null };
    dialog.open({
      ...o,
      onOk: async (ctx) => {
        ctx.pending = state.pending;
        try {
          const done = await run(ctx);
          say(done);
          if (reload)
            reload();
          return true;
        } catch (e) {
          state.pending = ctx.pending;
          if (retryable(e) || (e instanceof ApiError && e.status === 400))
            throw e;
          dialog.close();
          fail(words(e));
          if (reload)
            reload();
          return true;
        }
      },
    });
  }

  /* ---- Sign-in and the claim ---------------------------------------------- */

  function fieldError(input, errId, text) {
    const p = $(errId);
    p.textContent = text || '';
    p.hidden = !text;
    if (text)
      input.setAttribute('aria-invalid', 'true');
    else
      input.removeAttribute('aria-invalid');
  }

  function notice(id, text) {
    $(id).textContent = text || '';
    $(id).hidden = !text;
  }

  async function signIn() {
    const btn = $('signin-button');
    const problem = W.problem();
    notice('signin-error', '');
    clearMessages();
    if (problem) {
      notice('signin-error', problem);
      return;
    }
    btn.disabled = true;
    say('Choose your passkey when your browser asks…');
    try {
      const st = await api('POST', '/v1/auth/passkey-login/start', {});
      const credential = await W.get(st.options);
      say('Checking your passkey…');
      const r = await api('POST', '/v1/auth/passkey-login/finish', { loginId: st.loginId, credential });
      csrf = r.csrfToken;
      sessionStorage.setItem(CSRF_KEY, csrf);
      me = await api('GET', '/v1/admin/me');
      say(`Signed in as ${me.name}.`);
      enter();
    } catch (e) {
      say('');
      notice('signin-error', e instanceof DOMException ? W.explain(e, false) : words(e));
    } finally {
      btn.disabled = false;
    }
  }

  async function claim(ev) {
    ev.preventDefault();
    const token = $('claim-token');
    const name = $('claim-name');
    const label = $('claim-label').value.trim() || 'first passkey';
    notice('claim-error', '');
    fieldError(token, 'claim-token-error', token.value.trim() ? '' : 'Paste the install token from the server.');
    fieldError(name, 'claim-name-error', name.value.trim() ? '' : 'Enter your name.');
    if (!token.value.trim()) {
      token.focus();
      return;
    }
    if (!name.value.trim()) {
      name.focus();
      return;
    }
    const problem = W.problem();
    if (problem) {
      notice('claim-error', problem);
      return;
    }
    $('claim-button').disabled = true;
    clearMessages();
    try {
      say('Checking the install token…');
      const st = await api('POST', '/v1/install/claim/start', { installToken: token.value.trim(), name: name.value.trim() });
      say('Create your passkey when your browser asks…');
      let registerResponse;
      try {
        registerResponse = await W.create(st.registerOptions);
      } catch (e) {
        throw new Error(W.explain(e, true));
      }
      const r = await api('POST', '/v1/install/claim/finish', { claimId: st.claimId, registerResponse, label });
      $('claim-form').reset();
      say(`This server is yours, ${r.name}: you are its first admin. Sign in with the passkey you just created.`);
      $('signin-button').focus();
    } catch (e) {
      say('');
      if (e instanceof ApiError && (e.field === 'installToken' || e.status === 401))
        fieldError(token, 'claim-token-error', `${words(e)} Check the token: it is in the file install-token in the server's data directory.`);
      else if (e instanceof ApiError && e.field === 'name')
        fieldError(name, 'claim-name-error', words(e));
      else
        notice('claim-error', words(e));
    } finally {
      $('claim-button').disabled = false;
    }
  }

  /* inviteToken reads the token of an invitation link (#invite=TOKEN). */
  function inviteToken() {
    const m = location.hash.match(/^#invite=([A-Za-z0-9_-]{1,128})$/);
    return m ? m[1] : null;
  }

  async function acceptInvite(ev) {
    ev.preventDefault();
    const token = inviteToken();
    const label = $('invite-label').value.trim() || 'first passkey';
    const problem = W.problem();
    notice('invite-error', '');
    if (problem || !token) {
      notice('invite-error', problem || 'This link holds no invitation. Ask the admin who invited you for a new link.');
      return;
    }
    $('invite-button').disabled = true;
    clearMessages();
    try {
      say('Checking the invitation…');
      const st = await api('POST', '/v1/invite/start', { inviteToken: token });
      say(`Create your passkey, ${st.name}, when your browser asks…`);
      let registerResponse;
      try {
        registerResponse = await W.create(st.registerOptions);
      } catch (e) {
        throw new Error(W.explain(e, true));
      }
      const r = await api('POST', '/v1/invite/finish', { registrationId: st.registrationId, registerResponse, label });
      history.replaceState(null, '', location.pathname);
      leave();
      say(`Welcome, ${r.name}: you are an admin of this server now. Sign in with the passkey you just created.`);
      $('signin-button').focus();
    } catch (e) {
      say('');
      if (missing(e))
        notice('invite-error', 'Invitations are not available on this server: its version of sealauth has no such endpoint yet.');
      else
        notice('invite-error', words(e));
    } finally {
      $('invite-button').disabled = false;
    }
  }

  async function signOut() {
    try {
      await api('POST', '/v1/auth/logout', {});
    } catch (e) {
      if (!(e instanceof ApiError && e.code === 'unauthorized')) {
        fail(words(e));
        return;
      }
    }
    leave();
    if (inviteToken()) {
      say('You are signed out. Accept the invitation below to become the new admin.');
      $('invite-title').focus();
    } else {
      say('You are signed out.');
    }
  }

  function forget() {
    me = null;
    csrf = null;
    sessionStorage.removeItem(CSRF_KEY);
  }

  /* sessionEnded goes back to the sign-in, saying why. */
  function sessionEnded(e, text) {
    forget();
    dialog.close();
    leave();
    fail(text || (e.code === 'csrf_failed' ? words(e) : 'Your console session has ended (it expired, or was ended). Sign in again.'));
  }

  /* ---- Views -------------------------------------------------------------- */

  function showOnly(id) {
    for (const v of document.querySelectorAll('.view'))
      v.hidden = v.id !== id;
  }

  function leave() {
    me = null;
    $('who').hidden = true;
    $('nav').hidden = true;
    document.body.classList.remove('signed-in');
    showOnly(inviteToken() ? 'view-invite' : 'view-signin');
    document.title = 'Sign in – sealauth console';
  }

  function enter() {
    $('who-name').textContent = me.name;
    $('who').hidden = false;
    $('nav').hidden = false;
    document.body.classList.add('signed-in');
    route(true);
  }

  function current() {
    const name = location.hash.replace(/^#/, '');
    const first = document.querySelector('#nav a[data-view]');
    return views.has(name) ? name : first.dataset.view;
  }

  /* route shows the section the address names and loads it. An
   * invitation link opened while signed in is not a section: it says what
   * the link is for and offers the two ways on. */
  function route(focus) {
    if (!me)
      return;
    if (inviteToken()) {
      for (const a of document.querySelectorAll('#nav a'))
        a.removeAttribute('aria-current');
      $('invite-in-name').textContent = me.name;
      showOnly('view-invite-signed-in');
      document.title = 'An invitation – sealauth console';
      if (focus)
        $('invite-in-title').focus();
      return;
    }
    const name = current();
    for (const a of document.querySelectorAll('#nav a')) {
      if (a.dataset.view === name) {
        a.setAttribute('aria-current', 'page');
        a.scrollIntoView({ block: 'nearest', inline: 'nearest' });
      } else {
        a.removeAttribute('aria-current');
      }
    }
    showOnly(`view-${name}`);
    const v = views.get(name);
    document.title = `${v.title} – sealauth console`;
    v.load();
    if (focus) {
      const h = document.querySelector(`#view-${name} h1`);
      if (h)
        h.focus();
    }
  }

  function view(name, title, load) {
    views.set(name, { title, load });
  }

  /* ---- Passkeys ----------------------------------------------------------- */

  const ALGS = { '-7': 'ES256 (P-256)', '-8': 'EdDSA (Ed25519)' };
  const TRANSPORTS = {
    internal: 'built into a device', usb: 'USB key', nfc: 'NFC', ble: 'Bluetooth',
    hybrid: 'phone', 'smart-card': 'smart card',
  };

  function loadPasskeys() {
    return loadInto($('passkeys-panel'), 'passkeys', async () => {
      const { passkeys } = await api('GET', '/v1/admin/passkeys');
      if (!passkeys.length)
        return el('p', { class: 'panel-msg panel-empty', text: 'You have no passkeys.' });
      return el('ul', { class: 'items', 'aria-label': 'Your passkeys' }, passkeys.map((p) => {
        const name = p.label || 'Unnamed passkey';
        const mine = me && p.credentialId === me.passkeyId;
        return el('li', { class: 'item', 'data-credential-id': p.credentialId },
          el('div', { class: 'item-head' },
            el('h3', { class: 'item-title', text: name }),
            mine ? badge('Signed in with this one', 'ok') : null),
          facts([
            ['Added', when(p.registeredAt)],
            ['Last used', when(p.lastUsedAt)],
            ['Kind', (p.transports || []).map((t) => TRANSPORTS[t] || t).join(', ') || 'not told by the device'],
            ['Algorithm', ALGS[String(p.alg)] || String(p.alg ?? 'unknown')],
            ['Credential id', short(p.credentialId, 16)],
          ]),
          el('div', { class: 'item-actions' },
            el('button', {
              type: 'button', class: 'btn btn-danger-quiet btn-small',
              'aria-label': `Revoke passkey ${name}`, text: 'Revoke',
              onclick: () => revokePasskey(p, name, mine, passkeys.length),
            })));
      }));
    });
  }

  function revokePasskey(p, name, mine, count) {
    const body = [`“${name}” will no longer sign in to this console.`];
    if (count === 1)
      body.push('It is your only passkey: the server keeps at least one, so add another passkey first.');
    else if (mine)
      body.push('You signed in with it, so this session ends with it: you then sign in again with another passkey.');
    body.push('Every console session signed in with it ends at once.');
    body.push('To confirm, use one of your passkeys when your browser asks.');
    change({ title: `Revoke passkey “${name}”?`, body, ok: 'Revoke passkey', danger: true },
      async (ctx) => {
        const r = await stepUp(ctx,
          async () => {
            const st = await api('POST', '/v1/admin/passkeys/revoke/start', { credentialId: p.credentialId });
            return { id: st.revocationId, uvOptions: st.uvOptions };
          },
          (id, uvResponse) => api('POST', '/v1/admin/passkeys/revoke/finish', { revocationId: id, uvResponse }));
        if (r.currentSessionEnded) {
          forget();
          leave();
          return `Passkey “${name}” revoked. You had signed in with it, so this session ended: sign in again with another passkey.`;
        }
        const n = r.sessionsEnded || 0;
        return `Passkey “${name}” revoked${n ? `; ${n} console session${n === 1 ? '' : 's'} signed in with it ended` : ''}.`;
      }, () => { if (me) loadPasskeys(); });
  }

  /*
   * addPasskey runs in two steps, one browser prompt each (some browsers
   * allow only one prompt per click, and each prompt wants another device):
   * confirm with a passkey the admin has, then create the new one.
   */
  function addPasskey() {
    const problem = W.problem();
    if (problem) {
      fail(problem);
      return;
    }
    let label = '';
    let reg = null; /* {id, registerOptions} */
    let uv = null;

    const first = {
      title: 'Add a passkey',
      body: ['Two steps: first confirm it is you with a passkey you already have, then create the new passkey on the device you are adding (this device, a security key or your phone).'],
      input: { label: 'Name of the new passkey', value: '' },
      ok: 'Confirm it’s me',
      onOk: stepOne,
    };
    const second = {
      title: 'Create the new passkey',
      body: ['Confirmed. Now create the passkey: when your browser asks, choose the device or security key you are adding.'],
      ok: 'Create passkey',
      onOk: stepTwo,
    };

    async function stepOne(ctx) {
      label = ctx.input() || label;
      if (!label) {
        $('dialog-input').setAttribute('aria-invalid', 'true');
        throw new Error('Give the new passkey a name, for example “security key”.');
      }
      if (!reg) {
        ctx.step('Preparing…');
        const r = await api('POST', '/v1/admin/passkeys/register/start', {});
        reg = { id: r.registrationId, registerOptions: r.registerOptions, uvOptions: r.uvOptions };
      }
      ctx.step('Confirm with one of your passkeys when your browser asks…');
      uv = await W.get(reg.uvOptions, ctx.signal);
      ctx.update(second);
      $('dialog-ok').focus();
      return false;
    }

    async function stepTwo(ctx) {
      ctx.step('Create the new passkey when your browser asks…');
      let registerResponse;
      try {
        registerResponse = await W.create(reg.registerOptions, ctx.signal);
      } catch (e) {
        throw new Error(W.explain(e, true));
      }
      ctx.step('Saving…');
      try {
        await api('POST', '/v1/admin/passkeys/register/finish', {
          registrationId: reg.id, registerResponse, uvResponse: uv, label,
          transports: registerResponse.response.transports,
        });
      } catch (e) {
        if (e instanceof ApiError && e.body.retryId) {
          /* The step-up was refused; the registration waits for another. */
          reg.id = e.body.retryId;
          reg.uvOptions = e.body.uvOptions;
          ctx.update({ ...first, input: { label: 'Name of the new passkey', value: label } });
          throw e;
        }
        dialog.close();
        fail(words(e));
        loadPasskeys();
        return true;
      }
      say(`Passkey “${label}” added.`);
      loadPasskeys();
      return true;
    }

    dialog.open(first);
  }

  /* ---- Console sessions --------------------------------------------------- */

  function browserName(ua) {
    const s = String(ua || '');
    const m = s.match(/(Edg|Firefox|Chrome|Chromium|Safari)\/[\d.]+/);
    const os = s.match(/\((?:[^;)]*?)(Windows|Mac OS X|Android|iPhone|iPad|Linux)/);
    if (!m)
      return s || 'unknown';
    const names = { Edg: 'Edge' };
    return `${names[m[1]] || m[1]}${os ? ` on ${os[1].replace('Mac OS X', 'macOS')}` : ''}`;
  }

  /* adminNames answers the admins' names by id; a server without the
   * admins endpoint (or a refusal) leaves the ids to speak for them. */
  async function adminNames() {
    try {
      const { admins } = await api('GET', '/v1/admin/admins');
      return new Map(admins.map((a) => [a.adminId, a.name]));
    } catch (e) {
      if (e instanceof ApiError && (e.code === 'unauthorized' || e.code === 'csrf_failed'))
        throw e;
      return new Map();
    }
  }

  function loadAdminSessions() {
    return loadInto($('admin-sessions-panel'), 'console sign-ins', async () => {
      const [{ sessions }, names] = await Promise.all([api('GET', '/v1/admin/sessions'), adminNames()]);
      if (!sessions.length)
        return el('p', { class: 'panel-msg panel-empty', text: 'Nobody is signed in.' });
      sessions.sort((a, b) => (b.current - a.current) || (b.createdAt - a.createdAt));
      return el('ul', { class: 'items', 'aria-label': 'Console sign-ins' }, sessions.map((s) => {
        const who = s.adminId === me.id ? 'You' : (names.get(s.adminId) || `Admin ${s.adminId}`);
        return el('li', { class: 'item', 'data-session-id': s.sessionId },
          el('div', { class: 'item-head' },
            el('h3', { class: 'item-title', text: who }),
            s.current ? badge('This session', 'ok') : null),
          facts([
            ['Signed in', when(s.createdAt)],
            ['Ends', when(s.expiresAt)],
            ['From', s.ip || 'unknown'],
            ['Browser', el('span', { title: s.ua || '', text: browserName(s.ua) })],
            ['Passkey', short(s.passkeyId, 16)],
            s.adminId === me.id ? null : ['Admin id', short(s.adminId, 16)],
          ]),
          el('div', { class: 'item-actions' },
            el('button', {
              type: 'button', class: 'btn btn-danger-quiet btn-small',
              'aria-label': s.current ? 'End this session and sign out' : `End the session of ${who} from ${s.ip || 'unknown'}`,
              text: s.current ? 'Sign out' : 'End session',
              onclick: () => (s.current ? signOut() : endSession(s, who)),
            })));
      }));
    });
  }

  function endSession(s, who) {
    change({
      title: 'End this session?',
      body: [`${who} (signed in from ${s.ip || 'an unknown address'}) is signed out of the console at once.`],
      ok: 'End session', danger: true,
    }, async () => {
      await api('DELETE', `/v1/admin/sessions/${encodeURIComponent(s.sessionId)}`);
      return 'The session has ended.';
    }, loadAdminSessions);
  }

  /* ---- Start -------------------------------------------------------------- */

  view('passkeys', 'Passkeys', loadPasskeys);
  view('sessions', 'Console sign-ins', loadAdminSessions);

  async function start() {
    $('signin-button').addEventListener('click', signIn);
    $('claim-form').addEventListener('submit', claim);
    $('signout-button').addEventListener('click', signOut);
    $('passkey-add-button').addEventListener('click', addPasskey);
    for (const b of document.querySelectorAll('[data-reload]'))
      b.addEventListener('click', () => route(false));
    /* The link of the section shown changes no address: it reloads the
     * section instead, as a reader expects of it. */
    for (const a of document.querySelectorAll('#nav a[data-view]')) {
      a.addEventListener('click', () => {
        if (me && location.hash === `#${a.dataset.view}`) {
          clearMessages();
          route(true);
        }
      });
    }
    $('invite-form').addEventListener('submit', acceptInvite);
    $('invite-in-back').addEventListener('click', () => {
      /* The link leaves the address bar; the invitation stays open. */
      history.replaceState(null, '', location.pathname);
      clearMessages();
      route(true);
    });
    $('invite-in-signout').addEventListener('click', signOut);
    window.addEventListener('hashchange', () => {
      clearMessages();
      if (me)
        route(true);
      else
        leave();
    });
    const problem = W.problem();
    if (problem)
      notice('signin-error', problem);
    try {
      if (csrf)
        me = await api('GET', '/v1/admin/me');
      else
        await api('GET', '/v1/admin/me');
    } catch (e) {
      me = null;
      if (e instanceof ApiError && e.code === 'admin_unavailable') {
        notice('signin-error', words(e));
        $('signin-button').disabled = true;
        $('claim-button').disabled = true;
        $('invite-button').disabled = true;
      }
    }
    if (me) {
      enter();
      return;
    }
    forget();
    leave();
    if (location.hash === '#claim')
      $('claim-token').focus();
  }

  document.addEventListener('DOMContentLoaded', start);

  return {
    api, ApiError, missing, words, sentence, say, fail, el, when, facts, badge, short,
    loadInto, panelMessage, table, paged, query, dayStart, dialog, change, stepUp, view, route,
    browserName, fieldError, retryable, signedOut: (text) => sessionEnded({}, text), me: () => me,
  };
})();
