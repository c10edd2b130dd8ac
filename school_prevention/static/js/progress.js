// Polls an import's progress and reloads the page when its state changes (started, finished, or its worker went away).
(function () {
  var box = document.querySelector("[data-progress-url]");
  if (!box) { return; }
  var bar = box.querySelector("progress");
  var heading = box.querySelector("[data-progress-heading]");
  var text = box.querySelector("[data-progress-text]");
  var file = box.querySelector("[data-progress-file]");
  function words(name, english) {
    return box.getAttribute("data-words-" + name) || english;
  }
  function poll() {
    fetch(box.getAttribute("data-progress-url"), { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (p) {
        // A new state (queued -> running -> finished) or a worker gone: the page shows it, with its own buttons.
        if (p.status !== box.getAttribute("data-status") || p.stalled) { window.location.reload(); return; }
        if (p.heading && heading.textContent !== p.heading) { heading.textContent = p.heading; }
        var reading = "";
        if (p.status === "running" && p.total) {
          // The words are the page's (data-words-*, in its language); figures in the page's language too.
          var lang = document.documentElement.lang || undefined;
          var figures = words("figures", "{done} of {total} rows read")
            .replace("{done}", p.done.toLocaleString(lang)).replace("{total}", p.total.toLocaleString(lang));
          bar.max = p.total; bar.value = p.done;
          bar.setAttribute("aria-valuetext", p.current
            ? words("valuetext", "{figures}, reading {file}").replace("{figures}", figures).replace("{file}", p.current)
            : figures);
          text.textContent = figures;
          reading = p.current ? words("reading", "Reading {file}").replace("{file}", p.current) : "";
        } else if (p.message && text.textContent !== p.message) {
          text.textContent = p.message;
        }
        // The file line is a live region: touch it only when the file changes, so it is announced once.
        if (file.textContent !== reading) { file.textContent = reading; }
        window.setTimeout(poll, 1000);
      })
      .catch(function () { window.setTimeout(poll, 3000); });
  }
  window.setTimeout(poll, 500);
})();
