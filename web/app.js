/*
 * app.js - the sealauth login page (SPEC §3): start a login, show the code
 * to compare with the phone, follow the session over its WebSocket, and
 * show the verified claims of the token once the phone approved.
 *
 * Opened as /?login=ID the page runs a login a relying party asked for
 * through OpenID Connect or SAML: the service and the scopes come from that
 * pending request (GET /login/pending/ID) and cannot be changed here, and
 * once the phone approved, the browser goes on to /login/continue, which
 * hands the login back to the relying party.
 *
 * Server data only ever reaches the page through textContent (never
 * innerHTML), and the page loads nothing from another origin.
 */
'use strict';

(function () {
  const $ = (id) => document.getElementById(id);

  let SERVICE_ID = document.body.dataset.serviceId || 'demo';
  let SERVICE_NAME = document.body.dataset.serviceName || SERVICE_ID;
  /* The pending federation request, when opened as /?login=ID. */
  const LOGIN_ID = new URLSearchParams(location.search).get('login');
  let pending = null;

  /* Human labels for the claims of SPEC §5, in display order. */
  const CLAIM_LABELS = [
    ['givenName', 'Given name'],
    ['familyName', 'Family name'],
    ['nameInitial', 'Initials'],
    ['dateOfBirth', 'Date of birth'],
    ['ageOver18', 'Over 18'],
    ['ageOver21', 'Over 21'],
    ['ageOver25', 'Over 25'],
    ['ageRange', 'Age range'],
    ['nationality', 'Nationality'],
    ['isEuCitizen', 'EU citizen'],
    ['documentNumber', 'Document number'],
    ['trustLevel', 'Trust level'],
    ['photoBase64', 'Photo'],
  ];
  /* Registered claims, shown apart from the identity. */
  const META_LABELS = [
    ['sub', 'Your ID at this service'],
    ['aud', 'Service'],
    ['iss', 'Issuer'],
    ['auth_time', 'Signed in at'],
    ['exp', 'Valid until'],
    ['amr', 'Methods'],
    ['iss_authority', 'Issuing authority'],
  ];
  const REGISTERED = new Set(['iss', 'sub', 'aud', 'exp', 'iat', 'nbf', 'jti',
    'auth_time', 'amr', 'scope', 'iss_authority']);

  const CLOSE_MESSAGES = {
    4001: 'The server did not accept this browser for the login (bad session token). Start again.',
    4004: 'The login session no longer exists; it may have expired. Start again.',
    4009: 'This login continues in another tab or window.',
  };

  const REJECT_MESSAGES = {
    'User rejected': 'You declined the login on your phone.',
    'Invalid OTP': 'The phone answered with a wrong code.',
    'Invalid signature': 'The phone’s answer was not signed by the enrolled key.',
    'Too many attempts': 'Too many failed attempts from the phone.',
  };

  /* Final frames {"type":"failed","reason"}: the server ended the login. */
  const FAILED_MESSAGES = {
    revoked: 'This login has stopped: the enrollment of this Token ID was ' +
      'revoked by an administrator, so it can no longer log in. If you did ' +
      'not expect this, contact the support of the service.',
    delivered: 'This login has already ended, and its outcome was shown ' +
      'in this browser. Start again to log in.',
    unrecorded: 'The server could not record this login, so it stopped it ' +
      'before your phone was asked. Try again in a moment; if this keeps ' +
      'happening, contact the support of the service.',
  };

  const PUSH_FAILED_TEXT = 'We could not reach your phone, so it will not ' +
    'show this login. Check that the phone is online and that the sealauth ' +
    'app on it is set up for this Token ID, then start again.';

  /* One login attempt at a time; a new one replaces everything. */
  let login = null;

  /* ---- Small helpers ---------------------------------------------------- */

  function show(step) {
    for (const id of ['step-form', 'step-code', 'step-done'])
      $(id).hidden = id !== step;
  }

  function groupCode(code) {
    const s = String(code);
    return s.length === 6 ? s.slice(0, 3) + '\u2009' + s.slice(3) : s;
  }

  function setStatus(text, tone) {
    $('status-text').textContent = text;
    $('status').dataset.tone = tone;
  }

  function formatSeconds(s) {
    const m = Math.floor(s / 60);
    const r = s % 60;
    return m + ':' + String(r).padStart(2, '0');
  }

  function formatTime(unix) {
    const d = new Date(unix * 1000);
    if (Number.isNaN(d.getTime()))
      return String(unix);
    return d.toLocaleString(undefined, {
      dateStyle: 'medium', timeStyle: 'medium',
    });
  }

  function b64urlToBytes(s) {
    if (typeof s !== 'string' || !/^[A-Za-z0-9_-]*$/.test(s))
      throw new Error('not base64url');
    let t = s.replace(/-/g, '+').replace(/_/g, '/');
    while (t.length % 4)
      t += '=';
    const bin = atob(t);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++)
      out[i] = bin.charCodeAt(i);
    return out;
  }

  function b64urlJson(s) {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true })
      .decode(b64urlToBytes(s)));
  }

  /* ---- Errors next to their fields -------------------------------------- */

  function clearErrors() {
    for (const id of ['token-id-error', 'scopes-error', 'form-error']) {
      $(id).textContent = '';
      $(id).hidden = true;
    }
    $('token-id').removeAttribute('aria-invalid');
    $('scopes').removeAttribute('aria-invalid');
  }

  /*
   * showError puts message next to the field the server named: tokenId,
   * scopes or scopes[i]; anything else goes above the button.
   */
  function showError(field, message) {
    let box = $('form-error');
    let focus = null;
    if (field === 'tokenId') {
      box = $('token-id-error');
      $('token-id').setAttribute('aria-invalid', 'true');
      focus = $('token-id');
    } else if (typeof field === 'string' && /^scopes(\[\d+\])?$/.test(field)) {
      box = $('scopes-error');
      $('scopes').setAttribute('aria-invalid', 'true');
      const m = /^scopes\[(\d+)\]$/.exec(field);
      const sent = login && login.scopes;
      if (m && sent && sent[Number(m[1])]) {
        const input = document.querySelector(
          'input[name="scope"][value="' + CSS.escape(sent[Number(m[1])]) + '"]');
        if (input)
          focus = input;
      }
    }
    box.textContent = message;
    box.hidden = false;
    if (focus)
      focus.focus();
  }

  /* ---- Step 1: initiate ------------------------------------------------- */

  function busy(on) {
    $('login-button').disabled = on;
    $('login-button').setAttribute('aria-busy', on ? 'true' : 'false');
    $('login-button-text').textContent = on ? 'Sending the code to your phone…'
      : 'Log in with your phone';
  }

  async function initiate(ev) {
    ev.preventDefault();
    clearErrors();
    const tokenId = $('token-id').value.trim();
    if (LOGIN_ID !== null && pending === null)
      return;
    const scopes = pending ? pending.scopes.slice() : Array.from(
      document.querySelectorAll('input[name="scope"]:checked'), (i) => i.value);
    if (tokenId === '') {
      showError('tokenId', 'Enter the token ID of your ID seal.');
      return;
    }
    endLogin();
    login = { tokenId, scopes, final: false, reconnected: false };
    const mine = login;
    busy(true);
    let res;
    let body = null;
    try {
      res = await fetch('/auth/initiate', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
        body: JSON.stringify(pending
          ? { tokenId, serviceId: SERVICE_ID, scopes, login: pending.login }
          : { tokenId, serviceId: SERVICE_ID, scopes }),
        cache: 'no-store',
        credentials: 'same-origin',
      });
      body = await res.json().catch(() => null);
    } catch (e) {
      busy(false);
      showError(null, 'The server cannot be reached. Check your connection and try again.');
      return;
    }
    busy(false);
    if (mine !== login)
      return;
    if (!res.ok || body === null || typeof body.sessionId !== 'string') {
      let msg = body && typeof body.message === 'string' ? body.message
        : 'The server refused the login (HTTP ' + res.status + ').';
      if (body && body.error === 'push_failed')
        msg = PUSH_FAILED_TEXT;
      if (res.status === 429) {
        const ra = Number(res.headers.get('Retry-After'));
        msg += Number.isFinite(ra) && ra > 0
          ? ' Try again in ' + ra + ' s.' : ' Try again later.';
      }
      showError(body && body.field, msg);
      return;
    }
    startWaiting(body);
  }

  /* ---- Step 2: the code and the live status ----------------------------- */

  function startWaiting(body) {
    const l = login;
    l.sessionId = body.sessionId;
    l.wsToken = body.wsToken;
    l.random = body.random;
    l.code = body.autoPassword;
    l.expiresAt = Date.parse(body.expiresAt);
    l.total = Math.max(1, Math.round((l.expiresAt - Date.now()) / 1000));

    $('service-name').textContent = SERVICE_NAME;
    $('code').textContent = groupCode(l.code);
    $('code').setAttribute('aria-label', 'Login code ' + String(l.code).split('').join(' '));
    $('code').dataset.code = l.code;
    $('code').dataset.state = 'live';
    $('code-lead').hidden = false;
    $('code-ended').hidden = true;
    $('countdown-bar').max = l.total;
    $('countdown-box').hidden = false;
    setStatus('Waiting for your phone…', 'wait');
    show('step-code');
    tick();
    l.timer = setInterval(tick, 250);
    connect();
  }

  function tick() {
    const l = login;
    if (!l || l.final)
      return;
    const left = Math.max(0, Math.ceil((l.expiresAt - Date.now()) / 1000));
    $('countdown').textContent = formatSeconds(left);
    $('countdown-bar').value = left;
    if (left === 0)
      finish('The code expired — start again.', 'error');
  }

  /* finish ends the attempt with a final status line. */
  function finish(text, tone) {
    const l = login;
    if (!l || l.final)
      return;
    l.final = true;
    clearInterval(l.timer);
    $('countdown-box').hidden = true;
    $('code').dataset.state = 'ended';
    /* The instruction to compare and approve no longer holds. */
    $('code-lead').hidden = true;
    $('code-ended').hidden = false;
    setStatus(text, tone);
    if (l.ws && l.ws.readyState <= WebSocket.OPEN)
      l.ws.close(1000);
    $('restart-button').focus();
  }

  /* endLogin forgets the current attempt, closing its socket. */
  function endLogin() {
    const l = login;
    login = null;
    if (!l)
      return;
    l.final = true;
    clearInterval(l.timer);
    clearTimeout(l.retry);
    if (l.ws && l.ws.readyState <= WebSocket.OPEN)
      l.ws.close(1000);
  }

  function connect() {
    const l = login;
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const url = proto + '//' + location.host + '/ws/session/' +
      encodeURIComponent(l.sessionId) + '?token=' + encodeURIComponent(l.wsToken);
    let ws;
    try {
      ws = new WebSocket(url);
    } catch (e) {
      finish('The browser could not open a connection to the server.', 'error');
      return;
    }
    l.ws = ws;
    ws.onmessage = (m) => {
      if (login !== l || l.ws !== ws)
        return;
      let ev;
      try {
        ev = JSON.parse(m.data);
      } catch (e) {
        return;
      }
      onEvent(l, ev);
    };
    ws.onclose = (c) => {
      if (login !== l || l.ws !== ws || l.final)
        return;
      onClose(l, c.code);
    };
  }

  function onEvent(l, ev) {
    switch (ev && ev.type) {
    case 'otp_ready':
      if (typeof ev.autoPassword === 'string' && ev.autoPassword !== l.code) {
        l.code = ev.autoPassword;
        $('code').textContent = groupCode(l.code);
        $('code').dataset.code = l.code;
      }
      if (typeof ev.expiresAt === 'string' && !Number.isNaN(Date.parse(ev.expiresAt)))
        l.expiresAt = Date.parse(ev.expiresAt);
      setStatus('Check that your phone shows the same code, then approve there.', 'wait');
      break;
    case 'push_failed':
      /* The transport's reason is for the operator's log, not for the
       * person in front of the page. */
      if (typeof ev.reason === 'string')
        console.warn('push failed: ' + ev.reason);
      finish(PUSH_FAILED_TEXT, 'error');
      break;
    case 'rejected': {
      const reason = typeof ev.reason === 'string' ? ev.reason : 'Rejected';
      const human = REJECT_MESSAGES[reason] || reason + '.';
      if (ev.final === false) {
        let t = 'Your phone’s answer was refused: ' + reason + '.';
        if (Number.isInteger(ev.attemptsLeft))
          t += ' ' + ev.attemptsLeft + (ev.attemptsLeft === 1 ? ' attempt' : ' attempts') + ' left.';
        setStatus(t, 'warn');
      } else {
        finish('Login rejected: ' + human + ' (' + reason + ')', 'error');
      }
      break;
    }
    case 'expired':
      finish('The code expired — start again.', 'error');
      break;
    case 'failed': {
      const reason = typeof ev.reason === 'string' ? ev.reason : '';
      finish(FAILED_MESSAGES[reason] || 'The server ended this login' +
        (reason ? ' (' + reason + ')' : '') + '. Start again.', 'error');
      break;
    }
    case 'approved':
      approved(l, ev);
      break;
    default:
      break;
    }
  }

  function onClose(l, code) {
    if (CLOSE_MESSAGES[code]) {
      finish(CLOSE_MESSAGES[code], code === 4009 ? 'warn' : 'error');
      return;
    }
    /* The socket dropped before a final event: try once more, the server
     * replays a final event it already has. */
    if (!l.reconnected && Date.now() < l.expiresAt) {
      l.reconnected = true;
      setStatus('Connection lost — reconnecting…', 'warn');
      l.retry = setTimeout(() => {
        if (login === l && !l.final)
          connect();
      }, 1000);
      return;
    }
    finish('The connection to the server was lost. Start again.', 'error');
  }

  /* ---- Step 3: signed in ------------------------------------------------ */

  /* remember asks for the owner's cookie: this browser's next logins for the
   * token id then pass the quota strangers share. Best effort. */
  function remember(l) {
    fetch('/auth/remember', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify({ sessionId: l.sessionId, wsToken: l.wsToken }),
      cache: 'no-store',
      credentials: 'same-origin',
      keepalive: true, /* a federation login navigates away at once */
    }).catch(() => {});
  }

  function approved(l, ev) {
    l.final = true;
    clearInterval(l.timer);
    if (l.ws && l.ws.readyState <= WebSocket.OPEN)
      l.ws.close(1000);
    remember(l);
    if (pending) {
      /* The relying party gets the login from the server, not from here. */
      $('countdown-box').hidden = true;
      setStatus('Approved — returning to ' + SERVICE_NAME + '…', 'ok');
      location.assign('/login/continue?login=' + encodeURIComponent(pending.login) +
        '&session=' + encodeURIComponent(l.sessionId));
      return;
    }
    const jwt = typeof ev.jwt === 'string' ? ev.jwt : '';
    let header = null;
    let payload = null;
    const parts = jwt.split('.');
    try {
      if (parts.length !== 3)
        throw new Error('not a JWT');
      header = b64urlJson(parts[0]);
      payload = b64urlJson(parts[1]);
      if (typeof header !== 'object' || header === null ||
          typeof payload !== 'object' || payload === null)
        throw new Error('not a JWT');
    } catch (e) {
      show('step-done');
      renderClaims({});
      $('token-meta').replaceChildren();
      setSig('failed', 'The server sent a token this page cannot read.');
      $('jwt').textContent = jwt;
      return;
    }
    renderClaims(payload);
    renderMeta(payload);
    $('jwt').textContent = jwt;
    show('step-done');
    $('done-title').focus();
    setSig('pending', 'Checking the signature…');
    verifyJwt(parts, header, payload, l, ev).then((r) => setSig(r.state, r.text));
  }

  function claimValue(name, v) {
    if (typeof v === 'boolean')
      return v ? 'yes' : 'no';
    if (Array.isArray(v))
      return v.map(String).join(', ');
    if (v !== null && typeof v === 'object')
      return JSON.stringify(v);
    return String(v);
  }

  function addRow(dl, name, label, value) {
    const dt = document.createElement('dt');
    dt.textContent = label;
    const dd = document.createElement('dd');
    dd.dataset.claim = name;
    if (name === 'photoBase64' && typeof value === 'string' &&
        /^[A-Za-z0-9+/]+={0,2}$/.test(value)) {
      const img = document.createElement('img');
      img.alt = 'Photo from the ID seal';
      img.className = 'photo';
      img.src = 'data:image/webp;base64,' + value;
      dd.append(img);
    } else {
      dd.textContent = claimValue(name, value);
    }
    dl.append(dt, dd);
  }

  function renderClaims(p) {
    const dl = $('claims');
    dl.replaceChildren();
    const seen = new Set();
    /* A whole name is one row, not two. */
    if (typeof p.givenName === 'string' && typeof p.familyName === 'string') {
      addRow(dl, 'name', 'Name', p.givenName + ' ' + p.familyName);
      seen.add('givenName');
      seen.add('familyName');
    }
    for (const [name, label] of CLAIM_LABELS) {
      if (seen.has(name))
        continue;
      if (Object.prototype.hasOwnProperty.call(p, name)) {
        addRow(dl, name, label, p[name]);
        seen.add(name);
      }
    }
    /* A claim this page has no label for is still shown, by its name. */
    for (const name of Object.keys(p)) {
      if (!seen.has(name) && !REGISTERED.has(name))
        addRow(dl, name, name, p[name]);
    }
    $('claims-empty').hidden = dl.childElementCount > 0;
    dl.hidden = dl.childElementCount === 0;
  }

  function renderMeta(p) {
    const dl = $('token-meta');
    dl.replaceChildren();
    for (const [name, label] of META_LABELS) {
      if (!Object.prototype.hasOwnProperty.call(p, name))
        continue;
      let v = p[name];
      if ((name === 'exp' || name === 'auth_time') && Number.isFinite(v))
        v = formatTime(v);
      else if (name === 'aud' && v === SERVICE_ID)
        v = SERVICE_NAME + ' (' + v + ')';
      addRow(dl, name, label, v);
    }
  }

  function setSig(state, text) {
    $('sig-status').dataset.state = state;
    $('sig-status').textContent = text;
  }

  /*
   * verifyJwt checks the ES256 signature with WebCrypto against the key of
   * /jwks whose kid the header names; it reports "verified" only when
   * crypto.subtle.verify said so. The token must also be for this service
   * and carry this session's random.
   */
  async function verifyJwt(parts, header, payload, l, ev) {
    if (header.alg !== 'ES256')
      return { state: 'failed', text: 'Signature not verified: algorithm ' + String(header.alg) + ' is not ES256.' };
    if (typeof header.kid !== 'string' || header.kid === '')
      return { state: 'failed', text: 'Signature not verified: the token names no key (kid).' };
    if (!window.crypto || !crypto.subtle)
      return { state: 'failed', text: 'Signature not verified: this browser offers no WebCrypto here (an https page is needed).' };
    let jwks;
    try {
      const r = await fetch('/jwks', { cache: 'no-store', headers: { Accept: 'application/json' } });
      if (!r.ok)
        throw new Error('HTTP ' + r.status);
      jwks = await r.json();
    } catch (e) {
      return { state: 'failed', text: 'Signature not verified: /jwks could not be fetched (' + e.message + ').' };
    }
    const keys = jwks && Array.isArray(jwks.keys) ? jwks.keys : [];
    const jwk = keys.find((k) => k && k.kid === header.kid);
    if (!jwk || jwk.kty !== 'EC' || jwk.crv !== 'P-256')
      return { state: 'failed', text: 'Signature not verified: /jwks has no P-256 key with kid ' + header.kid + '.' };
    let ok = false;
    try {
      const key = await crypto.subtle.importKey('jwk',
        { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y, ext: true },
        { name: 'ECDSA', namedCurve: 'P-256' }, false, ['verify']);
      const sig = b64urlToBytes(parts[2]);
      if (sig.length !== 64)
        throw new Error('the signature is not 64 bytes');
      ok = await crypto.subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, key, sig,
        new TextEncoder().encode(parts[0] + '.' + parts[1]));
    } catch (e) {
      return { state: 'failed', text: 'Signature not verified: ' + e.message + '.' };
    }
    if (!ok)
      return { state: 'failed', text: 'Signature INVALID against /jwks (kid ' + header.kid + ').' };
    const notes = [];
    if (payload.aud !== SERVICE_ID)
      notes.push('but it is for another service (' + String(payload.aud) + ')');
    if (typeof ev.random === 'string' && ev.random !== l.random)
      notes.push('but it belongs to another login');
    if (Number.isFinite(payload.exp) && payload.exp * 1000 < Date.now())
      notes.push('but it has expired');
    if (notes.length)
      return { state: 'warn', text: 'Signature verified against /jwks (kid ' + header.kid + '), ' + notes.join(', ') + '.' };
    return { state: 'ok', text: 'Signature verified against /jwks (kid ' + header.kid + ').' };
  }

  /* ---- What will be shared --------------------------------------------- */

  function scopeLabel(input) {
    const span = input.parentElement.querySelector('span');
    const clone = span.cloneNode(true);
    for (const small of clone.querySelectorAll('small'))
      small.remove();
    return clone.textContent.trim();
  }

  /*
   * updateSummary says, next to the button, what the ticks add up to, and
   * how many of the folded details are ticked, so nothing is chosen out of
   * sight.
   */
  function updateSummary() {
    const checked = Array.from(
      document.querySelectorAll('input[name="scope"]:checked'));
    $('share-summary').textContent = checked.length === 0
      ? 'Nothing but the login itself is shared.'
      : 'Shared if you approve: ' + checked.map(scopeLabel).join(', ') + '.';
    const folded = $('scope-more').querySelectorAll('input[name="scope"]:checked').length;
    $('more-count').textContent = folded ? '(' + folded + ' ticked)' : '';
  }

  /* ---- Wiring ----------------------------------------------------------- */

  function restart() {
    endLogin();
    clearErrors();
    show('step-form');
    $('token-id').focus();
  }

  /*
   * loadPending reads the relying party's request and locks the form to
   * it: its service, its scopes (shown ticked, not editable) and the token
   * id it suggested.
   */
  async function loadPending() {
    $('login-button').disabled = true;
    let res;
    let body = null;
    try {
      res = await fetch('/login/pending/' + encodeURIComponent(LOGIN_ID), {
        cache: 'no-store', headers: { Accept: 'application/json' },
      });
      body = await res.json().catch(() => null);
    } catch (e) {
      showError(null, 'The server cannot be reached. Check your connection and reload.');
      return;
    }
    if (!res.ok || body === null || !Array.isArray(body.scopes)) {
      showError(null, 'This login request has expired or is unknown. ' +
        'Go back to the website and sign in again.');
      return;
    }
    pending = body;
    SERVICE_ID = body.serviceId;
    SERVICE_NAME = body.serviceName || body.serviceId;
    for (const el of [$('service-name'), $('service-name-top')])
      el.textContent = SERVICE_NAME;
    const wanted = new Set(body.scopes);
    for (const input of document.querySelectorAll('input[name="scope"]')) {
      input.checked = wanted.has(input.value);
      input.disabled = true;
    }
    /* Everything asked for is in sight. */
    if ($('scope-more').querySelector('input[name="scope"]:checked'))
      $('scope-more').open = true;
    updateSummary();
    $('scopes-hint').textContent = SERVICE_NAME + ' asks for what is ticked; ' +
      'you approve it on your phone.';
    if (body.loginHint && $('token-id').value === '')
      $('token-id').value = body.loginHint;
    document.body.dataset.login = body.login;
    $('login-button').disabled = false;
  }

  document.addEventListener('DOMContentLoaded', () => {
    for (const el of [$('service-name'), $('service-name-top')])
      el.textContent = SERVICE_NAME;
    if (LOGIN_ID !== null)
      loadPending();
    $('login-form').addEventListener('submit', initiate);
    $('scopes').addEventListener('change', updateSummary);
    updateSummary();
    $('restart-button').addEventListener('click', restart);
    $('again-button').addEventListener('click', restart);
    $('token-id').addEventListener('input', () => {
      $('token-id-error').hidden = true;
      $('token-id').removeAttribute('aria-invalid');
    });
    document.body.classList.add('ready');
  });
})();
