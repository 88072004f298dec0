"""Training that converges: a step budget set by the data's size, early stopping on held-out rows.

A fixed epoch count trains a small log for a handful of optimiser steps (4 epochs of a 32k-row
log at batch 4096 are 32 steps) and a large one for more than it needs. `fit_minibatch` instead
holds out a share of the rows, trains in mini-batches of at most `batch_size` (smaller on small
data, so there are always several steps an epoch), evaluates the held-out loss after every epoch,
keeps the best weights, and stops when `patience` epochs in a row did not improve it, or at the
step budget. The report says how it stopped.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from shopdata.progress import counted

#: Mean loss of the rows `index` (a LongTensor on the model's device), differentiable.
BatchLoss = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class TrainingReport:
    steps: int
    epochs: int
    batch_size: int
    best_epoch: int
    best_validation_loss: float | None  # None: no rows were held out
    first_validation_loss: float | None
    stopped: str  # "no improvement for `patience` epochs", "step budget" or "fixed epochs"

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def fit_minibatch(
    model: nn.Module,
    batch_loss: BatchLoss,
    rows: int,
    *,
    generator: np.random.Generator,
    device: torch.device,
    epochs: int | str = "auto",
    batch_size: int = 4096,
    learning_rate: float = 3e-3,
    validation_share: float = 0.1,
    min_steps: int = 300,
    max_steps: int = 4000,
    patience: int = 4,
    step: str = "training",
) -> TrainingReport:
    """Train `model` in place on `rows` rows with AdamW; see the module docstring.

    `epochs`: "auto" (early stopping) or a fixed number of epochs over all rows (no hold-out;
    the behaviour of earlier versions, for tests and ablations). Epochs are counted as `step`
    (shopdata.progress).
    """
    optimiser = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=1e-4)
    if epochs != "auto":
        steps = 0
        with counted(step, int(epochs), "epochs") as counter:
            for _ in range(int(epochs)):
                order = torch.randperm(rows, device=device)
                for start in range(0, rows, batch_size):
                    loss = batch_loss(order[start : start + batch_size])
                    optimiser.zero_grad()
                    loss.backward()
                    optimiser.step()
                    steps += 1
                counter.advance()
        return TrainingReport(
            steps, int(epochs), batch_size, int(epochs), None, None, "fixed epochs"
        )

    shuffled = generator.permutation(rows)
    held = max(1, round(validation_share * rows)) if rows >= 20 else 0
    validation = torch.tensor(shuffled[:held], device=device)
    training = torch.tensor(shuffled[held:], device=device)
    size = int(min(batch_size, max(64, len(training) // 8)))
    per_epoch = max(1, -(-len(training) // size))
    max_epochs = max(1, max_steps // per_epoch)
    min_epochs = max(1, -(-min_steps // per_epoch))

    def held_out_loss() -> float:
        if held == 0:
            return np.nan
        with torch.no_grad():
            return float(batch_loss(validation))

    best_loss, best_epoch = held_out_loss(), 0
    first_loss = best_loss
    best_state = copy.deepcopy(model.state_dict())
    steps, epoch, stopped = 0, 0, "step budget"
    # Early stopping may end before max_epochs: the time left is an upper estimate.
    counter = counted(step, max_epochs, "epochs at most")
    for epoch in range(1, max_epochs + 1):
        order = training[torch.randperm(len(training), device=device)]
        for start in range(0, len(order), size):
            loss = batch_loss(order[start : start + size])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            steps += 1
        current = held_out_loss()
        if not np.isfinite(best_loss) or current < best_loss - 1e-6 * abs(best_loss):
            best_loss, best_epoch = current, epoch
            best_state = copy.deepcopy(model.state_dict())
        counter.advance(note=f"held-out loss {current:.4g}, best at epoch {best_epoch}")
        if epoch - best_epoch >= patience and epoch >= min_epochs:
            stopped = f"no improvement for {patience} epochs"
            break
    counter.finish(stopped)
    if held:
        model.load_state_dict(best_state)
    measured = (best_loss, first_loss) if held else (None, None)
    return TrainingReport(steps, epoch, size, best_epoch, *measured, stopped)
