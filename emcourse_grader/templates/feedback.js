/* A display formula wider than the page scrolls sideways in its own box, never the page
   (WCAG 2.1 SC 1.4.10); that box takes the keyboard focus only while it does scroll, so a
   keyboard user can scroll it (SC 2.1.1). The formulas themselves are out of the Tab order
   (mathjax_config.js). Called when MathJax has finished and when the window is resized. */
(function () {
  "use strict";
  var DISPLAY = "div.MathJax_Display, div.MathJax_MathML, .emcourse-math-scroll";

  window.emcourseBoxFormulas = function () {
    document.querySelectorAll(DISPLAY).forEach(function (box) {
      if (box.scrollWidth > box.clientWidth + 1) {
        box.setAttribute("tabindex", "0");
        box.setAttribute("role", "group");
        box.setAttribute("aria-label", "Wide formula: scroll sideways with the arrow keys");
      } else if (box.hasAttribute("aria-label")) {
        box.removeAttribute("tabindex");
        box.removeAttribute("role");
        box.removeAttribute("aria-label");
      }
    });
  };

  var pending = null;
  window.addEventListener("resize", function () {
    clearTimeout(pending);
    pending = setTimeout(window.emcourseBoxFormulas, 150);
  });
})();
