// "Mark everyone present": ticks the given value for every student row; each stays editable.
document.addEventListener("click", function (event) {
  var button = event.target.closest("[data-mark-all]");
  if (!button) { return; }
  var value = button.getAttribute("data-mark-all");
  button.form.querySelectorAll('input[type="radio"][value="' + value + '"]').forEach(function (input) {
    input.checked = true;
  });
});
