# The full solution, but assign warns on stderr every time it runs. IgnorePattern strips the
# warning, so the score is still full.
# %% assign
import warnings


def assign(X, centers):
    warnings.warn("assign: computing all N x K distances at once")
    d2 = ((X[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2)
    return d2.argmin(axis=1)
# %% update = solution
# %% fit = solution
# %% soft_assign = solution
# %% inertia_answer = solution
