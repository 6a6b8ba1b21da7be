/*
 * The verification page, enhanced: reads the diploma's QR code (or a share link's QR code) with
 * the camera where the browser has BarcodeDetector, then submits it like a pasted code.
 * Without this script, or without a camera, the form works as it is (paste or upload).
 */
(function () {
  "use strict";

  var scanner = document.getElementById("scanner");
  var form = document.getElementById("verify-form");
  var result = document.getElementById("verify-result");
  if (!scanner || !form) return;
  var input = form.querySelector("textarea");
  var video = document.getElementById("scan-video");
  var start = document.getElementById("scan-start");
  var stop = document.getElementById("scan-stop");
  var stream = null;
  var timer = null;

  // After a server answer, bring the verdict into view for screen readers and small screens.
  var title = document.getElementById("verdict-title");
  if (title) title.focus();

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
            var p = document.createElement("p");
            p.className = "msg msg-error";
            p.textContent = scanner.dataset.cameraError;
            result.replaceChildren(p);
          });
      });
      stop.addEventListener("click", stopCamera);
    })
    .catch(function () { /* no camera reading: paste and upload remain */ });
})();
