/*
 * The holder's offline copy of the QR code page: registers the service worker (scope: that
 * page only) when the holder opens the page, and removes the copy on request.
 * Progressive enhancement: without this script the pages work, without the offline copy.
 */
(function () {
  "use strict";

  var box = document.getElementById("offline-controls");
  if (!box || !("serviceWorker" in navigator) || !window.caches) return;
  var status = document.getElementById("offline-status");
  var forget = document.getElementById("offline-forget");
  var note = document.getElementById("offline-copy-note");
  var scope = box.dataset.scope;

  if (note && !navigator.onLine) note.hidden = false;

  function say(text) {
    status.textContent = text;
  }

  function registration() {
    return navigator.serviceWorker.getRegistration(scope);
  }

  if (box.dataset.keep === "1") {
    navigator.serviceWorker.register(box.dataset.swUrl, { scope: scope }).then(function () {
      box.hidden = false;
      say(box.dataset.kept);
    }).catch(function () { /* not kept: the page still works online */ });
  } else {
    registration().then(function (reg) {
      if (reg) box.hidden = false;
    });
  }

  function removeCopy() {
    return registration().then(function (reg) {
      return caches.keys().then(function (names) {
        var jobs = names.filter(function (name) {
          return name.indexOf("bac-diploma-qr-") === 0;
        }).map(function (name) { return caches.delete(name); });
        if (reg) jobs.push(reg.unregister());
        return Promise.all(jobs);
      });
    });
  }

  forget.addEventListener("click", function () {
    removeCopy().then(function () {
      say(box.dataset.removed);
      forget.hidden = true;
    });
  });

  // Signing out from these pages removes the copy first (elsewhere, the worker drops it at the
  // next visit, when the server no longer answers with the page).
  var signOut = document.querySelector('form[action="' + box.dataset.signOut + '"]');
  if (signOut) {
    signOut.addEventListener("submit", function (event) {
      event.preventDefault();
      var done = function () { signOut.submit(); };
      removeCopy().then(done, done);
    });
  }
})();
