# hw: hw3
# Loops over time and states, no matrix products; counting with dictionaries; a Viterbi that
# keeps back-pointers in a list of lists and returns a list path.
# %% * = solution
# %% forward
def forward(obs, startprob, transmat, emissionprob):
    T, K = len(obs), len(startprob)
    alpha = np.zeros((T, K))
    loglik = 0.0
    for n in range(T):
        for k in range(K):
            if n == 0:
                alpha[n, k] = startprob[k] * emissionprob[k, obs[0]]
            else:
                alpha[n, k] = emissionprob[k, obs[n]] * sum(alpha[n - 1, j] * transmat[j, k]
                                                            for j in range(K))
        c = alpha[n].sum()
        alpha[n] /= c
        loglik += np.log(c)
    return alpha, loglik
# %% count_estimate
from collections import Counter


def count_estimate(sequences, state_sequences, n_states, n_symbols):
    starts, trans, emit = Counter(), Counter(), Counter()
    for x, z in zip(sequences, state_sequences):
        starts[int(z[0])] += 1
        for a, b in zip(z[:-1], z[1:]):
            trans[int(a), int(b)] += 1
        for s, o in zip(z, x):
            emit[int(s), int(o)] += 1
    pi = np.array([starts[k] for k in range(n_states)], dtype=float)
    A = np.array([[trans[j, k] for k in range(n_states)] for j in range(n_states)], dtype=float)
    B = np.array([[emit[k, m] for m in range(n_symbols)] for k in range(n_states)], dtype=float)
    return pi / pi.sum(), A / A.sum(axis=1, keepdims=True), B / B.sum(axis=1, keepdims=True)
# %% viterbi
import math


def viterbi(obs, startprob, transmat, emissionprob):
    K = len(startprob)
    omega = [math.log(startprob[k]) + math.log(emissionprob[k][obs[0]]) for k in range(K)]
    back = []
    for x in obs[1:]:
        prev, omega, ptr = omega, [], []
        for k in range(K):
            j = max(range(K), key=lambda j: prev[j] + math.log(transmat[j][k]))
            omega.append(prev[j] + math.log(transmat[j][k]) + math.log(emissionprob[k][x]))
            ptr.append(j)
        back.append(ptr)
    path = [max(range(K), key=lambda k: omega[k])]
    for ptr in reversed(back):
        path.append(ptr[path[-1]])
    return path[::-1], max(omega)
