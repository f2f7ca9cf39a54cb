/* Dark mode that follows the system setting: Bootstrap 5.3 reads data-bs-theme on <html>.
   Loaded synchronously in <head> (a file, not inline, so a strict CSP can allow it) so the
   first paint already has the right colours. */
(function () {
  var query = window.matchMedia("(prefers-color-scheme: dark)");
  function apply() { document.documentElement.setAttribute("data-bs-theme", query.matches ? "dark" : "light"); }
  apply();
  if (query.addEventListener) { query.addEventListener("change", apply); }
})();
