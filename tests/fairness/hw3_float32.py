# hw: hw3
# Single precision: forward and backward keep alpha, beta and the running log-likelihood in
# float32 (5000-step sequences included).
# %% * = solution
# %% forward
def forward(obs, startprob, transmat, emissionprob):
    pi, A, B = (np.asarray(a, dtype=np.float32) for a in (startprob, transmat, emissionprob))
    T, K = len(obs), len(pi)
    alpha = np.empty((T, K), dtype=np.float32)
    loglik = np.float32(0)
    a = pi * B[:, obs[0]]
    for n in range(T):
        if n > 0:
            a = B[:, obs[n]] * (alpha[n - 1] @ A)
        c = a.sum()
        alpha[n] = a / c
        loglik += np.log(c)
    return alpha, loglik
# %% backward
def backward(obs, startprob, transmat, emissionprob):
    pi, A, B = (np.asarray(a, dtype=np.float32) for a in (startprob, transmat, emissionprob))
    T, K = len(obs), len(pi)
    beta = np.empty((T, K), dtype=np.float32)
    beta[-1] = 1.0 / K
    log_scale = np.float32(np.log(K))
    for n in range(T - 2, -1, -1):
        b = A @ (B[:, obs[n + 1]] * beta[n + 1])
        s = b.sum()
        beta[n] = b / s
        log_scale += np.log(s)
    return beta, np.log((pi * B[:, obs[0]] * beta[0]).sum()) + log_scale
