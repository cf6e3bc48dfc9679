"""initlab's single entry point: ``python train.py model=resnet init=fixup data=digits``.

Hydra composes ``conf/`` (model x init x data x task x optim x logger); ``initlab.main`` does
the rest. ``python train.py --help`` lists every group and key with its type, value and help
(``initlab.cli_help``).
"""

from initlab import preemption

# a signal from here on is handled: during start-up it is recorded by the run that then starts
# (status "preempted"), not a traceback or a silent death (initlab.preemption)
preemption.own()

import contextlib  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402

import hydra  # noqa: E402

from initlab.main import check_output_dir, hydra_main  # noqa: E402


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg):
    return hydra_main(cfg)


def cli() -> None:
    """``main`` after checking that the output directory can be made (Hydra makes it before
    initlab runs, and would answer a file in the way with a traceback); Hydra's own refusals
    of the command line (a bad group option, a key typo, an override it cannot parse) end in
    one ``initlab: error:`` line, as initlab's do (``HYDRA_FULL_ERROR=1``: Hydra's traceback)."""
    from initlab.cli_help import help_text, wants_help, without_help
    from initlab.hydra_errors import describe, is_hydra_error

    full_error = os.environ.get("HYDRA_FULL_ERROR") == "1"
    os.environ["HYDRA_FULL_ERROR"] = "1"  # Hydra raises its errors instead of printing them
    try:
        if wants_help(sys.argv[1:]):  # the schemas' keys and help strings, not Hydra's page
            with contextlib.suppress(BrokenPipeError):  # python train.py --help | head
                print(help_text(without_help(sys.argv[1:])))
            return
        check_output_dir(sys.argv[1:])
        main()
    except KeyboardInterrupt:  # Ctrl-C where runtime.signals does not list SIGINT
        print("initlab: interrupted (SIGINT); run the same command to resume", file=sys.stderr)
        sys.exit(preemption.INTERRUPT_EXIT_CODE)
    except Exception as err:
        if full_error or not is_hydra_error(err):
            raise
        print(describe(err, sys.argv[1:]), file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    cli()
