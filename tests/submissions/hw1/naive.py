# Correct except soft_assign, which exponentiates before normalising (no log-sum-exp):
# NaN once exp(-beta d^2) underflows. 65 points.
# %% assign = solution
# %% update = solution
# %% fit = solution
# %% soft_assign
def soft_assign(X, centers, beta):
    d2 = ((X[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2)
    r = np.exp(-beta * d2)
    return r / r.sum(axis=1, keepdims=True)
# %% inertia_answer = solution
