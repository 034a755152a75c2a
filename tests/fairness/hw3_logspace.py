# hw: hw3
# Log space throughout with scipy.special.logsumexp: log α and log β, normalised only when
# returned; posteriors takes logs of what it is given; Viterbi as in the notebook.
# %% * = solution
# %% forward
from scipy.special import logsumexp


def forward(obs, startprob, transmat, emissionprob):
    logA, logB = np.log(transmat), np.log(emissionprob)
    log_alpha = np.empty((len(obs), len(startprob)))
    log_alpha[0] = np.log(startprob) + logB[:, obs[0]]
    for n in range(1, len(obs)):
        log_alpha[n] = logB[:, obs[n]] + logsumexp(log_alpha[n - 1][:, None] + logA, axis=0)
    norm = logsumexp(log_alpha, axis=1, keepdims=True)
    return np.exp(log_alpha - norm), logsumexp(log_alpha[-1])
# %% backward
def backward(obs, startprob, transmat, emissionprob):
    logA, logB = np.log(transmat), np.log(emissionprob)
    T, K = len(obs), len(startprob)
    log_beta = np.zeros((T, K))
    for n in range(T - 2, -1, -1):
        log_beta[n] = logsumexp(logA + (logB[:, obs[n + 1]] + log_beta[n + 1])[None, :], axis=1)
    loglik = logsumexp(np.log(startprob) + logB[:, obs[0]] + log_beta[0])
    return np.exp(log_beta - logsumexp(log_beta, axis=1, keepdims=True)), loglik
# %% posteriors
def posteriors(alpha, beta, obs, transmat, emissionprob):
    la, lb = np.log(alpha), np.log(beta)
    lg = la + lb
    gamma = np.exp(lg - logsumexp(lg, axis=1, keepdims=True))
    lx = (la[:-1, :, None] + np.log(transmat)[None]
          + (np.log(emissionprob[:, obs[1:]]).T + lb[1:])[:, None, :])
    xi = np.exp(lx - logsumexp(lx, axis=(1, 2), keepdims=True))
    return gamma, xi
