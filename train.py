"""initlab's single entry point: ``python train.py model=resnet init=fixup data=digits``.

Hydra composes ``conf/`` (model x init x data x task x optim x logger); ``initlab.main`` does
the rest. ``python train.py --help`` lists the config groups and their options.
"""

import hydra

from initlab.main import hydra_main


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg):
    return hydra_main(cfg)


if __name__ == "__main__":
    main()
