"""Column names of the collected results tables (``results/<profile>/<experiment>/*.csv``).

One home for the names that collect writes and the claim rules, tables and figures read. A
recorded config key keeps its dotted config name as its column (``model.depth``), so a column
always says which key of the run it came from.
"""

from __future__ import annotations

#: the run's directory relative to its sweep (one per sweep point)
RUN = "run"
#: the run's final status: completed, diverged or failed
STATUS = "status"
COMPLETED = "completed"
DIVERGED = "diverged"
#: the compared model + initializer (``conf/arm/<name>.yaml``)
ARM = "arm"
SEED = "seed"
DEPTH = "model.depth"
LR = "optim.lr"
DATA = "data"
DATASET = "data.dataset"
FOLD = "data.fold"
MATRIX = "task.matrix"
INIT_BASE = "init.base"
