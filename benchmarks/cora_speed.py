"""Speed on Cora: our estimator vs a transcription of the reference loop.

    python benchmarks/cora_speed.py [--device cuda] [--splits 1]

Same process, same split, same seed: the plain-PyTorch transcription of the
paper's training loop (``reference_cora.py``: dense features, dense linear
layer, COO sparse products, ``F.dropout``) and ``DiffusionResNetClassifier``
with the paper's Cora settings. Wall time per run, epochs, test accuracy and
the speed ratio. Absolute times drift on a shared machine; the ratio is
measured side by side.
"""

import argparse
import time

import numpy as np
import torch

from _common import load_cora, row_normalize, split_per_class, write_table
from cora import diffresnet
from reference_cora import run_reference


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--splits", type=int, default=1)
    parser.add_argument("--name", default=None)
    args = parser.parse_args()
    A, X, labels = load_cora()
    X = row_normalize(X)
    master = np.random.RandomState(42)
    rows = []
    for split_seed in master.randint(0, 1000000, args.splits):
        rng = np.random.RandomState(split_seed)
        train, val, test = split_per_class(labels, rng)
        seed = int(rng.randint(0, 1000000))
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        t = time.perf_counter()
        ref_acc, ref_epochs = run_reference(
            A, X, labels, train, val, test, seed, device=args.device
        )
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        ref_time = time.perf_counter() - t
        t = time.perf_counter()
        pred, epochs = diffresnet(A, X, labels, train, val, seed, args.device)
        ours_time = time.perf_counter() - t
        ours_acc = (pred[test] == labels[test]).mean()
        rows.append(
            [
                "reference transcription",
                split_seed,
                f"{ref_time:.1f}",
                ref_epochs,
                f"{1000 * ref_time / ref_epochs:.1f}",
                f"{100 * ref_acc:.2f}",
                "",
            ]
        )
        rows.append(
            [
                "DiffusionResNetClassifier",
                split_seed,
                f"{ours_time:.1f}",
                epochs,
                f"{1000 * ours_time / epochs:.1f}",
                f"{100 * ours_acc:.2f}",
                f"{ref_time / ours_time:.2f}x",
            ]
        )
        print(rows[-2], rows[-1], flush=True)
    write_table(
        args.name or f"cora_speed_{args.device}",
        f"Cora speed, one run per split, device={args.device}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads",
        [
            "implementation",
            "split seed",
            "wall s / run",
            "epochs",
            "ms / epoch",
            "test accuracy (%)",
            "speed-up (wall)",
        ],
        rows,
        notes=[
            "Both stop early (patience 50 on validation loss or accuracy), so epochs differ; "
            "ms / epoch compares the work per epoch, wall s the whole run."
        ],
    )


if __name__ == "__main__":
    main()
