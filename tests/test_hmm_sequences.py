"""How sequences reach emref.hmm: one sequence is one array, several are a list; nothing is
guessed, and a wrong shape is a ValueError naming the argument, what was found and what was
expected."""

import numpy as np
import pytest
from helpers import random_hmm_params

from emref import hmm

RNG = np.random.default_rng(0)
CAT = random_hmm_params(2, RNG)
GAUSS = random_hmm_params(2, RNG, D=2)


@pytest.mark.parametrize("call, error, words", [
    # an array of one more dimension is not read as several sequences
    (lambda: hmm.e_step(np.zeros((3, 5), int), CAT), ValueError,
     ["sequences must be one sequence (a 1-D array of integer symbols) or a list",
      "found a 2-D array of shape (3, 5)", "pass list(sequences) for 3 sequences"]),
    (lambda: hmm.score(np.zeros((2, 4, 2)), GAUSS), ValueError,
     ["a (T, D) array of observations", "found a 3-D array of shape (2, 4, 2)",
      "list(sequences)"]),
    # a list is never read as one sequence
    (lambda: hmm.score([0, 1, 1], CAT), ValueError,
     ["sequences[0] must be a sequence (a 1-D array of integer symbols)", "found the number 0",
      "np.asarray(sequences)"]),
    (lambda: hmm.e_step([[0.0, 1.0], [2.0, 3.0]], GAUSS), ValueError,
     ["sequences[0] must be a 2-D array of shape (T, D)", "found shape (2,)"]),
    (lambda: hmm.fit(np.zeros((2, 6), int), 2), ValueError, ["list(sequences)"]),
    (lambda: hmm.fit_stepwise([np.zeros((2, 6), int)], 2, init=CAT), ValueError,
     ["batches[0] must be one sequence", "found a 2-D array"]),
    # one sequence where one is expected
    (lambda: hmm.forward([np.array([0, 1]), np.array([1, 0, 1])], CAT), ValueError,
     ["obs must be one sequence (a 1-D array of integer symbols)", "found a list of 2"]),
    (lambda: hmm.viterbi(np.zeros((3, 4), int), CAT), ValueError,
     ["obs must be a 1-D array of integer symbols", "found shape (3, 4)"]),
    (lambda: hmm.forward(np.zeros(5), GAUSS), ValueError,
     ["obs must be a 2-D array of shape (T, D)", "found shape (5,)", "reshape(-1, 1)"]),
    # tagged data: the same rule for states, and the two must match
    (lambda: hmm.fit_supervised(np.array([0, 1]), np.zeros((2, 2), int), 2), ValueError,
     ["state_sequences must be one state sequence", "found a 2-D array of shape (2, 2)"]),
    (lambda: hmm.fit_supervised(np.array([0, 1]), [np.array([0, 1])], 2), TypeError,
     ["sequences must be a list of sequences to match the list state_sequences",
      "found ndarray"]),
    (lambda: hmm.fit_supervised([np.array([0, 1])], [np.array([0, 1])] * 2, 2), ValueError,
     ["one sequence per state sequence", "found 1 sequences and 2 state sequences"]),
    (lambda: hmm.fit_supervised([np.array([0, 1])], [np.array([0, 1, 1])], 2), ValueError,
     ["state_sequences[0] must have the same length as sequences[0]", "found 3 states"]),
    (lambda: hmm.e_step("0110", CAT), TypeError, ["sequences must be one sequence"]),
    (lambda: hmm.e_step({"a": 1}, CAT), TypeError, ["found dict"]),
])
def test_wrong_shapes_name_the_argument(call, error, words):
    with pytest.raises(error) as info:
        call()
    for word in words:
        assert word in str(info.value), (word, str(info.value))


def test_an_array_is_one_sequence_a_list_or_tuple_several():
    """The one rule, read off e_step's counts: one array of T steps is one sequence (one
    start, T - 1 transitions); a list or tuple of S arrays is S sequences."""
    a, b = np.array([0, 1, 1, 2]), np.array([3, 0])
    one = hmm.e_step(np.concatenate([a, b]), CAT)[0]
    assert one.n_sequences == 1 and one.trans.sum() == pytest.approx(5)
    for several in ([a, b], (a, b), np.array([a, b], dtype=object)):
        stats = hmm.e_step(several, CAT)[0]
        assert stats.n_sequences == 2 and stats.start.sum() == pytest.approx(2)
        assert stats.trans.sum() == pytest.approx(4)
    # several sequences of equal length: a list of the rows
    same = np.array([[0, 1, 2], [2, 1, 0]])
    assert hmm.e_step(list(same), CAT)[0].n_sequences == 2
    # lists of numbers are fine inside a list, and as one sequence where one is expected
    assert hmm.e_step([[0, 1], [1, 1, 0]], CAT)[0].n_sequences == 2
    assert hmm.forward([0, 1, 1], CAT).alpha_hat.shape == (3, 2)


def test_one_state_array_with_a_list_of_sequences_says_so():
    with pytest.raises(ValueError, match="sequences must be one sequence to match "
                                         "state_sequences, which is one array"):
        hmm.fit_supervised([np.array([0, 1]), np.array([1])], np.array([0, 1]), 2)
