/* A page opened in a browser tab from Jupyter (/files/...) is sandboxed by the server
   (Content-Security-Policy: sandbox), so its origin is opaque and web fonts from the server
   are refused (CORS): there, MathJax hands the formulas to the browser as MathML (every
   current browser renders MathML with its own math fonts). In JupyterLab's HTML viewer
   (same origin) it draws them with MathJax's STIX web fonts, breaking long display formulas
   to the width of the page.
   Formulas are not controls: inTabOrder false keeps them out of the Tab order (MathJax puts
   each one there by default); the hidden MathML that screen readers read stays. */
var emcourseOpaque = (window.origin || "null") === "null";
MathJax.Hub.Config({
  tex2jax: {inlineMath: [["$", "$"], ["\\(", "\\)"]],
            displayMath: [["$$", "$$"], ["\\[", "\\]"]],
            processEscapes: true, processEnvironments: true},
  "HTML-CSS": {availableFonts: ["STIX-Web"], preferredFont: "STIX-Web", webFont: "STIX-Web",
               imageFont: null, linebreaks: {automatic: true}},
  menuSettings: {zoom: "None", renderer: emcourseOpaque ? "NativeMML" : "HTML-CSS",
                 inTabOrder: false, assistiveMML: true},
  messageStyle: "none", displayAlign: "center"
});
MathJax.Hub.Register.StartupHook("End", function () {
  MathJax.Hub.Queue(function () {
    var jax = MathJax.Hub.getAllJax(), errors = 0;
    for (var i = 0; i < jax.length; i++) { if (jax[i].texError) { errors++; } }
    try {  /* feedback.js: wide formulas scroll in their own box */
      if (window.emcourseBoxFormulas) { window.emcourseBoxFormulas(); }
    } catch (e) { /* the page is still readable; the tests still learn MathJax is done */ }
    document.body.setAttribute("data-mathjax-count", String(jax.length));
    document.body.setAttribute("data-mathjax-errors", String(errors));
    document.body.setAttribute("data-mathjax", "done");
  });
});
