"""Speed on Cora or CiteSeer: our estimator vs a transcription of the paper's loop.

    python benchmarks/cora_speed.py [--dataset citeseer] [--device cuda]
                                    [--splits 1] [--inits 3] [--seed 42]
                                    [--shared-noise]

Same process, same split, same initial weights: ``DiffusionResNetClassifier``
with the authors' settings for the dataset (``cora.DATASETS``) and the
plain-PyTorch transcription of the paper's training loop
(``reference_cora.py``: dense features, dense linear layer, COO sparse
products, ``F.dropout``), run alternately for each initialisation seed of the
split. The estimator draws its weights from the seed; the transcription
starts from a copy of them (``InitialWeights``) and draws its dropout noise
from the same seed, which the estimator draws differently. One row per run
(wall time, epochs, test accuracy), then the means over the runs and the
ratio of the mean wall times. Test accuracy of one run moves by a point or
more with the dropout noise and early stopping, hence several
initialisations. With ``--shared-noise`` the transcription takes its dropout
masks from the estimator's noise stream instead (``shared_masks``): both
drop the same entries in every epoch, so dropout noise no longer separates
the two runs (its masks then also cost the transcription less than
``F.dropout``'s). Absolute times
drift on a shared machine; the ratio is measured side by side.
"""

import argparse
import time

import numpy as np
import torch

from _common import load_citation, row_normalize, split_per_class, write_table
from cora import DATASETS, TITLES, diffresnet
from reference_cora import InitialWeights, run_reference


#: Relative difference of the two training losses of one epoch beyond which
#: the trajectories are counted as parted.
PARTED = 1e-3


def parted_at(ours, theirs):
    """First epoch (from 1) whose training losses differ by more than
    ``PARTED`` relative, or None when they agree while both ran."""
    for epoch, (a, b) in enumerate(zip(ours, theirs), start=1):
        if abs(a - b) > PARTED * abs(b):
            return epoch
    return None


def _sync(device):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--splits", type=int, default=1)
    parser.add_argument("--inits", type=int, default=3)
    parser.add_argument("--dataset", choices=sorted(DATASETS), default="cora")
    parser.add_argument("--name", default=None)
    parser.add_argument(
        "--shared-noise",
        action="store_true",
        help="the transcription draws the estimator's dropout masks",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=42,
        help="seed of the splits and initialisations (another seed, other runs)",
    )
    args = parser.parse_args()
    if args.shared_noise and args.device != "cpu":
        parser.error(
            "--shared-noise runs on the CPU (the estimator's noise is numpy's there)"
        )
    settings = DATASETS[args.dataset]
    A, X, labels = load_citation(args.dataset)
    X = row_normalize(X)
    master = np.random.RandomState(args.seed)
    rows, parted = [], []
    runs = {"DiffusionResNetClassifier": [], "reference transcription": []}
    for split_seed in master.randint(0, 1000000, args.splits):
        rng = np.random.RandomState(split_seed)
        train, val, test = split_per_class(labels, rng)
        for seed in rng.randint(0, 1000000, args.inits):
            seed = int(seed)
            initial = InitialWeights()
            _sync(args.device)
            t = time.perf_counter()
            pred, ours_history = diffresnet(
                A,
                X,
                labels,
                train,
                val,
                seed,
                args.device,
                args.dataset,
                callbacks=[("initial_weights", initial)],
            )
            _sync(args.device)
            runs["DiffusionResNetClassifier"].append(
                (
                    time.perf_counter() - t,
                    len(ours_history),
                    (pred[test] == labels[test]).mean(),
                )
            )
            t = time.perf_counter()
            acc, history = run_reference(
                A,
                X,
                labels,
                train,
                val,
                test,
                seed,
                device=args.device,
                initial_state=initial.state_,
                noise_seed=initial.noise_seed_ if args.shared_noise else None,
                **settings,
            )
            _sync(args.device)
            runs["reference transcription"].append(
                (time.perf_counter() - t, len(history), acc)
            )
            parted.append(
                (
                    split_seed,
                    seed,
                    parted_at(ours_history[:, "train_loss"], [h[0] for h in history]),
                )
            )
            for name, results in runs.items():
                wall, epochs, acc = results[-1]
                rows.append(
                    [
                        name,
                        f"{split_seed} / {seed}",
                        f"{wall:.1f}",
                        epochs,
                        f"{1000 * wall / epochs:.1f}",
                        f"{100 * acc:.2f}",
                    ]
                )
                print(rows[-1], flush=True)
    means = {
        name: np.mean(np.array(results, dtype=float), axis=0)
        for name, results in runs.items()
    }
    ms_per_epoch = {
        name: 1000 * np.mean([w / e for w, e, _ in results])
        for name, results in runs.items()
    }
    for name, (wall, epochs, acc) in means.items():
        rows.append(
            [
                f"**{name}, mean of {len(runs[name])}**",
                "",
                f"{wall:.1f}",
                f"{epochs:.0f}",
                f"{ms_per_epoch[name]:.1f}",
                f"{100 * acc:.2f}",
            ]
        )
    ref, ours = means["reference transcription"], means["DiffusionResNetClassifier"]
    ours_ms, ref_ms = ms_per_epoch.values()
    notes = [
        f"Speed-up of the mean wall time per run: {ref[0] / ours[0]:.2f}x; "
        f"per epoch: {ref_ms / ours_ms:.2f}x. Test accuracy, ours minus the "
        f"transcription's: {100 * (ours[2] - ref[2]):+.2f} points.",
        "Both stop early (patience 50 on validation loss or accuracy), so "
        "epochs differ from run to run; ms / epoch compares the work per "
        "epoch, wall s the whole run (ours includes building the graph).",
        "Each pair starts from the same initial weights (the estimator's, "
        "drawn from the seed, copied into the transcription); "
        + (
            "the transcription draws the estimator's dropout masks "
            "(--shared-noise): the two drop the same entries in every epoch."
            if args.shared_noise
            else "the dropout noise differs (F.dropout in the transcription)."
        ),
    ]
    if args.shared_noise:
        notes.append(
            f"First epoch whose two training losses differ by more than "
            f"{PARTED:g} relative (same weights, same masks): "
            + "; ".join(
                f"{split} / {seed}: {'none' if epoch is None else epoch}"
                for split, seed, epoch in parted
            )
            + "."
        )
    write_table(
        args.name
        or f"{args.dataset}_speed_{args.device}"
        + ("_shared_noise" if args.shared_noise else ""),
        f"{TITLES[args.dataset]} speed, {args.splits} split(s) x "
        f"{args.inits} initialisation(s) (seed {args.seed}), "
        f"device={args.device}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads",
        [
            "implementation",
            "split / init seed",
            "wall s / run",
            "epochs",
            "ms / epoch",
            "test accuracy (%)",
        ],
        rows,
        notes=notes,
    )


if __name__ == "__main__":
    main()
