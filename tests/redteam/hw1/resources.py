# In order, the functions: solution, solution, memory, output; the rest is the solution.
# expect: 40
# flag: exhausts memory
# flag: enormous output
# %% assign = solution
# %% update = solution
# %% fit
def fit(X, init_centers, max_iter=100):
    hoard = []
    while True:
        hoard.append(bytearray(2**30))
# %% soft_assign
def soft_assign(X, centers, beta):
    for _ in range(500):
        print('x' * 100_000)
