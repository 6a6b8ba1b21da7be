/*
 * The verification page, enhanced:
 * - a diploma's QR code ("BACD1:...") is verified on the device with the ministry's published
 *   keys (WebCrypto ECDSA P-256), also without a connection once the keys are cached, then the
 *   register is asked for its status (revoked? replaced?) when the network allows;
 * - the camera reads QR codes where the browser has BarcodeDetector.
 * Without this script (or without WebCrypto, DecompressionStream or keys) the form posts to
 * the server, which answers the same.
 *
 * Format (diplomas/qr.py): "BACD1:" + base45(zlib(COSE_Sign1)), where
 *   COSE_Sign1 = tag 18 [protected bstr {1: -7 (ES256), 4: kid (8 bytes)}, {}, payload, sig]
 *   signed     = CBOR ["Signature1", protected, h'', payload], sig = r || s (64 bytes)
 *   payload    = {1: number, 2: last name, 3: given name, 4: last name (ar), 5: given name (ar),
 *                 6: birth date, 7: track, 8: session year, 9: mention, 10: status index,
 *                 11: issued on, 12: average x100 (optional), 13: academy (optional)}
 */
(function () {
  "use strict";

  var root = document.getElementById("diploma-verify");
  var scanner = document.getElementById("scanner");
  var form = document.getElementById("verify-form");
  var result = document.getElementById("verify-result");
  var texts = document.getElementById("verify-i18n");
  if (!root || !form || !result || !texts) return;
  var t = texts.dataset;
  var input = form.querySelector("textarea");
  var fileInput = form.querySelector("input[type=file]");
  var keysStatus = document.getElementById("keys-status");
  var PREFIX = "BACD1:";
  var STORE = "bac.diploma.keys";
  var keys = null; // {kid: CryptoKey}

  // After a server answer, bring the verdict into view for screen readers and small screens.
  var title = document.getElementById("verdict-title");
  if (title) title.focus();

  var canVerify = !!(window.crypto && window.crypto.subtle && window.TextEncoder &&
    window.TextDecoder && window.DecompressionStream && window.Map);

  var B = window.BacCose; // static/js/cose.js
  if (!B) canVerify = false;
  var b45decode = B && B.b45decode;
  var sigStructure = B && B.sigStructure;
  var b64url = B && B.b64url;
  function cborDecode(bytes) { return B.cborDecode(bytes, false); }

  function inflate(bytes) {
    var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate"));
    return new Response(stream).arrayBuffer().then(function (buffer) {
      if (buffer.byteLength > 2048) throw new Error("size");
      return new Uint8Array(buffer);
    });
  }

  // -- keys: the published P-256 keys, cached on the device, refreshed when online ----------
  function importKeys(jwks) {
    var imported = {};
    var jobs = (jwks.keys || []).filter(function (k) {
      return k.kty === "EC" && k.crv === "P-256" && k.x && k.y && k.kid;
    }).map(function (k) {
      var jwk = { kty: "EC", crv: "P-256", x: k.x, y: k.y, ext: true };
      return crypto.subtle.importKey("jwk", jwk, { name: "ECDSA", namedCurve: "P-256" }, false, ["verify"])
        .then(function (key) { imported[k.kid] = key; }, function () { /* skip a bad key */ });
    });
    return Promise.all(jobs).then(function () { return imported; });
  }

  function cached() {
    try {
      var stored = JSON.parse(localStorage.getItem(STORE) || "null");
      return stored && stored.jwks && stored.fetchedAt ? stored : null;
    } catch (e) {
      return null;
    }
  }

  function showKeys(count, when) {
    keysStatus.hidden = false;
    keysStatus.textContent = count
      ? t.keys.replace("%(count)s", String(count))
        .replace("%(date)s", new Date(when).toLocaleString(document.documentElement.lang || undefined))
      : t.noKeys;
  }

  function loadKeys() {
    var stored = cached();
    var fromStore = stored ? importKeys(stored.jwks) : Promise.resolve(null);
    return fromStore.catch(function () { return null; }).then(function (old) {
      return fetch(root.dataset.keysUrl, { credentials: "omit", cache: "no-cache" })
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
          return old ? { keys: old, fetchedAt: stored.fetchedAt } : null;
        });
    }).then(function (loaded) {
      keys = loaded && Object.keys(loaded.keys).length ? loaded.keys : null;
      showKeys(keys ? Object.keys(keys).length : 0, loaded ? loaded.fetchedAt : 0);
    });
  }

  // -- verifying a QR code on the device --------------------------------------------------------
  var NAMES = {
    1: "number", 2: "last_name_latin", 3: "first_name_latin", 4: "last_name_ar",
    5: "first_name_ar", 6: "birth_date", 7: "track", 8: "session_year", 9: "mention",
    10: "status_list_index", 11: "issued_on", 12: "average", 13: "academy"
  };

  function parse(bytes) {
    var cose = cborDecode(bytes);
    if (!cose || cose.tag !== 18) throw new Error("tag");
    cose = cose.value;
    if (!Array.isArray(cose) || cose.length !== 4) throw new Error("cose");
    var prot = cose[0], payload = cose[2], signature = cose[3];
    [prot, payload, signature].forEach(function (part) {
      if (!(part instanceof Uint8Array)) throw new Error("cose");
    });
    if (signature.length !== 64) throw new Error("cose");
    var header = cborDecode(prot);
    if (!(header instanceof Map) || header.get(1) !== -7) throw new Error("alg");
    var kid = header.get(4);
    if (!(kid instanceof Uint8Array) || kid.length !== 8) throw new Error("kid");
    var raw = cborDecode(payload);
    if (!(raw instanceof Map)) throw new Error("claims");
    var claims = {};
    raw.forEach(function (value, key) {
      if (!NAMES[key]) throw new Error("claims");
      claims[NAMES[key]] = value;
    });
    ["number", "last_name_latin", "first_name_latin", "birth_date", "track", "issued_on"].forEach(function (k) {
      if (typeof claims[k] !== "string") throw new Error("claims");
    });
    return { kid: b64url(kid), prot: prot, payload: payload, signature: signature, claims: claims };
  }

  function verifyOnDevice(text) {
    var parsed;
    var bytes;
    try {
      bytes = b45decode(text.slice(PREFIX.length));
    } catch (e) {
      return Promise.resolve({ valid: false, message: t.damaged });
    }
    return inflate(bytes).then(function (raw) {
      parsed = parse(raw);
      var key = keys[parsed.kid];
      if (!key) return { valid: false, message: t.unknownKey };
      return crypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, key, parsed.signature,
        sigStructure(parsed.prot, parsed.payload))
        .then(function (ok) {
          return ok ? { valid: true, claims: parsed.claims } : { valid: false, message: t.badSignature };
        });
    }).catch(function () {
      return { valid: false, message: t.damaged };
    });
  }

  function askServer(text) {
    if (!navigator.onLine) return Promise.resolve(null);
    return fetch(root.dataset.apiUrl, {
      method: "POST",
      credentials: "omit",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify({ data: text })
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

  function day(iso) {
    var parts = String(iso).split("-");
    return parts.length === 3 ? parts[2] + "/" + parts[1] + "/" + parts[0] : String(iso);
  }

  function render(state, message, claims, currentNumber) {
    var valid = state === "valid";
    var box = el("div", "verdict " + (valid ? "verdict-valid" : "verdict-invalid"));
    box.id = "verdict";
    var heading = el("h2", null, t[state] || t.invalid);
    heading.id = "verdict-title";
    heading.tabIndex = -1;
    box.appendChild(heading);
    box.appendChild(el("p", null, message));
    if (currentNumber) {
      var pointer = el("p", null, t.current + ": ");
      var code = el("span", "ltr", currentNumber);
      code.dir = "ltr";
      pointer.appendChild(code);
      box.appendChild(pointer);
    }
    if (claims) {
      var dl = el("dl", "file");
      var row = function (label, value, lang) {
        if (value === undefined || value === null || value === "") return;
        dl.appendChild(el("dt", null, label));
        var dd = el("dd");
        var span = el("span", lang === "ar" ? null : "ltr", String(value));
        span.dir = lang === "ar" ? "rtl" : "ltr";
        if (lang) span.lang = lang;
        dd.appendChild(span);
        dl.appendChild(dd);
      };
      row(t.number, claims.number);
      row(t.name, claims.first_name_latin + " " + String(claims.last_name_latin).toUpperCase(), "fr");
      if (claims.last_name_ar) row(t.nameAr, claims.first_name_ar + " " + claims.last_name_ar, "ar");
      row(t.birthDate, day(claims.birth_date));
      row(t.track, claims.track);
      row(t.session, claims.session_year);
      if (claims.average !== undefined) row(t.average, (Number(claims.average) / 100).toFixed(2));
      row(t.mention, t["mention_" + claims.mention] || claims.mention);
      row(t.academy, claims.academy);
      row(t.issuedOn, day(claims.issued_on));
      box.appendChild(dl);
    }
    result.replaceChildren(box);
    heading.focus();
  }

  function check(text) {
    return verifyOnDevice(text).then(function (local) {
      if (!local.valid) {
        // Decided on the device: a forged, altered or unreadable code is never sent on.
        render("invalid", local.message, null, "");
        return;
      }
      render("valid", t.validOffline, local.claims, "");
      return askServer(text).then(function (server) {
        if (!server || !server.state) return;
        if (server.state === "valid") {
          render("valid", t.validOnline, local.claims, "");
        } else {
          // The register knows what the code cannot say: revoked, or replaced by another.
          render(server.state, server.message, local.claims, server.current_number || "");
        }
      });
    });
  }

  if (canVerify) {
    loadKeys();
    form.addEventListener("submit", function (event) {
      var text = (input.value || "").replace(/^\s+/, "").replace(/[\r\n\t]+$/, "");
      var hasFile = fileInput && fileInput.files && fileInput.files.length;
      if (!keys || hasFile || text.indexOf(PREFIX) !== 0) return; // the server answers
      event.preventDefault();
      check(text);
    });
  }

  // -- the camera (progressive enhancement): only where BarcodeDetector reads QR codes --------
  if (!scanner) return;
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
      var found = codes.filter(function (c) { return c.rawValue; })[0];
      if (found) {
        stopCamera();
        input.value = found.rawValue;
        if (fileInput) fileInput.value = "";
        if (form.requestSubmit) form.requestSubmit(); else form.submit();
        return;
      }
      timer = setTimeout(function () { scan(detector); }, 250);
    }).catch(function () {
      timer = setTimeout(function () { scan(detector); }, 500);
    });
  }

  if (!("BarcodeDetector" in window) || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    return;
  }
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
            result.replaceChildren(el("p", "msg msg-error", t.cameraError));
          });
      });
      stop.addEventListener("click", stopCamera);
    })
    .catch(function () { /* no camera reading: paste and upload remain */ });
})();
