/* MathJax from the Jupyter server that serves this page (jupyter-server-mathjax), found from
   the page's address <server>/files/<path>: works offline, in a browser tab and in
   JupyterLab's HTML viewer (which sets <base href=".../files/<path>">). */
(function () {
  var match = /^(.*?\/)files\//.exec(document.baseURI || "");
  function note(text) {
    var show = function () {
      var el = document.getElementById("emcourse-math-note");
      if (el) { el.textContent = text; el.style.display = "block"; }
    };
    if (document.readyState === "loading") {
      document.addEventListener("DOMContentLoaded", show);
    } else { show(); }
  }
  if (!match) {
    note("Formulas are shown as TeX source: open this page from Jupyter " +
         "(right-click it in the file browser, then \u201cOpen in New Browser Tab\u201d) " +
         "to see them typeset.");
    return;
  }
  var script = document.createElement("script");
  script.src = match[1] + "{{ emcourse_mathjax_path }}?config={{ emcourse_mathjax_config }}";
  script.onerror = function () {
    note("Formulas are shown as TeX source: this Jupyter server does not serve MathJax " +
         "(the jupyter-server-mathjax extension is not enabled).");
  };
  document.head.appendChild(script);
})();
