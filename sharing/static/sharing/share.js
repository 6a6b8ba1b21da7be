/* The new share link: a copy button where the Clipboard API exists. */
(function () {
  "use strict";

  var button = document.getElementById("copy-link");
  var input = document.getElementById("share-url");
  var status = document.getElementById("copy-status");
  if (!button || !input || !navigator.clipboard) return;
  button.hidden = false;
  button.addEventListener("click", function () {
    navigator.clipboard.writeText(input.value).then(function () {
      status.textContent = button.dataset.copied;
    }, function () {
      input.select();
    });
  });
})();
