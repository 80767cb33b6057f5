/*
 * saml-slo.js - keeps the single-logout page moving. Every second it asks
 * the server where the walk is (GET ?w=...&poll=1); when the step changed
 * (the service provider answered, or its time ran out) or nothing is left,
 * it reloads the page, which then signs the person out of the next one or
 * hands the result back. A file of its own because the page's
 * Content-Security-Policy allows no inline script; without script the page
 * reloads itself once the time allowed for the current step is up.
 */
'use strict';

document.addEventListener('DOMContentLoaded', function () {
  const main = document.getElementById('slo');
  if (!main) return;
  const walk = main.dataset.walk;
  const step = main.dataset.step;
  const url = '/saml/slo/walk?w=' + encodeURIComponent(walk) + '&poll=1';

  function poll() {
    fetch(url, { credentials: 'same-origin', cache: 'no-store' })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (s) {
        if (s && (!s.waiting || String(s.step) !== step)) {
          window.location.reload();
          return;
        }
        window.setTimeout(poll, 1000);
      })
      .catch(function () { window.setTimeout(poll, 2000); });
  }
  window.setTimeout(poll, 1000);
});
