# Calls emref's implementation through importlib, __import__, getattr and sys.modules.
# Dynamic imports zero every later part (they could patch anything), so: 0.
# expect: 0
# flag: calls emref's implementation
# flag: dynamic code
# %% forward
import importlib

_m = importlib.import_module('emref.' + 'h' + 'mm')


def forward(obs, startprob, transmat, emissionprob):
    fb = _m.forward_backward(obs, _m.HMMParams(startprob, transmat, _m.Categorical(emissionprob)))
    from emref.grading import _hmm_reference
    a, _, ll, _, _ = _hmm_reference(obs, startprob, transmat, emissionprob)
    return a, ll
# %% backward
def backward(obs, startprob, transmat, emissionprob):
    _, b, ll, _, _ = __import__('emref.grading').grading._hmm_reference(obs, startprob, transmat, emissionprob)
    return b, ll
# %% posteriors
import emref


def posteriors(alpha, beta, obs, transmat, emissionprob):
    raise NotImplementedError()


def posteriors(alpha, beta, obs, transmat, emissionprob):
    pi = alpha[0] * beta[0]
    pi = pi / pi.sum()
    B = emissionprob
    _, _, _, g, xi = getattr(emref, 'gra' + 'ding')._hmm_reference(obs, np.full(len(transmat), 1 / len(transmat)), transmat, B)
    return g, xi
# %% baum_welch_step
import sys


def baum_welch_step(obs, startprob, transmat, emissionprob):
    h = sys.modules['emref.hmm']
    p = h.HMMParams(startprob, transmat, h.Categorical(emissionprob))
    stats, ll = h.e_step(obs, p)
    new = h.m_step(stats, p)
    return new.startprob, new.transmat, new.emission.probs, ll
# %% count_estimate = solution
# %% viterbi = solution
