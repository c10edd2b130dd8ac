// Progressive enhancement only: every page works without this file.
// Loaded in <head> (not deferred) so the "js" class is set before the first paint: the phone menu starts folded.
document.documentElement.classList.add("js");

document.addEventListener("submit", function (event) {
  var form = event.target;
  var question = form.getAttribute("data-confirm");
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});

// The phone menu: one button shows and hides the navigation; Escape closes it and returns to the button.
(function () {
  function toggle() { return document.querySelector(".menu-toggle"); }
  function setOpen(button, open) {
    button.setAttribute("aria-expanded", open ? "true" : "false");
    document.getElementById(button.getAttribute("aria-controls")).classList.toggle("is-open", open);
  }
  document.addEventListener("click", function (event) {
    var button = event.target.closest(".menu-toggle");
    if (button) { setOpen(button, button.getAttribute("aria-expanded") !== "true"); }
  });
  document.addEventListener("keydown", function (event) {
    var button = toggle();
    if (event.key !== "Escape" || !button || button.getAttribute("aria-expanded") !== "true") { return; }
    setOpen(button, false);
    button.focus();
  });
})();

// Tables read on a phone stack one cell per line: each cell gets its column's header as data-label (shown by
// the CSS before the value), and explicit roles keep the table's meaning for screen readers once its rows are
// no longer laid out as a table.
function labelTable(table) {
  var headRows = table.tHead ? table.tHead.rows : [];
  if (!headRows.length) { return; }
  var labels = [];
  var col = 0;
  Array.prototype.forEach.call(headRows[headRows.length - 1].cells, function (cell) {
    var text = (cell.getAttribute("data-label") || cell.textContent).replace(/\s+/g, " ").trim();
    for (var i = 0; i < (cell.colSpan || 1); i++) { labels[col++] = text; }
  });
  table.classList.add("stackable");
  table.setAttribute("role", "table");
  Array.prototype.forEach.call(table.querySelectorAll(":scope > thead, :scope > tbody, :scope > tfoot"), function (group) {
    group.setAttribute("role", "rowgroup");
  });
  Array.prototype.forEach.call(table.rows, function (row) {
    row.setAttribute("role", "row");
    var inHead = row.parentNode.tagName === "THEAD";
    var at = 0;
    Array.prototype.forEach.call(row.cells, function (cell) {
      var span = cell.colSpan || 1;
      if (cell.tagName === "TH") {
        cell.setAttribute("role", inHead ? "columnheader" : "rowheader");
      } else {
        cell.setAttribute("role", "cell");
      }
      // A column of buttons and links ("Actions") is left off paper.
      if (/^actions?$/i.test(labels.slice(at, at + span).join(""))) { cell.classList.add("is-actions"); }
      if (!inHead && !cell.textContent.trim() && !cell.querySelector("img, svg, input, select, button")) {
        cell.classList.add("is-empty");
      }
      if (!inHead && !cell.hasAttribute("data-label")) {
        // A cell across the whole row ("No referrals yet") or under an empty header needs no label.
        var label = span >= labels.length ? "" : labels.slice(at, at + span).filter(Boolean).join(" / ");
        cell.setAttribute("data-label", label);
        if (!label) { cell.classList.add("no-label"); }
      }
      at += span;
    });
  });
}

document.addEventListener("DOMContentLoaded", function () {
  Array.prototype.forEach.call(document.querySelectorAll("table.table"), labelTable);
});

// Printing opens every folded section (<details>), and closes again the ones that were folded.
(function () {
  var opened = [];
  window.addEventListener("beforeprint", function () {
    opened = Array.prototype.filter.call(document.querySelectorAll("details:not([open])"), function (d) {
      d.open = true;
      return true;
    });
  });
  window.addEventListener("afterprint", function () {
    opened.forEach(function (d) { d.open = false; });
    opened = [];
  });
})();
