"""One meaning per letter: the lectures follow the notation page, docs/site/notation.md.

The page reserves a letter for one thing (β the HMM's backward message, τ a pseudocount
weight, ψ the missingness parameters, λ a Lagrange multiplier, J the k-means distortion, ...)
and the course writes the natural logarithm ``\\ln``. A checker cannot read mathematics, so
each rule below is a pattern for a *use* of a letter that only a second meaning would need:
a stiffness ``\\beta=1/(2\\sigma^2)`` or ``\\beta\\to\\infty`` (the backward message is always
a function, ``\\beta(z_n)``), a weight ``1-\\tau`` or ``\\ln\\tau`` (a pseudocount weight is
never a probability), a back-pointer ``\\psi(z_n)`` or ``\\psi_n`` (the missingness parameters
are one symbol), and so on. The rules were tuned on the second edition's text, whose clashes
they catch (``test_each_rule_catches_the_clash_it_was_written_for`` keeps those sentences),
while the intended uses pass (``test_the_intended_uses_pass``).

Checked: the Markdown cells of every lecture in course.toml, and the alt text and
description of every stored figure (what a screen-reader user reads instead of the figure's
labels), and the label and title strings of the lectures' code cells for "log" where the
natural logarithm is meant. The defaults of ``emref.viz`` are drawn for real and read back.
"""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib
import nbformat
import numpy as np
import pytest

matplotlib.use("Agg")

from emcourse_grader import course as manifest

ROOT = Path(__file__).resolve().parent.parent
NOTATION = ROOT / "docs" / "site" / "notation.md"
LECTURES = manifest.load(ROOT).lectures

# (symbol as the notation page writes it, what it is reserved for, pattern of a second meaning)
RULES = [
    ("$\\beta(z_n)$", "the backward message, always written as a function",
     re.compile(r"\\beta(?:_\{?(?:c\b|\\text|\\mathrm)|\s*(?:=|\\to\b|<|>|\\le\b|\\ge\b|\\approx))"
                r"|stiffness\s*\$\\beta|\\beta\$?\s+(?:the\s+)?\**stiffness")),
    ("$\\tau$", "a pseudocount weight, never a probability",
     re.compile(r"1\s*-\s*\\tau|\\ln\s*\(?\s*\\tau|\\pi_\{?1\}?\s*=\s*\\tau|P\([^)]*\)\s*=\s*\\tau")),
    ("$\\psi$", "the missingness mechanism's parameters, one symbol",
     re.compile(r"\\psi\s*(?:\(|_)|back-?pointer\s*\$\\psi")),
    ("$\\lambda$", "a Lagrange multiplier, and only that",
     re.compile(r"\\lambda_\{?(?:i|j|k|\d|\\max|\\min|\\mathrm|\\text)|\\lambda\s*M\b"
                r"|eigenvalues?\s*\$\\lambda")),
    ("$J$", "the k-means distortion, and nothing else",
     re.compile(r"\\mathbf J\b|\bJ_\{?\\theta|\bJ\s*=\s*\\max|\bJ\(\\theta|\bJ\(\\mathbf z")),
    ("$a_k$", "a Dirichlet prior's parameters are a_k, not alpha",
     re.compile(r"\\alpha_\{?k\b|\\alpha\s*=\s*\d|\(t\s*\+\s*2\)\^\{?-\\alpha|Dirichlet\(\\alpha")),
    ("$\\eta$", "a step size is eta, never rho",
     re.compile(r"\\rho(?![a-zA-Z])")),
    ("$\\boldsymbol\\phi$", "the emission parameters, never written B",
     re.compile(r"\bB_\{?(?:j|k|jk|z)\b|B_\{?\\mathbf|\\mathbf B\b")),
    ("$w$", "the weight of the tagged counts, one number (never a per-point weight)",
     re.compile(r"(?<![a-zA-Z\\])w_\{?[a-z0-9]")),
    ("$\\ln$", "the natural logarithm is written ln",
     re.compile(r"\\log(?![_0-9a-zA-Z])")),
]

# The same second meanings as a reader of the alt texts meets them (plain words and Unicode).
ALT_RULES = [
    ("β", re.compile(r"(?:\bbeta|β)\s*(?:=|→|_c|≈|\s+to\s+infinity)|stiffness\s+(?:beta|β)")),
    ("τ", re.compile(r"1\s*-\s*(?:tau|τ)\b|\bln\s*τ")),
    ("ψ", re.compile(r"(?:\bpsi|ψ)\s*(?:\(|_)|back-?pointer\s+(?:psi|ψ)")),
    ("ln", re.compile(r"\blog\s*p\s*\(|\blog-likelihood\s+log\b")),
]

# A figure label or title in a lecture's code that writes "log" for the natural logarithm.
LABEL_CALL = re.compile(
    r"(?:set_ylabel|set_xlabel|set_title|suptitle|ylabel|xlabel|title|label)\s*[=(]\s*"
    r"r?f?(?P<q>[\"'])(?P<text>.*?)(?P=q)")
