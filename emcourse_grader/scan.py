"""A static look at the student's cells: what an honest answer never needs to do.

Each finding is ``(reason, detail)`` and becomes a row of the integrity report, for a human to
read. It never takes points: the verdict comes from the grader's own run of the tests on plain
data (judge.py), and the sandbox keeps the code from reaching anything that matters. IPython
magics (``%matplotlib inline``, ``%%time``) are what they look like, not shell patching: the
body of a cell magic is scanned as code, and so is the string of ``exec("...")`` when it is
a literal (code written as a string is still only that code; a computed one is reported).
"""

from __future__ import annotations

import ast

from . import allowlist

# Names that tests rely on: rebinding them is patching (so is rebinding a parameter
# container's name: see scan).
PROTECTED_NAMES = {
    "AssertionError", "Exception", "BaseException", "isinstance", "float", "int", "bool",
    "abs", "all", "any", "repr", "getattr", "hasattr", "callable", "issubclass",
    "np", "numpy", "emref", "require", "verify", "datasets", "HMMParams",
    "get_ipython", "display", "itertools", "math", "scipy",
    "__builtins__", "__import__", "exec", "eval", "__name__",
}
FAKE_METHODS = {
    "__eq__", "__ne__", "__array__", "__array_ufunc__", "__array_function__",
    "__array_interface__", "__getattr__", "__getattribute__", "__float__", "__bool__",
    "__lt__", "__le__", "__gt__", "__ge__", "__abs__", "__sub__", "__rsub__", "__add__",
    "__radd__", "__mul__", "__rmul__", "__truediv__", "__rtruediv__", "__round__",
    "__instancecheck__", "__index__", "__int__", "__len__", "__getitem__", "__iter__",
}
DUNDER_ATTRS = {
    "__globals__", "__builtins__", "__subclasses__", "__dict__", "__code__", "__closure__",
    "__bases__", "__base__", "__mro__", "__class__", "__getattribute__", "__setattr__",
    "__import__", "__loader__", "__spec__", "__self__", "__func__", "__wrapped__",
    "__defaults__", "__kwdefaults__", "__reduce__", "__reduce_ex__", "__eq__", "__ne__",
    "__array__", "__array_interface__", "__array_ufunc__", "__array_function__",
    "__getattr__", "__float__", "__bool__", "__len__", "__getitem__", "__lt__", "__le__",
    "__gt__", "__ge__", "__abs__", "__sub__", "__rsub__", "__add__", "__radd__",
    "__mul__", "__rmul__", "__truediv__", "__rtruediv__", "__round__", "__iter__",
    "__instancecheck__", "__subclasscheck__",
}
SHELL = {"get_ipython", "IPython", "ipykernel", "InteractiveShell", "showtraceback",
         "set_custom_exc", "excepthook", "displayhook", "display_pub", "run_cell",
         "_showtraceback", "CustomTB", "ast_transformers", "input_transformers_post",
         "events", "display_formatter", "showsyntaxerror", "user_ns", "user_global_ns"}
DYNAMIC = {"__import__", "importlib", "exec", "eval", "compile", "globals", "locals", "vars",
           "setattr", "delattr", "builtins", "__builtins__", "gc", "ctypes", "inspect",
           "marshal", "pickle"}
FILES = {"open", "pathlib", "Path", "shutil", "sqlite3", "subprocess", "io", "glob",
         "tempfile", "signal", "threading", "multiprocessing", "resource", "socket",
         "nbformat", "nbgrader", "atexit", "faulthandler", "pty", "fcntl", "mmap"}
EXITS = {"exit", "quit", "_exit", "abort", "kill"}
BASE_EXCEPTIONS = {"BaseException", "SystemExit", "KeyboardInterrupt", "GeneratorExit"}
EMREF_IMPL = allowlist.EMREF_ALGORITHMS
EMREF_IMPL_NAMES = {mod.split(".")[1] for mod in EMREF_IMPL}  # as in `from emref import hmm`
LIBRARIES = allowlist.MASKED_PACKAGES
SUBPACKAGES = allowlist.MASKED_SUBPACKAGES  # e.g. scipy.cluster, in scipy that is allowed


def _masked_sub(mod: str, names=()) -> str:
    """The module of ``import mod`` (or ``from mod import names``) that is, or is inside, a
    masked subpackage, else ""."""
    full = [mod] + [f"{mod}.{n}" for n in names]
    return next((m for m in full for sub in SUBPACKAGES
                 if m == sub or m.startswith(sub + ".")), "")


def _dotted(node) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    elif isinstance(node, ast.Call):
        parts.append(_dotted(node.func) + "()")
    else:
        return ""
    return ".".join(reversed(parts))


