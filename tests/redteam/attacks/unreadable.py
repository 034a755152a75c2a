# The notebook file is not a notebook: truncated JSON, in Latin-1 (not UTF-8). It must score
# 0 with a clear reason while everybody else is graded, fed back and exported.
# expect: 0
# flag: could not be read; graded as unanswered
# flag: not UTF-8
# %% !notebook latin-1
{"cells": [{"cell_type": "code", "source": "# Résumé: la moitié d'un carnet
