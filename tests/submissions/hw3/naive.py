# Correct except viterbi, which multiplies probabilities instead of adding logs: right on
# the 33 ice-cream days, -inf (and a wrong path) on thousands of steps. 75 points.
# %% forward = solution
# %% backward = solution
# %% posteriors = solution
# %% baum_welch_step = solution
# %% count_estimate = solution
# %% viterbi
def viterbi(obs, startprob, transmat, emissionprob):
    T, K = len(obs), len(startprob)
    omega = startprob * emissionprob[:, obs[0]]
    back = np.zeros((T, K), dtype=int)
    for n in range(1, T):
        scores = omega[:, None] * transmat
        back[n] = scores.argmax(axis=0)
        omega = scores.max(axis=0) * emissionprob[:, obs[n]]
    states = np.empty(T, dtype=int)
    states[-1] = omega.argmax()
    for n in range(T - 1, 0, -1):
        states[n - 1] = back[n, states[n]]
    return states, float(np.log(omega.max()))
# %% why_answer = solution
