# hw: hw1
# scipy where it fits: cdist for the squared distances, softmax and logsumexp from
# scipy.special, and a ProcessPoolExecutor that computes the centres of the clusters in
# parallel (it needs a writable /dev/shm for its locks and queues).
# %% assign
from scipy.spatial.distance import cdist


def assign(X, centers):
    return cdist(X, centers, "sqeuclidean").argmin(axis=1)
# %% update
from concurrent.futures import ProcessPoolExecutor


def _mean(points):
    return points.mean(axis=0)


def update(X, labels, k):
    with ProcessPoolExecutor(max_workers=2) as pool:
        return np.array(list(pool.map(_mean, [X[labels == j] for j in range(k)])))
# %% fit
def inertia(X, centers, labels):
    return float(cdist(X, centers, "sqeuclidean")[np.arange(len(X)), labels].sum())


def fit(X, init_centers, max_iter=100):
    centers = np.asarray(init_centers, dtype=float)
    labels = assign(X, centers)
    history = []
    for _ in range(max_iter):
        centers = update(X, labels, len(centers))
        history.append(inertia(X, centers, labels))
        new = assign(X, centers)
        if np.array_equal(new, labels):
            break
        labels = new
    return centers, labels, history
# %% soft_assign
from scipy.special import logsumexp, softmax


def soft_assign(X, centers, beta):
    logits = -beta * cdist(X, centers, "sqeuclidean")
    r = np.exp(logits - logsumexp(logits, axis=1, keepdims=True))
    return r if np.all(np.isfinite(r)) else softmax(logits, axis=1)
