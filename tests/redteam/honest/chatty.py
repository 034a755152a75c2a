# The full solution; every function prints a debug line per step (far beyond the output
# cap of a cell), warns with warnings.warn and logs with logging.warning on every call.
# %% preamble
import logging
import warnings
# %% each
{solution}


_{name}_quiet = {name}


def {name}({params}):
    for step in range(3000):
        print(f"debug {name}: step {step} " + "." * 60)
    warnings.warn("{name}: this is a debug warning")
    logging.warning("{name}: called")
    return _{name}_quiet({args})
