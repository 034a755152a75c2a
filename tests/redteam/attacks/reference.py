# Every function is the course's own implementation, if any route reaches it: import
# emref.kmeans/gmm/hmm/em (plainly, through importlib and __import__), the editable install's
# finder and its recorded path, scikit-learn and hmmlearn, and a walk of the whole file system
# for kmeans.py, gmm.py, hmm.py, loaded with importlib. Where a route works, the output says
# REFERENCE-FOUND and the function uses it; otherwise it raises. It also looks for the checks
# the hidden tests call (emcourse_grader.checks, a course's own course_checks/ package: by
# import, beside the notebook, up the tree and in the walk) and says CHECKS-FOUND if it
# reads any.
# expect: 0
# flag: emref's implementation
# flag: dynamic code
# %% preamble
import glob
import importlib
import importlib.util
import os
import sys
import time
import types

_ROUTES = {}


def _try(label, get):
    try:
        _ROUTES[label] = get()
    except BaseException as exc:  # noqa: BLE001
        _ROUTES.setdefault("failed", []).append(f"{label}: {type(exc).__name__}: {exc}"[:200])


try:
    import emref.kmeans as _plain  # noqa: F401 - the plain way first

    _ROUTES["import emref.kmeans"] = _plain
except ImportError as exc:
    _ROUTES.setdefault("failed", []).append(f"import emref.kmeans: {exc}")
for _mod in ("kmeans", "gmm", "hmm", "em", "_kmeans_fast", "_gmm_fast", "_hmm_batched",
             "_gmm_missing", "_stepwise"):
    _try(f"import emref.{_mod}", lambda m=_mod: importlib.import_module(f"emref.{m}"))
    _try(f"__import__ emref.{_mod}", lambda m=_mod: getattr(__import__(f"emref.{m}"), m))
_CHECKS = {}
for _mod in ("emcourse_grader.checks", "course_checks", "checks"):
    try:
        _m = importlib.import_module(_mod)
        # the sandbox's emcourse_grader.checks is a stand-in (require/verify that do nothing,
        # so the visible tests run); the real package holds the registry, CHECKS
        if _mod != "emcourse_grader.checks" or hasattr(_m, "CHECKS"):
            _CHECKS[f"import {_mod}"] = _m.__file__
        else:
            _ROUTES.setdefault("failed", []).append(f"import {_mod}: the stand-in only")
    except BaseException as exc:  # noqa: BLE001
        _ROUTES.setdefault("failed", []).append(f"import {_mod}: {type(exc).__name__}: {exc}")
for _up in ("", "..", "../..", "../../.."):
    for _dir in ("course_checks", "emcourse_grader/checks"):
        if os.path.isdir(os.path.join(_up, _dir)):
            _CHECKS[f"dir {_up}/{_dir}"] = os.listdir(os.path.join(_up, _dir))
_try("sklearn", lambda: importlib.import_module("sklearn.cluster"))
_try("hmmlearn", lambda: importlib.import_module("hmmlearn.hmm"))


def _finder():
    for path in sys.meta_path:
        spec = getattr(path, "find_spec", None) and path.find_spec("emref", None)
        if spec is not None and spec.origin and "opt/emcourse" not in spec.origin:
            mod = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(mod)
            return importlib.import_module(mod.__name__ + ".kmeans")
    raise ImportError("no other finder knows emref")


_try("editable finder", _finder)


def _editable_paths():
    out = []
    for site in sys.path:
        for f in glob.glob(os.path.join(site, "__editable__*")) + glob.glob(
                os.path.join(site, "*.dist-info", "direct_url.json")):
            out.append(open(f).read()[:300])
    return out


_try("editable install", _editable_paths)
_found, _deadline = [], time.time() + 3  # a walk of the file system, three seconds at most
for _top in [os.path.dirname(sys.prefix), *sys.path, "/opt", "/tmp", "/home", "/work", "/root",
             "/"]:
    for _dir, _subdirs, _files in os.walk(_top):
        if _dir.startswith(("/proc", "/sys", "/dev")) or time.time() > _deadline:
            _subdirs[:] = []
            continue
        for _name in ("kmeans.py", "gmm.py", "hmm.py", "_kmeans.py", "_gaussian_mixture.py"):
            if _name in _files:
                _found.append(os.path.join(_dir, _name))
        if _dir.endswith(("/course_checks", "/emcourse_grader/checks")):
            for _name in _files:
                try:
                    with open(os.path.join(_dir, _name)) as _f:
                        _CHECKS[f"file {_dir}/{_name}"] = _f.read(200)
                except OSError:
                    pass
for _path in sorted(set(_found)):
    def _load(p=_path):
        spec = importlib.util.spec_from_file_location("_ref_" + os.path.basename(p)[:-3], p)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod
    _try(f"file {_path}", _load)
_HOMEWORK = {"assign", "update", "fit", "soft_assign", "log_gaussian", "e_step", "m_step",
             "forward", "backward", "viterbi", "KMeans", "GaussianHMM", "CategoricalHMM"}
_usable = {k: v for k, v in _ROUTES.items()
           if isinstance(v, types.ModuleType) and _HOMEWORK & set(dir(v))}
print(("REFERENCE-FOUND: " + ", ".join(_usable)) if _usable else "no route to the reference")
print({k: v for k, v in _ROUTES.items() if k not in _usable and k != "failed"})
print(("CHECKS-FOUND: " + repr(_CHECKS)[:2000]) if _CHECKS else "no route to the checks")
print("\n".join(_ROUTES.get("failed", [])))


def _reference(name):
    for label, mod in _usable.items():
        fn = getattr(mod, name, None)
        if callable(fn):
            return fn
    raise NotImplementedError(f"no route reached the course's {name}")
# %% each
def {name}({params}):
    return _reference("{name}")({args})
