// Finds a result file of the static export: name = hex(HMAC-SHA256(key, CODE|YYYY-MM-DD))[:32].
(function () {
  "use strict";
  var form = document.getElementById("find");
  var out = document.getElementById("answer");
  if (!form || !out || !window.crypto || !window.crypto.subtle) { return; }
  var labels = JSON.parse(out.getAttribute("data-labels") || "{}");
  var ar = document.documentElement.lang === "ar";

  function bytes(hex) {
    var a = new Uint8Array(hex.length / 2);
    for (var i = 0; i < a.length; i++) { a[i] = parseInt(hex.substr(2 * i, 2), 16); }
    return a;
  }
  function hex(buffer) {
    return Array.prototype.map.call(new Uint8Array(buffer), function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
  }
  function decode(part) {
    var b64 = part.replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) { b64 += "="; }
    var raw = atob(b64), a = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) { a[i] = raw.charCodeAt(i); }
    return JSON.parse(new TextDecoder("utf-8").decode(a));
  }
  function add(parent, tag, text) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) { node.textContent = text; }
    parent.appendChild(node);
    return node;
  }
  function say(text) { out.textContent = ""; add(out, "p", text); }
  function show(doc) {
    out.textContent = "";
    var c = doc.candidate, r = doc.result;
    add(out, "h2", ar ? c.first_name_ar + " " + c.last_name_ar : c.first_name + " " + c.last_name);
    add(out, "p", c.massar_code + " · " + (ar ? c.track.ar : c.track.fr));
    var dl = add(out, "dl");
    add(dl, "dt", out.getAttribute("data-average"));
    add(dl, "dd", (r.general_average || "—") + " / 20");
    add(dl, "dt", out.getAttribute("data-decision"));
    add(dl, "dd", (labels.decisions || {})[r.decision] || r.decision);
    if (r.mention) {
      add(dl, "dt", out.getAttribute("data-mention"));
      add(dl, "dd", (labels.mentions || {})[r.mention] || r.mention);
    }
    if (doc.subjects && doc.subjects.length) {
      var table = add(out, "table"), head = add(add(table, "thead"), "tr"), body = add(table, "tbody");
      add(head, "th", out.getAttribute("data-subject")).scope = "col";
      add(head, "th", out.getAttribute("data-mark")).scope = "col";
      doc.subjects.forEach(function (s) {
        var row = add(body, "tr");
        add(row, "th", (ar ? s.ar : s.fr) + " (" + ((labels.components || {})[s.component] || s.component) + ")").scope = "row";
        add(row, "td", s.mark || "—");
      });
    }
  }
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var code = form.code.value.toUpperCase().replace(/[\s.\-]/g, "");
    var birth = form.birth.value;
    if (!/^[A-Z][0-9]{9}$/.test(code) || !/^\d{4}-\d{2}-\d{2}$/.test(birth)) {
      say(out.getAttribute("data-invalid"));
      return;
    }
    var data = new TextEncoder().encode(code + "|" + birth);
    crypto.subtle.importKey("raw", bytes(form.getAttribute("data-key")), { name: "HMAC", hash: "SHA-256" }, false, ["sign"])
      .then(function (key) { return crypto.subtle.sign("HMAC", key, data); })
      .then(function (mac) {
        var name = hex(mac).slice(0, 32);
        return fetch("r/" + name.slice(0, 3) + "/" + name + ".jws", { cache: "no-store" });
      })
      .then(function (response) {
        if (!response.ok) { throw new Error("not found"); }
        return response.text();
      })
      .then(function (token) { show(decode(token.split(".")[1])); })
      .catch(function () { say(out.getAttribute("data-not-found")); });
  });
}());