def scan(source: str):
    """Findings for one cell's source: a list of (reason, detail)."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager
        tree = ast.parse(TransformerManager().transform_cell(source))
    except Exception:  # noqa: BLE001 - a syntax error just fails the student's tests
        return []
    out = []
    emref_ok = set(allowlist.parameter_classes())  # emref.gmm.GMMParams is no algorithm
    protected = PROTECTED_NAMES | emref_ok
    magic_shells = set()  # the get_ipython() that a magic line turns into
    literal_execs = set()  # exec("...") of a literal: that code is scanned, not the call
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                and node.func.id == "exec" and len(node.args) == 1 and not node.keywords \
                and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            literal_execs.add(id(node.func))
            out.extend(f for f in scan(node.args[0].value) if f not in out)
            continue
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr in ("run_line_magic", "run_cell_magic") \
                and isinstance(node.func.value, ast.Call) \
                and isinstance(node.func.value.func, ast.Name) \
                and node.func.value.func.id == "get_ipython":
            magic_shells.add(id(node.func.value.func))
            if node.func.attr == "run_cell_magic" and len(node.args) == 3 \
                    and isinstance(node.args[2], ast.Constant) \
                    and isinstance(node.args[2].value, str):
                out.extend(f for f in scan(node.args[2].value) if f not in out)

    def add(reason, detail):
        item = (reason, detail)
        if item not in out:
            out.append(item)

    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            mods = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""]
            for mod in mods:
                root = mod.split(".")[0]
                if mod.startswith(EMREF_IMPL) or (mod == "emref" and isinstance(
                        node, ast.ImportFrom) and any(a.name in EMREF_IMPL_NAMES
                                                      for a in node.names)):
                    names = {a.name for a in node.names}
                    if isinstance(node, ast.ImportFrom) and names <= emref_ok:
                        continue
                    add("calls or imports emref's implementation", mod)
                elif root in LIBRARIES:
                    add("imports a library that implements the exercise", mod)
                elif sub := _masked_sub(mod, [a.name for a in node.names]
                                        if isinstance(node, ast.ImportFrom) else ()):
                    add("imports a library that implements the exercise", sub)
                elif root in SHELL:
                    add("patches the IPython shell", mod)
                elif root in DYNAMIC or root in ("ctypes", "gc", "inspect", "importlib"):
                    add("monkeypatching or dynamic code", f"import {mod}")
                elif root in FILES:
                    add("reads or writes files, or controls the process", f"import {mod}")
        elif isinstance(node, ast.Name):
            if id(node) in magic_shells or id(node) in literal_execs:
                continue
            if node.id in SHELL:
                add("patches the IPython shell", node.id)
            elif node.id in ("__import__", "importlib", "exec", "eval", "compile", "globals",
                             "locals", "vars", "setattr", "delattr", "__builtins__",
                             "builtins"):
                add("monkeypatching or dynamic code", node.id)
            elif node.id in ("open", "sqlite3", "subprocess", "shutil", "pathlib", "Path"):
                add("reads or writes files, or controls the process", node.id)
            elif node.id in EXITS:
                add("stops the kernel", node.id)
            elif node.id in BASE_EXCEPTIONS:
                add("raises or catches an exception derived from BaseException", node.id)
            if isinstance(node.ctx, (ast.Store, ast.Del)) and node.id in protected:
                add("monkeypatches a name the tests rely on", node.id)
        elif isinstance(node, ast.Attribute):
            dotted = _dotted(node)
            if node.attr in DUNDER_ATTRS:
                add("overrides comparisons or introspects objects (fake results, patching)",
                    dotted or node.attr)
            if node.attr in SHELL:
                add("patches the IPython shell", dotted or node.attr)
            if node.attr in EXITS or dotted in ("sys.exit", "os._exit"):
                add("stops the kernel", dotted or node.attr)
            if dotted.startswith(EMREF_IMPL) and node.attr not in emref_ok:
                add("calls or imports emref's implementation", dotted)
            if isinstance(node.ctx, (ast.Store, ast.Del)):
                base = dotted.split(".")[0]
                if base in protected | SHELL | {"sys", "os", "builtins", "scipy",
                                                      "emref", "warnings"}:
                    add("monkeypatches a name the tests rely on", dotted)
                elif dotted.startswith("get_ipython()"):
                    add("patches the IPython shell", dotted)
            if dotted.split(".")[0] in ("os", "sys", "signal", "shutil", "subprocess") \
                    and node.attr not in EXITS and len(dotted.split(".")) == 2 \
                    and node.attr not in ("path", "join", "sep", "float_info", "maxsize",
                                          "version_info", "version", "getrecursionlimit",
                                          "argv", "platform"):
                add("reads or writes files, or controls the process", dotted)
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Assign)):
                    names = [item.name] if not isinstance(item, ast.Assign) else [
                        t.id for t in item.targets if isinstance(t, ast.Name)]
                    for n in names:
                        if n in FAKE_METHODS:
                            add("returns objects that fake results", f"{node.name}.{n}")
            for b in node.bases:
                d = _dotted(b)
                if d.split(".")[-1] in BASE_EXCEPTIONS:
                    add("raises or catches an exception derived from BaseException", d)
                if d in ("np.ndarray", "numpy.ndarray", "float", "int", "tuple", "list"):
                    add("overrides comparisons or introspects objects (fake results, patching)",
                        f"subclass of {d}")
    return out
