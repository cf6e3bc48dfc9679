"""initlab's single entry point: ``python train.py model=resnet init=fixup data=digits``.

Hydra composes ``conf/`` (model x init x data x task x optim x logger); ``initlab.main`` does
the rest. ``python train.py --help`` lists the config groups and their options.
"""

import sys

import hydra

from initlab.main import check_output_dir, hydra_main


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg):
    return hydra_main(cfg)


def cli() -> None:
    """``main`` after checking that the output directory can be made (Hydra makes it before
    initlab runs, and would answer a file in the way with a traceback)."""
    check_output_dir(sys.argv[1:])
    main()


if __name__ == "__main__":
    cli()
