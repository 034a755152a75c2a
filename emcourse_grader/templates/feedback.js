/* A display formula wider than the page scrolls sideways in a box of its own, never the page
   (WCAG 2.1 SC 1.4.10); the box (not the formula) takes the keyboard focus, and only while it
   does scroll, so a keyboard user can scroll it (SC 2.1.1). The formulas themselves stay out
   of the Tab order (mathjax_config.js). Called when MathJax has finished and on resize. */
(function () {
  "use strict";
  var FRAMES = "div.MathJax_Display, div.MathJax_MathML";
  var BOX = "emcourse-wide";

  window.emcourseBoxFormulas = function () {
    document.querySelectorAll(FRAMES).forEach(function (frame) {
      var parent = frame.parentElement;
      if (!parent || parent.classList.contains(BOX)) { return; }
      var box = document.createElement("div");
      box.className = BOX;
      parent.insertBefore(box, frame);
      box.appendChild(frame);
    });
    document.querySelectorAll("." + BOX).forEach(function (box) {
      if (box.scrollWidth > box.clientWidth + 1) {
        box.setAttribute("tabindex", "0");
        box.setAttribute("role", "group");
        box.setAttribute("aria-label", "Wide formula: scroll sideways with the arrow keys");
      } else {
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
