/*
 * admin-webauthn.js - the passkey ceremonies of the console: the server's
 * JSON options (binary fields base64url) turned into what
 * navigator.credentials expects, and the browser's answer turned back into
 * the JSON forms docs/admin.md describes. Browser errors become sentences
 * an admin can act on.
 */
'use strict';

window.SealauthWebAuthn = (function () {
  function toB64u(buf) {
    const bytes = new Uint8Array(buf);
    let s = '';
    for (let i = 0; i < bytes.length; i++)
      s += String.fromCharCode(bytes[i]);
    return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }

  function fromB64u(text) {
    const b64 = String(text).replace(/-/g, '+').replace(/_/g, '/');
    const s = atob(b64 + '==='.slice((b64.length + 3) % 4));
    const out = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++)
      out[i] = s.charCodeAt(i);
    return out.buffer;
  }

  function descriptors(list) {
    return (list || []).map((d) => ({ type: d.type, id: fromB64u(d.id), transports: d.transports }));
  }

  /* creationOptions decodes the server's registerOptions. */
  function creationOptions(o) {
    return {
      ...o,
      challenge: fromB64u(o.challenge),
      user: { ...o.user, id: fromB64u(o.user.id) },
      excludeCredentials: descriptors(o.excludeCredentials),
    };
  }

  /* requestOptions decodes the server's options for a sign-in or step-up. */
  function requestOptions(o) {
    return { ...o, challenge: fromB64u(o.challenge), allowCredentials: descriptors(o.allowCredentials) };
  }

  function transports(resp) {
    try {
      return typeof resp.getTransports === 'function' ? resp.getTransports() : [];
    } catch {
      return [];
    }
  }

  /* create runs navigator.credentials.create (abortable with signal) and
   * returns the registration response in its JSON form. */
  async function create(options, signal) {
    const cred = await navigator.credentials.create({ publicKey: creationOptions(options), signal });
    return {
      id: cred.id,
      rawId: toB64u(cred.rawId),
      type: cred.type,
      response: {
        clientDataJSON: toB64u(cred.response.clientDataJSON),
        attestationObject: toB64u(cred.response.attestationObject),
        transports: transports(cred.response),
      },
    };
  }

  /* get runs navigator.credentials.get (abortable with signal) and returns
   * the assertion in its JSON form. */
  async function get(options, signal) {
    const cred = await navigator.credentials.get({ publicKey: requestOptions(options), signal });
    const r = cred.response;
    return {
      id: cred.id,
      rawId: toB64u(cred.rawId),
      type: cred.type,
      response: {
        clientDataJSON: toB64u(r.clientDataJSON),
        authenticatorData: toB64u(r.authenticatorData),
        signature: toB64u(r.signature),
        userHandle: r.userHandle ? toB64u(r.userHandle) : null,
      },
    };
  }

  /* problem says what is missing for passkeys in this browser, or null. */
  function problem() {
    if (!window.isSecureContext)
      return 'Passkeys need a secure page: open the console over https, or at http://localhost while trying it out.';
    if (!window.PublicKeyCredential || !navigator.credentials)
      return 'This browser cannot use passkeys. Use a current version of Chrome, Edge, Firefox or Safari.';
    return null;
  }

  /* explain turns an exception from navigator.credentials into words. */
  function explain(e, creating) {
    switch (e && e.name) {
    case 'NotAllowedError':
      return 'The passkey prompt was closed or timed out, so nothing was changed. Try again when you are ready.';
    case 'InvalidStateError':
      return creating
        ? 'This device already holds one of your passkeys. Add the new passkey on another device or security key.'
        : 'The passkey could not be used in this state. Try again.';
    case 'SecurityError':
      return 'The browser refused passkeys for this address. Open the console at the server’s public URL (SEALAUTH_PUBLIC_URL).';
    case 'NotSupportedError':
      return 'This device cannot make a passkey the server accepts (ES256 or EdDSA with user verification).';
    case 'AbortError':
      return 'The passkey prompt was cancelled. Nothing was changed.';
    default:
      return `The passkey ceremony failed: ${e && e.message ? e.message : String(e)}`;
    }
  }

  return { create, get, problem, explain, toB64u, fromB64u };
})();
