# hw: hw1
# Single precision throughout: every array is float32 (labels int32), as a student short of
# memory, or copying GPU code, writes it.
# %% assign
def assign(X, centers):
    X = np.asarray(X, dtype=np.float32)
    C = np.asarray(centers, dtype=np.float32)
    d2 = ((X[:, None, :] - C[None, :, :]) ** 2).sum(axis=2)
    return d2.argmin(axis=1).astype(np.int32)
# %% update
def update(X, labels, k):
    X = np.asarray(X, dtype=np.float32)
    return np.stack([X[labels == j].mean(axis=0) for j in range(k)]).astype(np.float32)
# %% fit
def inertia(X, centers, labels):
    X = np.asarray(X, dtype=np.float32)
    return np.float32(((X - centers[labels]) ** 2).sum())


def fit(X, init_centers, max_iter=100):
    X = np.asarray(X, dtype=np.float32)
    centers = np.asarray(init_centers, dtype=np.float32)
    labels, history = None, []
    for _ in range(max_iter):
        new = assign(X, centers)
        if labels is not None and np.array_equal(new, labels):
            break
        labels = new
        centers = update(X, labels, len(centers))
        history.append(inertia(X, centers, labels))
    return centers, assign(X, centers), np.array(history, dtype=np.float32)
# %% soft_assign
def soft_assign(X, centers, beta):
    X = np.asarray(X, dtype=np.float32)
    C = np.asarray(centers, dtype=np.float32)
    logits = -np.float32(beta) * ((X[:, None, :] - C[None, :, :]) ** 2).sum(axis=2)
    logits -= logits.max(axis=1, keepdims=True)
    r = np.exp(logits)
    return r / r.sum(axis=1, keepdims=True)
