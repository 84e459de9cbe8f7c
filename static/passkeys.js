// Tessera: passkeys on the sign-in and account pages (WebAuthn).
//
// The only script the pages load, and only when passkeys are on. Each form
// marked for it (hidden until this script shows it) runs a ceremony in two
// same-origin requests: its `data-start` URL returns the options for
// navigator.credentials, its `action` URL checks the authenticator's answer.
// Every request carries the form's CSRF token. Without this script the pages
// work as before, with passwords.
"use strict";
(function () {
  if (!window.PublicKeyCredential || !navigator.credentials) {
    return;
  }

  function decode(text) {
    var s = text.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) {
      s += "=";
    }
    var raw = atob(s);
    var out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) {
      out[i] = raw.charCodeAt(i);
    }
    return out.buffer;
  }

  function encode(buffer) {
    var bytes = new Uint8Array(buffer);
    var s = "";
    for (var i = 0; i < bytes.length; i++) {
      s += String.fromCharCode(bytes[i]);
    }
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body)
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (j) {
        if (!r.ok) {
          throw new Error(j.error || "The server refused the passkey.");
        }
        return j;
      });
    });
  }

  function answer(cred) {
    var r = cred.response;
    var out = {
      id: cred.id,
      rawId: encode(cred.rawId),
      type: cred.type,
      extensions: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
      response: { clientDataJSON: encode(r.clientDataJSON) }
    };
    if (r.attestationObject) {
      out.response.attestationObject = encode(r.attestationObject);
      if (r.getTransports) {
        out.response.transports = r.getTransports();
      }
    }
    if (r.authenticatorData) {
      out.response.authenticatorData = encode(r.authenticatorData);
      out.response.signature = encode(r.signature);
      out.response.userHandle = r.userHandle ? encode(r.userHandle) : null;
    }
    return out;
  }

  function show(form, message) {
    var status = form.querySelector("[role=alert]");
    if (status) {
      status.textContent = message;
      status.hidden = !message;
    }
  }

  function run(form, ceremony) {
    form.hidden = false;
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      show(form, "");
      ceremony(form).catch(function (err) {
        show(form, err && err.message ? err.message : String(err));
      });
    });
  }

  var add = document.getElementById("passkey-add");
  if (add) {
    run(add, function (form) {
      var csrf = form.elements.csrf_token.value;
      return post(form.dataset.start, { csrf_token: csrf }).then(function (start) {
        var pk = start.options.publicKey;
        pk.challenge = decode(pk.challenge);
        pk.user.id = decode(pk.user.id);
        (pk.excludeCredentials || []).forEach(function (c) { c.id = decode(c.id); });
        return navigator.credentials.create({ publicKey: pk }).then(function (cred) {
          return post(form.action, {
            csrf_token: csrf,
            ceremony: start.ceremony,
            name: form.elements.name.value,
            credential: answer(cred)
          });
        });
      }).then(function () {
        window.location.assign(form.dataset.done);
      });
    });
  }

  var signIn = document.getElementById("passkey-sign-in");
  if (signIn) {
    run(signIn, function (form) {
      var fields = {
        csrf_token: form.elements.csrf_token.value,
        request: form.elements.request.value
      };
      return post(form.dataset.start, fields).then(function (start) {
        var pk = start.options.publicKey;
        pk.challenge = decode(pk.challenge);
        (pk.allowCredentials || []).forEach(function (c) { c.id = decode(c.id); });
        return navigator.credentials.get({ publicKey: pk }).then(function (cred) {
          return post(form.action, {
            csrf_token: fields.csrf_token,
            request: fields.request,
            ceremony: start.ceremony,
            credential: answer(cred)
          });
        });
      }).then(function (done) {
        window.location.assign(done.redirect);
      });
    });
  }
})();
