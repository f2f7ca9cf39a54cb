// "/" focuses the search box (as on GitHub and NetBox), unless the user is typing in a field.
// On a phone the navbar box sits in the collapsed menu: the menu opens first.
(function () {
  "use strict";
  function typing(target) {
    return target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
  }
  document.addEventListener("keydown", function (event) {
    if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    var box = document.getElementById("search-q") || document.getElementById("nav-search");
    if (!box) return;
    event.preventDefault();
    var menu = box.closest(".collapse");
    if (box.offsetParent === null && menu && window.bootstrap) {
      menu.addEventListener("shown.bs.collapse", function () { box.focus(); box.select(); }, { once: true });
      window.bootstrap.Collapse.getOrCreateInstance(menu).show();
      return;
    }
    box.focus();
    box.select();
  });
})();
