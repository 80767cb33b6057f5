/*
 * saml-post.js - submits the SAML form of the page that hands a response
 * or a logout message to a service provider. A file of its own, because
 * the page's Content-Security-Policy allows no inline script; without
 * script the page's button does the same.
 */
'use strict';

document.addEventListener('DOMContentLoaded', function () {
  const form = document.getElementById('saml-post');
  if (form) form.submit();
});
