// Landing page editor. A static file (CSP script-src 'self'); loaded by the editor page only.
(function () {
  "use strict";
  // A block saved with invalid content answers 400 with the block's form and its messages: show it in
  // place like a success (htmx leaves error answers unswapped by default).
  document.addEventListener("htmx:beforeSwap", function (event) {
    var detail = event.detail;
    if (detail.xhr && detail.xhr.status === 400 && detail.elt && detail.elt.closest("[data-swap-errors]")) {
      detail.shouldSwap = true;
      detail.isError = false;
    }
  });
})();
