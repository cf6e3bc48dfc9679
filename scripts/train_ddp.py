"""Data-parallel training of a config's train / train_vae task with PyTorch DDP.

    torchrun --nproc_per_node=4 scripts/train_ddp.py --out outputs/ddp/vae \
        experiment=d2_pdi_vae_full arm=d2_pdi_full seed=0

The overrides are those of ``train.py``; ``task.batch_size`` is the GLOBAL batch (split across
ranks). CUDA ranks use NCCL and GPU ``LOCAL_RANK``; CPU ranks use gloo. Rank 0 logs, checkpoints
and writes summary.json into ``--out``; re-running the same command resumes. See
``initlab.distributed`` for how the result equals a single-process run with the same batch.
"""

from __future__ import annotations

import argparse
import sys

from initlab.compose import compose
from initlab.distributed import train_ddp
from initlab.main import describe


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="the run directory (rank 0 writes there)")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, as for train.py")
    args = parser.parse_args()
    summary = train_ddp(compose(args.overrides), args.out)
    if summary is not None:
        print(describe(summary, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
