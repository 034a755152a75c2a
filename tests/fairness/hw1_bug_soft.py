# hw: hw1
# A bug in soft_assign only (distances where squared distances belong): the visible test
# fails first, and the message leads with the hidden check's hint.
# lose: test_soft_assign | `soft_assign` uses distances where squared distances belong
# %% * = solution
# %% soft_assign
def soft_assign(X, centers, beta):
    d = np.sqrt(((X[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2))
    logits = -beta * d
    logits = logits - logits.max(axis=1, keepdims=True)
    r = np.exp(logits)
    return r / r.sum(axis=1, keepdims=True)
