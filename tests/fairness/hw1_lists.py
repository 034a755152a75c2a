# hw: hw1
# Python lists where the notebook shows arrays: assign returns a list, fit compares two label
# lists with == (which works for lists, not for arrays) and returns lists, soft_assign returns
# a list of rows. fit relies on its own assign returning a list, and the grader's stand-in for
# assign must do the same.
# %% assign
def assign(X, centers):
    d2 = ((X[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2)
    return [int(i) for i in d2.argmin(axis=1)]
# %% update
def update(X, labels, k):
    labels = np.asarray(labels)
    return [list(X[labels == j].mean(axis=0)) for j in range(k)]
# %% fit
def inertia(X, centers, labels):
    return float(sum(((x - np.asarray(centers[z])) ** 2).sum() for x, z in zip(X, labels)))


def fit(X, init_centers, max_iter=100):
    centers = [list(c) for c in init_centers]
    labels = []
    history = []
    for _ in range(max_iter):
        new_labels = assign(X, np.array(centers))
        if new_labels == labels:
            break
        labels = new_labels
        centers = update(X, labels, len(centers))
        history.append(inertia(X, centers, labels))
    return centers, assign(X, np.array(centers)), history
# %% soft_assign
def soft_assign(X, centers, beta):
    d2 = ((X[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2)
    a = -beta * d2
    a = a - a.max(axis=1, keepdims=True)
    r = np.exp(a)
    return (r / r.sum(axis=1, keepdims=True)).tolist()
