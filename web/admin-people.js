/*
 * admin-people.js - the console's sections about people: enrollments (find,
 * look at, revoke), the logins waiting for a phone, and the admins with
 * their invitations. Every change goes through a confirmation and a
 * step-up (SealauthConsole.change and stepUp in admin.js).
 */
'use strict';

(function () {
  const C = window.SealauthConsole;
  const { api, el, when, facts, badge, short, table, paged, query, dayStart } = C;
  const $ = (id) => document.getElementById(id);

  /* ---- Enrollments -------------------------------------------------------- */

  const STATUS_TONE = { active: 'ok', revoked: 'error', expired: 'warn' };
  const PUSH = { fcm: 'Firebase', unifiedpush: 'UnifiedPush' };

  function enrollmentFilter() {
    const f = $('enrollments-filter');
    return {
      tokenId: f.tokenId.value.trim(), status: f.status.value, authority: f.authority.value.trim(),
      since: dayStart(f.since.value), until: dayStart(f.until.value, true),
    };
  }

  function loadEnrollments() {
    const filter = enrollmentFilter();
    return paged($('enrollments-panel'), 'enrollments', async (cursor) => {
      const r = await api('GET', `/v1/admin/enrollments${query({ ...filter, cursor })}`);
      return { rows: r.enrollments, nextCursor: r.nextCursor };
    }, (rows) => (rows.length ? table('Enrollments', [
      { label: 'Token id', cell: (e) => el('strong', { class: 'mono', text: e.tokenId }) },
      { label: 'Status', cell: (e) => badge(e.status, STATUS_TONE[e.status]) },
      { label: 'Issuing authority', cell: (e) => e.authority || '—' },
      { label: 'Trust level', cell: (e) => String(e.trustLevel ?? '—') },
      { label: 'Enrolled', cell: (e) => when(e.createdAt) },
      { label: 'Revoked', cell: (e) => when(e.revokedAt, '—') },
      { label: 'Push', cell: (e) => PUSH[e.push] || (e.push ? e.push : 'none') },
      {
        label: 'Actions',
        cell: (e) => el('div', { class: 'row-actions' },
          el('button', {
            type: 'button', class: 'btn btn-secondary btn-small', 'aria-label': `Details of ${e.tokenId}`, 'aria-expanded': 'false',
            text: 'Details', onclick: (ev) => enrollmentDetails(e, ev.currentTarget),
          }),
          e.status === 'active' ? el('button', {
            type: 'button', class: 'btn btn-danger-quiet btn-small', 'aria-label': `Revoke ${e.tokenId}`,
            text: 'Revoke', onclick: () => revokeEnrollment(e),
          }) : null),
      },
    ], rows, (e) => ({ 'data-token-id': e.tokenId }))
      : el('p', { class: 'panel-msg panel-empty', text: 'No enrollment matches.' })));
  }

  /* enrollmentDetails shows one enrollment's record below its row. */
  async function enrollmentDetails(e, button) {
    const row = button.closest('tr');
    const next = row.nextElementSibling;
    if (next && next.classList.contains('detail-row')) {
      next.remove();
      button.setAttribute('aria-expanded', 'false');
      return;
    }
    const cell = el('td', { colspan: String(row.children.length), role: 'cell' },
      el('p', { class: 'panel-msg', text: 'Loading…' }));
    row.after(el('tr', { class: 'detail-row', role: 'row' }, cell));
    button.setAttribute('aria-expanded', 'true');
    try {
      const d = await api('GET', `/v1/admin/enrollments/${encodeURIComponent(e.tokenId)}`);
      const t = d.pendingTakeover;
      cell.replaceChildren(facts([
        ['Claims on the seal', (d.claimNames || []).join(', ') || 'none'],
        ['Seal fingerprint', short(d.sealFingerprint, 20)],
        ['Device', short(d.deviceId, 20)],
        ['Expires', when(d.expiresAt, 'never')],
        ['Logins waiting now', String(d.liveSessions ?? 0)],
        ['Move to a new phone', t ? el('span', {}, 'pending, takes effect ', when(t.effectiveAt)) : 'none pending'],
      ]));
    } catch (err) {
      cell.replaceChildren(el('p', { class: 'panel-msg panel-error', text: C.words(err) }));
    }
  }

  function revokeEnrollment(e) {
    C.change({
      title: `Revoke the enrollment of ${e.tokenId}?`,
      body: [
        `${e.tokenId} will never log in or enroll again, on any service. Logins of it that are waiting for the phone end at once.`,
        'This cannot be undone. To confirm, use one of your passkeys when your browser asks.',
      ],
      input: { label: 'Reason (optional)', hint: 'Kept in the audit log, for example “phone reported stolen”.', maxlength: 200 },
      ok: 'Revoke enrollment', danger: true,
    }, async (ctx) => {
      const reason = ctx.input();
      const r = await C.stepUp(ctx,
        () => api('POST', '/v1/admin/enrollments/revoke/start', reason ? { tokenId: e.tokenId, reason } : { tokenId: e.tokenId }),
        (id, uvResponse) => api('POST', '/v1/admin/enrollments/revoke/finish', { stepupId: id, uvResponse }));
      const n = r.sessionsEnded || 0;
      return `Enrollment ${r.tokenId} revoked${n ? `; ${n} waiting login${n === 1 ? '' : 's'} ended` : ''}.`;
    }, loadEnrollments);
  }

  /* ---- Live logins -------------------------------------------------------- */

  const LOGIN_STATE = {
    waiting: ['Waiting', 'warn'], approved: ['Approved', 'ok'],
    rejected: ['Rejected', 'error'], failed: ['Too many attempts', 'error'],
  };

  function loadLogins() {
    const f = $('logins-filter');
    const filter = { tokenId: f.tokenId.value.trim(), serviceId: f.serviceId.value.trim() };
    return paged($('logins-panel'), 'live logins', async (cursor) => {
      const r = await api('GET', `/v1/admin/login-sessions${query({ ...filter, cursor })}`);
      return { rows: r.sessions, nextCursor: r.nextCursor };
    }, (sessions) => {
      if (!sessions.length)
        return el('p', { class: 'panel-msg panel-empty', text: 'No login is in progress.' });
      return table('Live logins', [
        { label: 'Token id', cell: (s) => (s.tokenId ? el('strong', { class: 'mono', text: s.tokenId }) : el('span', { class: 'hint', text: 'not enrolled' })) },
        { label: 'Service', cell: (s) => s.serviceName || s.serviceId },
        { label: 'State', cell: (s) => badge(...(LOGIN_STATE[s.state] || [s.state, 'warn'])) },
        { label: 'Asks for', cell: (s) => (s.scopes || []).join(', ') },
        { label: 'Started', cell: (s) => when(s.issuedAt) },
        { label: 'Ends', cell: (s) => when(s.expiresAt) },
        { label: 'From', cell: (s) => el('span', { title: s.userAgent || '' }, `${s.ip || 'unknown'} · ${C.browserName(s.userAgent)}`) },
        { label: 'Session', cell: (s) => short(s.sessionId, 14) },
        {
          label: 'Action',
          cell: (s) => (s.state === 'waiting' ? el('button', {
            type: 'button', class: 'btn btn-danger-quiet btn-small', 'aria-label': `End the login ${s.sessionId}`,
            text: 'End', onclick: () => endLogin(s),
          }) : '—'),
        },
      ], sessions, (s) => ({ 'data-session-id': s.sessionId }));
    });
  }

  function endLogin(s) {
    const who = s.tokenId ? `of ${s.tokenId}` : 'for a token id nobody enrolled';
    C.change({
      title: 'End this login?',
      body: [`The login ${who} at ${s.serviceName || s.serviceId} ends now: the browser that started it is told, and the phone can no longer approve it.`,
        'To confirm, use one of your passkeys when your browser asks.'],
      ok: 'End login', danger: true,
    }, async (ctx) => {
      await C.stepUp(ctx,
        () => api('POST', '/v1/admin/login-sessions/end/start', { sessionId: s.sessionId }),
        (id, uvResponse) => api('POST', '/v1/admin/login-sessions/end/finish', { stepupId: id, uvResponse }));
      return 'The login has ended.';
    }, loadLogins);
  }

  /* ---- Admins ------------------------------------------------------------- */

  const CREATED_BY = { install: 'the install claim', recovery: 'recovery on the server', invite: 'invitation' };

  function loadAdmins() {
    return C.loadInto($('admins-panel'), 'admins', async () => {
      const { admins, invites } = await api('GET', '/v1/admin/admins');
      const names = new Map(admins.map((a) => [a.adminId, a.name]));
      const by = (id) => (id ? (names.get(id) || el('span', {}, 'a removed admin (', short(id, 12), ')')) : '—');
      const list = el('ul', { class: 'items', 'aria-label': 'Admins' }, admins.map((a) =>
        el('li', { class: 'item', 'data-admin-id': a.adminId },
          el('div', { class: 'item-head' },
            el('h3', { class: 'item-title', text: a.name }),
            a.current ? badge('You', 'ok') : null),
          facts([
            ['Admin since', when(a.createdAt)],
            ['Came in by', a.createdBy === 'invite' ? el('span', {}, 'invitation from ', by(a.invitedBy))
              : CREATED_BY[a.createdBy] || '—'],
            ['Passkeys', String(a.passkeys ?? 0)],
            ['Admin id', short(a.adminId, 16)],
          ]),
          el('div', { class: 'item-actions' },
            el('button', {
              type: 'button', class: 'btn btn-danger-quiet btn-small',
              'aria-label': a.current ? 'Remove yourself as an admin' : `Remove admin ${a.name}`, text: 'Remove',
              onclick: () => removeAdmin(a, admins.length),
            })))));
      const open = invites && invites.length
        ? table('Open invitations', [
          { label: 'For', cell: (i) => el('strong', { text: i.name }) },
          { label: 'Invited', cell: (i) => when(i.createdAt) },
          { label: 'By', cell: (i) => by(i.invitedBy) },
          { label: 'Link valid until', cell: (i) => when(i.expiresAt) },
          {
            label: 'Actions',
            cell: (i) => el('div', { class: 'row-actions' },
              el('button', {
                type: 'button', class: 'btn btn-danger-quiet btn-small',
                'aria-label': `Cancel the invitation for ${i.name}`, text: 'Cancel invitation',
                onclick: () => cancelInvite(i),
              })),
          },
        ], invites, (i) => ({ 'data-invite-id': i.inviteId }))
        : el('p', { class: 'panel-msg panel-empty', text: 'No invitation is open.' });
      return el('div', {}, list, el('h2', { class: 'section-title', id: 'invites-title', text: 'Open invitations' }), open);
    });
  }

  function invite() {
    C.change({
      title: 'Invite an admin',
      body: ['The console makes a link for the new admin, valid once and for 24 hours. Send it to them privately: whoever opens it first becomes an admin.',
        'To confirm, use one of your passkeys when your browser asks.'],
      input: { label: 'Their name', hint: 'Shown to other admins and in the audit log.', maxlength: 64 },
      ok: 'Create the link',
    }, async (ctx) => {
      const name = ctx.input();
      if (!name) {
        $('dialog-input').setAttribute('aria-invalid', 'true');
        throw new C.ApiError(400, { error: 'validation', field: 'name', message: 'Enter the new admin’s name.' });
      }
      const r = await C.stepUp(ctx,
        () => api('POST', '/v1/admin/admins/invite/start', { name }),
        (id, uvResponse) => api('POST', '/v1/admin/admins/invite/finish', { stepupId: id, uvResponse }));
      showInvite(r);
      return `Invitation for ${r.name} created.`;
    }, loadAdmins);
  }

  /* showInvite shows the link once, after the change dialog closed; the
   * link lives only in this dialog and is dropped when it closes. */
  function showInvite(r) {
    setTimeout(() => C.dialog.open({
      title: `The link for ${r.name}`,
      body: [el('p', {}, `Send this link to ${r.name} privately. It is shown only now, works once, and expires `, when(r.expiresAt), '.'),
        el('p', { class: 'hint', text: 'Whoever opens it first can become an admin. If it goes astray, cancel the invitation.' })],
      input: { label: 'Invitation link', value: r.inviteUrl, readonly: true, maxlength: 4096 },
      ok: 'Copy the link',
      cancel: 'Done',
      onOk: async (ctx) => {
        const input = $('dialog-input');
        try {
          await navigator.clipboard.writeText(r.inviteUrl);
          ctx.step('Copied. Paste it into a private message to them.');
        } catch {
          /* No clipboard for this page: leave the link selected. */
          input.focus();
          input.select();
          ctx.step('Your browser did not let the console copy: the link is selected, copy it with Ctrl+C (⌘C on a Mac).');
        }
        return false;
      },
      onClose: () => {
        $('dialog-input').value = '';
      },
    }), 0);
  }

  function cancelInvite(i) {
    C.change({
      title: `Cancel the invitation for ${i.name}?`,
      body: [`The link made for ${i.name} stops working at once. You can invite them again later.`,
        'To confirm, use one of your passkeys when your browser asks.'],
      ok: 'Cancel invitation', cancel: 'Keep it', danger: true,
    }, async (ctx) => {
      await C.stepUp(ctx,
        () => api('POST', '/v1/admin/admins/invite/cancel/start', { inviteId: i.inviteId }),
        (id, uvResponse) => api('POST', '/v1/admin/admins/invite/cancel/finish', { stepupId: id, uvResponse }));
      return `The invitation for ${i.name} is cancelled.`;
    }, loadAdmins);
  }

  function removeAdmin(a, count) {
    const self = a.current;
    const body = [self
      ? 'You remove yourself: your passkeys go and you are signed out at once.'
      : `${a.name} can no longer sign in: their passkeys, their console sessions and the invitations they made go at once.`];
    if (count === 1)
      body.push('This is the only admin: the server keeps at least one, so invite another admin first.');
    body.push('This cannot be undone. To confirm, use one of your passkeys when your browser asks.');
    let removed = false;
    C.change({ title: self ? 'Remove yourself as an admin?' : `Remove admin ${a.name}?`, body, ok: 'Remove admin', danger: true }, async (ctx) => {
      await C.stepUp(ctx,
        () => api('POST', '/v1/admin/admins/remove/start', { adminId: a.adminId }),
        (id, uvResponse) => api('POST', '/v1/admin/admins/remove/finish', { stepupId: id, uvResponse }));
      removed = true;
      return `${a.name} is no longer an admin.`;
    }, () => (self && removed ? C.signedOut('You removed yourself: you are no longer an admin of this server.') : loadAdmins()));
  }

  /* ---- Start -------------------------------------------------------------- */

  C.view('enrollments', 'Enrollments', loadEnrollments);
  C.view('logins', 'Live logins', loadLogins);
  C.view('admins', 'Admins', loadAdmins);

  document.addEventListener('DOMContentLoaded', () => {
    $('enrollments-filter').addEventListener('submit', (ev) => {
      ev.preventDefault();
      loadEnrollments();
    });
    $('logins-filter').addEventListener('submit', (ev) => {
      ev.preventDefault();
      loadLogins();
    });
    $('admin-invite-button').addEventListener('click', invite);
  });
})();
