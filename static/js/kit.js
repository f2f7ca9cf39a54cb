/* Page-kit behaviour that works without it too: "select all" on list tables with bulk actions,
   and copy buttons (data-copy-target="#id") for values shown once. */
document.addEventListener("change", function (event) {
  var all = event.target.closest(".kit-select-all");
  if (!all) { return; }
  var form = all.closest("form");
  form.querySelectorAll("input.kit-select").forEach(function (box) { box.checked = all.checked; });
});
document.addEventListener("click", function (event) {
  var button = event.target.closest("[data-copy-target]");
  if (!button) { return; }
  var source = document.querySelector(button.getAttribute("data-copy-target"));
  if (!source || !navigator.clipboard) { return; }
  navigator.clipboard.writeText(source.value || source.textContent.trim()).then(function () {
    var label = button.textContent;
    button.textContent = "Copied";
    setTimeout(function () { button.textContent = label; }, 2000);
  });
});
