// The sales queue's keyboard and refresh behaviour. A static file (CSP script-src 'self'); handlers are
// delegated from the document so that they survive htmx swapping rows and the whole list.
//   j / k    next / previous lead        a  accept the lead        r  reject (opens the reason form)
//   Enter    open the lead's workspace   Esc  cancel the reason form
// The list polls every 20 seconds; the poll is skipped while a reason form is open or a field has focus,
// and the focused lead keeps its focus across a refresh (by id, else by position).
(function () {
  "use strict";

  function rows() {
    return Array.prototype.slice.call(document.querySelectorAll("#queue-results tr.queue-row"));
  }

  function currentRow() {
    var active = document.activeElement;
    return active && active.closest ? active.closest("tr.queue-row") : null;
  }

  function focusRow(row) {
    if (!row) { return; }
    rows().forEach(function (r) { r.setAttribute("tabindex", "-1"); r.classList.remove("is-current"); });
    row.setAttribute("tabindex", "0");
    row.classList.add("is-current");
    row.focus();
  }

  function typing(target) {
    if (!(target instanceof Element)) { return false; }
    return target.closest("input, select, textarea, [contenteditable='true']") !== null;
  }

  document.addEventListener("keydown", function (event) {
    if (!document.getElementById("queue-results") || event.ctrlKey || event.metaKey || event.altKey) { return; }
    var row = currentRow();
    if (event.key === "Escape") {
      var cancel = document.querySelector("#queue-results [data-reject-cancel]");
      if (cancel) { event.preventDefault(); cancel.click(); }
      return;
    }
    if (typing(event.target)) { return; }
    var all = rows();
    if (!all.length) { return; }
    var index = row ? all.indexOf(row) : -1;
    if (event.key === "j" || (event.key === "ArrowDown" && row)) {
      event.preventDefault();
      focusRow(all[Math.min(index + 1, all.length - 1)]);
    } else if (event.key === "k" || (event.key === "ArrowUp" && row)) {
      event.preventDefault();
      focusRow(all[Math.max(index - 1, 0)]);
    } else if (row && event.key === "a") {
      var accept = row.querySelector("[data-accept]");
      if (accept) { event.preventDefault(); accept.click(); }
    } else if (row && event.key === "r") {
      var reject = row.querySelector("[data-reject]");
      if (reject) { event.preventDefault(); reject.click(); }
    } else if (row && event.key === "Enter" && event.target === row) {
      var link = row.querySelector("[data-open-lead]");
      if (link) { event.preventDefault(); link.click(); }
    }
  });

  // Clicking anywhere in a row makes it the current one, so the keys act on what the mouse picked.
  document.addEventListener("click", function (event) {
    var row = event.target instanceof Element ? event.target.closest("#queue-results tr.queue-row") : null;
    if (row && !event.target.closest("a, button, input, select")) { focusRow(row); }
  });

  // Skip a poll while the rep is in the middle of something.
  document.addEventListener("htmx:beforeRequest", function (event) {
    var elt = event.detail.elt;
    if (!(elt instanceof Element) || !elt.hasAttribute("data-queue-poll")) { return; }
    if (document.querySelector("#queue-results .reject-row") || typing(document.activeElement)) {
      event.preventDefault();
    }
  });

  var remembered = null;
  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    if (!(target instanceof Element)) { return; }
    var row = currentRow();
    if (target.id === "queue-results" && row) {
      remembered = { id: row.getAttribute("data-handoff-id"), index: rows().indexOf(row), whole: true };
    } else if (target.matches("tr.queue-row")) {
      remembered = { id: target.getAttribute("data-handoff-id"), index: rows().indexOf(target), whole: false };
    }
  });

  document.addEventListener("htmx:afterSettle", function () {
    if (!remembered) { return; }
    var all = rows();
    var again = all.filter(function (r) { return r.getAttribute("data-handoff-id") === remembered.id; })[0];
    var target = again || all[Math.min(remembered.index, all.length - 1)];
    remembered = null;
    if (!target) { return; }
    var reason = target.querySelector("[data-reject-reason]");
    if (reason) {
      reason.focus();
    } else {
      focusRow(target);
    }
  });
})();
