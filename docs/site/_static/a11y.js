/* Accessibility fixes over sphinx-book-theme (docs/teaching.md, "Accessibility").
   The theme's search and colour-mode buttons carry an aria-label that leaves out the words
   they show ("Search Ctrl+K"; the icon of the current mode, "Light", "Dark" or "System
   Settings"), so a speech-input user who says what they see misses them (WCAG 2.1 SC 2.5.3). */
(function () {
  "use strict";
  var MODES = { light: "Light", dark: "Dark", auto: "System Settings" };

  function nameColourMode() {
    var mode = document.documentElement.dataset.mode || "auto";
    var text = "Color mode: " + (MODES[mode] || mode);
    document.querySelectorAll(".theme-switch-button").forEach(function (button) {
      button.setAttribute("aria-label", text);
      button.setAttribute("data-bs-title", text);
    });
  }

  function nameSearch() {
    /* The field-like button shows "Search Ctrl+K": its name is what it shows. */
    document.querySelectorAll(".search-button-field").forEach(function (button) {
      button.removeAttribute("aria-label");
    });
  }

  /* A display formula (or a table) wider than the column scrolls sideways inside a box of its own (the
     page never does, down to 320 px: SC 1.4.10). The formula itself is out of the Tab order
     (MathJax's inTabOrder: false in _config.yml), so the box that scrolls takes the focus,
     only while it does scroll, for a keyboard user to scroll it with the arrow keys (SC
     2.1.1). */
  var BOX = "emcourse-wide";

  /* Tables too: a table wider than the column scrolls in a box of its own. */
  var WIDE = 'mjx-container[display="true"], main table';

  function boxFormulas() {
    document.querySelectorAll(WIDE).forEach(function (math) {
      var parent = math.parentElement;
      if (parent && parent.classList.contains(BOX)) { return; }
      var box = document.createElement("div");
      box.className = BOX;
      parent.insertBefore(box, math);
      box.appendChild(math);
    });
    document.querySelectorAll("." + BOX).forEach(function (box) {
      if (box.scrollWidth > box.clientWidth + 1) {
        box.setAttribute("tabindex", "0");
        box.setAttribute("role", "group");
        box.setAttribute("aria-label", (box.querySelector("table") ? "Wide table" :
          "Wide formula") + ": scroll sideways with the arrow keys");
      } else {
        box.removeAttribute("tabindex");
        box.removeAttribute("role");
        box.removeAttribute("aria-label");
      }
    });
  }

  var tries = 0;

  function whenTypeset() {
    var mj = window.MathJax;
    tries += 1;
    if (mj && mj.startup && mj.startup.promise) {
      mj.startup.promise.then(boxFormulas);
    } else if (document.querySelector("mjx-container")) {
      boxFormulas();
    } else if (tries < 50) {
      setTimeout(whenTypeset, 200);  /* MathJax loads deferred, after this script */
    }
  }

  window.emcourseBoxWide = boxFormulas;  /* for a caller that changed the layout */

  function start() {
    whenTypeset();
    var pending = null;
    window.addEventListener("resize", function () {
      clearTimeout(pending);
      pending = setTimeout(boxFormulas, 150);
    });
    nameSearch();
    nameColourMode();
    new MutationObserver(nameColourMode).observe(document.documentElement,
      { attributes: true, attributeFilter: ["data-mode"] });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
