# Right: assign, update (40 points). Wrong: fit returns two values instead of three, and
# soft_assign exponentiates without the log-sum-exp shift (NaN for a stiff beta).
# %% assign = solution
# %% update = solution
# %% fit
def inertia(X, centers, labels):
    return float(((X - centers[labels]) ** 2).sum())


def fit(X, init_centers, max_iter=100):
    centers = np.array(init_centers, dtype=float)
    for _ in range(max_iter):
        labels = assign(X, centers)
        centers = update(X, labels, len(centers))
    return centers, labels
# %% soft_assign
def soft_assign(X, centers, beta):
    d2 = ((X[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2)
    r = np.exp(-beta * d2)
    return r / r.sum(axis=1, keepdims=True)
# %% inertia_answer
Each step picks the best value of one set of variables with the other fixed, so J goes down.
