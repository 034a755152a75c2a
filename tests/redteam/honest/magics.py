# The full solution; the first answer cell is timed with %%time and turns on
# %matplotlib inline, then draws and displays a small figure.
# %% * = solution
# %% preamble
%%time
%matplotlib inline
import matplotlib.pyplot as plt

plt.figure(figsize=(2, 1))
plt.plot([0, 1], [1, 0])
plt.show()
