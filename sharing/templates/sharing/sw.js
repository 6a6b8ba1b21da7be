/*
 * The diploma holder's service worker. Its scope is the QR code page only ({{ offline_url }}):
 * it never sees share pages (other candidates' diplomas), staff pages or anything else.
 *
 * Network first: online, the page comes from the server and the copy is refreshed; a signed-out
 * answer (a redirect to sign-in, 403, 404) deletes the copy at once. Offline, the copy is shown.
 * The page's script asks it to forget everything ("forget"), and sign-out clears site data.
 */
"use strict";

var CACHE = "bac-diploma-qr-v1";
var PAGE = "{{ offline_url|escapejs }}";
var ASSETS = {{ assets|safe }};

self.addEventListener("install", function (event) {
  self.skipWaiting();
});

self.addEventListener("activate", function (event) {
  event.waitUntil(
    caches.keys().then(function (names) {
      return Promise.all(names.filter(function (name) {
        return name.indexOf("bac-diploma-qr-") === 0 && name !== CACHE;
      }).map(function (name) { return caches.delete(name); }));
    }).then(function () { return self.clients.claim(); })
  );
});

self.addEventListener("message", function (event) {
  if (event.data === "forget") {
    event.waitUntil(caches.delete(CACHE).then(function () {
      if (event.source) event.source.postMessage("forgotten");
    }));
  }
});

function forget() {
  return caches.delete(CACHE);
}

function page(request) {
  return fetch(request).then(function (response) {
    if (response.status === 200 && response.type === "basic" && !response.redirected) {
      var copy = response.clone();
      caches.open(CACHE).then(function (cache) {
        return cache.put(PAGE, copy).then(function () {
          return Promise.all(ASSETS.map(function (url) {
            return fetch(url, { credentials: "same-origin" }).then(function (asset) {
              if (asset.ok) return cache.put(url, asset);
            }).catch(function () {});
          }));
        });
      });
    } else {
      // Signed out, another account, or no diploma any more: nothing of it stays here.
      forget();
    }
    return response;
  }).catch(function () {
    return caches.open(CACHE).then(function (cache) {
      return cache.match(PAGE);
    }).then(function (cached) {
      return cached || Response.error();
    });
  });
}

self.addEventListener("fetch", function (event) {
  var request = event.request;
  if (request.method !== "GET") return;
  var url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (url.pathname === PAGE && request.mode === "navigate") {
    event.respondWith(page(request));
    return;
  }
  if (ASSETS.indexOf(url.pathname) >= 0) {
    // The page's style sheets and script: network first too, the copy when offline.
    event.respondWith(fetch(request).catch(function () {
      return caches.open(CACHE).then(function (cache) { return cache.match(url.pathname); })
        .then(function (cached) { return cached || Response.error(); });
    }));
  }
});
