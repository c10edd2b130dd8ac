// Polls an import's progress and reloads the page when the report is ready.
(function () {
  var box = document.querySelector("[data-progress-url]");
  if (!box) { return; }
  var bar = box.querySelector("progress");
  var text = box.querySelector("[data-progress-text]");
  var file = box.querySelector("[data-progress-file]");
  function poll() {
    fetch(box.getAttribute("data-progress-url"), { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (p) {
        if (p.status !== "running") { window.location.reload(); return; }
        if (p.total) {
          var figures = p.done.toLocaleString() + " of " + p.total.toLocaleString() + " rows read";
          bar.max = p.total; bar.value = p.done;
          bar.setAttribute("aria-valuetext", figures + (p.current ? ", reading " + p.current : ""));
          text.textContent = figures;
        }
        // The file line is a live region: touch it only when the file changes, so it is announced once.
        var reading = p.current ? "Reading " + p.current : "";
        if (file.textContent !== reading) { file.textContent = reading; }
        window.setTimeout(poll, 1000);
      })
      .catch(function () { window.setTimeout(poll, 3000); });
  }
  window.setTimeout(poll, 500);
})();
