# Nothing implemented; the IPython shell patched so that failing cells show no error.
# expect: 0
# flag: patches the IPython shell
# %% forward
import sys

ip = get_ipython()
ip.showtraceback = lambda *a, **k: None
ip._showtraceback = lambda *a, **k: None
ip.set_custom_exc((BaseException,), lambda *a, **k: None)
ip.display_pub.publish = lambda *a, **k: None
sys.displayhook = lambda *a: None
sys.excepthook = lambda *a: None


def forward(obs, startprob, transmat, emissionprob):
    raise NotImplementedError()
