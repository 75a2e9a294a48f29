// LeadHub dashboard behaviour. A static file (CSP script-src 'self'): no inline scripts or on* attributes.
// Every handler is delegated from the document so that it keeps working after htmx swaps a fragment.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  function rowBoxes(scope) {
    return Array.prototype.slice.call((scope || document).querySelectorAll("input[data-select-row]"));
  }

  function refreshSelection() {
    var boxes = rowBoxes();
    var checked = boxes.filter(function (box) { return box.checked; });
    boxes.forEach(function (box) {
      var row = box.closest("tr");
      if (row) { row.classList.toggle("selected", box.checked); }
    });
    document.querySelectorAll("input[data-select-all]").forEach(function (all) {
      all.checked = boxes.length > 0 && checked.length === boxes.length;
      all.indeterminate = checked.length > 0 && checked.length < boxes.length;
    });
    document.querySelectorAll("[data-selected-count]").forEach(function (el) {
      el.textContent = checked.length === 1 ? "1 selected" : checked.length + " selected";
    });
    document.querySelectorAll("[data-bulk-submit]").forEach(function (button) {
      button.disabled = checked.length === 0;
    });
  }

  document.addEventListener("change", function (event) {
    var target = event.target;
    if (!(target instanceof HTMLInputElement)) { return; }
    if (target.hasAttribute("data-select-all")) {
      rowBoxes().forEach(function (box) { box.checked = target.checked; });
      refreshSelection();
    } else if (target.hasAttribute("data-select-row")) {
      refreshSelection();
    }
  });

  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target instanceof HTMLSelectElement && target.hasAttribute("data-autosubmit") && target.form) {
      target.form.requestSubmit();
    }
  });

  document.addEventListener("click", function (event) {
    var button = event.target instanceof Element ? event.target.closest("[data-copy]") : null;
    if (!button) { return; }
    var source = document.querySelector(button.getAttribute("data-copy"));
    if (!source || !navigator.clipboard) { return; }
    navigator.clipboard.writeText(source.textContent.trim()).then(function () {
      var label = button.querySelector("[data-copy-label]");
      if (label) {
        label.textContent = "Copied";
        window.setTimeout(function () { label.textContent = "Copy"; }, 2000);
      }
    });
  });

  // Filter forms send every field; leave the empty ones out so pushed URLs stay short and shareable.
  document.addEventListener("htmx:configRequest", function (event) {
    if (event.detail.verb !== "get") { return; }
    var params = event.detail.parameters;
    Object.keys(params).forEach(function (name) {
      if (params[name] === "") { delete params[name]; }
    });
  });

  document.addEventListener("DOMContentLoaded", refreshSelection);
  document.addEventListener("htmx:afterSettle", refreshSelection);
})();
