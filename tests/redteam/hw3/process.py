# In order, the functions: loop that swallows KeyboardInterrupt, os._exit, sys.exit, BaseException, memory, output; the rest is the solution.
# expect: 0
# flag: hangs, ignores interrupts or stops the kernel
# flag: stops the kernel
# flag: derived from BaseException
# flag: exhausts memory | test_count_estimate: the code stops or kills
# flag: enormous output
# %% forward
def forward(obs, startprob, transmat, emissionprob):
    while True:
        try:
            while True:
                pass
        except KeyboardInterrupt:
            pass
# %% backward
def backward(obs, startprob, transmat, emissionprob):
    import os
    os._exit(0)
# %% posteriors
def posteriors(alpha, beta, obs, transmat, emissionprob):
    import sys
    sys.exit(0)
# %% baum_welch_step
def baum_welch_step(obs, startprob, transmat, emissionprob):
    class Sneaky(BaseException):
        pass
    raise Sneaky('caught by nobody')
# %% count_estimate
def count_estimate(sequences, state_sequences, n_states, n_symbols):
    hoard = []
    while True:
        hoard.append(bytearray(2**30))
# %% viterbi
def viterbi(obs, startprob, transmat, emissionprob):
    for _ in range(500):
        print('x' * 100_000)
