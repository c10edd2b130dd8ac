// The printed summary's Print button (no inline script: the Content-Security-Policy forbids it).
document.addEventListener("click", function (event) {
  var button = event.target.closest("[data-print]");
  if (button) { window.print(); }
});