LOG_IN_LABEL = re.compile(r"\\log(?![_0-9a-zA-Z])|\blog p\b")
# the word "log-likelihood" is English; a label that names it must also write the formula, ln
LOG_WORD = re.compile(r"\blog[- ]likelihood", re.IGNORECASE)
LN = re.compile(r"\\ln\b|\bln\b")


def _writes_log(label: str) -> bool:
    return bool(LOG_IN_LABEL.search(label) or (LOG_WORD.search(label) and not LN.search(label)))


def _source(cell) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def markdown_problems(text: str) -> list[str]:
    """Second meanings of reserved symbols in one Markdown text.

    Parameters
    ----------
    text : str
        A Markdown cell's source.

    Returns
    -------
    list of str
        One line per match: the symbol, what it is reserved for, and the matched text.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str (a Markdown cell's source); found "
                        f"{type(text).__name__}")
    found = []
    for symbol, meaning, pattern in RULES:
        for m in pattern.finditer(text):
            context = text[max(0, m.start() - 30):m.end() + 30].replace("\n", " ")
            found.append(f"{symbol} is {meaning}: ...{context}...")
    return found


def alt_problems(text: str) -> list[str]:
    """The same check on a figure's alt text or description (plain words, Unicode symbols)."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str (an alt text); found {type(text).__name__}")
    return [f"{symbol}: ...{text[max(0, m.start() - 30):m.end() + 30]}..."
            for symbol, pattern in ALT_RULES for m in pattern.finditer(text)]


def label_problems(code: str) -> list[str]:
    """Figure labels and titles in a code cell that write "log" for the natural logarithm."""
    if not isinstance(code, str):
        raise TypeError(f"code must be a str (a code cell's source); found {type(code).__name__}")
    return [f"label {m.group('text')!r} writes log; the course writes ln"
            for m in LABEL_CALL.finditer(code) if _writes_log(m.group("text"))]


def _lecture(lecture_id: str):
    path = ROOT / next(lec.path for lec in LECTURES if lec.id == lecture_id)
    return path, nbformat.read(path, as_version=4)


@pytest.mark.parametrize("lecture", [lec.id for lec in LECTURES])
def test_no_reserved_symbol_has_a_second_meaning_in_the_prose(lecture):
    path, nb = _lecture(lecture)
    bad = [f"cell {i}: {p}" for i, cell in enumerate(nb.cells) if cell.cell_type == "markdown"
           for p in markdown_problems(_source(cell))]
    assert not bad, (f"{path.name} gives {len(bad)} reserved symbol(s) another meaning "
                     f"(see docs/site/notation.md):\n  " + "\n  ".join(bad))


@pytest.mark.parametrize("lecture", [lec.id for lec in LECTURES])
def test_figures_say_ln_and_their_alt_texts_agree(lecture):
    path, nb = _lecture(lecture)
    bad = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        bad += [f"cell {i}: {p}" for p in label_problems(_source(cell))]
        for out in cell.get("outputs", []):
            for mime, meta in out.get("metadata", {}).items():
                if mime.startswith("image/") and isinstance(meta, dict):
                    for key in ("alt", "description"):
                        bad += [f"cell {i} {key}: {p}" for p in alt_problems(meta.get(key) or "")]
    assert not bad, f"{path.name}:\n  " + "\n  ".join(bad)


def test_every_rule_names_a_symbol_of_the_notation_page():
    page = NOTATION.read_text(encoding="utf-8")
    for symbol, _, _ in RULES:
        assert symbol in page, f"{symbol} is not in {NOTATION.name}'s tables"


def test_the_notation_page_grants_no_exception():
    # the second edition's page let lecture 2 keep a stiffness beta and lecture 5 a weight tau
    page = NOTATION.read_text(encoding="utf-8")
    assert "keep a second meaning" not in page and "is soft k-means' *stiffness*" not in page, \
        f"{NOTATION.name} still grants a letter a second meaning"


