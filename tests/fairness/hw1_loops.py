# hw: hw1
# Plain Python loops over points and centres, math.exp and a hand-written maximum: no
# broadcasting anywhere (the notebook advises against loops; it does not require them away).
# %% assign
def assign(X, centers):
    labels = []
    for x in X:
        best, best_d = 0, None
        for j, c in enumerate(centers):
            d = 0.0
            for a, b in zip(x, c):
                d += (a - b) ** 2
            if best_d is None or d < best_d:
                best, best_d = j, d
        labels.append(best)
    return np.array(labels)
# %% update
def update(X, labels, k):
    D = len(X[0])
    sums = [[0.0] * D for _ in range(k)]
    counts = [0] * k
    for x, z in zip(X, labels):
        counts[z] += 1
        for i in range(D):
            sums[z][i] += x[i]
    return np.array([[s / counts[j] for s in sums[j]] for j in range(k)])
# %% fit
def inertia(X, centers, labels):
    total = 0.0
    for x, z in zip(X, labels):
        for a, b in zip(x, centers[z]):
            total += (a - b) ** 2
    return total


def fit(X, init_centers, max_iter=100):
    centers = np.array(init_centers, dtype=float)
    labels = None
    history = []
    it = 0
    while it < max_iter:
        new_labels = assign(X, centers)
        if labels is not None and all(a == b for a, b in zip(new_labels, labels)):
            break
        labels = new_labels
        centers = update(X, labels, len(centers))
        history.append(inertia(X, centers, labels))
        it += 1
    return centers, assign(X, centers), history
# %% soft_assign
import math


def soft_assign(X, centers, beta):
    rows = []
    for x in X:
        logits = []
        for c in centers:
            d = sum((a - b) ** 2 for a, b in zip(x, c))
            logits.append(-beta * d)
        top = max(logits)
        weights = [math.exp(v - top) for v in logits]
        total = sum(weights)
        rows.append([w / total for w in weights])
    return np.array(rows)
