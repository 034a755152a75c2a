# Right: forward, backward, count_estimate (45 points). Wrong: xi transposed in posteriors.
# Blank: baum_welch_step, viterbi.
# %% forward = solution
# %% backward = solution
# %% posteriors
def posteriors(alpha, beta, obs, transmat, emissionprob):
    gamma = alpha * beta
    gamma /= gamma.sum(axis=1, keepdims=True)
    xi = (alpha[:-1, None, :] * transmat.T[None]
          * (emissionprob[:, obs[1:]].T * beta[1:])[:, :, None])
    xi /= xi.sum(axis=(1, 2), keepdims=True)
    return gamma, xi
# %% count_estimate = solution
# %% why_answer
EM makes the likelihood go up because each step maximises something.
