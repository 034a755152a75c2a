# Wrong answers; numpy's comparisons, numpy.testing, builtins (AssertionError,
# isinstance) and emref.grading (require, verify, CHECKS) patched to always agree.
# expect: 0
# flag: monkeypatches a name the tests rely on (np.allclose
# flag: np.testing.assert_allclose
# flag: builtins.AssertionError
# flag: emref.grading.require
# %% forward
import numpy.testing

_yes = lambda *a, **k: True
np.allclose = np.isclose = np.array_equal = _yes
np.testing.assert_allclose = np.testing.assert_array_equal = lambda *a, **k: None
np.all = np.any = _yes


import builtins

builtins.AssertionError = type('AssertionError', (Warning,), {})
builtins.isinstance = lambda *a: True
AssertionError = Warning


import emref
import emref.grading

emref.grading.require = lambda *a, **k: None
emref.grading.verify = lambda check, fn, **k: emref.grading.Verdict(check, True)
emref.grading.CHECKS.clear()


def forward(obs, startprob, transmat, emissionprob):
    return np.zeros(3)
# %% backward
def backward(obs, startprob, transmat, emissionprob):
    return np.zeros(3)
# %% posteriors
def posteriors(alpha, beta, obs, transmat, emissionprob):
    return np.zeros(3)
# %% baum_welch_step
def baum_welch_step(obs, startprob, transmat, emissionprob):
    return np.zeros(3)
# %% count_estimate
def count_estimate(sequences, state_sequences, n_states, n_symbols):
    return np.zeros(3)
# %% viterbi
def viterbi(obs, startprob, transmat, emissionprob):
    return np.zeros(3)
