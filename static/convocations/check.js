/*
 * The invigilator's check page, enhanced: verifies a convocation's QR code on the device,
 * offline once the ministry's public keys are cached, with WebCrypto Ed25519; reads the code
 * with the camera where the browser has BarcodeDetector. Without this script (or without
 * Ed25519 in the browser, or without keys) the form posts the code to the server instead.
 *
 * Format (convocations/codec.py): "BACV1:" + base45(COSE_Sign1), where
 *   COSE_Sign1 = tag 18 [protected bstr {1: -8, 4: kid}, {}, payload bstr, signature bstr]
 *   signed     = CBOR ["Signature1", protected, h'', payload]
 *   payload    = {1: number, 2: massar, 3: last name, 4: first name, 5: birth date,
 *                 6: CNIE last 4, 7: centre, 8: room, 9: session, 10: issued at,
 *                 11: file hash, 12: version}
 */
(function () {
  "use strict";

  var root = document.getElementById("convocation-check");
  var texts = document.getElementById("check-i18n");
  if (!root || !texts || !window.crypto || !window.crypto.subtle || !window.TextEncoder) {
    return;
  }
  var t = texts.dataset;
  var form = document.getElementById("check-form");
  var input = form.querySelector("textarea");
  var output = document.getElementById("check-result");
  var keysStatus = document.getElementById("keys-status");
  var STORE = "bac.convocation.keys";
  var PREFIX = "BACV1:";
  var keys = null; // {kid: CryptoKey}
  var ready = null; // Promise resolved when keys are usable (or not)

  var B = window.BacCose; // static/js/cose.js
  if (!B) return;
  var b45decode = B.b45decode;
  var sigStructure = B.sigStructure;
  var b64url = B.b64url;
  var b64urlDecode = B.b64urlDecode;
  function cborDecode(bytes) { return B.cborDecode(bytes, true); }

  // -- keys: cached on the device, refreshed when online -------------------------------------
  function importKeys(jwks) {
    var imported = {};
    var jobs = (jwks.keys || []).filter(function (k) {
      return k.kty === "OKP" && k.crv === "Ed25519" && k.x && k.kid;
    }).map(function (k) {
      return crypto.subtle.importKey("raw", b64urlDecode(k.x), { name: "Ed25519" }, false, ["verify"])
        .then(function (key) { imported[k.kid] = key; });
    });
    return Promise.all(jobs).then(function () { return imported; });
  }

  function showKeys(count, when) {
    keysStatus.hidden = false;
    if (!count) {
      keysStatus.textContent = t.noKeys;
      return;
    }
    keysStatus.textContent = t.keys
      .replace("%(count)s", String(count))
      .replace("%(date)s", new Date(when).toLocaleString(document.documentElement.lang || undefined));
  }

  function cached() {
    try {
      var stored = JSON.parse(localStorage.getItem(STORE) || "null");
      return stored && stored.jwks && stored.fetchedAt ? stored : null;
    } catch (e) {
      return null;
    }
  }

  function loadKeys(forceRefresh) {
    var stored = cached();
    var fromCache = stored ? importKeys(stored.jwks) : Promise.resolve(null);
    return fromCache.catch(function () { return null; }).then(function (fromStore) {
      if (fromStore && !forceRefresh && !navigator.onLine) {
        return { keys: fromStore, fetchedAt: stored.fetchedAt };
      }
      return fetch(root.dataset.keysUrl, { credentials: "same-origin", cache: "no-cache" })
        .then(function (response) {
          if (!response.ok) throw new Error("keys");
          return response.json();
        })
        .then(function (jwks) {
          return importKeys(jwks).then(function (fresh) {
            var entry = { jwks: jwks, fetchedAt: Date.now() };
            try { localStorage.setItem(STORE, JSON.stringify(entry)); } catch (e) { /* full */ }
            return { keys: fresh, fetchedAt: entry.fetchedAt };
          });
        })
        .catch(function () {
          return fromStore ? { keys: fromStore, fetchedAt: stored.fetchedAt } : null;
        });
    }).then(function (loaded) {
      keys = loaded && Object.keys(loaded.keys).length ? loaded.keys : null;
      showKeys(keys ? Object.keys(keys).length : 0, loaded ? loaded.fetchedAt : 0);
      return keys;
    });
  }

  // -- verifying -------------------------------------------------------------------------------
  function parse(text) {
    text = text.replace(/^\s+/, "").replace(/[\r\n\t]+$/, "");
    if (text.indexOf(PREFIX) !== 0 || text.length > 2000) throw new Error("prefix");
    var cose = cborDecode(b45decode(text.slice(PREFIX.length)));
    if (cose && cose.tag !== undefined) {
      if (cose.tag !== 18) throw new Error("tag");
      cose = cose.value;
    }
    if (!Array.isArray(cose) || cose.length !== 4) throw new Error("cose");
    var prot = cose[0], payload = cose[2], signature = cose[3];
    [prot, payload, signature].forEach(function (part) {
      if (!(part instanceof Uint8Array)) throw new Error("cose");
    });
    var header = cborDecode(prot);
    if (!(header instanceof Map) || header.get(1) !== -8) throw new Error("alg");
    var kid = header.get(4);
    if (!(kid instanceof Uint8Array) || !kid.length) throw new Error("kid");
    var claims = cborDecode(payload);
    if (!(claims instanceof Map)) throw new Error("claims");
    var strings = [1, 2, 3, 4, 5, 6, 7, 8, 9];
    strings.forEach(function (k) { if (typeof claims.get(k) !== "string") throw new Error("claims"); });
    if (typeof claims.get(10) !== "number" || typeof claims.get(12) !== "number") throw new Error("claims");
    if (!(claims.get(11) instanceof Uint8Array)) throw new Error("claims");
    return { kid: b64url(kid), prot: prot, payload: payload, signature: signature, claims: claims };
  }

  function verifyOffline(text) {
    var parsed;
    try {
      parsed = parse(text);
    } catch (e) {
      return Promise.resolve({ valid: false, reason: "malformed" });
    }
    var key = keys[parsed.kid];
    if (!key) return Promise.resolve({ valid: false, reason: "unknown_kid" });
    return crypto.subtle.verify("Ed25519", key, parsed.signature, sigStructure(parsed.prot, parsed.payload))
      .then(function (ok) {
        if (!ok) return { valid: false, reason: "bad_signature" };
        var c = parsed.claims;
        return {
          valid: true,
          claims: {
            number: c.get(1), massar_code: c.get(2), last_name: c.get(3), first_name: c.get(4),
            birth_date: c.get(5), cnie_last4: c.get(6), centre: c.get(7), room: c.get(8),
            session: c.get(9), issued_at: c.get(10), version: c.get(12)
          }
        };
      });
  }

  function askServer(text) {
    if (!navigator.onLine) return Promise.resolve(null);
    return fetch(root.dataset.apiUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify({ qr: text })
    }).then(function (response) {
      return response.status === 200 ? response.json() : null;
    }).catch(function () { return null; });
  }

  // -- showing the verdict (textContent only: the code's content is never markup) --------------
  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function ltr(text) {
    var span = el("span", "ltr", text);
    span.dir = "ltr";
    return span;
  }

  function formatDate(iso) {
    var parts = String(iso).split("-");
    return parts.length === 3 ? parts[2] + "/" + parts[1] + "/" + parts[0] : String(iso);
  }

  function render(verdict, message, claims, extra) {
    var box = el("div", "verdict " + (verdict ? "verdict-valid" : "verdict-invalid"));
    var title = el("h2", null, verdict ? t.valid : t.invalid);
    title.id = "verdict-title";
    title.tabIndex = -1;
    box.appendChild(title);
    box.appendChild(el("p", null, message));
    if (claims) {
      var body = el("div", "verdict-body");
      if (extra && extra.photo && /^data:image\/(png|jpeg);base64,/.test(extra.photo)) {
        var img = el("img", "check-photo");
        img.src = extra.photo;
        img.alt = t.photo;
        img.width = 120;
        img.height = 160;
        body.appendChild(img);
      }
      var dl = el("dl", "file");
      function row(label, value) {
        dl.appendChild(el("dt", null, label));
        var dd = el("dd");
        if (typeof value === "string") dd.textContent = value; else dd.appendChild(value);
        dl.appendChild(dd);
      }
      var name = el("span");
      var latin = el("span", null, claims.first_name + " " + String(claims.last_name).toUpperCase());
      latin.lang = "fr";
      latin.dir = "ltr";
      name.appendChild(latin);
      if (extra && extra.last_name_ar) {
        name.appendChild(document.createElement("br"));
        var arabic = el("span", null, extra.first_name_ar + " " + extra.last_name_ar);
        arabic.lang = "ar";
        arabic.dir = "rtl";
        name.appendChild(arabic);
      }
      row(t.name, name);
      row(t.birthDate, formatDate(claims.birth_date));
      row(t.cnie, ltr("…" + claims.cnie_last4));
      var centre = el("span");
      centre.appendChild(ltr(claims.centre));
      var lang = document.documentElement.lang;
      var centreName = extra && (lang === "ar" ? extra.centre_name_ar : extra.centre_name_fr);
      if (centreName) centre.appendChild(document.createTextNode(" — " + centreName));
      row(t.centre, centre);
      row(t.room, String(claims.room));
      row(t.massar, ltr(claims.massar_code));
      var conv = el("span");
      conv.appendChild(ltr(claims.number));
      conv.appendChild(document.createTextNode(" · " + t.version + " " + claims.version));
      row(t.convocation, conv);
      body.appendChild(dl);
      box.appendChild(body);
    }
    output.replaceChildren(box);
    title.focus();
  }

  var REASONS = { malformed: "malformed", unknown_kid: "unknownKid", bad_signature: "badSignature" };

  function check(text) {
    return verifyOffline(text).then(function (local) {
      if (!local.valid) {
        // Decided on the device: a forged, altered or unreadable code is never sent on.
        render(false, t[REASONS[local.reason]], null, null);
        return;
      }
      render(true, t.validOffline, local.claims, null);
      return askServer(text).then(function (server) {
        if (!server || !server.reason && !server.valid) return;
        if (server.valid) {
          render(true, t.validOnline, local.claims, server.convocation);
        } else {
          // e.g. superseded: the register knows what the code cannot say.
          render(false, server.message, server.convocation ? local.claims : null, server.convocation);
        }
      });
    });
  }

  // -- wiring ------------------------------------------------------------------------------------
  function ed25519Supported() {
    // A fixed valid public key (RFC 8032 test 1): importing it tells whether Ed25519 exists.
    var x = b64urlDecode("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo");
    return crypto.subtle.importKey("raw", x, { name: "Ed25519" }, false, ["verify"])
      .then(function () { return true; }, function () { return false; });
  }

  ready = ed25519Supported().then(function (supported) {
    return supported ? loadKeys(false) : null;
  });

  form.addEventListener("submit", function (event) {
    if (!keys) return; // no keys or no Ed25519: the server checks the code
    event.preventDefault();
    check(input.value);
  });

  // Camera (progressive enhancement): only where BarcodeDetector reads QR codes.
  var scanner = document.getElementById("scanner");
  var video = document.getElementById("scan-video");
  var start = document.getElementById("scan-start");
  var stop = document.getElementById("scan-stop");
  var stream = null;
  var timer = null;

  function stopCamera() {
    if (timer) clearTimeout(timer);
    timer = null;
    if (stream) stream.getTracks().forEach(function (track) { track.stop(); });
    stream = null;
    video.hidden = true;
    stop.hidden = true;
    start.hidden = false;
  }

  function scan(detector) {
    detector.detect(video).then(function (codes) {
      var found = codes.filter(function (c) { return c.rawValue && c.rawValue.indexOf(PREFIX) === 0; })[0];
      if (found) {
        stopCamera();
        input.value = found.rawValue;
        ready.then(function () {
          if (keys) check(found.rawValue); else form.requestSubmit();
        });
        return;
      }
      timer = setTimeout(function () { scan(detector); }, 250);
    }).catch(function () {
      timer = setTimeout(function () { scan(detector); }, 500);
    });
  }

  if ("BarcodeDetector" in window && navigator.mediaDevices && navigator.mediaDevices.getUserMedia) {
    Promise.resolve(window.BarcodeDetector.getSupportedFormats ? window.BarcodeDetector.getSupportedFormats() : [])
      .then(function (formats) {
        if (formats.indexOf("qr_code") < 0) return;
        var detector = new window.BarcodeDetector({ formats: ["qr_code"] });
        scanner.hidden = false;
        start.addEventListener("click", function () {
          navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false })
            .then(function (s) {
              stream = s;
              video.srcObject = s;
              video.hidden = false;
              start.hidden = true;
              stop.hidden = false;
              return video.play();
            })
            .then(function () { scan(detector); })
            .catch(function () {
              stopCamera();
              output.replaceChildren(el("p", "msg msg-error", t.cameraError));
            });
        });
        stop.addEventListener("click", stopCamera);
      })
      .catch(function () { /* no camera reading: the text field remains */ });
  }
})();
