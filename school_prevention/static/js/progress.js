// Polls an import's progress and reloads the page when the report is ready.
(function () {
  var box = document.querySelector("[data-progress-url]");
  if (!box) { return; }
  var bar = box.querySelector("progress");
  var text = box.querySelector("[data-progress-text]");
  function poll() {
    fetch(box.getAttribute("data-progress-url"), { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (p) {
        if (p.status !== "running") { window.location.reload(); return; }
        if (p.total) {
          bar.max = p.total; bar.value = p.done;
          text.textContent = p.done.toLocaleString() + " of " + p.total.toLocaleString() + " rows (" + p.current + ")";
        }
        window.setTimeout(poll, 1000);
      })
      .catch(function () { window.setTimeout(poll, 3000); });
  }
  window.setTimeout(poll, 500);
})();
