# hw: hw3
# A bug in forward only (the transition matrix transposed): forward loses its 20 points;
# backward and posteriors, whose visible tests call forward, and baum_welch_step, which
# calls it, keep theirs.
# lose: test_forward | `forward` uses the transition matrix transposed
# %% * = solution
# %% forward
def forward(obs, startprob, transmat, emissionprob):
    T, K = len(obs), len(startprob)
    alpha = np.empty((T, K))
    loglik = 0.0
    a = startprob * emissionprob[:, obs[0]]
    for n in range(T):
        if n > 0:
            a = emissionprob[:, obs[n]] * (alpha[n - 1] @ transmat.T)
        c = a.sum()
        alpha[n] = a / c
        loglik += np.log(c)
    return alpha, loglik
