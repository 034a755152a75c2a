# hw: hw3
# An HMM class with the recursions as methods, the notebook's functions as wrappers with
# extra keyword arguments; backward keeps Bishop's scaling (dividing by the forward c_n) and
# normalises the rows only when it returns them; baum_welch_step returns lists.
# %% * = solution
# %% forward
class HMM:
    def __init__(self, startprob, transmat, emissionprob):
        self.pi = np.asarray(startprob, dtype=float)
        self.A = np.asarray(transmat, dtype=float)
        self.B = np.asarray(emissionprob, dtype=float)

    def forward_scaled(self, obs):
        T, K = len(obs), len(self.pi)
        alpha, c = np.zeros((T, K)), np.zeros(T)
        a = self.pi * self.B[:, obs[0]]
        for n in range(T):
            if n:
                a = self.B[:, obs[n]] * (alpha[n - 1] @ self.A)
            c[n] = a.sum()
            alpha[n] = a / c[n]
        return alpha, c

    def backward_scaled(self, obs, c):
        T, K = len(obs), len(self.pi)
        beta = np.ones((T, K))
        for n in range(T - 2, -1, -1):
            beta[n] = self.A @ (self.B[:, obs[n + 1]] * beta[n + 1]) / c[n + 1]
        return beta


def forward(obs, startprob, transmat, emissionprob, *, return_scales=False):
    alpha, c = HMM(startprob, transmat, emissionprob).forward_scaled(np.asarray(obs))
    loglik = np.log(c).sum()
    return (alpha, loglik, c) if return_scales else (alpha, loglik)
# %% backward
def backward(obs, startprob, transmat, emissionprob, model=None):
    model = model or HMM(startprob, transmat, emissionprob)
    obs = np.asarray(obs)
    _, c = model.forward_scaled(obs)
    beta_hat = model.backward_scaled(obs, c)  # Bishop's beta-hat: rows need not sum to 1
    loglik = np.log(c).sum()
    return beta_hat / beta_hat.sum(axis=1, keepdims=True), loglik
# %% baum_welch_step
def baum_welch_step(obs, startprob, transmat, emissionprob):
    alpha, loglik = forward(obs, startprob, transmat, emissionprob)
    beta, _ = backward(obs, startprob, transmat, emissionprob)
    gamma, xi = posteriors(alpha, beta, obs, transmat, emissionprob)
    gamma, xi = np.asarray(gamma), np.asarray(xi)
    counts = xi.sum(axis=0)
    M = np.shape(emissionprob)[1]
    emit = np.array([[gamma[np.asarray(obs) == m, k].sum() for m in range(M)]
                     for k in range(gamma.shape[1])])
    return (list(gamma[0]), (counts / counts.sum(axis=1, keepdims=True)).tolist(),
            (emit / emit.sum(axis=1, keepdims=True)).tolist(), loglik)
