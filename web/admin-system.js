/*
 * admin-system.js - the console's sections about the service itself: the
 * relying-party registry (services), the audit log and its chain, the
 * signing keys and the trust lists. Changes go through a confirmation and
 * a step-up; a trust refresh takes none (it installs only what verifies,
 * as the server's own timer does).
 */
'use strict';

(function () {
  const C = window.SealauthConsole;
  const { api, el, when, facts, badge, short, table, paged, query, dayStart } = C;
  const $ = (id) => document.getElementById(id);

  /* ---- Services ----------------------------------------------------------- */

  /* The form's fields by the record member they edit. */
  const FIELDS = {
    serviceId: 'svc-id', name: 'svc-name', scopes: 'svc-scopes', origins: 'svc-origins',
    matchMode: 'svc-match', subjectType: 'svc-subject', oidc: 'svc-oidc', saml: 'svc-saml',
  };
  let editing = null; /* the record being edited, or null when adding */

  const lines = (t) => t.split(/[\n,]/).map((x) => x.trim()).filter(Boolean);

  function loadServices() {
    return C.loadInto($('services-panel'), 'services', async () => {
      const { services } = await api('GET', '/v1/admin/services');
      if (!services.length)
        return el('p', { class: 'panel-msg panel-empty', text: 'No service is registered.' });
      return table('Services', [
        { label: 'Service', cell: (s) => el('div', {}, el('strong', { text: s.name }), el('br'), el('code', { class: 'id', text: s.serviceId })) },
        { label: 'Status', cell: (s) => (s.enabled === false ? badge('disabled', 'warn') : badge('enabled', 'ok')) },
        { label: 'Scopes', cell: (s) => (s.scopes || []).join(', ') || 'none' },
        { label: 'Origins', cell: (s) => (s.origins || []).join(', ') || 'any' },
        { label: 'Protocols', cell: (s) => [s.oidc ? badge('OpenID Connect') : null, s.saml ? badge('SAML') : null, (!s.oidc && !s.saml) ? 'login API' : null] },
        {
          label: 'Actions',
          cell: (s) => el('div', { class: 'row-actions' },
            el('button', { type: 'button', class: 'btn btn-secondary btn-small', 'aria-label': `Edit ${s.name}`, text: 'Edit', onclick: () => editService(s) }),
            el('button', {
              type: 'button', class: 'btn btn-secondary btn-small', 'aria-label': `Import SAML metadata into ${s.name}`,
              text: 'Import SAML metadata', onclick: () => showImport(s),
            }),
            el('button', {
              type: 'button', class: 'btn btn-secondary btn-small', 'aria-label': `${s.enabled === false ? 'Enable' : 'Disable'} ${s.name}`,
              text: s.enabled === false ? 'Enable' : 'Disable', onclick: () => toggleService(s),
            }),
            el('button', { type: 'button', class: 'btn btn-danger-quiet btn-small', 'aria-label': `Delete ${s.name}`, text: 'Delete', onclick: () => deleteService(s) })),
        },
      ], services, (s) => ({ 'data-service-id': s.serviceId }));
    });
  }

  function clearFormErrors() {
    for (const id of Object.values(FIELDS))
      C.fieldError($(id), `${id}-error`, '');
    $('service-form-error').hidden = true;
  }

  function showForm(record) {
    editing = record;
    $('saml-import-form').hidden = true;
    const f = $('service-form');
    f.reset();
    clearFormErrors();
    $('service-form-title').textContent = record ? `Edit service ${record.name}` : 'Add a service';
    $('svc-id').readOnly = !!record;
    if (record) {
      $('svc-id').value = record.serviceId;
      $('svc-name').value = record.name || '';
      $('svc-scopes').value = (record.scopes || []).join('\n');
      $('svc-origins').value = (record.origins || []).join('\n');
      $('svc-match').value = record.matchMode || 'compare';
      $('svc-subject').value = record.subjectType || 'pairwise';
      $('svc-enabled').checked = record.enabled !== false;
      $('svc-oidc').value = record.oidc ? JSON.stringify(record.oidc, null, 2) : '';
      $('svc-saml').value = record.saml ? JSON.stringify(record.saml, null, 2) : '';
    }
    f.hidden = false;
    $(record ? 'svc-name' : 'svc-id').focus();
  }

  function editService(s) {
    showForm(s);
  }

  /* formRecord reads the form; a field that cannot be read is marked. */
  function formRecord() {
    const r = {
      serviceId: $('svc-id').value.trim(), name: $('svc-name').value.trim(),
      scopes: lines($('svc-scopes').value), origins: lines($('svc-origins').value),
      matchMode: $('svc-match').value, subjectType: $('svc-subject').value,
      enabled: $('svc-enabled').checked,
    };
    let bad = null;
    if (!r.serviceId)
      bad = ['serviceId', 'Enter a service id.'];
    else if (!r.name)
      bad = ['name', 'Enter the name people see.'];
    for (const k of ['oidc', 'saml']) {
      const t = $(FIELDS[k]).value.trim();
      if (!t) {
        r[k] = null;
        continue;
      }
      try {
        r[k] = JSON.parse(t);
      } catch (e) {
        bad = bad || [k, `This is not valid JSON: ${e.message}.`];
      }
    }
    if (bad) {
      C.fieldError($(FIELDS[bad[0]]), `${FIELDS[bad[0]]}-error`, bad[1]);
      $(FIELDS[bad[0]]).focus();
      return null;
    }
    return r;
  }

  /* changes lists the members of r that differ from the record edited. */
  function changes(r) {
    const out = {};
    for (const k of ['name', 'scopes', 'origins', 'matchMode', 'subjectType', 'enabled', 'oidc', 'saml']) {
      const was = editing[k] === undefined ? null : editing[k];
      if (JSON.stringify(was) !== JSON.stringify(r[k]))
        out[k] = r[k];
    }
    return out;
  }

  /*
   * confirmChange opens the dialog o for one change of the registry and
   * runs it: start() answers the step-up (not called when pending holds
   * one already), the finish goes to finishPath. On success done(record)
   * is said, the form closes and the list reloads; a refusal that cannot
   * be retried closes the dialog and goes to refused(e).
   */
  function confirmChange(o, start, finishPath, done, form, refused, pending) {
    C.dialog.open({
      ...o,
      onOk: async (ctx) => {
        try {
          const r = await C.stepUp(ctx, start,
            (id, uvResponse) => api('POST', finishPath, { stepupId: id, uvResponse }));
          C.say(done(r));
          $(form).hidden = true;
          loadServices();
          return true;
        } catch (e) {
          if (C.retryable(e))
            throw e;
          C.dialog.close();
          refused(e);
          return true;
        }
      },
    });
    C.dialog.ctx.pending = pending || null;
  }

  /* serviceChange confirms and runs one change of the registry; a refusal
   * that names a field of the form is shown under that field. */
  function serviceChange(o, start, done) {
    confirmChange(o, start, '/v1/admin/services/finish', done, 'service-form', (e) => {
      const top = e.field ? e.field.split(/[.[]/)[0] : null;
      if (top && FIELDS[top] && !$('service-form').hidden) {
        C.fieldError($(FIELDS[top]), `${FIELDS[top]}-error`, `${C.words(e)}${e.field !== top ? ` (${e.field})` : ''}`);
        $(FIELDS[top]).focus();
      } else {
        C.fail(C.words(e));
        loadServices();
      }
    });
  }

  function saveService(ev) {
    ev.preventDefault();
    clearFormErrors();
    const r = formRecord();
    if (!r)
      return;
    if (!editing) {
      const body = { ...r };
      for (const k of ['oidc', 'saml']) {
        if (body[k] === null)
          delete body[k];
      }
      serviceChange({
        title: `Add the service ${r.name}?`,
        body: ['It can log people in as soon as it is saved. To confirm, use one of your passkeys when your browser asks.'],
        ok: 'Add service',
      }, () => api('POST', '/v1/admin/services', body), (x) => `Service ${x.name || r.name} added.`);
      return;
    }
    const patch = changes(r);
    if (!Object.keys(patch).length) {
      $('service-form-error').textContent = 'Nothing to save: no field was changed.';
      $('service-form-error').hidden = false;
      return;
    }
    const id = editing.serviceId;
    serviceChange({
      title: `Save the changes to ${editing.name}?`,
      body: [`Changed: ${Object.keys(patch).join(', ')}. Every server uses the change within a second.`,
        'To confirm, use one of your passkeys when your browser asks.'],
      ok: 'Save changes',
    }, () => api('PATCH', `/v1/admin/services/${encodeURIComponent(id)}`, patch), (x) => `Service ${x.name || id} saved.`);
  }

  function toggleService(s) {
    const on = s.enabled === false;
    serviceChange({
      title: `${on ? 'Enable' : 'Disable'} ${s.name}?`,
      body: [on ? `${s.name} can log people in again.` : `${s.name} can no longer start logins; its settings are kept.`,
        'To confirm, use one of your passkeys when your browser asks.'],
      ok: on ? 'Enable service' : 'Disable service', danger: !on,
    }, () => api('PATCH', `/v1/admin/services/${encodeURIComponent(s.serviceId)}`, { enabled: on }),
    () => `Service ${s.name} ${on ? 'enabled' : 'disabled'}.`);
  }

  function deleteService(s) {
    serviceChange({
      title: `Delete ${s.name}?`,
      body: [`${s.name} (${s.serviceId}) can no longer log anyone in, and its settings are gone. A service from the services file comes back at the next start.`,
        'To confirm, use one of your passkeys when your browser asks.'],
      ok: 'Delete service', danger: true,
    }, () => api('DELETE', `/v1/admin/services/${encodeURIComponent(s.serviceId)}`),
    () => `Service ${s.name} deleted.`);
  }

  /* ---- SAML metadata import ---------------------------------------------- */

  /* The import form's fields by the request member they send. */
  const SAML_FIELDS = {
    serviceId: 'smd-id', name: 'smd-name', scopes: 'smd-scopes', metadataXml: 'smd-xml',
    metadataUrl: 'smd-url', signerCertificate: 'smd-signer',
  };

  function clearImportErrors() {
    for (const id of Object.values(SAML_FIELDS))
      C.fieldError($(id), `${id}-error`, '');
    $('saml-import-error').hidden = true;
  }

  function importSource() {
    const url = $('smd-src-url').checked;
    $('smd-url-field').hidden = !url;
    $('smd-xml-field').hidden = url;
    return url ? 'url' : 'xml';
  }

  /* showImport opens the import form, for the service s or, without one,
   * for the service the metadata names (or a new one). */
  function showImport(s) {
    C.say('');
    $('service-form').hidden = true;
    const f = $('saml-import-form');
    f.reset();
    clearImportErrors();
    $('saml-import-title').textContent = s ? `Import SAML metadata into ${s.name}` : 'Import SAML metadata';
    $('smd-id').value = s ? s.serviceId : '';
    $('smd-id').readOnly = !!s;
    importSource();
    f.hidden = false;
    (s ? $('smd-xml') : $('smd-id')).focus();
  }

  /* importBody reads the form as the start's request; a field that cannot
   * be sent is marked and answers null. */
  function importBody() {
    const b = {};
    const v = (id) => $(id).value.trim();
    if (v('smd-id'))
      b.serviceId = v('smd-id');
    if (v('smd-name'))
      b.name = v('smd-name');
    const scopes = lines($('smd-scopes').value);
    if (scopes.length)
      b.scopes = scopes;
    if (importSource() === 'url')
      b.metadataUrl = v('smd-url');
    else
      b.metadataXml = $('smd-xml').value.trim();
    if (v('smd-signer'))
      b.signerCertificate = v('smd-signer');
    const field = b.metadataUrl !== undefined ? 'metadataUrl' : 'metadataXml';
    if (!b[field]) {
      const id = SAML_FIELDS[field];
      C.fieldError($(id), `${id}-error`, field === 'metadataUrl'
        ? 'Enter the https URL the service provider publishes its metadata at.'
        : 'Paste the service provider’s metadata (an XML document starting with EntityDescriptor).');
      $(id).focus();
      return null;
    }
    return b;
  }

  /* importError shows a refusal of the import under the field it names, or
   * above the form's buttons. */
  function importError(e) {
    const top = e.field ? e.field.split(/[.[]/)[0] : null;
    const text = `${C.words(e)}${e.field && !SAML_FIELDS[e.field] ? ` (${e.field})` : ''}`;
    if (top && SAML_FIELDS[top]) {
      const id = SAML_FIELDS[top];
      if (id === 'smd-signer')
        $('smd-signer').closest('details').open = true;
      C.fieldError($(id), `${id}-error`, text);
      $(id).focus();
      return;
    }
    $('saml-import-error').textContent = text;
    $('saml-import-error').hidden = false;
  }

  function certText(c) {
    if (!c)
      return 'none';
    return el('span', {}, `${c.subject || 'no subject'} · ${c.key || 'key'} · valid until `, when(c.notAfter, '—'),
      el('br'), el('code', { class: 'id', text: c.sha256 || '' }));
  }

  function list(items, one) {
    return items && items.length
      ? el('ul', { class: 'preview-list' }, items.map((x) => el('li', {}, one(x))))
      : el('span', { class: 'muted', text: 'none' });
  }

  /* previewNodes shows what the finish will store. */
  function previewNodes(p) {
    const r = p.requirements || {};
    const sig = p.metadataSignature || {};
    const yes = (b) => (b ? 'yes' : 'no');
    return [
      el('p', {}, p.op === 'create'
        ? `A new service ${p.serviceId} is created with these SAML settings.`
        : `The SAML settings of ${p.serviceId} are replaced by these; what the metadata does not say stays as it is.`),
      el('div', { class: 'preview' }, facts([
        ['Entity id', el('code', { class: 'id', text: p.entityId })],
        ['Responses go to (ACS)', list(p.acs, (a) => el('code', { class: 'id', text: `${a.url}${a.index !== undefined ? ` (index ${a.index})` : ''}` }))],
        ['Logout endpoint', p.slo ? el('code', { class: 'id', text: `${p.slo.url}${p.slo.binding ? ` (${p.slo.binding})` : ''}` }) : 'none'],
        ['Signing certificates', list(p.signingCertificates, certText)],
        ['Encryption certificate', certText(p.encryptionCertificate)],
        ['Signed requests required', yes(r.wantSignedRequests)],
        ['Assertions signed / encrypted', `${yes(r.signAssertion)} / ${yes(r.encryptAssertions)}`],
        ['Name id format', r.nameIdFormat || '—'],
        ['Metadata signature', sig.status === 'verified'
          ? badge('verified', 'ok') : badge(sig.signed ? 'signed, not checked' : 'unsigned', 'warn')],
        ['Source', p.source === 'pasted' ? 'pasted' : el('code', { class: 'id', text: p.source })],
      ])),
      p.warnings && p.warnings.length
        ? el('div', { class: 'notice notice-warn' }, el('p', { text: 'Left out of the settings:' }), list(p.warnings, (w) => w))
        : null,
      el('p', { text: 'To confirm, use one of your passkeys when your browser asks.' }),
    ].filter(Boolean);
  }

  /*
   * previewImport sends the start, which checks the metadata and pins
   * the record it would store to a step-up, then shows that record for
   * the admin to confirm. The finish writes the pinned record: the
   * metadata is not read again.
   */
  async function previewImport(ev) {
    ev.preventDefault();
    clearImportErrors();
    const body = importBody();
    if (!body)
      return;
    const btn = $('saml-import-preview');
    btn.disabled = true;
    let st;
    try {
      st = await api('POST', '/v1/admin/services/saml-metadata/start', body);
    } catch (e) {
      importError(e);
      return;
    } finally {
      btn.disabled = false;
    }
    const p = st.preview || {};
    const created = p.op === 'create';
    confirmChange({
      title: `${created ? 'Create' : 'Update'} ${p.serviceId} from its SAML metadata?`,
      body: previewNodes(p),
      wide: true,
      ok: created ? 'Create service' : 'Update service',
    }, () => {
      throw new Error('This import is no longer pending. Preview it again.');
    }, '/v1/admin/services/saml-metadata/finish',
    (r) => `Service ${r.name || p.serviceId} ${created ? 'created' : 'updated'} from its SAML metadata.`,
    'saml-import-form', importError, { id: st.stepupId, uvOptions: st.uvOptions });
  }

  /* ---- Audit log ---------------------------------------------------------- */

  /* detailText shows an event's details as name=value pairs. */
  function detailText(d) {
    if (!d || typeof d !== 'object')
      return '';
    return Object.entries(d).map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : v}`).join('  ');
  }

  function loadAudit() {
    const f = $('audit-filter');
    const filter = {
      event: f.event.value.trim(), subject: f.subject.value.trim(),
      since: dayStart(f.since.value), until: dayStart(f.until.value, true),
    };
    return paged($('audit-panel'), 'audit events', async (cursor) => {
      const r = await api('GET', `/v1/admin/audit${query({ ...filter, cursor })}`);
      return {
        rows: r.events, nextCursor: r.nextCursor,
        note: r.nextCursor && r.events.length < 50 ? `Looked at ${r.scanned} rows; show more to search further back.` : '',
      };
    }, (rows) => (rows.length ? table('Audit events', [
      { label: 'Time', cls: 'nowrap', cell: (e) => when(e.tsMs ? new Date(e.tsMs).toISOString() : e.ts) },
      { label: 'Event', cls: 'nowrap', cell: (e) => el('code', { text: e.event }) },
      { label: 'Subject', cell: (e) => (e.subject ? el('span', { class: 'mono', text: e.subject }) : '—') },
      { label: 'From', cell: (e) => el('span', { title: e.ua || '' }, e.ip || '—') },
      { label: 'Details', cell: (e) => el('code', { class: 'detail', text: detailText(e.detail) }) },
    ], rows, (e) => ({ 'data-seq': String(e.seq), 'data-event': e.event }))
      : el('p', { class: 'panel-msg panel-empty', text: 'No event matches.' })));
  }

  async function verifyAudit() {
    const out = $('audit-verify');
    const btn = $('audit-verify-button');
    btn.disabled = true;
    out.hidden = false;
    out.dataset.state = 'pending';
    out.textContent = 'Walking the whole chain…';
    try {
      const r = await api('GET', '/v1/admin/audit/verify');
      out.dataset.state = r.intact ? 'ok' : 'failed';
      out.textContent = r.intact
        ? `The chain is intact: ${r.rows} rows checked in ${r.tookMs} ms.`
        : `The chain is broken at row ${r.firstBadSeq}: ${r.reason}. Rows after it cannot be trusted; the finding is in the audit log and the server log.`;
    } catch (e) {
      out.dataset.state = 'failed';
      out.textContent = C.missing(e) ? 'Verifying the chain is not available on this server: its version of sealauth has no such endpoint yet.' : C.words(e);
    } finally {
      btn.disabled = false;
    }
  }

  /* ---- Signing keys ------------------------------------------------------- */

  const KEY_STATE = {
    active: ['Signs tokens now', 'ok'], next: ['Published, signs later', 'warn'], retired: ['Retired', null],
  };
  let keyInfo = null;

  function loadKeys() {
    return C.loadInto($('keys-panel'), 'signing keys', async () => {
      keyInfo = await api('GET', '/v1/admin/keys');
      $('keys-rotate-button').disabled = !!keyInfo.external;
      const order = { next: 0, active: 1, retired: 2 };
      const keys = [...keyInfo.keys].sort((a, b) => (order[a.state] - order[b.state]) || (b.createdAt - a.createdAt));
      const list = el('ul', { class: 'items', 'aria-label': 'Signing keys' }, keys.map((k) => {
        const [text, tone] = KEY_STATE[k.state] || [k.state, null];
        return el('li', { class: 'item', 'data-kid': k.kid },
          el('div', { class: 'item-head' }, el('h3', { class: 'item-title mono', text: k.kid }), badge(text, tone)),
          facts([
            ['Algorithm', k.alg],
            ['Created', when(k.createdAt, 'unknown')],
            ['Signs from', when(k.activatesAt, '—')],
            ['Retires', when(k.retiresAt, '—')],
            ['Leaves the key set', when(k.unpublishedAt, '—')],
          ]));
      }));
      return el('div', {}, keyInfo.external
        ? el('p', { class: 'notice notice-warn', text: 'This server’s key comes from a file (SERVER_PRIVATE_KEY_PATH). Rotate it where that file is managed.' })
        : null, list);
    });
  }

  function rotateKey() {
    const delay = keyInfo ? keyInfo.publishDelaySeconds : null;
    C.change({
      title: 'Rotate the signing key?',
      body: [`A new key is published now${delay ? ` and signs tokens in ${delay} seconds, once services had time to fetch it` : ' and signs tokens at once'}. The current key retires and stays published until the last token it signed has expired, so no login breaks.`,
        'To confirm, use one of your passkeys when your browser asks.'],
      ok: 'Rotate the key',
    }, async (ctx) => {
      const r = await C.stepUp(ctx,
        () => api('POST', '/v1/admin/keys/rotate/start', {}),
        (id, uvResponse) => api('POST', '/v1/admin/keys/rotate/finish', { stepupId: id, uvResponse }));
      return `New key ${r.kid} published.`;
    }, loadKeys);
  }

  /* ---- Trust -------------------------------------------------------------- */

  const TRUST_TONE = { fresh: 'ok', stale: 'warn', failed: 'error' };

  function trustView(t) {
    const st = t.status || {};
    const summary = el('div', { class: 'item' },
      el('div', { class: 'item-head' }, el('h2', { class: 'item-title', text: 'The trust set in use' }),
        badge(st.status || 'unknown', TRUST_TONE[st.status])),
      facts([
        ['Loaded', when(st.loadedAt, 'never')],
        ['Valid until', when(st.expiresAt, '—')],
        ['Next refresh', when(st.nextRefresh, '—')],
        st.lastError ? ['Last error', st.lastError] : null,
      ]));
    const docs = (t.documents || []).length ? table('Trust documents', [
      { label: 'Kind', cell: (d) => el('strong', { text: d.kind }) },
      { label: 'Authority', cell: (d) => d.iac || '—' },
      { label: 'Sequence', cell: (d) => String(d.sequence ?? '—') },
      { label: 'Issued', cell: (d) => when(d.issued, '—') },
      { label: 'Next update', cell: (d) => when(d.nextUpdate, '—') },
      { label: 'Signed by', cell: (d) => d.signer || '—' },
      { label: 'Status', cell: (d) => [badge(d.status, TRUST_TONE[d.status] || (d.staleReason ? 'warn' : 'ok')), d.staleReason ? el('p', { class: 'hint', text: d.staleReason }) : null] },
      { label: 'Fetched from', cell: (d) => (d.url ? el('code', { class: 'id', text: d.url }) : '—') },
    ], t.documents) : el('p', { class: 'panel-msg panel-empty', text: 'No trust document is loaded.' });
    return el('div', {}, summary, el('h2', { class: 'section-title', text: 'Documents' }), docs);
  }

  function loadTrust() {
    return C.loadInto($('trust-panel'), 'trust lists', async () => trustView(await api('GET', '/v1/admin/trust')));
  }

  async function refreshTrust() {
    const btn = $('trust-refresh-button');
    btn.disabled = true;
    C.say('Fetching and checking the trust lists…');
    try {
      const r = await api('POST', '/v1/admin/trust/refresh', {});
      C.say(`The trust lists were fetched and verified; the set in use is up to date.${r.othersAsked ? ' The other servers sharing this one’s session store refresh theirs now too.' : ''}`);
      $('trust-panel').replaceChildren(trustView(r));
    } catch (e) {
      if (e instanceof C.ApiError && e.status === 502) {
        C.fail(`The refresh failed${e.body.step ? ` at ${e.body.step}` : ''}: ${C.words(e)} The last good lists stay in use.`);
        if (e.body.documents)
          $('trust-panel').replaceChildren(trustView(e.body));
      } else {
        C.fail(C.missing(e) ? 'Refreshing trust is not available on this server: its version of sealauth has no such endpoint yet.' : C.words(e));
      }
    } finally {
      btn.disabled = false;
    }
  }

  /* ---- Start -------------------------------------------------------------- */

  C.view('services', 'Services', loadServices);
  C.view('audit', 'Audit log', loadAudit);
  C.view('keys', 'Signing keys', loadKeys);
  C.view('trust', 'Trust', loadTrust);

  document.addEventListener('DOMContentLoaded', () => {
    $('service-add-button').addEventListener('click', () => showForm(null));
    $('service-cancel').addEventListener('click', () => {
      $('service-form').hidden = true;
      $('service-add-button').focus();
    });
    $('service-form').addEventListener('submit', saveService);
    $('saml-import-button').addEventListener('click', () => showImport(null));
    $('saml-import-cancel').addEventListener('click', () => {
      $('saml-import-form').hidden = true;
      $('saml-import-button').focus();
    });
    $('saml-import-form').addEventListener('submit', previewImport);
    for (const r of document.querySelectorAll('#saml-import-form input[name="source"]'))
      r.addEventListener('change', importSource);
    $('audit-filter').addEventListener('submit', (ev) => {
      ev.preventDefault();
      loadAudit();
    });
    $('audit-verify-button').addEventListener('click', verifyAudit);
    $('keys-rotate-button').addEventListener('click', rotateKey);
    $('trust-refresh-button').addEventListener('click', refreshTrust);
  });
})();
