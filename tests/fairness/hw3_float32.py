# hw: hw3
# Single precision: forward and backward keep alpha, beta and the running log-likelihood in
# float32 (5000-step sequences included); viterbi's messages and its score are float32, its
# path int32; count_estimate counts in float32.
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
# %% viterbi
def viterbi(obs, startprob, transmat, emissionprob):
    logpi, logA, logB = (np.log(np.asarray(a, dtype=np.float32))
                         for a in (startprob, transmat, emissionprob))
    T, K = len(obs), len(logpi)
    omega = logpi + logB[:, obs[0]]
    back = np.zeros((T, K), dtype=np.int32)
    for n in range(1, T):
        scores = omega[:, None] + logA
        back[n] = scores.argmax(axis=0)
        omega = scores.max(axis=0) + logB[:, obs[n]]
    states = np.empty(T, dtype=np.int32)
    states[-1] = omega.argmax()
    for n in range(T - 1, 0, -1):
        states[n - 1] = back[n, states[n]]
    return states, omega.max()
# %% count_estimate
def count_estimate(sequences, state_sequences, n_states, n_symbols):
    start = np.zeros(n_states, dtype=np.float32)
    trans = np.zeros((n_states, n_states), dtype=np.float32)
    emit = np.zeros((n_states, n_symbols), dtype=np.float32)
    for x, z in zip(sequences, state_sequences):
        x, z = np.asarray(x, dtype=np.int32), np.asarray(z, dtype=np.int32)
        start[z[0]] += 1
        np.add.at(trans, (z[:-1], z[1:]), 1)
        np.add.at(emit, (z, x), 1)
    return (start / start.sum(), trans / trans.sum(axis=1, keepdims=True),
            emit / emit.sum(axis=1, keepdims=True))