# The second edition's sentences, one per rule: each must be caught.
OLD_TEXT = {
    "$\\beta(z_n)$": ["cancel. Writing $\\beta=1/(2\\sigma^2)$, what is left is",
                      "shows that $\\beta\\to\\infty$ gives back k-means",
                      "$$\\beta>\\beta_c=\\frac{1}{2\\nu_{\\max}}$$",
                      "like him we call $\\beta$ the **stiffness**"],
    "$\\tau$": ["with $P(Z_i = 1) = \\tau$ and $P(Z_i = 2) = 1-\\tau$",
                "$$Q = N_1\\ln\\tau + N_2\\ln(1-\\tau)$$", "$K=2$, $\\pi_1 = \\tau$,"],
    "$\\psi$": ["the maximising $\\mathbf z_{n-1}$ (the back-pointer $\\psi$)",
                "$\\mathbf z^\\star_{n-1}=\\psi(\\mathbf z^\\star_n)$", "$\\psi_n(k)$"],
    "$\\lambda$": ["its eigenvalues $\\lambda_i$ lie in $[0,1)$",
                   "$\\lambda M = 15.5$ pseudo-observations per tag"],
    "$J$": ["the rate matrix $\\mathbf J$ of Dempster, Laird and Rubin",
            "Viterbi maximises $J(\\mathbf z)=\\ln p(\\mathbf X,\\mathbf Z)$"],
    "$a_k$": ["a Dirichlet prior with parameters $\\alpha_k$",
              "the schedule $\\eta_t=(t+2)^{-\\alpha}$"],
    "$\\eta$": ["SGD with step $\\rho_t$"],
    "$\\boldsymbol\\phi$": ["the emission matrix $B_{jk}=p(x\\mid z=j)$",
                           "$\\operatorname{tr}(\\mathbf A\\mathbf V\\mathbf B\\mathbf V)$"],
    "$w$": ["with weights $w_{nk}\\ge 0$ that sum to one over $k$"],
    "$\\ln$": ["the bound on $\\log p(\\mathbf X\\mid\\theta)$", "$\\log\\operatorname{diag}\\mathbf C$"],
}

INTENDED = [
    "the backward message $\\beta(z_{nk})$ and $\\hat\\beta(\\mathbf z_n)=\\beta(\\mathbf z_n)/c$",
    "$\\alpha$ and $\\beta$ are the forward and backward messages",
    "with a pseudocount $\\tau=0.5$ added to every count, $\\xi_{jk}+\\tau$",
    "$p(\\mathbf r_n\\mid\\mathbf x_n,\\psi)=p(\\mathbf r_n\\mid\\mathbf x_n^o,\\psi)$",
    "the multiplier $\\lambda=-N$", "$\\lambda(1-\\sum_k\\pi_k)$",
    "$J=\\sum_n\\sum_k r_{nk}\\lVert\\mathbf x_n-\\boldsymbol\\mu_k\\rVert^2$",
    "$p(\\mathbf A_{j\\cdot})\\propto\\prod_k A_{jk}^{a_k-1}$, the schedule $\\eta_t=(t+2)^{-\\kappa}$",
    "$\\ln p(\\mathbf X\\mid\\theta)$ and $\\log_{10}$ of the naive product",
    "$B$ blocks of $b$ points each",
]


@pytest.mark.parametrize("symbol", list(OLD_TEXT))
def test_each_rule_catches_the_clash_it_was_written_for(symbol):
    for sentence in OLD_TEXT[symbol]:
        found = markdown_problems(sentence)
        assert any(p.startswith(symbol) for p in found), f"{symbol}: missed {sentence!r}"


def test_the_intended_uses_pass():
    for sentence in INTENDED:
        assert markdown_problems(sentence) == [], sentence


def test_alt_text_and_label_rules():
    assert alt_problems("against the stiffness beta on a log scale, critical beta_c near 0.26")
    assert alt_problems("Right: log p(X | θ) per iteration")
    assert not alt_problems("each node its alpha and beta; ln p(X | θ) rises")
    assert label_problems('ax.set_ylabel("log-likelihood")')
    assert label_problems('plot_loglik_trace(ax, h, title="Log-likelihood per point")')
    assert label_problems('ax.plot(x, y, label=r"$\\log p(X\\mid\\theta)$")')
    assert not label_problems('ax.set_title("distance to the MLE (log scale)")')
    assert not label_problems('ax.set_ylabel("ln p(X | θ)")')
    assert not label_problems('ax.set_title(r"The log-likelihood $\\ln p(X)$ of the runs")')


def test_bad_input_is_a_type_error_naming_the_argument():
    with pytest.raises(TypeError, match="text must be a str"):
        markdown_problems(["a list"])
    with pytest.raises(TypeError, match="text must be a str"):
        alt_problems(None)
    with pytest.raises(TypeError, match="code must be a str"):
        label_problems(3)


def test_emref_viz_defaults_write_ln():
    """The helpers' own labels, drawn for real and read back from the axes."""
    import matplotlib.pyplot as plt

    from emref.viz import bound, mixtures

    fig, axes = plt.subplots(1, 3)
    try:
        mixtures.plot_loglik_trace(axes[0], [-10.0, -9.0, -8.5])
        thetas = np.linspace(-1.0, 1.0, 21)
        loglik = -thetas ** 2
        bound.plot_bound_step(axes[1], thetas, loglik, loglik - (thetas - 0.5) ** 2, 0.5, 0.0)
        bound.plot_convergence(axes[2], {"EM": [1.0, 0.1, 0.01]})
        texts = [ax.get_ylabel() for ax in axes] + [ax.get_title() for ax in axes]
        texts += [t.get_text() for ax in axes if ax.get_legend() for t in ax.get_legend().get_texts()]
        texts += [line.get_label() for ax in axes for line in ax.get_lines()]
    finally:
        plt.close(fig)
    bad = [t for t in texts if _writes_log(t)]
    assert not bad, f"emref.viz writes log for the natural logarithm: {bad}"
    assert any("ln" in t for t in texts), texts
