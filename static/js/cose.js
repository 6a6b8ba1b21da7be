/*
 * What the pages that verify a code on the device share (static/convocations/check.js for
 * the convocation's "BACV1:" code, sharing/static/sharing/verify.js for the diploma's "BACD1:"
 * code): base45 (RFC 9285), the subset of CBOR the codes use, COSE's Sig_structure for
 * COSE_Sign1, and base64url. The server's side is convocations/codec.py and diplomas/qr.py.
 * Loaded before the page's own script (both deferred, so in order); exposes window.BacCose.
 */
(function () {
  "use strict";

  // -- base45 (RFC 9285) -----------------------------------------------------------------
  var B45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";

  function b45decode(text) {
    var values = [];
    for (var i = 0; i < text.length; i++) {
      var v = B45.indexOf(text.charAt(i));
      if (v < 0) throw new Error("base45");
      values.push(v);
    }
    if (values.length % 3 === 1) throw new Error("base45");
    var out = [];
    for (var j = 0; j < values.length; j += 3) {
      if (j + 2 < values.length) {
        var n = values[j] + values[j + 1] * 45 + values[j + 2] * 2025;
        if (n > 0xffff) throw new Error("base45");
        out.push(n >> 8, n & 0xff);
      } else {
        var m = values[j] + values[j + 1] * 45;
        if (m > 0xff) throw new Error("base45");
        out.push(m);
      }
    }
    return new Uint8Array(out);
  }

  // -- CBOR: the subset the code uses ---------------------------------------------------
  // `simple`: also accept false, true and null (the convocation code has them, the diploma's
  // has not: there they are refused as damage).
  function cborDecode(bytes, simple) {
    var pos = 0;
    function take(n) {
      if (pos + n > bytes.length) throw new Error("cbor");
      var chunk = bytes.subarray(pos, pos + n);
      pos += n;
      return chunk;
    }
    function item(depth) {
      if (depth > 8) throw new Error("cbor");
      var initial = take(1)[0];
      var major = initial >> 5;
      var info = initial & 0x1f;
      if (major === 7) {
        if (simple && info === 20) return false;
        if (simple && info === 21) return true;
        if (simple && info === 22) return null;
        throw new Error("cbor");
      }
      var arg;
      if (info < 24) arg = info;
      else if (info <= 27) {
        var raw = take(1 << (info - 24));
        arg = 0;
        for (var i = 0; i < raw.length; i++) arg = arg * 256 + raw[i];
      } else throw new Error("cbor");
      if (major === 0) return arg;
      if (major === 1) return -1 - arg;
      if (major === 2) return take(arg);
      if (major === 3) return new TextDecoder("utf-8", { fatal: true }).decode(take(arg));
      if (major === 4) {
        if (arg > 64) throw new Error("cbor");
        var list = [];
        for (var k = 0; k < arg; k++) list.push(item(depth + 1));
        return list;
      }
      if (major === 5) {
        if (arg > 64) throw new Error("cbor");
        var map = new Map();
        for (var m = 0; m < arg; m++) {
          var key = item(depth + 1);
          if (map.has(key)) throw new Error("cbor");
          map.set(key, item(depth + 1));
        }
        return map;
      }
      return { tag: arg, value: item(depth + 1) };
    }
    var value = item(0);
    if (pos !== bytes.length) throw new Error("cbor");
    return value;
  }

  function cborHead(major, n) {
    if (n < 24) return [(major << 5) | n];
    if (n < 0x100) return [(major << 5) | 24, n];
    if (n < 0x10000) return [(major << 5) | 25, n >> 8, n & 0xff];
    return [(major << 5) | 26, (n >>> 24) & 0xff, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff];
  }

  function sigStructure(protectedBytes, payload) {
    var context = new TextEncoder().encode("Signature1");
    var parts = [
      [0x84],
      cborHead(3, context.length), context,
      cborHead(2, protectedBytes.length), protectedBytes,
      [0x40],
      cborHead(2, payload.length), payload
    ];
    var size = 0;
    parts.forEach(function (p) { size += p.length; });
    var out = new Uint8Array(size);
    var at = 0;
    parts.forEach(function (p) { out.set(p, at); at += p.length; });
    return out;
  }

  // -- base64url ---------------------------------------------------------------------------
  function b64url(bytes) {
    var s = "";
    for (var i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function b64urlDecode(text) {
    var s = atob(text.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((text.length + 3) % 4));
    var out = new Uint8Array(s.length);
    for (var i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
    return out;
  }

  window.BacCose = {
    b45decode: b45decode,
    cborDecode: cborDecode,
    sigStructure: sigStructure,
    b64url: b64url,
    b64urlDecode: b64urlDecode
  };
})();
