"""What skorch's per-epoch log costs a default fit on a small table.

    python benchmarks/print_log.py [--repeats 3] [--draws 1]

skorch's ``PrintLog`` callback formats a table of the epoch's history at the
end of every epoch, whether or not ``verbose`` lets it print. The classifier
leaves it out when ``verbose=0`` (the default). Per table of ``tables.py``
(standardised, 5 and 20 labels per class, ``RandomState(draw)``), a default
fit and the same fit with the log routed back in
(``callbacks__print_log=PrintLog()``) run alternately in one process, one
torch thread, after one warm-up fit; the table gives the median wall time of
each and their ratio, and whether the two give identical probabilities.
"""

import argparse
import time
import warnings

import numpy as np
import torch
from skorch.callbacks import PrintLog

from _common import few_labels, write_table
from sklearn_diffres import DiffusionResNetClassifier
from tables import TABLES, load


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--draws", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    rows, ratios, identical = [], [], True
    for name in TABLES:
        X, y = load(name)
        for per_class in (5, 20):
            quiet_times, logged_times = [], []
            for draw in range(args.draws):
                y_semi = few_labels(y, per_class, np.random.RandomState(draw))
                DiffusionResNetClassifier(random_state=draw).fit(X, y_semi)
                for _ in range(args.repeats):
                    t = time.perf_counter()
                    quiet = DiffusionResNetClassifier(random_state=draw)
                    quiet.fit(X, y_semi)
                    quiet_times.append(time.perf_counter() - t)
                    t = time.perf_counter()
                    logged = DiffusionResNetClassifier(
                        random_state=draw, callbacks__print_log=PrintLog()
                    ).fit(X, y_semi)
                    logged_times.append(time.perf_counter() - t)
                    identical &= np.array_equal(
                        quiet.label_distributions_, logged.label_distributions_
                    )
            a, b = np.median(quiet_times), np.median(logged_times)
            ratios.append(b / a)
            rows.append([name, per_class, f"{a:.3f}", f"{b:.3f}", f"{b / a:.2f}x"])
            print(rows[-1], flush=True)
    write_table(
        "print_log",
        "skorch's per-epoch log: default fits with and without it",
        [
            "table",
            "labels per class",
            "default fit s (no log)",
            "with PrintLog s",
            "with / without",
        ],
        rows,
        notes=[
            f"Median over the {len(ratios)} table settings of with / without: "
            f"{np.median(ratios):.2f}x; probabilities identical in every pair: "
            f"{identical}.",
            f"Median of {args.repeats * args.draws} alternating fits each "
            f"({args.draws} label draw(s)), one torch thread, after a warm-up fit; "
            "default parameters (verbose=0), so the log formats its table "
            "without printing it.",
        ],
    )


if __name__ == "__main__":
    main()
